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

	"github.com/scimplane/scimplane/controlplane/internal/ratelimit"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// Workers forwards exchanges and admin operations to tenants' workers.
type Workers interface {
	Handle(ctx context.Context, tenantID string, ex *scimworker.Exchange) (*scimworker.Reply, error)
	Admin(ctx context.Context, tenantID string, req *scimworker.AdminRequest) (*scimworker.AdminReply, error)
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
	Running        func() any
	Limiter        *ratelimit.Limiter
	Rejections     Rejections
	DB             Pinger
	Logger         *slog.Logger
	Registry       *prometheus.Registry
	MaxBodyBytes   int
	RequestTimeout time.Duration
}

type server struct {
	Params
	metrics *metrics
}

// New returns the fiber app serving every route.
func New(p Params) *fiber.App {
	s := &server{Params: p, metrics: newMetrics(p.Registry)}
	app := fiber.New(fiber.Config{
		ErrorHandler: s.handleError,
		// Twice the SCIM limit, so that a body somewhat over it reaches the
		// handler, which answers 413 and records it against the tenant;
		// fasthttp refuses larger ones outright.
		BodyLimit:             2 * p.MaxBodyBytes,
		DisableStartupMessage: true,
		ReadTimeout:           time.Minute,
		WriteTimeout:          time.Minute,
		IdleTimeout:           2 * time.Minute,
	})
	app.Use(s.requestContext)

	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{})))

	app.All("/scim/:tenant/v2/*", s.scim)

	api := app.Group("/api/v1", s.authenticateKey)
	api.Post("/tenants", s.createTenant)
	api.Get("/tenants", s.listTenants)
	api.Get("/tenants/:id", s.getTenant)
	api.Post("/tenants/:id/disable", s.setEnabled(false))
	api.Post("/tenants/:id/enable", s.setEnabled(true))
	api.Delete("/tenants/:id", s.deleteTenant)
	api.Post("/tenants/:id/tokens", s.createToken)
	api.Get("/tenants/:id/tokens", s.listTokens)
	api.Get("/tenants/:id/rejections", s.listRejections)
	api.Post("/tenants/:id/ops/:op", s.workerOp)
	s.mountTenantData(api)
	api.Delete("/tenants/:id/tokens/:token", s.revokeToken)
	api.Post("/api-keys", s.createAPIKey)
	api.Get("/api-keys", s.listAPIKeys)
	api.Delete("/api-keys/:id", s.revokeAPIKey)
	api.Get("/audit", s.listAudit)
	api.Get("/workers", s.listWorkers)
	return app
}

func (s *server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		return &httpError{code: fiber.StatusServiceUnavailable, msg: "database unreachable", err: err}
	}
	return c.SendString("ok")
}
