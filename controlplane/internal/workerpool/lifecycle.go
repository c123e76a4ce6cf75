package workerpool

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrDraining is the cause of the *UnavailableError calls get once Drain
// has been called.
var ErrDraining = errors.New("replica draining")

// Drain refuses every call from now on with an *UnavailableError (the
// replica is going away: its callers answer 503 with Retry-After, and the
// load balancer sends the retry to another replica) and waits until no
// call is in flight, or ctx ends. Close then stops workers that are idle,
// none of them inside a write.
func (p *Pool) Drain(ctx context.Context) error {
	p.mu.Lock()
	p.draining = true
	p.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		p.mu.Lock()
		inflight := 0
		for w := range p.all {
			inflight += w.inflight
		}
		p.mu.Unlock()
		if inflight == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d worker calls still in flight: %w", inflight, ctx.Err())
		case <-tick.C:
		}
	}
}

// Prepared reports whether the pool has had, at least once since it
// started, every spare worker it keeps (or as many as its process and
// connection limits allow). A replica that has just started is better
// left out of a load balancer until then: the tenants that move to it
// would each wait for a worker to start.
func (p *Pool) Prepared() bool { return p.prepared.Load() }

func (p *Pool) markPrepared() {
	if p.prepared.Swap(true) {
		return
	}
	p.mu.Lock()
	spares := len(p.spares)
	p.mu.Unlock()
	p.log.Info("spare workers prepared", "spares", spares, "took", time.Since(p.createdAt))
}
