package workerpool

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// budget is the node's database connection budget: every worker
// connection holds one permit. A worker that finds none waits in a FIFO
// queue while the pool reclaims permits from others (see Pool.reclaim).
type budget struct {
	mu    sync.Mutex
	total int
	used  int
	held  map[*worker]int
	// since is when each holder went from no permit to one.
	since   map[*worker]time.Time
	waiters list.List // of *waiter
	// kick wakes the reclaimer when someone starts waiting.
	kick chan struct{}
	// lastWait is when a worker last had to wait; extra connections
	// (beyond a worker's first) are granted only after a quiet spell, or
	// they would be reclaimed and taken again in turn.
	lastWait time.Time
	quiet    time.Duration
}

type waiter struct {
	w       *worker
	since   time.Time
	ready   chan struct{}
	granted bool
}

var errNoPermit = errors.New("no database connection permit free")

func newBudget(total int, quiet time.Duration) *budget {
	return &budget{total: total, held: make(map[*worker]int), since: make(map[*worker]time.Time), kick: make(chan struct{}, 1), quiet: quiet}
}

// acquire waits for a permit for w. With wait false it fails at once when
// none is free (workers prepared ahead of need never queue, nor do workers
// asking for a connection beyond their first), and a worker that already
// holds one gets another only when nobody has waited for a while.
func (b *budget) acquire(ctx context.Context, w *worker, wait bool) error {
	b.mu.Lock()
	extra := b.held[w] > 0
	if b.used < b.total && b.waiters.Len() == 0 && (!extra || time.Since(b.lastWait) > b.quiet) {
		b.grantLocked(w)
		b.mu.Unlock()
		return nil
	}
	// A worker asks to wait only for what it counts as its first
	// connection; it may still be counted here as holding one whose
	// release is on its way (returned asynchronously), so it queues then
	// too, rather than being refused a connection it needs.
	if !wait {
		b.mu.Unlock()
		return errNoPermit
	}
	b.lastWait = time.Now()
	wt := &waiter{w: w, since: time.Now(), ready: make(chan struct{})}
	e := b.waiters.PushBack(wt)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	select {
	case <-wt.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		if wt.granted {
			// Granted as ctx ended: the caller's dial fails and returns it.
			return nil
		}
		b.waiters.Remove(e)
		return ctx.Err()
	}
}

func (b *budget) grantLocked(w *worker) {
	b.used++
	if b.held[w] == 0 {
		b.since[w] = time.Now()
	}
	b.held[w]++
}

// release returns one of w's permits. Permits of a forgotten worker are
// already back.
func (b *budget) release(w *worker) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held[w] == 0 {
		return
	}
	b.held[w]--
	if b.held[w] == 0 {
		delete(b.held, w)
		delete(b.since, w)
	}
	b.used--
	b.handOffLocked()
}

// forget returns every permit of a worker that is gone, and drops its
// waiters: their calls fail with the worker.
func (b *budget) forget(w *worker) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= b.held[w]
	delete(b.held, w)
	delete(b.since, w)
	for e := b.waiters.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*waiter).w == w {
			b.waiters.Remove(e)
		}
		e = next
	}
	b.handOffLocked()
}

func (b *budget) handOffLocked() {
	for b.used < b.total && b.waiters.Len() > 0 {
		wt := b.waiters.Remove(b.waiters.Front()).(*waiter)
		wt.granted = true
		b.grantLocked(wt.w)
		close(wt.ready)
	}
}

// pressure reports how many permits waiters need beyond those free.
func (b *budget) pressure() (waiting int, oldest time.Duration, waitingWorkers map[*worker]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	waitingWorkers = make(map[*worker]bool, b.waiters.Len())
	for e := b.waiters.Front(); e != nil; e = e.Next() {
		wt := e.Value.(*waiter)
		waitingWorkers[wt.w] = true
		if d := time.Since(wt.since); d > oldest {
			oldest = d
		}
	}
	return b.waiters.Len(), oldest, waitingWorkers
}

// holding is how many permits w holds and since when it holds any.
func (b *budget) holding(w *worker) (int, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held[w], b.since[w]
}

// starved reports whether w has no permit or waits for one: its calls are
// slow for want of a connection, not because it hangs.
func (b *budget) starved(w *worker) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held[w] == 0 {
		return true
	}
	for e := b.waiters.Front(); e != nil; e = e.Next() {
		if e.Value.(*waiter).w == w {
			return true
		}
	}
	return false
}

// stats is the budget's state for metrics and tests.
func (b *budget) stats() (used, total, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.total, b.waiters.Len()
}

// free is the number of permits nobody holds or waits for.
func (b *budget) free() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total - b.used - b.waiters.Len()
}

// host is the Host a worker calls back: permits are taken from the budget
// in w's name, wake-ups recorded for w's tenant.
type host struct {
	b *budget
	w *worker
	p *Pool
}

func (h host) ScheduleWake(ctx context.Context, at time.Time) error {
	return h.p.scheduleWake(ctx, h.w, at)
}

func (h host) AcquireConn(ctx context.Context, wait bool) error {
	// A worker prepared ahead of need never waits for a permit; a bound
	// worker waits for its first one, and its wait is what makes the pool
	// reclaim one.
	return h.b.acquire(ctx, h.w, wait && h.w.isBound())
}

func (h host) ReleaseConn(context.Context) error {
	h.b.release(h.w)
	return nil
}
