package workerpool

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

func inflight(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for w := range p.all {
		n += w.inflight
	}
	return n
}

// A draining pool refuses new calls as unavailable (503 with Retry-After
// upstream) but lets the call in flight finish, and Drain returns once it
// has.
func TestPool_DrainRefusesNewCallsAndWaitsForThoseInFlight(t *testing.T) {
	s := newPool(t, nil)
	_, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)

	slow := make(chan error, 1)
	go func() {
		_, err := send(t, s.pool, "tnt_a", "/slow") // answers after 500ms
		slow <- err
	}()
	require.Eventually(t, func() bool { return inflight(s.pool) == 1 }, 5*time.Second, time.Millisecond)

	drained := make(chan error, 1)
	go func() { drained <- s.pool.Drain(context.Background()) }()
	require.Eventually(t, func() bool {
		s.pool.mu.Lock()
		defer s.pool.mu.Unlock()
		return s.pool.draining
	}, 5*time.Second, time.Millisecond)
	for _, tenantID := range []string{"tnt_a", "tnt_b"} {
		_, err := send(t, s.pool, tenantID, "/")
		var unavailable *UnavailableError
		require.ErrorAs(t, err, &unavailable, tenantID)
		require.ErrorIs(t, err, ErrDraining)
		require.Positive(t, unavailable.RetryIn())
	}

	require.NoError(t, <-slow, "the call in flight when the drain began completes")
	require.NoError(t, <-drained)
	require.Zero(t, inflight(s.pool))
}

// Drain gives up when its context ends with calls still in flight.
func TestPool_DrainStopsWaitingAtItsDeadline(t *testing.T) {
	s := newPool(t, nil)
	hung := make(chan error, 1)
	go func() {
		_, err := s.pool.Handle(context.Background(), "tnt_a", &scimworker.Exchange{Method: "GET", Path: "/hang"})
		hung <- err
	}()
	require.Eventually(t, func() bool { return inflight(s.pool) == 1 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.pool.Drain(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "1 worker calls still in flight")
	s.pool.Close()
	require.Error(t, <-hung, "Close ends the hung call")
}

// Prepared turns true once the pool has every spare it keeps, or as many
// as its limits allow, and stays true.
func TestPool_PreparedOnceSparesAreReady(t *testing.T) {
	tests := []struct {
		name       string
		spares     int
		maxWorkers int
		want       int
	}{
		{name: "all spares", spares: 3, maxWorkers: 10, want: 3},
		{name: "as many as max workers allow", spares: 3, maxWorkers: 2, want: 2},
		{name: "no spares kept", spares: 0, maxWorkers: 10, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newPool(t, func(p *Params) { p.Spares, p.MaxWorkers = tt.spares, tt.maxWorkers })
			require.Eventually(t, s.pool.Prepared, 10*time.Second, 10*time.Millisecond)
			s.pool.mu.Lock()
			require.Len(t, s.pool.spares, tt.want)
			s.pool.mu.Unlock()
			// Binding a spare does not make the pool unprepared again.
			if tt.want > 0 {
				_, err := send(t, s.pool, "tnt_a", "/")
				require.NoError(t, err)
			}
			require.True(t, s.pool.Prepared())
		})
	}
}
