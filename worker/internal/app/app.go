// Package app wires a worker: a connection pool as its own login role,
// then, once bound to a tenant, migrations, the SCIM use cases and the
// plugin-facing Worker.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/plugins/tracing"
	"github.com/scimplane/scimplane/worker/internal/admin"
	"github.com/scimplane/scimplane/worker/internal/policy"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
	"github.com/scimplane/scimplane/worker/internal/scimserver"
	"github.com/scimplane/scimplane/worker/internal/store"
	"github.com/scimplane/scimplane/worker/internal/webhook"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Options tune a worker's background behaviour; zero fields take defaults.
type Options struct {
	// IdleConnClose is how long a bound worker keeps database connections
	// with no request before closing them (default 10s): an idle tenant
	// costs no database backend.
	IdleConnClose time.Duration
	// PolicyCheck is how often an active worker looks for a policy version
	// activated through another replica (default 10s).
	PolicyCheck time.Duration
	// Now is the clock log maintenance and the admin operations read; nil
	// is time.Now (tests pin it).
	Now func() time.Time
	// WebhookTimeout bounds one webhook delivery attempt (default 10s);
	// WebhookSchedule is the retry schedule (default webhook.Schedule).
	// Tests shorten both.
	WebhookTimeout  time.Duration
	WebhookSchedule []time.Duration
	// PolicySandbox is the executable that checks candidate policies when
	// run with policy.SandboxArg; default this process's own executable.
	PolicySandbox string
	// PolicyLimits bound each sandboxed check.
	PolicyLimits policy.Limits
	// Tracing, when set, traces requests down to SQL and names the tenant
	// on the spans once bound; nil is tracing off.
	Tracing *tracing.Provider
}

// Worker implements scimworker.Worker.
type Worker struct {
	// Server and Admin serve the admin operations of the tenant the worker
	// is bound to (scimworker.Admin): its directory and policy, its SCIM log.
	*admin.Server
	*scimlog.Admin

	log     *slog.Logger
	opts    Options
	started time.Time
	// builtin is the built-in policy, compiled as the process starts.
	builtin func() (*policy.Decider, error)
	sandbox *policy.Sandbox

	mu   sync.Mutex
	pool atomic.Pointer[store.Pool]
	// host is the control plane's Host, for wake-ups.
	host  scimworker.Host
	bound atomic.Pointer[tenant]
	// maintained is closed after the first round of log maintenance and
	// the webhook deliverer's first look, which wait for the first pause
	// in the tenant's requests: from then on a worker without traffic or
	// webhooks sends no query until its periodic checks.
	maintained chan struct{}

	// lastUsed is the UnixNano of the last request's start; inflight
	// counts the SCIM exchanges being served.
	lastUsed atomic.Int64
	inflight atomic.Int32
	stop     context.CancelFunc
	done     chan struct{}
	// hooksDone is closed when the webhook deliverer has stopped.
	hooksDone chan struct{}
}

// tenant is what a bound worker serves.
type tenant struct {
	id    string
	scim  *scimserver.Server
	admin *admin.Tenant
	// log records the tenant's SCIM exchanges.
	log *scimlog.Recorder
}

var _ scimworker.Worker = (*Worker)(nil)

// NewWorker returns an unprepared worker and starts compiling the built-in
// policy.
func NewWorker(log *slog.Logger, opts Options) *Worker {
	if opts.IdleConnClose == 0 {
		opts.IdleConnClose = 10 * time.Second
	}
	if opts.PolicyCheck == 0 {
		opts.PolicyCheck = 10 * time.Second
	}
	w := &Worker{log: log, opts: opts, started: time.Now(), done: make(chan struct{}), maintained: make(chan struct{})}
	compiled := sync.OnceValues(func() (*policy.Decider, error) { return policy.CompileDefault(context.Background()) })
	go func() { _, _ = compiled() }()
	w.builtin = compiled
	if opts.PolicySandbox == "" {
		opts.PolicySandbox = "/proc/self/exe"
		if exe, err := os.Executable(); err == nil {
			opts.PolicySandbox = exe
		}
	}
	w.opts = opts
	w.sandbox = policy.NewSandbox(opts.PolicySandbox, opts.PolicyLimits)
	w.Server = admin.New(w.adminTenant, log, opts.Now)
	w.Admin = scimlog.NewAdmin(w.logStore, log, opts.Now)
	return w
}

// Prepare opens the worker's first connection as its own login role.
func (w *Worker) Prepare(ctx context.Context, p *scimworker.Prepare, host scimworker.Host) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pool.Load() != nil {
		return errors.New("worker is already prepared")
	}
	pool, err := store.OpenPool(ctx, store.PoolParams{
		URL: p.DatabaseURL, User: p.User, Password: p.Password, MaxConns: p.MaxConns, Permits: host,
		OnPermitError: func(err error) {
			// A worker being stopped closes its connections after the control
			// plane has hung up; it takes the permits of a worker that exits
			// back itself.
			level := slog.LevelWarn
			if status.Code(err) == codes.Unavailable {
				level = slog.LevelDebug
			}
			w.log.Log(context.Background(), level, "return connection permit", "err", err)
		},
		Trace: w.opts.Tracing != nil,
	})
	if err != nil {
		return err
	}
	w.pool.Store(pool)
	w.host = host
	return nil
}

// tenantID is what a tenant id must look like: it names a role and schema.
var tenantID = regexp.MustCompile(`^tnt_[a-z0-9]{1,60}$`)

// Bind makes the worker the tenant's: its connections act as the tenant's
// role in the tenant's schema, the schema is migrated, and the tenant's
// policy is put in force.
func (w *Worker) Bind(ctx context.Context, b *scimworker.Binding) (*scimworker.Bound, error) {
	if !tenantID.MatchString(b.TenantID) {
		return nil, fmt.Errorf("bind: invalid tenant id %q", b.TenantID)
	}
	if w.opts.Tracing != nil {
		w.opts.Tracing.SetTenant(b.TenantID)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	pool := w.pool.Load()
	if pool == nil {
		return nil, errors.New("bind: worker is not prepared")
	}
	if w.bound.Load() != nil {
		return nil, errors.New("bind: worker is already bound")
	}
	if err := pool.Bind(ctx, b.TenantID); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	migrated, err := store.Migrate(ctx, pool, b.TenantID)
	if err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	log := w.log.With("tenant_id", b.TenantID)
	st := store.New(pool)
	if migrated {
		// A new schema (the tenant's creation): its log partitions exist
		// before its first exchange, which would otherwise land in the
		// default partition until the first round of maintenance.
		w.maintainLog(ctx, b.TenantID, st)
	}
	declared, err := st.ExtensionAttributes(ctx)
	if err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	svc := provision.New(st, resource.NewSchemas(declared...), log)
	policies := policy.NewLifecycle(policy.LifecycleParams{Store: st, Provision: svc, Sandbox: w.sandbox, Builtin: w.builtin, Logger: log, Now: w.opts.Now})
	// The worker's life: background work, the policy's loading included.
	bg, stop := context.WithCancel(context.Background())
	// The tenant's policy compiles in the background: Bind, which the
	// control plane waits for, never compiles it.
	if err := policies.Start(bg); err != nil {
		stop()
		return nil, fmt.Errorf("bind: %w", err)
	}
	rec := scimlog.NewRecorder(scimlog.RecorderParams{Writer: st, Logger: log, Now: w.opts.Now})
	hooks := webhook.NewDeliverer(webhook.Params{
		Store: st, Waker: w.host, Key: b.WebhookKey, AllowPrivate: b.WebhookAllowPrivate, Log: log,
		Timeout: w.opts.WebhookTimeout, Schedule: w.opts.WebhookSchedule,
	})
	st.OnChanges(hooks.Nudge)
	t := &tenant{
		id:   b.TenantID,
		scim: scimserver.New(svc, rec, log, b.BaseURL, int(b.MaxBodyBytes)),
		admin: &admin.Tenant{ID: b.TenantID, Provision: svc, Store: st, Policies: policies,
			Webhooks: hooks, WebhookKey: b.WebhookKey, WebhookAllowPrivate: b.WebhookAllowPrivate},
		log: rec,
	}
	w.bound.Store(t)
	w.lastUsed.Store(time.Now().UnixNano())
	w.stop = stop
	w.hooksDone = make(chan struct{})
	go w.background(bg, t, pool, hooks)
	return &scimworker.Bound{PolicyVersion: svc.Policy().Version}, nil
}

// background keeps the log's partitions ahead, runs the webhook
// deliverer, writes log rows held back during a database outage, follows
// policy versions activated elsewhere while the tenant is active, and
// closes idle connections.
func (w *Worker) background(ctx context.Context, t *tenant, pool *store.Pool, hooks *webhook.Deliverer) {
	defer close(w.done)
	w.settle(ctx)
	w.maintainLog(ctx, t.id, t.admin.Store)
	go func() {
		defer close(w.hooksDone)
		hooks.Run(ctx)
	}()
	select {
	case <-hooks.Checked():
	case <-ctx.Done():
	}
	close(w.maintained)
	tick := time.NewTicker(min(w.opts.IdleConnClose/2, w.opts.PolicyCheck))
	defer tick.Stop()
	var lastCheck, lastMaintain time.Time
	lastMaintain = time.Now()
	idle := false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if t.log.Held() > 0 && t.log.Replay(ctx) > 0 {
				// Connections opened for it close as idle ones do.
				idle = false
			}
			used := time.Unix(0, w.lastUsed.Load())
			if now.Sub(used) >= w.opts.IdleConnClose {
				if !idle {
					// Idle: give the connections back and the heap to the OS.
					pool.CloseIdle(ctx)
					debug.FreeOSMemory()
					idle = true
				}
				continue
			}
			idle = false
			// Only while requests keep a connection open anyway.
			if now.Sub(lastCheck) >= w.opts.PolicyCheck {
				lastCheck = now
				t.admin.Policies.ReloadIfChanged(ctx)
				if err := t.admin.ReloadExtensions(ctx); err != nil {
					w.log.WarnContext(ctx, "reload extension declarations", "tenant_id", t.id, "err", err)
				}
			}
			if now.Sub(lastMaintain) >= time.Hour {
				lastMaintain = now
				w.maintainLog(ctx, t.id, t.admin.Store)
			}
		}
	}
}

// Background work after a bind waits for the tenant's requests to pause
// (settleQuiet with none in flight), at most settleMax.
const (
	settleQuiet = 250 * time.Millisecond
	settleMax   = 10 * time.Second
)

// settle returns when the tenant's requests pause, or after settleMax. A
// worker is bound for a request that is waiting, and more usually follow
// at once: the log's maintenance and the deliverer's first look running
// beside them would hold the one open connection, and the pool would open
// a second, tens of milliseconds of CPU for a handful of statements.
func (w *Worker) settle(ctx context.Context) {
	tick := time.NewTicker(settleQuiet / 5)
	defer tick.Stop()
	deadline := time.Now().Add(settleMax)
	for {
		if w.inflight.Load() == 0 && time.Since(time.Unix(0, w.lastUsed.Load())) >= settleQuiet {
			return
		}
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.After(deadline) {
				return
			}
		}
	}
}

// maintainLog runs one round of the SCIM log's janitor.
func (w *Worker) maintainLog(ctx context.Context, tenantID string, st *store.Store) {
	now := time.Now
	if w.opts.Now != nil {
		now = w.opts.Now
	}
	dropped, err := scimlog.Maintain(ctx, st, now())
	if len(dropped) > 0 {
		w.log.InfoContext(ctx, "dropped expired scim log partitions", "tenant_id", tenantID, "partitions", dropped)
	}
	if err != nil && ctx.Err() == nil {
		w.log.ErrorContext(ctx, "scim log maintenance", "tenant_id", tenantID, "err", err)
	}
}

// Close stops background work and closes the pool.
func (w *Worker) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		w.stop()
		<-w.done
		<-w.hooksDone
	}
	if t := w.bound.Load(); t != nil && t.log.Held() > 0 {
		// A last try for rows held back during an outage.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if t.log.Replay(ctx); t.log.Held() > 0 {
			w.log.Error("scim log rows lost: the database was unreachable until the worker stopped", "tenant_id", t.id, "rows", t.log.Held())
		}
		cancel()
	}
	if p := w.pool.Load(); p != nil {
		p.Close()
	}
}

var errUnbound = errors.New("worker is not bound to a tenant")

func (w *Worker) tenant() (*tenant, error) {
	t := w.bound.Load()
	if t == nil {
		return nil, errUnbound
	}
	w.lastUsed.Store(time.Now().UnixNano())
	return t, nil
}

// Handle serves one SCIM exchange.
func (w *Worker) Handle(ctx context.Context, ex *scimworker.Exchange) (*scimworker.Reply, error) {
	t, err := w.tenant()
	if err != nil {
		return nil, err
	}
	w.inflight.Add(1)
	defer w.inflight.Add(-1)
	return t.scim.Handle(ctx, ex), nil
}

// adminTenant is the bound tenant the admin operations serve.
func (w *Worker) adminTenant() (*admin.Tenant, error) {
	t, err := w.tenant()
	if err != nil {
		return nil, err
	}
	return t.admin, nil
}

// logStore is the bound tenant's SCIM log, which support reads.
func (w *Worker) logStore() (scimlog.Store, error) {
	t, err := w.tenant()
	if err != nil {
		return nil, err
	}
	return t.admin.Store, nil
}

// Health reports the tenant, start time and open connections.
func (w *Worker) Health(context.Context) (*scimworker.HealthReply, error) {
	h := &scimworker.HealthReply{StartedUnixMS: w.started.UnixMilli()}
	if t := w.bound.Load(); t != nil {
		h.TenantID = t.id
	}
	if p := w.pool.Load(); p != nil {
		h.OpenConns = p.Open()
	}
	return h, nil
}

// Shed closes connections at the control plane's request.
func (w *Worker) Shed(ctx context.Context, conns int) error {
	if p := w.pool.Load(); p != nil {
		p.Shed(ctx, conns)
	}
	return nil
}
