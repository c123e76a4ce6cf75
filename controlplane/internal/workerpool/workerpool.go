// Package workerpool supervises the control plane's worker processes. It
// keeps a few workers prepared ahead of need (started, connected to the
// database as a login role of their own that can reach nothing, built-in
// policy compiled), binds one to a tenant on that tenant's first request,
// keeps every worker's database connections within the node's connection
// budget, replaces workers that crash or hang, stops idle ones, and kills
// them all on Close.
package workerpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/plugins/tracing"
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

// Roles manages the workers' database login roles.
type Roles interface {
	// CreateWorkerRole creates a login role that may connect and nothing
	// else, and returns its name and password.
	CreateWorkerRole(ctx context.Context) (role, password string, err error)
	// GrantTenant lets role act as the tenant's role.
	GrantTenant(ctx context.Context, role, tenantID string) error
	// DropWorkerRoles drops the roles of workers that are gone.
	DropWorkerRoles(ctx context.Context, roles []string) error
	// TouchWorkerRoles records that these roles still belong to live
	// workers, so that no replica cleans them up.
	TouchWorkerRoles(ctx context.Context, roles []string) error
}

// Wakeups are the tenants' scheduled wake-ups, shared by the replicas.
type Wakeups interface {
	// ScheduleWake sets when tenantID is to be woken; a zero at cancels.
	ScheduleWake(ctx context.Context, tenantID string, at time.Time) error
	// TakeDueWakeups removes and returns the enabled tenants due by now.
	TakeDueWakeups(ctx context.Context, now time.Time) ([]string, error)
}

// Params configures a Pool.
type Params struct {
	// Bin is the worker executable; Env its complete environment (no
	// credentials: those go over the plugin channel) but for TMPDIR, a
	// directory of its own.
	Bin string
	Env []string
	// Credential, when set, runs workers as another OS user (see
	// WorkerCredential), which must be able to execute Bin and to reach
	// the control plane's temporary directory, where go-plugin puts the
	// socket workers call back on.
	Credential *syscall.Credential
	Roles      Roles
	// DatabaseURL is where workers connect, without credentials.
	DatabaseURL string
	// Binding describes a tenant to its worker.
	Binding func(tenantID string) *scimworker.Binding
	// Wakeups records when tenants have webhook deliveries due, so that a
	// worker is bound to them then; nil: workers' wake-ups are ignored.
	Wakeups Wakeups
	// MaxWorkers caps worker processes, prepared ones included.
	MaxWorkers int
	// Spares is how many prepared workers to keep ready. SpareQuiet is how
	// long no tenant may have waited for a database connection before they
	// are prepared again (default 30s): each holds one.
	Spares     int
	SpareQuiet time.Duration
	// ConnBudget is the number of database connections all workers
	// together may hold; ConnsPerWorker caps one worker's.
	ConnBudget     int
	ConnsPerWorker int
	// IdleTimeout stops a bound worker that has had no request this long.
	IdleTimeout time.Duration
	// StartTimeout bounds starting, preparing and binding a worker
	// (default 10s); CallTimeout one call to a worker (default 15s).
	// MaxStarting is how many workers may start for tenants at once
	// (default twice the CPUs); others wait their turn.
	MaxStarting  int
	StartTimeout time.Duration
	CallTimeout  time.Duration
	// MaxConnWait is how long a tenant waits for a database connection
	// before a busy tenant that has held one for MinTenure gives its up
	// (defaults 1s and 30s: a connection costs tens of milliseconds of
	// CPU to open and close, so tenants take turns, not requests).
	MaxConnWait time.Duration
	MinTenure   time.Duration
	// StarvedWait bounds the wait itself (default 5s, well inside
	// CallTimeout): a tenant that has waited this long takes the connection
	// of the longest holder that has held one at least as long, MinTenure
	// or not. Without it, when more tenants are busy than the budget holds
	// and they all got their connections at once (a node's start), the
	// rest would wait MinTenure and their requests time out.
	StarvedWait time.Duration
	// HangAfter is how long a worker may go without finishing a call while
	// it has calls in flight before it is health-checked (default 3s: with
	// the sweep and the check's own 2s, a hung worker is replaced within
	// about 6s).
	HangAfter time.Duration
	// SweepInterval is how often workers are checked (default 1s).
	SweepInterval time.Duration
	Logger        *slog.Logger
	Metrics       *Metrics
	// TracerProvider, when set, traces calls to workers (client spans
	// whose trace context the worker continues); nil is tracing off.
	TracerProvider trace.TracerProvider
}

// Info describes a running worker.
type Info struct {
	TenantID  string    `json:"tenant_id"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	LastUsed  time.Time `json:"last_used"`
	Conns     int       `json:"conns"`
}

// Pool is safe for concurrent use.
type Pool struct {
	p      Params
	log    *slog.Logger
	budget *budget
	binds  singleflight.Group
	seq    atomic.Int64
	// bin refuses to launch a worker binary changed since the first launch.
	bin *binGuard

	mu        sync.Mutex
	bound     map[string]*worker
	spares    []*worker
	all       map[*worker]struct{}
	preparing int
	failures  map[string]*failure
	closed    bool
	draining  bool
	// prepared is set once the pool first has every spare it wants, or
	// as many as its limits allow (see Prepared).
	prepared  atomic.Bool
	createdAt time.Time

	refill chan struct{}
	// starting holds a token per worker starting for a tenant.
	starting chan struct{}
	// drops queues the login roles of workers that are gone (dropLoop).
	drops chan string
	// finishing counts workers being stopped in the background (Close
	// waits for them).
	finishing sync.WaitGroup
	stop      chan struct{}
	done      sync.WaitGroup
	// pressure is the UnixNano of the last time a tenant waited for a
	// database connection: spares, which hold one each, are prepared only
	// after a quiet spell, or they would be started and retired in turn.
	pressure atomic.Int64
}

type state int

const (
	stPreparing state = iota
	stSpare
	stBinding
	stBound
	stGone
)

type worker struct {
	seq       int64
	role      string
	tmp       string
	client    *plugin.Client
	rpc       scimworker.Worker
	pid       int
	startedAt time.Time
	// mayWait is set when the worker serves, or is being started for, a
	// tenant: its connection requests then queue for a permit.
	mayWait atomic.Bool

	// guarded by Pool.mu
	tenantID   string
	state      state
	lastUsed   time.Time
	lastDone   time.Time
	lastOK     time.Time // last call that succeeded
	inflight   int
	timeouts   int
	shedAt     time.Time
	lastHealth time.Time
	checking   bool
}

func (w *worker) isBound() bool { return w.mayWait.Load() }

// failure tracks a tenant's recent crashes for restart back-off.
type failure struct {
	count     int
	notBefore time.Time
}

// New returns a Pool and starts its background work: keeping spares,
// reclaiming connection permits and sweeping workers.
func New(p Params) *Pool {
	if p.StartTimeout == 0 {
		p.StartTimeout = 10 * time.Second
	}
	if p.CallTimeout == 0 {
		p.CallTimeout = 15 * time.Second
	}
	if p.MaxConnWait == 0 {
		p.MaxConnWait = time.Second
	}
	if p.MinTenure == 0 {
		p.MinTenure = 30 * time.Second
	}
	if p.StarvedWait == 0 {
		p.StarvedWait = 5 * time.Second
	}
	if p.HangAfter == 0 {
		p.HangAfter = 3 * time.Second
	}
	if p.SweepInterval == 0 {
		p.SweepInterval = time.Second
	}
	if p.SpareQuiet == 0 {
		p.SpareQuiet = 30 * time.Second
	}
	if p.ConnsPerWorker == 0 {
		p.ConnsPerWorker = 4
	}
	if p.MaxStarting == 0 {
		p.MaxStarting = 2 * runtime.GOMAXPROCS(0)
	}
	if p.Binding == nil {
		p.Binding = func(id string) *scimworker.Binding { return &scimworker.Binding{TenantID: id, MaxBodyBytes: 1 << 20} }
	}
	pool := &Pool{
		p:        p,
		log:      p.Logger,
		budget:   newBudget(p.ConnBudget, p.SpareQuiet),
		bound:    make(map[string]*worker),
		all:      make(map[*worker]struct{}),
		failures: make(map[string]*failure),
		refill:   make(chan struct{}, 1),
		drops:    make(chan string, 1024),
		starting: make(chan struct{}, p.MaxStarting),
		stop:     make(chan struct{}),
	}
	pool.createdAt = time.Now()
	pool.bin = &binGuard{path: p.Bin}
	p.Metrics.budget(pool.budget)
	pool.done.Add(4)
	go pool.keepSpares()
	go pool.reclaimLoop()
	go pool.janitor()
	go pool.dropLoop()
	pool.kickRefill()
	return pool
}

// Handle forwards one SCIM exchange to tenantID's worker, binding one if
// needed. A crashed, hung or missing worker is an *UnavailableError.
func (p *Pool) Handle(ctx context.Context, tenantID string, ex *scimworker.Exchange) (*scimworker.Reply, error) {
	var reply *scimworker.Reply
	err := p.call(ctx, tenantID, func(ctx context.Context, w scimworker.Worker) (err error) {
		reply, err = w.Handle(ctx, ex)
		return err
	})
	return reply, err
}

// Call runs fn (typically one admin operation) with tenantID's worker,
// binding one if needed, within the call timeout. A crashed, hung or
// missing worker is an *UnavailableError.
func (p *Pool) Call(ctx context.Context, tenantID string, fn func(context.Context, scimworker.Worker) error) error {
	return p.call(ctx, tenantID, fn)
}

// Stream is Call for a stream whose pace its reader sets (a log export
// to a slow client): only ctx bounds it, and a slow reader does not count
// against the worker as a missed deadline.
func (p *Pool) Stream(ctx context.Context, tenantID string, fn func(context.Context, scimworker.Worker) error) error {
	w, err := p.acquire(ctx, tenantID)
	if err != nil {
		return err
	}
	err = fn(ctx, w.rpc)
	p.release(w, err)
	if err != nil && ctx.Err() == nil && (w.client.Exited() || status.Code(err) == codes.Unavailable) {
		p.log.WarnContext(ctx, "worker failed", "tenant_id", tenantID, "pid", w.pid, "err", err)
		p.retire(w, true)
		return &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: err}
	}
	return err
}

// Warm binds a worker to tenantID, so that the tenant's schema is migrated
// before its first request, then stops it if nothing else uses it: with
// several replicas the tenant's traffic may well go to another one, and a
// prepared worker binds to a migrated schema in a few milliseconds.
func (p *Pool) Warm(ctx context.Context, tenantID string) error {
	w, err := p.acquire(ctx, tenantID)
	if err != nil {
		return err
	}
	p.release(w, nil)
	p.mu.Lock()
	idle := w.inflight == 0 && p.bound[tenantID] == w
	p.mu.Unlock()
	if idle {
		p.retireLater(w)
	}
	return nil
}

func (p *Pool) call(ctx context.Context, tenantID string, fn func(context.Context, scimworker.Worker) error) error {
	actx, span := tracing.Start(ctx, "workerpool.acquire")
	w, err := p.acquire(actx, tenantID)
	if err != nil {
		span.SetStatus(otelcodes.Error, "no worker")
		span.End()
		return err
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("worker.pid", w.pid))
	}
	span.End()
	callCtx, cancel := context.WithTimeout(ctx, p.p.CallTimeout)
	err = fn(callCtx, w.rpc)
	// Out of its own deadline, not the caller's.
	// (The worker may see the deadline pass, and say so, first.)
	hung := err != nil && ctx.Err() == nil &&
		(errors.Is(callCtx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded)
	cancel()
	p.release(w, err)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return err
	case hung && p.budget.starved(w):
		// Out of time waiting for a database connection: the budget's
		// doing, not the worker's.
		return &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: err}
	case hung:
		// Stuck, not just behind: no call has succeeded for as long as
		// this one ran. An overloaded worker still finishes calls while
		// others queued behind them time out; replacing it would fail
		// everything it has in flight and start cold.
		p.mu.Lock()
		w.timeouts++
		stuck := w.timeouts >= 2 && time.Since(w.lastOK) > p.p.CallTimeout
		p.mu.Unlock()
		if stuck {
			p.log.WarnContext(ctx, "worker missed two call deadlines in a row; replacing it", "tenant_id", tenantID, "pid", w.pid)
			p.retire(w, true)
		}
		return &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: err}
	case w.client.Exited() || status.Code(err) == codes.Unavailable:
		p.log.WarnContext(ctx, "worker failed", "tenant_id", tenantID, "pid", w.pid, "err", err)
		p.retire(w, true)
		return &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: err}
	}
	return err
}

// acquire returns tenantID's bound worker with its in-flight count raised.
func (p *Pool) acquire(ctx context.Context, tenantID string) (*worker, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if p.draining {
			p.mu.Unlock()
			return nil, &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: ErrDraining}
		}
		if w := p.bound[tenantID]; w != nil {
			if !w.client.Exited() {
				now := time.Now()
				if w.inflight == 0 {
					w.lastDone = now
				}
				w.inflight++
				w.lastUsed = now
				p.mu.Unlock()
				return w, nil
			}
			p.mu.Unlock()
			p.retire(w, true)
			continue
		}
		if f := p.failures[tenantID]; f != nil {
			if wait := time.Until(f.notBefore); wait > 0 {
				p.mu.Unlock()
				return nil, &UnavailableError{TenantID: tenantID, RetryAfter: wait, Err: errors.New("restart backing off after a failure")}
			}
		}
		p.mu.Unlock()

		// One bind per tenant however many requests wait for it; it is not
		// tied to the first caller's ctx.
		ch := p.binds.DoChan(tenantID, func() (any, error) {
			return nil, p.bindTenant(context.WithoutCancel(ctx), tenantID)
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

func (p *Pool) release(w *worker, err error) {
	p.mu.Lock()
	w.inflight--
	now := time.Now()
	w.lastUsed = now
	w.lastDone = now
	if err == nil {
		w.timeouts, w.lastOK = 0, now
	}
	p.mu.Unlock()
}

// bindTenant binds a prepared worker (or, with none ready, a new one) to
// tenantID.
func (p *Pool) bindTenant(ctx context.Context, tenantID string) error {
	began := time.Now()
	w, fromSpare := p.takeSpare(), true
	if w == nil {
		fromSpare = false
		var err error
		if w, err = p.startForTenant(ctx); err != nil {
			if ctx.Err() == nil {
				p.fail(tenantID)
			}
			p.log.ErrorContext(ctx, "worker start failed", "tenant_id", tenantID, "err", err)
			return &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: err}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.p.StartTimeout)
	defer cancel()
	defer p.kickRefill()
	w.mayWait.Store(true)
	err := p.p.Roles.GrantTenant(ctx, w.role, tenantID)
	if err == nil {
		_, err = w.rpc.Bind(ctx, p.p.Binding(tenantID))
	}
	if err != nil {
		p.retire(w, false)
		p.fail(tenantID)
		p.log.ErrorContext(ctx, "worker bind failed", "tenant_id", tenantID, "err", err)
		return &UnavailableError{TenantID: tenantID, RetryAfter: time.Second, Err: err}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || w.state == stGone {
		return ErrClosed
	}
	now := time.Now()
	w.tenantID, w.state, w.lastUsed, w.lastDone, w.lastOK = tenantID, stBound, now, now, now
	p.bound[tenantID] = w
	restart := p.failures[tenantID] != nil
	p.p.Metrics.bound(time.Since(began), fromSpare, restart, len(p.bound))
	p.log.InfoContext(ctx, "worker bound", "tenant_id", tenantID, "pid", w.pid, "took", time.Since(began), "prepared", fromSpare, "restart", restart)
	return nil
}

// startForTenant starts a worker for a tenant that found no prepared one.
// At most MaxStarting start at once: fifty tenants arriving together on a
// small machine otherwise share its CPU fifty ways and all run past
// StartTimeout. A tenant waits for its turn within its request's deadline
// (a spare prepared meanwhile serves it at once); its start then has
// StartTimeout.
func (p *Pool) startForTenant(ctx context.Context) (*worker, error) {
	select {
	case p.starting <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a turn to start a worker: %w", ctx.Err())
	}
	defer func() { <-p.starting }()
	if w := p.takeSpare(); w != nil {
		return w, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.p.StartTimeout)
	defer cancel()
	if err := p.makeRoom(ctx); err != nil {
		return nil, err
	}
	return p.start(ctx, true)
}

// takeSpare takes a prepared worker, if one is ready.
func (p *Pool) takeSpare() *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.spares) > 0 {
		w := p.spares[len(p.spares)-1]
		p.spares = p.spares[:len(p.spares)-1]
		p.p.Metrics.spares.Set(float64(len(p.spares)))
		if w.client.Exited() {
			go p.retire(w, false)
			continue
		}
		w.state = stBinding
		return w
	}
	return nil
}

// makeRoom makes sure one more process fits under MaxWorkers, stopping the
// least recently used idle worker if need be.
func (p *Pool) makeRoom(ctx context.Context) error {
	p.mu.Lock()
	if len(p.all) < p.p.MaxWorkers {
		p.mu.Unlock()
		return nil
	}
	var victim *worker
	for _, w := range p.bound {
		if w.inflight == 0 && (victim == nil || w.lastUsed.Before(victim.lastUsed)) {
			victim = w
		}
	}
	p.mu.Unlock()
	if victim == nil {
		return errors.New("all workers busy")
	}
	p.log.InfoContext(ctx, "stopping idle worker for capacity", "tenant_id", victim.tenantID, "pid", victim.pid)
	p.retireLater(victim)
	return nil
}

// start spawns a worker, gives it a login role of its own and prepares it.
// forTenant workers wait for a connection permit; spares do not.
func (p *Pool) start(ctx context.Context, forTenant bool) (*worker, error) {
	ctx, cancel := context.WithTimeout(ctx, p.p.StartTimeout)
	defer cancel()
	secure, err := p.bin.secureConfig()
	if err != nil {
		return nil, err
	}
	// The channel's mutual TLS: the worker's certificate comes back while
	// it starts and is known from then on.
	session, err := scimworker.NewSession()
	if err != nil {
		return nil, err
	}
	defer session.Close()
	tmp, err := p.privateDir()
	if err != nil {
		return nil, err
	}
	role, password, err := p.p.Roles.CreateWorkerRole(ctx)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("create worker role: %w", err)
	}
	cmd := exec.Command(p.p.Bin)
	// Its own socket and any temporary file go in its own directory.
	cmd.Env = append(append(slices.Clip(p.p.Env), "TMPDIR="+tmp), session.Env()...)
	cmd.ExtraFiles = []*os.File{session.WorkerFile()}
	cmd.Dir = tmp
	// If the control plane dies without Close, its workers die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: p.p.Credential}
	var sockets *plugin.UnixSocketConfig
	if c := p.p.Credential; c != nil {
		// The socket the worker calls the host back on is the control
		// plane's: let the worker's group connect to it. (Only the
		// worker holding the certificate of this plugin session gets
		// past its mutual TLS.)
		sockets = &plugin.UnixSocketConfig{Group: strconv.FormatUint(uint64(c.Gid), 10)}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  scimworker.Handshake,
		Plugins:          scimworker.PluginMap(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		TLSConfig:        session.Host,
		SecureConfig:     secure,
		GRPCDialOptions:  scimworker.DialOptions(p.p.TracerProvider),
		Managed:          true,
		SkipHostEnv:      true, // the worker gets Env and go-plugin's handshake variables only
		UnixSocketConfig: sockets,
		StartTimeout:     p.p.StartTimeout,
		// The worker logs slog JSON to stderr; pass it through as is.
		Stderr: stderrLines{out: os.Stderr},
		Logger: hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
	w := &worker{seq: p.seq.Add(1), role: role, tmp: tmp, client: client, startedAt: time.Now(), state: stPreparing}
	w.mayWait.Store(forTenant)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		client.Kill()
		p.dropRole(role)
		_ = os.RemoveAll(tmp)
		return nil, ErrClosed
	}
	p.all[w] = struct{}{}
	p.mu.Unlock()
	fail := func(err error) (*worker, error) {
		p.retire(w, false)
		return nil, err
	}
	rpcClient, err := client.Client()
	session.Started()
	if err != nil {
		return fail(fmt.Errorf("start worker: %w", err))
	}
	raw, err := rpcClient.Dispense(scimworker.PluginName)
	if err != nil {
		return fail(fmt.Errorf("dispense worker: %w", err))
	}
	rpc, ok := raw.(scimworker.Worker)
	if !ok {
		return fail(fmt.Errorf("dispense worker: got %T", raw))
	}
	w.rpc = rpc
	w.pid = client.ReattachConfig().Pid
	err = rpc.Prepare(ctx, &scimworker.Prepare{
		DatabaseURL: p.p.DatabaseURL, User: role, Password: password, MaxConns: p.p.ConnsPerWorker,
	}, host{b: p.budget, w: w, p: p})
	if err != nil {
		return fail(fmt.Errorf("prepare worker: %w", err))
	}
	p.p.Metrics.starts.Inc()
	return w, nil
}

// privateDir makes a worker's temporary directory: its own, which other
// users cannot enter.
func (p *Pool) privateDir() (string, error) {
	dir, err := os.MkdirTemp("", "scimplane-worker-")
	if err != nil {
		return "", fmt.Errorf("worker temp dir: %w", err)
	}
	if c := p.p.Credential; c != nil {
		if err := os.Chown(dir, int(c.Uid), int(c.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("worker temp dir: %w", err)
		}
	}
	return dir, nil
}

// retire takes w out of the pool, kills it, returns its permits and drops
// its login role; crashed marks a failure of its tenant for back-off.
func (p *Pool) retire(w *worker, crashed bool) {
	if p.detach(w, crashed) {
		p.finish(w, crashed)
	}
}

// retireLater takes w out of the pool at once and stops it in the
// background, for callers on a request's path: stopping a process waits
// for it to exit.
func (p *Pool) retireLater(w *worker) {
	if p.detach(w, false) {
		p.finishing.Go(func() { p.finish(w, false) })
	}
}

// detach takes w out of the pool; it reports false if w was already gone.
func (p *Pool) detach(w *worker, crashed bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.state == stGone {
		return false
	}
	w.state = stGone
	delete(p.all, w)
	if w.tenantID != "" && p.bound[w.tenantID] == w {
		delete(p.bound, w.tenantID)
		if crashed {
			p.recordFailureLocked(w.tenantID)
		}
	}
	for i, s := range p.spares {
		if s == w {
			p.spares = append(p.spares[:i], p.spares[i+1:]...)
			break
		}
	}
	p.p.Metrics.running.Set(float64(len(p.bound)))
	p.p.Metrics.spares.Set(float64(len(p.spares)))
	return true
}

// finish kills a detached worker, returns its permits and drops its role.
func (p *Pool) finish(w *worker, crashed bool) {
	p.kill(w, crashed)
	_ = os.RemoveAll(w.tmp)
	// Its connections died with it.
	p.budget.forget(w)
	p.dropRole(w.role)
	p.kickRefill()
}

// kill ends w's process. go-plugin's Kill first asks the plugin to shut
// down, without a deadline, which never returns from a stopped (hung)
// process: a worker that failed is killed outright, and a graceful stop
// gets a few seconds.
func (p *Pool) kill(w *worker, failed bool) {
	if w.pid > 0 && (failed || w.rpc == nil) && !w.client.Exited() {
		_ = syscall.Kill(w.pid, syscall.SIGKILL)
	}
	done := make(chan struct{})
	go func() {
		w.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		if !w.client.Exited() && w.pid > 0 {
			_ = syscall.Kill(w.pid, syscall.SIGKILL)
		}
		<-done
	}
}

// dropRole queues the role of a worker that is gone for dropLoop, or drops
// it here when the queue is full.
func (p *Pool) dropRole(role string) {
	select {
	case p.drops <- role:
	default:
		p.dropRoles([]string{role})
	}
}

// dropLoop drops queued roles, as many as are waiting (up to 100) in one
// transaction: stopping a wave of idle workers costs a few transactions,
// not one each, on the control plane's few connections that also
// authenticate requests and bind workers.
func (p *Pool) dropLoop() {
	defer p.done.Done()
	for {
		select {
		case <-p.stop:
			return
		case role := <-p.drops:
			p.dropRoles(p.takeDrops([]string{role}))
		}
	}
}

// takeDrops adds the roles waiting in the queue to batch, up to 100.
func (p *Pool) takeDrops(batch []string) []string {
	for len(batch) < 100 {
		select {
		case role := <-p.drops:
			batch = append(batch, role)
		default:
			return batch
		}
	}
	return batch
}

func (p *Pool) dropRoles(roles []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.p.Roles.DropWorkerRoles(ctx, roles); err != nil {
		// A replica's janitor drops roles nobody touched for a while.
		p.log.Warn("drop worker roles", "roles", len(roles), "err", err)
	}
}

func (p *Pool) fail(tenantID string) {
	p.mu.Lock()
	p.recordFailureLocked(tenantID)
	p.mu.Unlock()
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
	w := p.bound[tenantID]
	delete(p.failures, tenantID)
	p.mu.Unlock()
	if w != nil {
		p.retire(w, false)
	}
}

// Running lists the bound workers.
func (p *Pool) Running() []Info {
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.bound))
	for _, w := range p.bound {
		ws = append(ws, w)
	}
	out := make([]Info, 0, len(ws))
	for _, w := range ws {
		out = append(out, Info{TenantID: w.tenantID, PID: w.pid, StartedAt: w.startedAt, LastUsed: w.lastUsed})
	}
	p.mu.Unlock()
	for i, w := range ws {
		out[i].Conns, _ = p.budget.holding(w)
	}
	return out
}

func (p *Pool) kickRefill() {
	select {
	case p.refill <- struct{}{}:
	default:
	}
}

// keepSpares keeps Spares prepared workers, while processes and permits
// allow it and no tenant waits for a permit.
func (p *Pool) keepSpares() {
	defer p.done.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.refill:
		case <-tick.C:
		}
		// Two at a time: a start costs the machine tens of milliseconds
		// of CPU, which tenants' requests are also waiting for.
		var wg sync.WaitGroup
		for range 2 {
			if !p.reserveSpare() {
				break
			}
			wg.Go(func() {
				w, err := p.start(context.Background(), false)
				p.mu.Lock()
				p.preparing--
				if err == nil && !p.closed && w.state == stPreparing {
					w.state = stSpare
					p.spares = append(p.spares, w)
					p.p.Metrics.spares.Set(float64(len(p.spares)))
					err = nil
				} else if err == nil {
					err = ErrClosed
				}
				p.mu.Unlock()
				if err != nil && !errors.Is(err, ErrClosed) {
					p.log.Warn("preparing a worker failed", "err", err)
				}
			})
		}
		wg.Wait()
		if p.wantSpare() {
			p.kickRefill()
		} else {
			p.markPrepared()
		}
	}
}

func (p *Pool) wantSpare() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wantSpareLocked()
}

func (p *Pool) wantSpareLocked() bool {
	return !p.closed && !p.draining && len(p.spares)+p.preparing < p.p.Spares && len(p.all)+p.preparing < p.p.MaxWorkers &&
		p.budget.free() > p.preparing && time.Since(time.Unix(0, p.pressure.Load())) > p.p.SpareQuiet
}

func (p *Pool) reserveSpare() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.wantSpareLocked() {
		return false
	}
	p.preparing++
	return true
}

// reclaimLoop gives tenants waiting for a database connection one, taking
// permits back in order of cost: prepared workers, then extra connections
// of busy tenants, then idle tenants' connections, and, when a tenant has
// waited MaxConnWait, the connection of the busy tenant that has held one
// longest (at least MinTenure, or StarvedWait once the waiter has waited
// that long).
func (p *Pool) reclaimLoop() {
	defer p.done.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.budget.kick:
		case <-tick.C:
		}
		p.reclaim()
	}
}

// idleReclaim is how long a tenant must have had no request in flight for
// its connections to count as idle and be taken back.
const idleReclaim = 2 * time.Second

func (p *Pool) reclaim() {
	waiting, oldest, waitingWorkers := p.budget.pressure()
	if waiting == 0 {
		return
	}
	now := time.Now()
	p.pressure.Store(now.UnixNano())
	type holder struct {
		w     *worker
		held  int
		since time.Time
	}
	p.mu.Lock()
	var spares []*worker
	var holders []holder
	inFlight := 0 // permits already asked back
	for w := range p.all {
		held, since := p.budget.holding(w)
		if held == 0 {
			continue
		}
		if now.Sub(w.shedAt) < time.Second {
			inFlight++
			continue
		}
		switch w.state {
		case stSpare:
			spares = append(spares, w)
		case stBound:
			if !waitingWorkers[w] {
				holders = append(holders, holder{w, held, since})
			}
		}
	}
	need := waiting - inFlight
	var shed []holder
	// Extra connections first, then whole idle tenants.
	for _, h := range holders {
		if need <= 0 {
			break
		}
		if h.held > 1 {
			h.w.shedAt = now
			shed = append(shed, holder{h.w, min(h.held-1, need), h.since})
			need -= h.held - 1
		}
	}
	for _, h := range holders {
		if need <= 0 {
			break
		}
		// Idle for a while, not just between two requests.
		if h.w.inflight == 0 && now.Sub(h.w.lastUsed) >= idleReclaim && h.w.shedAt != now {
			h.w.shedAt = now
			shed = append(shed, h)
			need -= h.held
		}
	}
	if need > 0 && oldest >= p.p.MaxConnWait {
		tenure := p.p.MinTenure
		if oldest >= p.p.StarvedWait {
			tenure = min(tenure, p.p.StarvedWait)
		}
		var victim *holder
		for i, h := range holders {
			if h.w.shedAt != now && now.Sub(h.since) >= tenure && (victim == nil || h.since.Before(victim.since)) {
				victim = &holders[i]
			}
		}
		if victim != nil {
			victim.w.shedAt = now
			shed = append(shed, *victim)
			p.p.Metrics.preemptions.Inc()
			need--
		}
	}
	p.mu.Unlock()
	// Spares hold a permit each; killing one frees it at once.
	for _, w := range spares {
		if need <= 0 {
			break
		}
		need--
		p.p.Metrics.sparesRetired.Inc()
		p.retire(w, false)
	}
	for _, h := range shed {
		p.log.Debug("asking a worker for database connections back", "tenant_id", h.w.tenantID, "conns", h.held, "waiting", waiting)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := h.w.rpc.Shed(ctx, h.held); err != nil {
				p.log.Warn("ask worker to shed connections", "tenant_id", h.w.tenantID, "err", err)
			}
		}()
	}
}

// janitor checks workers every SweepInterval until Close.
func (p *Pool) janitor() {
	defer p.done.Done()
	tick := time.NewTicker(p.p.SweepInterval)
	defer tick.Stop()
	touch := time.NewTicker(time.Minute)
	defer touch.Stop()
	wake := time.NewTicker(WakeInterval)
	defer wake.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.sweep()
		case <-touch.C:
			p.touchRoles()
		case <-wake.C:
			p.wakeDue()
		}
	}
}

// WakeInterval is how often due wake-ups are looked for.
const WakeInterval = 5 * time.Second

// scheduleWake records w's tenant's next wake-up.
func (p *Pool) scheduleWake(ctx context.Context, w *worker, at time.Time) error {
	p.mu.Lock()
	tenantID := w.tenantID
	p.mu.Unlock()
	if tenantID == "" {
		return errors.New("schedule wake: the worker is not bound")
	}
	if p.p.Wakeups == nil {
		return nil
	}
	return p.p.Wakeups.ScheduleWake(ctx, tenantID, at)
}

// wakeDue binds a worker to every tenant whose wake-up is due and that
// has none here: binding starts its webhook deliveries, and the worker
// then stays until idle as after a request. Binds take permits from the
// budget like any other.
func (p *Pool) wakeDue() {
	if p.p.Wakeups == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	due, err := p.p.Wakeups.TakeDueWakeups(ctx, time.Now())
	if err != nil {
		p.log.Warn("read due wake-ups", "err", err)
		return
	}
	for _, id := range due {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), p.p.StartTimeout)
			defer cancel()
			w, err := p.acquire(ctx, id)
			if err != nil {
				p.log.Warn("wake tenant for webhook deliveries", "tenant_id", id, "err", err)
				return
			}
			p.release(w, nil)
			p.log.Info("woke tenant for webhook deliveries", "tenant_id", id, "pid", w.pid)
		}()
	}
}

// sweep stops exited and idle workers, health-checks a worker that has had
// calls in flight without finishing one for HangAfter, and, every 30s, the
// others.
func (p *Pool) sweep() {
	var retireCrashed, retireIdle, check []*worker
	now := time.Now()
	p.mu.Lock()
	for w := range p.all {
		if w.state == stPreparing || w.state == stBinding {
			continue
		}
		switch {
		case w.client.Exited():
			p.log.Warn("worker exited", "tenant_id", w.tenantID, "pid", w.pid)
			retireCrashed = append(retireCrashed, w)
		case w.state == stBound && w.inflight == 0 && now.Sub(w.lastUsed) > p.p.IdleTimeout:
			p.log.Info("stopping idle worker", "tenant_id", w.tenantID, "pid", w.pid)
			retireIdle = append(retireIdle, w)
		case w.checking:
		case w.inflight > 0 && now.Sub(w.lastDone) > p.p.HangAfter,
			w.inflight == 0 && now.Sub(w.lastHealth) > 30*time.Second:
			w.checking, w.lastHealth = true, now
			check = append(check, w)
		}
	}
	for id, f := range p.failures {
		// A worker up for a minute, or ten quiet minutes, resets back-off.
		w := p.bound[id]
		if w != nil && now.Sub(w.startedAt) > time.Minute || w == nil && now.Sub(f.notBefore) > 10*time.Minute {
			delete(p.failures, id)
		}
	}
	p.mu.Unlock()
	for _, w := range retireCrashed {
		go p.retire(w, true)
	}
	for _, w := range retireIdle {
		go p.retire(w, false)
	}
	for _, w := range check {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := w.rpc.Health(ctx)
			cancel()
			p.mu.Lock()
			w.checking = false
			p.mu.Unlock()
			if err != nil {
				p.log.Warn("worker failed its health check; replacing it", "tenant_id", w.tenantID, "pid", w.pid, "err", err)
				p.retire(w, true)
			}
		}()
	}
}

func (p *Pool) touchRoles() {
	p.mu.Lock()
	roles := make([]string, 0, len(p.all))
	for w := range p.all {
		roles = append(roles, w.role)
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.p.Roles.TouchWorkerRoles(ctx, roles); err != nil {
		p.log.Warn("record live worker roles", "err", err)
	}
}

// Close kills every worker and refuses new work.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	all := make([]*worker, 0, len(p.all))
	for w := range p.all {
		all = append(all, w)
	}
	p.mu.Unlock()
	close(p.stop)
	p.done.Wait()
	var wg sync.WaitGroup
	for _, w := range all {
		wg.Go(func() { p.retire(w, false) })
	}
	wg.Wait()
	p.finishing.Wait()
	for batch := p.takeDrops(nil); len(batch) > 0; batch = p.takeDrops(nil) {
		p.dropRoles(batch)
	}
}
