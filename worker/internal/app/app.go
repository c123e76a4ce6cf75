// Package app wires a worker: its database pool pinned to the tenant's
// schema, migrations, the SCIM use cases and the plugin-facing Worker.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/admin"
	"github.com/scimplane/scimplane/worker/internal/policy"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/scimserver"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// Config is what the launcher gives a worker.
type Config struct {
	TenantID    string
	DatabaseURL string
	// MaxConns bounds the worker's pool; 0 means 4.
	MaxConns int32
	// Now is the clock log maintenance and the admin operations read; nil
	// is time.Now (tests pin it).
	Now func() time.Time
}

// Worker implements scimworker.Worker for one tenant.
type Worker struct {
	cfg     Config
	pool    *pgxpool.Pool
	scim    *scimserver.Server
	admin   *admin.Server
	log     *slog.Logger
	started time.Time
	stop    context.CancelFunc
	done    chan struct{}
	// maintained is closed once the first log maintenance has run.
	maintained chan struct{}
}

var _ scimworker.Worker = (*Worker)(nil)

// New connects, migrates the tenant schema and prepares the handlers.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Worker, error) {
	if cfg.TenantID == "" || cfg.DatabaseURL == "" {
		return nil, errors.New("tenant id and database url are required")
	}
	// The default policy compiles while the worker connects and migrates.
	type compiled struct {
		d   *policy.Decider
		err error
	}
	defaultPolicy := make(chan compiled, 1)
	go func() {
		d, err := admin.CompileDefault(ctx)
		defaultPolicy <- compiled{d, err}
	}()
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	if pc.MaxConns == 0 {
		pc.MaxConns = 4
	}
	pc.MinConns = 0
	// JIT compilation costs tens of milliseconds per query; the worker's
	// queries are short index lookups that never earn it back.
	pc.ConnConfig.RuntimeParams["jit"] = "off"
	pc.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := store.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	log = log.With("tenant_id", cfg.TenantID)
	st := store.New(pool)
	schemas := resource.NewSchemas()
	svc := provision.New(st, schemas, log)
	adm := admin.New(svc, st, log)
	if cfg.Now != nil {
		adm.SetClock(cfg.Now)
	}
	err = adm.LoadPolicy(ctx, func() (*policy.Decider, error) {
		c := <-defaultPolicy
		return c.d, c.err
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	w := &Worker{
		cfg:        cfg,
		pool:       pool,
		scim:       scimserver.New(svc, st, schemas, log),
		admin:      adm,
		log:        log,
		started:    time.Now(),
		stop:       stop,
		done:       make(chan struct{}),
		maintained: make(chan struct{}),
	}
	go func() {
		defer close(w.done)
		adm.MaintainNow(bg)
		close(w.maintained)
		var wg sync.WaitGroup
		wg.Go(func() { adm.WatchPolicy(bg, 10*time.Second) })
		wg.Go(func() { adm.Maintain(bg, time.Hour) })
		wg.Wait()
	}()
	return w, nil
}

// Close stops background work and releases the database pool.
func (w *Worker) Close() {
	w.stop()
	<-w.done
	w.pool.Close()
}

// Handle serves one SCIM exchange.
func (w *Worker) Handle(ctx context.Context, ex *scimworker.Exchange) (*scimworker.Reply, error) {
	return w.scim.Handle(ctx, ex), nil
}

// Admin serves admin operations on the tenant's data.
func (w *Worker) Admin(ctx context.Context, req *scimworker.AdminRequest) (*scimworker.AdminReply, error) {
	return w.admin.Handle(ctx, req), nil
}

// Health reports the tenant and start time; it fails if the database is gone.
func (w *Worker) Health(ctx context.Context) (*scimworker.HealthReply, error) {
	if err := w.pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return &scimworker.HealthReply{TenantID: w.cfg.TenantID, StartedUnixMS: w.started.UnixMilli()}, nil
}
