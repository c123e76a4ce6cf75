package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimiter_Wait(t *testing.T) {
	tests := []struct {
		name    string
		rate    float64
		burst   int
		maxWait time.Duration
		calls   int
		wantOK  int
	}{
		{name: "within burst", rate: 1, burst: 5, maxWait: 0, calls: 5, wantOK: 5},
		{name: "past burst without queueing", rate: 1, burst: 2, maxWait: 0, calls: 4, wantOK: 2},
		{name: "past burst queues briefly", rate: 100, burst: 1, maxWait: 100 * time.Millisecond, calls: 5, wantOK: 5},
		{name: "queue too long", rate: 1, burst: 1, maxWait: 100 * time.Millisecond, calls: 3, wantOK: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.rate, tt.burst, tt.maxWait)
			ok := 0
			for range tt.calls {
				retry, allowed, err := l.Wait(context.Background(), "tnt_a")
				require.NoError(t, err)
				if allowed {
					ok++
				} else {
					require.Positive(t, retry)
				}
			}
			require.Equal(t, tt.wantOK, ok)
			// Buckets are per key.
			_, allowed, err := l.Wait(context.Background(), "tnt_b")
			require.NoError(t, err)
			require.True(t, allowed)
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	require.Equal(t, 1, RetryAfterSeconds(10*time.Millisecond))
	require.Equal(t, 2, RetryAfterSeconds(1500*time.Millisecond))
}

func TestFailures_BlocksAfterBurstUntilRefill(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := NewFailures(1, 3)
	f.now = func() time.Time { return now }
	for range 3 {
		_, blocked := f.Blocked("10.0.0.1")
		require.False(t, blocked)
		f.Fail("10.0.0.1")
	}
	retry, blocked := f.Blocked("10.0.0.1")
	require.True(t, blocked)
	require.Equal(t, time.Second, retry)
	_, blocked = f.Blocked("10.0.0.2")
	require.False(t, blocked, "another client has its own bucket")

	now = now.Add(time.Second)
	_, blocked = f.Blocked("10.0.0.1")
	require.False(t, blocked, "a failure refilled")

	var off *Failures = NewFailures(0, 3)
	off.Fail("x")
	_, blocked = off.Blocked("x")
	require.False(t, blocked, "rate 0 disables")
}

func TestFailures_KeysAreBounded(t *testing.T) {
	f := NewFailures(1, 1)
	for i := range maxFailureKeys + 10 {
		f.Fail(strconv.Itoa(i))
	}
	require.LessOrEqual(t, len(f.buckets), maxFailureKeys)
}
