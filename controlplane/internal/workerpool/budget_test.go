package workerpool

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBudget_FirstConnectionWaitsForAReleaseInFlight: a worker whose last
// connection closed asks for its first again (wait) before the host has
// seen that connection's permit come back; it queues and gets one when the
// release arrives (before, it was refused as asking for an extra, and its
// request failed).
func TestBudget_FirstConnectionWaitsForAReleaseInFlight(t *testing.T) {
	b := newBudget(1, time.Minute)
	w := &worker{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.acquire(ctx, w, true))
	go func() {
		time.Sleep(50 * time.Millisecond)
		b.release(w)
	}()
	require.NoError(t, b.acquire(ctx, w, true))
	require.ErrorIs(t, b.acquire(ctx, w, false), errNoPermit, "an extra never waits")
}
