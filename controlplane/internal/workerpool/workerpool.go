// Package workerpool supervises one go-plugin worker process per active
// tenant: it starts a tenant's worker on first use, health-checks it,
// restarts it with back-off after a crash, stops it when idle, caps how many
// run at once and kills them all on Close.
package workerpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// ErrClosed is returned once Close has been called.
var ErrClosed = errors.New("worker pool closed")

// UnavailableError means the tenant's worker cannot answer now; the caller
// should retry after RetryAfter.
type UnavailableError struct {
	TenantID   string
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("worker for %s unavailable: %v", e.TenantID, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// RetryIn is how long the caller should wait before trying again.
func (e *UnavailableError) RetryIn() time.Duration { return e.RetryAfter }

// Params configures a Pool.
type Params struct {
	// Bin is the worker executable.
	Bin string
	// Env returns the complete environment of tenantID's worker.
	Env          func(tenantID string) []string
	MaxWorkers   int
	IdleTimeout  time.Duration
	StartTimeout time.Duration // default 10s
	// SweepInterval is how often idle workers are stopped and the others
	// health-checked; default a quarter of IdleTimeout, within 100ms..30s.
	SweepInterval time.Duration
	Logger        *slog.Logger
	Metrics       *Metrics
}

// Info describes a running worker.
type Info struct {
	TenantID  string    `json:"tenant_id"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	LastUsed  time.Time `json:"last_used"`
}

// Pool is safe for concurrent use.
type Pool struct {
	p      Params
	log    *slog.Logger
	starts singleflight.Group

	mu       sync.Mutex
	workers  map[string]*worker
	failures map[string]*failure
	starting int
	closed   bool

	stopJanitor chan struct{}
	janitorDone chan struct{}
}

type worker struct {
	tenantID  string
	client    *plugin.Client
	rpc       scimworker.Worker
	pid       int
	startedAt time.Time
	// guarded by Pool.mu
	lastUsed time.Time
	inflight int
}

// failure tracks a tenant's recent crashes for restart back-off.
type failure struct {
	count     int
	notBefore time.Time
}

// New returns a Pool and starts its idle janitor.
func New(p Params) *Pool {
	if p.StartTimeout == 0 {
		p.StartTimeout = 10 * time.Second
	}
	if p.SweepInterval == 0 {
		p.SweepInterval = min(max(p.IdleTimeout/4, 100*time.Millisecond), 30*time.Second)
	}
	pool := &Pool{
		p:           p,
		log:         p.Logger,
		workers:     make(map[string]*worker),
		failures:    make(map[string]*failure),
		stopJanitor: make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	go pool.janitor()
	return pool
}

// Handle forwards one SCIM exchange to tenantID's worker, starting it if
// needed. A crashed or missing worker is an *UnavailableError.
func (p *Pool) Handle(ctx context.Context, tenantID string, ex *scimworker.Exchange) (*scimworker.Reply, error) {
	var reply *scimworker.Reply
	err := p.call(ctx, tenantID, func(w scimworker.Worker) (err error) {
		reply, err = w.Handle(ctx, ex)
		return err
	})
	return reply, err
}

// Admin forwards one admin operation to tenantID's worker.
func (p *Pool) Admin(ctx context.Context, tenantID string, req *scimworker.AdminRequest) (*scimworker.AdminReply, error) {
	var reply *scimworker.AdminReply
	err := p.call(ctx, tenantID, func(w scimworker.Worker) (err error) {
		reply, err = w.Admin(ctx, req)
		return err
	})
	return reply, err
}

func (p *Pool) call(ctx context.Context, tenantID string, fn func(scimworker.Worker) error) error {
	w, err := p.acquire(ctx, tenantID)
	if err != nil {
		return err
	}
	err = fn(w.rpc)
	p.release(w)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if w.client.Exited() || status.Code(err) == codes.Unavailable {
		p.log.WarnContext(ctx, "worker failed", "tenant_id", tenantID, "pid", w.pid, "err", err)
		p.remove(w, true)
		return &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: err}
	}
	return err
}

// acquire returns a running worker with its in-flight count raised.
func (p *Pool) acquire(ctx context.Context, tenantID string) (*worker, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if w := p.workers[tenantID]; w != nil {
			if !w.client.Exited() {
				w.inflight++
				w.lastUsed = time.Now()
				p.mu.Unlock()
				return w, nil
			}
			p.removeLocked(w, true)
			go w.client.Kill() // reaps the client's resources
		}
		if f := p.failures[tenantID]; f != nil {
			if wait := time.Until(f.notBefore); wait > 0 {
				p.mu.Unlock()
				return nil, &UnavailableError{TenantID: tenantID, RetryAfter: wait, Err: errors.New("restart backing off after crash")}
			}
		}
		p.mu.Unlock()

		// One start per tenant however many requests wait for it; the start
		// is not tied to the first caller's ctx.
		ch := p.starts.DoChan(tenantID, func() (any, error) {
			return nil, p.start(context.WithoutCancel(ctx), tenantID)
		})
		select {
		case res := <-ch:
			if res.Err != nil {
				return nil, res.Err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (p *Pool) release(w *worker) {
	p.mu.Lock()
	w.inflight--
	w.lastUsed = time.Now()
	p.mu.Unlock()
}

// start spawns, handshakes and health-checks tenantID's worker and adds it
// to the pool, evicting the least recently used idle worker at the cap.
func (p *Pool) start(ctx context.Context, tenantID string) error {
	evicted, err := p.reserve(tenantID)
	if err != nil {
		return err
	}
	if evicted != nil {
		p.log.InfoContext(ctx, "evicting idle worker for capacity", "tenant_id", evicted.tenantID, "pid", evicted.pid)
		evicted.client.Kill()
	}
	began := time.Now()
	w, err := p.spawn(ctx, tenantID)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if err != nil {
		p.recordFailureLocked(tenantID)
		p.log.ErrorContext(ctx, "worker start failed", "tenant_id", tenantID, "err", err)
		return &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: err}
	}
	if p.closed {
		go w.client.Kill()
		return ErrClosed
	}
	elapsed := time.Since(began)
	restart := p.failures[tenantID] != nil
	p.workers[tenantID] = w
	p.p.Metrics.started(elapsed, restart, len(p.workers))
	p.log.InfoContext(ctx, "worker started", "tenant_id", tenantID, "pid", w.pid, "cold_start", elapsed, "restart", restart)
	return nil
}

// reserve takes a slot for a new worker, choosing an idle worker to evict
// when the pool is full.
func (p *Pool) reserve(tenantID string) (*worker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	var evict *worker
	if len(p.workers)+p.starting >= p.p.MaxWorkers {
		for _, w := range p.workers {
			if w.inflight == 0 && (evict == nil || w.lastUsed.Before(evict.lastUsed)) {
				evict = w
			}
		}
		if evict == nil {
			return nil, &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: errors.New("all workers busy")}
		}
		p.removeLocked(evict, false)
	}
	p.starting++
	return evict, nil
}

func (p *Pool) spawn(ctx context.Context, tenantID string) (*worker, error) {
	ctx, cancel := context.WithTimeout(ctx, p.p.StartTimeout)
	defer cancel()
	cmd := exec.Command(p.p.Bin)
	cmd.Env = p.p.Env(tenantID)
	// If the control plane dies without Close, its workers die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  scimworker.Handshake,
		Plugins:          scimworker.PluginMap(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          true,
		SkipHostEnv:      true, // the worker gets Env and go-plugin's handshake variables only
		StartTimeout:     p.p.StartTimeout,
		// The worker logs slog JSON to stderr; pass it through as is.
		Stderr: stderrLines{out: os.Stderr},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
	rpcClient, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	raw, err := rpcClient.Dispense(scimworker.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("dispense worker: %w", err)
	}
	rpc, ok := raw.(scimworker.Worker)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("dispense worker: got %T", raw)
	}
	h, err := rpc.Health(ctx)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("health check: %w", err)
	}
	if h.TenantID != tenantID {
		client.Kill()
		return nil, fmt.Errorf("health check: worker serves %q", h.TenantID)
	}
	now := time.Now()
	return &worker{tenantID: tenantID, client: client, rpc: rpc, pid: client.ReattachConfig().Pid, startedAt: now, lastUsed: now}, nil
}

// remove takes w out of the pool (if still there) and kills it; crashed
// marks a failure for back-off.
func (p *Pool) remove(w *worker, crashed bool) {
	p.mu.Lock()
	p.removeLocked(w, crashed)
	p.mu.Unlock()
	w.client.Kill()
}

func (p *Pool) removeLocked(w *worker, crashed bool) {
	if p.workers[w.tenantID] != w {
		return
	}
	delete(p.workers, w.tenantID)
	p.p.Metrics.running.Set(float64(len(p.workers)))
	if crashed {
		p.recordFailureLocked(w.tenantID)
	}
}

// recordFailureLocked schedules the next start: the first failure may
// restart at once, repeated ones wait 250ms, 500ms, ... up to 30s.
func (p *Pool) recordFailureLocked(tenantID string) {
	f := p.failures[tenantID]
	if f == nil {
		f = &failure{}
		p.failures[tenantID] = f
	}
	f.count++
	var wait time.Duration
	if f.count > 1 {
		wait = min(250*time.Millisecond<<min(f.count-2, 10), 30*time.Second)
	}
	f.notBefore = time.Now().Add(wait)
}

// Stop kills tenantID's worker, if running, without counting a failure.
func (p *Pool) Stop(tenantID string) {
	p.mu.Lock()
	w := p.workers[tenantID]
	if w != nil {
		p.removeLocked(w, false)
	}
	delete(p.failures, tenantID)
	p.mu.Unlock()
	if w != nil {
		w.client.Kill()
	}
}

// Running lists the running workers.
func (p *Pool) Running() []Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Info, 0, len(p.workers))
	for _, w := range p.workers {
		out = append(out, Info{TenantID: w.tenantID, PID: w.pid, StartedAt: w.startedAt, LastUsed: w.lastUsed})
	}
	return out
}

// janitor sweeps the pool periodically until Close.
func (p *Pool) janitor() {
	defer close(p.janitorDone)
	tick := time.NewTicker(p.p.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stopJanitor:
			return
		case <-tick.C:
			p.sweep()
		}
	}
}

// sweep stops idle and exited workers, health-checks the other workers
// that are not serving requests, and forgets old failures.
func (p *Pool) sweep() {
	var stop, check []*worker
	now := time.Now()
	p.mu.Lock()
	for _, w := range p.workers {
		switch {
		case w.client.Exited():
			p.log.Warn("worker exited", "tenant_id", w.tenantID, "pid", w.pid)
			p.removeLocked(w, true)
			stop = append(stop, w)
		case w.inflight == 0 && now.Sub(w.lastUsed) > p.p.IdleTimeout:
			p.log.Info("stopping idle worker", "tenant_id", w.tenantID, "pid", w.pid)
			p.removeLocked(w, false)
			stop = append(stop, w)
		case w.inflight == 0:
			check = append(check, w)
		}
	}
	for id, f := range p.failures {
		// A worker up for a minute, or ten quiet minutes, resets back-off.
		w := p.workers[id]
		if w != nil && now.Sub(w.startedAt) > time.Minute || w == nil && now.Sub(f.notBefore) > 10*time.Minute {
			delete(p.failures, id)
		}
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range stop {
		wg.Go(w.client.Kill)
	}
	for _, w := range check {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := w.rpc.Health(ctx); err != nil {
				p.log.Warn("worker failed health check", "tenant_id", w.tenantID, "pid", w.pid, "err", err)
				p.remove(w, true)
			}
		})
	}
	wg.Wait()
}

// Close kills every worker and refuses new work.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	all := make([]*worker, 0, len(p.workers))
	for _, w := range p.workers {
		all = append(all, w)
	}
	clear(p.workers)
	p.p.Metrics.running.Set(0)
	p.mu.Unlock()
	close(p.stopJanitor)
	<-p.janitorDone
	var wg sync.WaitGroup
	for _, w := range all {
		wg.Go(w.client.Kill)
	}
	wg.Wait()
}
