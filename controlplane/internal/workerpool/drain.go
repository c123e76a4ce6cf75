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
