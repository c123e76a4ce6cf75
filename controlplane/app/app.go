// Package app wires the control plane: database (external or embedded),
// store, worker pool and HTTP server. Run is the seam main and the
// end-to-end tests boot.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hashicorp/go-plugin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimplane/scimplane/controlplane/embeddedpg"
	"github.com/scimplane/scimplane/controlplane/internal/config"
	"github.com/scimplane/scimplane/controlplane/internal/console"
	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/ratelimit"
	"github.com/scimplane/scimplane/controlplane/internal/rejectlog"
	"github.com/scimplane/scimplane/controlplane/internal/store"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/controlplane/internal/workerpool"
	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/plugins/tracing"
)

// Config is the control plane's configuration.
type Config = config.Config

// ConfigFromEnv builds a validated Config from variables read through
// getenv (os.Getenv in main; a map lookup in tests).
func ConfigFromEnv(getenv func(string) string) (Config, error) { return config.FromEnv(getenv) }

// Connections kept out of the workers' budget when it is derived from the
// server's max_connections: the control plane's own pool and room for an
// operator's session.
const (
	controlPlaneConns = 4
	operatorConns     = 5
)

// Run serves until ctx is done, then drains within cfg.ShutdownGrace (see
// drain), stops every worker, closes the database pool and stops the
// embedded PostgreSQL. It logs through slog.Default().
func Run(ctx context.Context, cfg Config) error {
	log := slog.Default()
	// Last-resort sweep of every managed worker, after the pool's Close.
	defer plugin.CleanupClients()
	var drainBegan time.Time
	defer func() {
		if !drainBegan.IsZero() {
			log.Info("stopped", "took", time.Since(drainBegan))
		}
	}()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log.InfoContext(ctx, "starting control plane", "config", cfg)
	// Before anything else: unusable settings stop the start.
	tp, err := startTracing(cfg)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "tracing", "otlp", tp.settings)
	if tp.p != nil {
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.p.Shutdown(ctx); err != nil {
				log.Warn("tracing: spans not sent at shutdown", "err", err)
			}
		}()
	}

	if _, err := os.Stat(cfg.WorkerBin); err != nil {
		return fmt.Errorf("worker binary: %w", err)
	}
	workerUser, err := workerpool.WorkerCredential(cfg.WorkerUser)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := checkWorkerAccess(cfg, workerUser); err != nil {
		return err
	}
	if workerUser != nil {
		log.InfoContext(ctx, "workers run as another OS user", "uid", workerUser.Uid, "gid", workerUser.Gid)
	} else {
		log.InfoContext(ctx, "workers run as this process's OS user: they are kept from its memory only by being non-dumpable (see SECURITY.md)", "uid", os.Geteuid())
		if cfg.Secret == "" || cfg.DatabaseURL == "" {
			// Files are another matter: the user's files are theirs too.
			log.WarnContext(ctx, "workers share this OS user, so they could read the server secret in the data dir and the embedded database's files: "+
				"set SCIMPLANE_SECRET and DATABASE_URL, or run as root to run workers as SCIMPLANE_WORKER_USER (see SECURITY.md)")
		}
	}
	// The embedded PostgreSQL runs as another OS user and must traverse
	// the data dir; its own files stay private.
	if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	secret, err := loadSecret(cfg)
	if err != nil {
		return err
	}

	dbURL := cfg.DatabaseURL
	workersURL := dbURL
	if dbURL == "" {
		began := time.Now()
		params := embeddedpg.Params{
			BinDir:   cfg.PostgresBinDir,
			Dir:      filepath.Join(cfg.DataDir, "postgres"),
			Password: tenant.RolePassword(secret, embeddedpg.Superuser),
			Port:     cfg.PostgresPort,
			// As the shipped compose's server. The workers' budget is
			// computed from whatever the server allows (a stock 100
			// included, tested); here 300 lets 100 busy tenants keep a
			// connection each and more without taking turns, which costs
			// a third of the throughput at 100 (each turn opens a
			// connection). Backends exist only while connections are open:
			// a worker closes its own after 10 s without a request.
			MaxConnections: 300,
			// Outside the data directory, which only the server's OS
			// user may enter: workers connect here too.
			SocketDir: filepath.Join(cfg.DataDir, "postgres-socket"),
		}
		if workerUser != nil {
			params.SocketGroup = int(workerUser.Gid)
		}
		pg, err := embeddedpg.Start(ctx, params)
		if err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
		defer pg.Stop()
		dbURL, workersURL = pg.URL(), pg.URL()
		if dir := pg.SocketDir(); dir != "" {
			if err := workerpool.CheckAccess(workerUser, dir, workerpool.Search); err != nil {
				log.WarnContext(ctx, "workers connect to the embedded postgres over TCP: they cannot reach its socket", "err", err)
				workersURL = pg.TCPURL()
			}
		}
		log.InfoContext(ctx, "embedded postgres started", "dir", params.Dir, "took", time.Since(began))
	}

	pc, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	pc.MaxConns = controlPlaneConns
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	st := store.New(db)
	if err := st.Migrate(ctx, log); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	budget := cfg.DBConnections
	if budget == 0 {
		if budget, err = st.ConnectionBudget(ctx, controlPlaneConns+operatorConns); err != nil {
			return err
		}
	}
	workerDB, err := workerDatabaseURL(cfg, workersURL)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "worker database connections", "budget", budget, "per_worker", cfg.WorkerConns)
	workers := workerpool.New(workerpool.Params{
		Bin:            cfg.WorkerBin,
		Env:            workerEnv(cfg),
		Credential:     workerUser,
		Roles:          st,
		DatabaseURL:    workerDB,
		Binding:        binding(cfg, secret),
		Wakeups:        st,
		MaxWorkers:     cfg.MaxWorkers,
		Spares:         cfg.WorkerSpares,
		ConnBudget:     budget,
		ConnsPerWorker: cfg.WorkerConns,
		IdleTimeout:    cfg.WorkerIdleTimeout,
		Logger:         log,
		Metrics:        workerpool.NewMetrics(reg),
		TracerProvider: tp.provider(),
	})
	defer workers.Close()

	tenants := tenant.New(tenant.Params{
		Store:          st,
		Secret:         secret,
		PublicURL:      cfg.PublicURL,
		Workers:        workers,
		CredentialsTTL: cfg.CredentialsTTL,

		CredentialsStaleMax: cfg.CredentialsStaleMax,
		UnknownTenantTTL:    cfg.UnknownTenantTTL,
	})
	key, err := tenants.EnsureBootstrapKey(ctx, cfg.BootstrapKey)
	if err != nil {
		return err
	}
	if key != "" {
		// Shown once, on stdout only; logs never carry secrets.
		fmt.Fprintf(os.Stdout, "scimplane: generated bootstrap operator API key (shown once, store it now): %s\n", key)
		log.InfoContext(ctx, "bootstrap operator key generated and printed to stdout")
	}

	rejections := rejectlog.New(rejectlog.Params{Store: st, Logger: log, Retention: cfg.RejectionRetention, Registry: reg})
	defer rejections.Close()

	draining := make(chan struct{})
	srv := httpapi.New(httpapi.Params{
		Tenants:        tenants,
		Workers:        workers,
		Running:        workers.Running,
		Limiter:        ratelimit.New(cfg.RateLimit, cfg.RateBurst, cfg.RateQueueWait),
		Rejections:     rejections,
		DB:             st,
		Logger:         log,
		Registry:       reg,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RequestTimeout: cfg.RequestTimeout,
		Draining:       draining,
		Warming:        warming(workers),
		Ingress:        cfg.Ingress,
		Tracer:         tp.tracer(),
	})
	// Answers given while the server shuts down close their connection.
	srv.Server().CloseOnShutdown = true
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	console.Mount(srv, console.Params{APIURL: "http://" + ln.Addr().String(), Secret: secret, Logger: log})
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Listener(httpapi.LimitListener(ln, cfg.Ingress)) }()
	log.InfoContext(ctx, "listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	close(draining)
	drainBegan = time.Now()
	drain(log, cfg, srv, workers)
	workers.Close()
	log.Info("draining: workers stopped", "took", time.Since(drainBegan))
	// The deferred calls write the refusal records still queued and close
	// the database.
	return nil
}

// checkWorkerAccess makes sure workers running as cred can execute the
// worker binary and reach the temporary directory, where go-plugin puts
// the socket they call the control plane back on.
func checkWorkerAccess(cfg Config, cred *syscall.Credential) error {
	if err := workerpool.CheckAccess(cred, cfg.WorkerBin, workerpool.Exec); err != nil {
		return fmt.Errorf("worker binary: workers must be able to run it: %w", err)
	}
	if err := workerpool.CheckAccess(cred, os.TempDir(), workerpool.Search); err != nil {
		return fmt.Errorf("temporary directory (TMPDIR): workers must be able to enter it: %w", err)
	}
	return nil
}

// maxWarmup bounds how long a new replica reports not ready while it
// prepares its spare workers, should it never get them all (no permits
// free, the database failing).
const maxWarmup = 30 * time.Second

// warming keeps a new replica out of its load balancer until it has its
// spare workers: the tenants that move to it when it comes up then bind
// prepared workers instead of each waiting for a process to start.
func warming(workers *workerpool.Pool) func() bool {
	started := time.Now()
	return func() bool { return !workers.Prepared() && time.Since(started) < maxWarmup }
}

// drain takes the replica out of service within cfg.ShutdownGrace, the
// time the orchestrator gives it between SIGTERM and SIGKILL. /readyz
// answers 503 from the start (draining is closed), and for
// cfg.ShutdownDelay the replica serves on, while load balancers notice;
// then the listener closes (new connections are refused, so the load
// balancer retries them elsewhere), idle connections close, and the
// requests in flight get until the grace's last part, which is left for
// stopping the workers. A request still needing a worker after that gets
// 503 with Retry-After from the draining pool.
func drain(log *slog.Logger, cfg Config, srv *fiber.App, workers *workerpool.Pool) {
	began := time.Now()
	log.Info("draining: not ready; serving on while load balancers notice", "delay", cfg.ShutdownDelay, "grace", cfg.ShutdownGrace)
	time.Sleep(cfg.ShutdownDelay)
	// Stopping the workers takes go-plugin up to 2s each (in parallel),
	// writing the last refusal records a moment more.
	reserve := min(5*time.Second, (cfg.ShutdownGrace-cfg.ShutdownDelay)/3)
	ctx, cancel := context.WithDeadline(context.Background(), began.Add(cfg.ShutdownGrace-reserve))
	defer cancel()
	log.Info("draining: listener closed; finishing requests in flight", "open_connections", srv.Server().GetOpenConnectionsCount())
	if err := srv.ShutdownWithContext(ctx); err != nil {
		log.Warn("draining: requests still in flight at the deadline", "err", err, "open_connections", srv.Server().GetOpenConnectionsCount())
	}
	if err := workers.Drain(ctx); err != nil {
		log.Warn("draining: worker calls still in flight at the deadline; stopping their workers", "err", err)
	}
	log.Info("draining: requests done; stopping workers", "took", time.Since(began))
}

// loadSecret returns the configured secret, or the one in DataDir/secret,
// creating it (0600) on first start.
func loadSecret(cfg Config) ([]byte, error) {
	if cfg.Secret != "" {
		return []byte(cfg.Secret), nil
	}
	path := filepath.Join(cfg.DataDir, "secret")
	b, err := os.ReadFile(path)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	s := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return []byte(s), nil
}

// tracer is the control plane's tracing, or none.
type tracer struct {
	settings *tracing.Settings
	p        *tracing.Provider
}

// startTracing starts the OTLP exporter when cfg.OTel turns tracing on.
func startTracing(cfg Config) (tracer, error) {
	s, err := tracing.FromEnv(func(k string) string { return cfg.OTel[k] })
	if err != nil {
		return tracer{}, fmt.Errorf("config: tracing: %w", err)
	}
	if s == nil {
		return tracer{}, nil
	}
	p, err := tracing.New(s, tracing.ServiceControlPlane)
	if err != nil {
		return tracer{}, err
	}
	return tracer{settings: s, p: p}, nil
}

func (t tracer) provider() trace.TracerProvider {
	if t.p == nil {
		return nil
	}
	return t.p.TracerProvider()
}

func (t tracer) tracer() trace.Tracer {
	if t.p == nil {
		return nil
	}
	return t.p.Tracer()
}

// workerEnv is a worker's whole environment: its log level, Go runtime
// settings and the tracing settings (OTEL_*, docs/tracing.md).
// Credentials and the tenant arrive over the plugin channel, never here.
func workerEnv(cfg Config) []string {
	env := []string{
		scimworker.EnvLogLevel + "=" + cfg.WorkerLogLevel,
		// Many workers share few cores: one scheduler thread each, and
		// fewer collections of their small heaps (an idle worker returns
		// its heap to the OS), within a soft cap.
		"GOMAXPROCS=1",
		"GOGC=400",
		"GOMEMLIMIT=128MiB",
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.OTel)) {
		env = append(env, k+"="+cfg.OTel[k])
	}
	return env
}

// workerDatabaseURL is where workers connect, without credentials.
func workerDatabaseURL(cfg Config, dbURL string) (string, error) {
	raw := cfg.WorkerDatabaseURL
	if raw == "" {
		raw = dbURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("worker database url: %w", err)
	}
	u.User = nil
	return u.String(), nil
}

// binding describes a tenant to the worker bound to it, with the tenant's
// webhook key (derived from secret for that tenant only).
func binding(cfg Config, secret []byte) func(string) *scimworker.Binding {
	return func(tenantID string) *scimworker.Binding {
		return &scimworker.Binding{
			TenantID:            tenantID,
			BaseURL:             cfg.PublicURL + "/scim/" + tenantID + "/v2",
			MaxBodyBytes:        int64(cfg.MaxBodyBytes),
			WebhookKey:          tenant.WebhookKey(secret, tenantID),
			WebhookAllowPrivate: cfg.WebhookAllowPrivate,
		}
	}
}
