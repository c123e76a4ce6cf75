// Package httpapi is the control plane's HTTP surface: the SCIM ingress,
// the admin API, health and metrics. Handlers are thin; errors go to the
// one ErrorHandler, which answers SCIM routes with the RFC 7644 envelope.
package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"golang.org/x/sync/semaphore"

	"github.com/scimplane/scimplane/controlplane/internal/config"
	"github.com/scimplane/scimplane/controlplane/internal/ratelimit"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/controlplane/internal/workerpool"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// Workers forwards SCIM exchanges to tenants' workers. Admin operations
// go through the tenant service, which authorises each.
type Workers interface {
	Handle(ctx context.Context, tenantID string, ex *scimworker.Exchange) (*scimworker.Reply, error)
}

// Rejections records SCIM requests refused before they reached a worker.
type Rejections interface {
	Record(tenant.Rejection)
}

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Params wires the HTTP server.
type Params struct {
	Tenants *tenant.Service
	Workers Workers
	// Running lists running workers for the admin API.
	Running        func() []workerpool.Info
	Limiter        *ratelimit.Limiter
	Rejections     Rejections
	DB             Pinger
	Logger         *slog.Logger
	Registry       *prometheus.Registry
	MaxBodyBytes   int
	RequestTimeout time.Duration
	// Draining is closed when the replica starts draining: /readyz then
	// answers 503, so that load balancers stop sending it requests, and
	// every answer closes its connection, so that clients reconnect to
	// another replica. Nil never drains.
	Draining <-chan struct{}
	// Warming, if set, reports that the replica is not ready for traffic
	// yet although it serves: /readyz answers 503 meanwhile.
	Warming func() bool
	// Ingress bounds connections (LimitListener), in-flight body bytes,
	// read time and failed authentications per client. Zero fields take
	// the defaults below.
	Ingress config.Ingress
	// Tracer, when set, starts a server span for each request, the root
	// of its trace through the worker (docs/tracing.md); nil is tracing
	// off, at no cost.
	Tracer trace.Tracer
}

// Fallbacks for a zero Params.Ingress (config sets its own defaults).
const (
	defaultReadTimeout          = 15 * time.Second
	defaultMaxInflightBodyBytes = 64 << 20
)

type server struct {
	Params
	metrics      *metrics
	inflight     *semaphore.Weighted
	authFailures *ratelimit.Failures
	dbSeen       dbSeen
}

// New returns the fiber app serving every route. Serve it on a
// LimitListener to cap connections.
func New(p Params) *fiber.App {
	if p.Ingress.ReadTimeout <= 0 {
		p.Ingress.ReadTimeout = defaultReadTimeout
	}
	if p.Ingress.MaxInflightBodyBytes <= 0 {
		p.Ingress.MaxInflightBodyBytes = defaultMaxInflightBodyBytes
	}
	// A chunked body holds MaxBodyBytes+1 while it is read.
	p.Ingress.MaxInflightBodyBytes = max(p.Ingress.MaxInflightBodyBytes, int64(p.MaxBodyBytes)+1)
	s := &server{
		Params:       p,
		metrics:      newMetrics(p.Registry),
		inflight:     semaphore.NewWeighted(p.Ingress.MaxInflightBodyBytes),
		authFailures: ratelimit.NewFailures(p.Ingress.AuthFailureRate, p.Ingress.AuthFailureBurst),
	}
	app := fiber.New(fiber.Config{
		ErrorHandler: s.handleError,
		// Bodies are streamed (see body.go): BodyLimit only bounds what
		// fasthttp reads ahead of the handler, at most 8 KiB of it.
		StreamRequestBody:            true,
		BodyLimit:                    p.MaxBodyBytes,
		DisablePreParseMultipartForm: true,
		DisableStartupMessage:        true,
		ReadTimeout:                  p.Ingress.ReadTimeout,
		WriteTimeout:                 time.Minute,
		IdleTimeout:                  2 * time.Minute,
	})
	srv := app.Server()
	srv.HeaderReceived = s.headerReceived
	// fasthttp's own error messages may quote the request (its
	// Authorization header among it); handleError never sends them, and
	// this keeps them out of the log too.
	srv.SecureErrorLogMessage = true
	app.Use(s.requestContext)

	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{})))

	app.All("/scim/:tenant/v2/*", s.scim)

	routes := Routes()
	for _, r := range routes {
		if r.Public {
			app.Add(r.Method, APIPrefix+r.Path, r.serve(s))
		}
	}
	api := app.Group(APIPrefix, s.authenticateKey, workerRequestID)
	for _, r := range routes {
		if !r.Public {
			api.Add(r.Method, r.Path, r.serve(s))
		}
	}
	return app
}
