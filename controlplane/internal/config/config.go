// Package config turns the control plane's environment into a validated
// Config. Only main calls FromEnv; everything else receives values.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is everything the control plane needs to start.
type Config struct {
	// DatabaseURL is the control plane's PostgreSQL; empty starts the
	// embedded default under DataDir.
	DatabaseURL string
	Addr        string
	// Listener, when set, is served instead of listening on Addr. Tests
	// pass one they bound themselves, so no other process can take the
	// port between choosing and listening.
	Listener  net.Listener
	PublicURL string
	// BootstrapKey is the operator API key; empty generates one on first start.
	BootstrapKey string
	DataDir      string
	WorkerBin    string
	// WorkerUser is the OS user workers run as when the control plane runs
	// as root: a user name (with its primary group) or uid:gid; empty means
	// nobody. Not root, workers run as the control plane's own user, and
	// setting another is an error.
	WorkerUser string
	// Secret derives tenant role passwords; empty loads or creates
	// DataDir/secret. Replicas sharing a database must share it.
	Secret string
	// PostgresBinDir holds initdb and postgres for the embedded default.
	PostgresBinDir string
	// PostgresPort is the embedded server's port; 0 picks a free one.
	PostgresPort int

	LogLevel       slog.Level
	WorkerLogLevel string
	// Path is the PATH handed to workers.
	Path string

	RateLimit     float64       // SCIM requests per second per tenant
	RateBurst     int           // bucket size per tenant
	RateQueueWait time.Duration // longest a request waits for a token before 429
	MaxBodyBytes  int
	// Ingress bounds what clients can make the server hold: connections,
	// body bytes and time, most of it before they are authenticated.
	Ingress Ingress
	// RequestTimeout bounds one SCIM exchange including its queueing.
	RequestTimeout    time.Duration
	WorkerIdleTimeout time.Duration
	// MaxWorkers caps worker processes; WorkerSpares is how many are kept
	// prepared ahead of need.
	MaxWorkers   int
	WorkerSpares int
	// DBConnections is the database-connection budget of all workers of
	// this replica; 0 derives it from the server's max_connections.
	DBConnections int
	// WorkerConns caps one worker's database connections.
	WorkerConns int
	// WorkerDatabaseURL is where workers connect (for example through a
	// pooler); empty means DatabaseURL's server. Its credentials are ignored.
	WorkerDatabaseURL string
	// CredentialsTTL is how long a replica trusts its cached view of a
	// tenant's tokens and status (changes made elsewhere apply within it).
	CredentialsTTL time.Duration
	// CredentialsStaleMax is how long a replica keeps authenticating SCIM
	// requests from cached credentials (token hashes) while the database
	// cannot be reached; 0 answers 503 as soon as the cache lapses.
	CredentialsStaleMax time.Duration
	// UnknownTenantTTL is how long an unknown tenant id is remembered, so
	// that repeated requests for it cost no database query; 0 disables.
	UnknownTenantTTL time.Duration
	// RejectionRetention is how long refused SCIM requests are kept.
	RejectionRetention time.Duration
	// ShutdownGrace bounds a drain, from SIGTERM (or the end of Run's
	// context) until Run returns: /readyz answers 503 at once, requests in
	// flight finish, workers stop, refusal records are written.
	ShutdownGrace time.Duration
	// ShutdownDelay is how long, within ShutdownGrace, a draining replica
	// keeps serving after /readyz turned 503 before it closes its listener,
	// so that load balancers stop sending it requests first.
	ShutdownDelay time.Duration
	// WebhookAllowPrivate lets tenants' webhooks reach loopback, private,
	// link-local and CGNAT addresses (tests, private deployments).
	WebhookAllowPrivate bool
	// OTel holds those of OTelVars that are set. The control plane's
	// tracing reads them and workers get them in their environment as
	// they are (docs/tracing.md). Not logged: the OTLP headers may carry
	// a collector's credentials.
	OTel map[string]string
}

// OTelVars are the OpenTelemetry variables the control plane reads and
// passes on to its workers (plugins/tracing reads the same).
func OTelVars() []string {
	return []string{
		"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT",
		"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_RESOURCE_ATTRIBUTES",
	}
}

// Ingress holds the limits on what clients can make the server hold. The
// defaults bound the memory unauthenticated clients can take to about
// MaxConns x 26 KiB (a connection's buffers and goroutine, and at most the
// first 8 KiB of a body, read before its handler runs) plus
// MaxInflightBodyBytes: about 170 MiB with the defaults, whatever the
// clients declare or send.
type Ingress struct {
	// MaxConns caps open connections in total; 0 means no cap.
	MaxConns int
	// MaxConnsPerClient caps open connections per client address (an IPv4
	// address or an IPv6 /64); 0 means no cap. Entra's provisioning
	// service sends every customer's traffic from a few shared address
	// ranges, and behind a reverse proxy every connection comes from the
	// proxy, so the default is as high as MaxConns: a hosted node serves
	// hundreds of tenants from one address.
	MaxConnsPerClient int
	// MaxInflightBodyBytes caps the request body bytes held in memory at
	// once, over all requests; a request that would pass it gets 503.
	MaxInflightBodyBytes int64
	// ReadTimeout bounds reading a request's head (and the first 8 KiB of
	// its body) and, separately, reading the rest of its body.
	ReadTimeout time.Duration
	// AuthFailureRate and AuthFailureBurst bound failed SCIM
	// authentications (bad token, unknown tenant) per client address: a
	// client past them gets 429 for tenants this replica would have to look
	// up in the database. A rate of 0 disables the limit.
	AuthFailureRate  float64
	AuthFailureBurst int
}

// FromEnv reads the SCIMPLANE_* variables through getenv, applies the
// defaults and validates the result.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:       getenv("DATABASE_URL"),
		Addr:              or(getenv("SCIMPLANE_ADDR"), "127.0.0.1:8080"),
		BootstrapKey:      getenv("SCIMPLANE_BOOTSTRAP_KEY"),
		DataDir:           or(getenv("SCIMPLANE_DATA_DIR"), ".scimplane"),
		WorkerBin:         getenv("SCIMPLANE_WORKER_BIN"),
		WorkerUser:        getenv("SCIMPLANE_WORKER_USER"),
		Secret:            getenv("SCIMPLANE_SECRET"),
		PostgresBinDir:    or(getenv("SCIMPLANE_POSTGRES_BIN_DIR"), "/usr/lib/postgresql/15/bin"),
		WorkerLogLevel:    or(getenv("SCIMPLANE_WORKER_LOG_LEVEL"), "info"),
		WorkerDatabaseURL: getenv("SCIMPLANE_WORKER_DATABASE_URL"),
		Path:              or(getenv("PATH"), "/usr/local/bin:/usr/bin:/bin"),
	}
	for _, name := range OTelVars() {
		if v := getenv(name); v != "" {
			if c.OTel == nil {
				c.OTel = map[string]string{}
			}
			c.OTel[name] = v
		}
	}
	c.PublicURL = strings.TrimRight(or(getenv("SCIMPLANE_PUBLIC_URL"), "http://"+c.Addr), "/")
	if c.WorkerBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return Config{}, fmt.Errorf("locate executable for default worker binary: %w", err)
		}
		c.WorkerBin = filepath.Join(filepath.Dir(exe), "worker")
	}
	var errs []error
	parse := func(name string, def string, set func(string) error) {
		if err := set(or(getenv(name), def)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	parse("SCIMPLANE_LOG_LEVEL", "info", func(s string) error { return c.LogLevel.UnmarshalText([]byte(s)) })
	parse("SCIMPLANE_POSTGRES_PORT", "0", intVar(&c.PostgresPort))
	parse("SCIMPLANE_RATE_LIMIT", "500", func(s string) (err error) { c.RateLimit, err = strconv.ParseFloat(s, 64); return err })
	parse("SCIMPLANE_RATE_BURST", "1000", intVar(&c.RateBurst))
	parse("SCIMPLANE_RATE_QUEUE_WAIT", "2s", durationVar(&c.RateQueueWait))
	parse("SCIMPLANE_MAX_BODY_BYTES", "1048576", intVar(&c.MaxBodyBytes))
	parse("SCIMPLANE_REQUEST_TIMEOUT", "30s", durationVar(&c.RequestTimeout))
	parse("SCIMPLANE_WORKER_IDLE_TIMEOUT", "2m", durationVar(&c.WorkerIdleTimeout))
	parse("SCIMPLANE_MAX_WORKERS", "500", intVar(&c.MaxWorkers))
	parse("SCIMPLANE_WORKER_SPARES", "32", intVar(&c.WorkerSpares))
	parse("SCIMPLANE_DB_CONNECTIONS", "0", intVar(&c.DBConnections))
	parse("SCIMPLANE_WORKER_CONNS", "2", intVar(&c.WorkerConns))
	parse("SCIMPLANE_CREDENTIALS_TTL", "5s", durationVar(&c.CredentialsTTL))
	parse("SCIMPLANE_REJECTION_RETENTION", "720h", durationVar(&c.RejectionRetention))
	parse("SCIMPLANE_CREDENTIALS_STALE_MAX", "10m", durationVar(&c.CredentialsStaleMax))
	parse("SCIMPLANE_UNKNOWN_TENANT_TTL", "10s", durationVar(&c.UnknownTenantTTL))
	parse("SCIMPLANE_SHUTDOWN_GRACE", "20s", durationVar(&c.ShutdownGrace))
	parse("SCIMPLANE_SHUTDOWN_DELAY", "5s", durationVar(&c.ShutdownDelay))
	parse("SCIMPLANE_WEBHOOK_ALLOW_PRIVATE", "false", func(s string) (err error) { c.WebhookAllowPrivate, err = strconv.ParseBool(s); return err })
	parse("SCIMPLANE_MAX_CONNS", "4096", intVar(&c.Ingress.MaxConns))
	parse("SCIMPLANE_MAX_CONNS_PER_CLIENT", "4096", intVar(&c.Ingress.MaxConnsPerClient))
	parse("SCIMPLANE_MAX_INFLIGHT_BODY_BYTES", "67108864", func(s string) (err error) {
		c.Ingress.MaxInflightBodyBytes, err = strconv.ParseInt(s, 10, 64)
		return err
	})
	parse("SCIMPLANE_READ_TIMEOUT", "15s", durationVar(&c.Ingress.ReadTimeout))
	parse("SCIMPLANE_AUTH_FAILURE_RATE", "5", func(s string) (err error) {
		c.Ingress.AuthFailureRate, err = strconv.ParseFloat(s, 64)
		return err
	})
	parse("SCIMPLANE_AUTH_FAILURE_BURST", "100", intVar(&c.Ingress.AuthFailureBurst))
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, c.Validate()
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Addr != "", "listen address is empty")
	u, err := url.Parse(c.PublicURL)
	check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", "public url %q is not an http(s) url", c.PublicURL)
	check(c.BootstrapKey == "" || len(c.BootstrapKey) >= 24, "bootstrap key is shorter than 24 characters")
	check(c.BootstrapKey == "" || strings.HasPrefix(c.BootstrapKey, "spk_"), `bootstrap key must start with "spk_", like every API key`)
	check(c.Secret == "" || len(c.Secret) >= 32, "secret is shorter than 32 characters")
	check(c.DataDir != "", "data dir is empty")
	check(c.WorkerBin != "", "worker binary is empty")
	check(c.WorkerUser == "" || workerUser.MatchString(c.WorkerUser), "worker user %q is neither a user name nor uid:gid", c.WorkerUser)
	check(c.PostgresPort >= 0 && c.PostgresPort < 65536, "postgres port %d out of range", c.PostgresPort)
	check(c.RateLimit > 0, "rate limit must be positive")
	check(c.RateBurst >= 1, "rate burst must be at least 1")
	check(c.RateQueueWait >= 0, "rate queue wait must not be negative")
	check(c.MaxBodyBytes >= 1024, "max body bytes must be at least 1024")
	check(c.RequestTimeout > 0, "request timeout must be positive")
	check(c.WorkerIdleTimeout > 0, "worker idle timeout must be positive")
	check(c.MaxWorkers >= 1, "max workers must be at least 1")
	check(c.WorkerSpares >= 0 && c.WorkerSpares < c.MaxWorkers, "worker spares must be between 0 and max workers - 1")
	check(c.DBConnections >= 0, "db connections must not be negative (0 derives it from the server)")
	check(c.WorkerConns >= 1, "worker conns must be at least 1")
	if c.WorkerDatabaseURL != "" {
		u, err := url.Parse(c.WorkerDatabaseURL)
		check(err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql"), "worker database url is not a postgres:// url")
	}
	check(c.RejectionRetention >= time.Hour, "rejection retention must be at least 1h")
	check(c.CredentialsTTL >= 0 && c.CredentialsTTL <= time.Minute, "credentials ttl must be between 0 and 1m")
	check(c.CredentialsStaleMax >= 0 && c.CredentialsStaleMax <= time.Hour, "credentials stale max must be between 0 and 1h")
	check(c.UnknownTenantTTL >= 0 && c.UnknownTenantTTL <= time.Minute, "unknown tenant ttl must be between 0 and 1m")
	check(c.ShutdownGrace >= time.Second && c.ShutdownGrace <= 10*time.Minute, "shutdown grace must be between 1s and 10m")
	check(c.ShutdownDelay >= 0 && c.ShutdownDelay <= c.ShutdownGrace/2,
		"shutdown delay must be between 0 and half the shutdown grace (the rest finishes requests and stops workers)")
	in := c.Ingress
	check(in.MaxConns >= 0, "max conns must not be negative")
	check(in.MaxConnsPerClient >= 0, "max conns per client must not be negative")
	check(in.MaxInflightBodyBytes >= int64(c.MaxBodyBytes), "max in-flight body bytes must be at least max body bytes")
	check(in.ReadTimeout >= time.Second, "read timeout must be at least 1s")
	check(in.AuthFailureRate >= 0, "auth failure rate must not be negative")
	check(in.AuthFailureRate == 0 || in.AuthFailureBurst >= 1, "auth failure burst must be at least 1")
	return errors.Join(errs...)
}

// LogValue logs the configuration with its secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.String("addr", c.Addr),
		slog.String("public_url", c.PublicURL),
		slog.Bool("bootstrap_key_set", c.BootstrapKey != ""),
		slog.Bool("secret_set", c.Secret != ""),
		slog.String("data_dir", c.DataDir),
		slog.String("worker_bin", c.WorkerBin),
		slog.String("worker_user", c.WorkerUser),
		slog.Float64("rate_limit", c.RateLimit),
		slog.Int("rate_burst", c.RateBurst),
		slog.Duration("rate_queue_wait", c.RateQueueWait),
		slog.Int("max_body_bytes", c.MaxBodyBytes),
		slog.Duration("request_timeout", c.RequestTimeout),
		slog.Duration("worker_idle_timeout", c.WorkerIdleTimeout),
		slog.Int("max_workers", c.MaxWorkers),
		slog.Int("worker_spares", c.WorkerSpares),
		slog.Int("db_connections", c.DBConnections),
		slog.Int("worker_conns", c.WorkerConns),
		slog.String("worker_database_url", redactURL(c.WorkerDatabaseURL)),
		slog.Duration("credentials_ttl", c.CredentialsTTL),
		slog.Duration("credentials_stale_max", c.CredentialsStaleMax),
		slog.Duration("unknown_tenant_ttl", c.UnknownTenantTTL),
		slog.Duration("shutdown_grace", c.ShutdownGrace),
		slog.Duration("shutdown_delay", c.ShutdownDelay),
		slog.Int("max_conns", c.Ingress.MaxConns),
		slog.Int("max_conns_per_client", c.Ingress.MaxConnsPerClient),
		slog.Int64("max_inflight_body_bytes", c.Ingress.MaxInflightBodyBytes),
		slog.Duration("read_timeout", c.Ingress.ReadTimeout),
		slog.Float64("auth_failure_rate", c.Ingress.AuthFailureRate),
		slog.Int("auth_failure_burst", c.Ingress.AuthFailureBurst),
		slog.Bool("webhook_allow_private", c.WebhookAllowPrivate),
	)
}

// workerUser is a user name or uid:gid.
var workerUser = regexp.MustCompile(`^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*|[0-9]+:[0-9]+)$`)

func redactURL(s string) string {
	if s == "" {
		return "(embedded)"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func intVar(p *int) func(string) error {
	return func(s string) (err error) { *p, err = strconv.Atoi(s); return err }
}

func durationVar(p *time.Duration) func(string) error {
	return func(s string) (err error) { *p, err = time.ParseDuration(s); return err }
}
