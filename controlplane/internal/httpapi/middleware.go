package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimplane/scimplane/controlplane/internal/logctx"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scim"
	"github.com/scimplane/scimplane/plugins/tracing"
)

const (
	localRequestID = "request_id"
	localTenantID  = "tenant_id"
	// localClaimedTenantID is the tenant id of a SCIM request that could
	// not be authenticated because the database was unavailable.
	localClaimedTenantID = "claimed_tenant_id"
	localPrincipal       = "principal"
	localForwarded       = "forwarded" // the worker answered; it logs the exchange
	localErrorMsg        = "error_msg"
)

// requestContext runs first: it assigns the request id, puts it and a
// deadline on the user context, answers errors right here so the status is
// final, settles the request body and records metrics.
func (s *server) requestContext(c *fiber.Ctx) error {
	start := time.Now()
	id := assignRequestID(c)
	// The root of the request's context. Not fasthttp's RequestCtx: its
	// Done races with Server.Shutdown (fasthttp 1.51, seen by -race);
	// shutdown waits for in-flight requests, bounded by RequestTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), s.RequestTimeout)
	defer cancel()
	var span trace.Span
	if s.Tracer != nil {
		ctx, span = s.startSpan(ctx, c, id)
	}
	c.SetUserContext(logctx.With(ctx, slog.String("request_id", id)))

	route := routeKind(c.Path())
	err := s.screen(c, route)
	if err == nil {
		err = c.Next()
	}
	if err != nil {
		if err := s.handleError(c, err); err != nil {
			return err
		}
	}
	s.settleBody(c)
	if s.draining() {
		// The next request on this connection would find the listener
		// closed soon; the client's next connection goes to a replica that
		// stays.
		c.Context().SetConnectionClose()
	}
	code := c.Response().StatusCode()
	s.metrics.observe(route, code, time.Since(start))
	tenantID, known := c.Locals(localTenantID).(string)
	if known {
		s.metrics.scim.WithLabelValues(tenantID, strconv.Itoa(code)).Inc()
	} else {
		tenantID, _ = c.Locals(localClaimedTenantID).(string)
	}
	if forwarded, _ := c.Locals(localForwarded).(bool); tenantID != "" && !forwarded && code >= 400 {
		reason, _ := c.Locals(localErrorMsg).(string)
		// Support reads refusals: a token sent in the path is not kept.
		s.Rejections.Record(tenant.Rejection{At: start, TenantID: tenantID, RequestID: id,
			Method: strings.Clone(c.Method()), Path: scim.RedactTokens(strings.Clone(c.Path())), Status: code, Reason: scim.RedactTokens(reason)})
	}
	s.Logger.DebugContext(c.UserContext(), "request", "method", c.Method(), "path", c.Path(), "status", code, "duration", time.Since(start))
	if span != nil {
		endSpan(c, span, code)
	}
	return nil
}

// startSpan starts the request's server span, the child of the caller's
// W3C trace context if it sent one (a proxy in front may trace too).
func (s *server) startSpan(ctx context.Context, c *fiber.Ctx, id string) (context.Context, trace.Span) {
	ctx = tracing.Propagator().Extract(ctx, headerCarrier{h: &c.Request().Header})
	method := strings.Clone(c.Method())
	return s.Tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", method),
		attribute.String("url.path", strings.Clone(c.Path())),
		attribute.String("scimplane.request_id", id)))
}

// endSpan names the span after the route that served the request and
// records the answer.
func endSpan(c *fiber.Ctx, span trace.Span, code int) {
	route := c.Route().Path
	span.SetName(strings.Clone(c.Method()) + " " + route)
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", code))
	if tenantID, ok := c.Locals(localTenantID).(string); ok {
		span.SetAttributes(tracing.TenantAttr.String(tenantID))
	}
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}

// headerCarrier reads and writes W3C trace headers on a fasthttp request.
type headerCarrier struct {
	h *fasthttp.RequestHeader
}

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c headerCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c headerCarrier) Keys() []string {
	var keys []string
	c.h.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}

// screen refuses what no route should see; SCIM routes check the same
// after authentication (scim), so the refusal is recorded for the tenant.
// Other routes (the console) get their body read here, bounded: their
// handlers parse forms with fiber.
func (s *server) screen(c *fiber.Ctx, route string) error {
	if route == "scim" {
		return nil
	}
	if err := checkRequestText(c, false); err != nil {
		return err
	}
	if route == "other" && hasBody(c) {
		_, err := s.body(c)
		return err
	}
	return nil
}

// routeKind names the route family for metrics and error shapes. Routes
// match case-insensitively (fiber's default), so the prefixes do too.
func routeKind(path string) string {
	switch {
	case hasPrefixFold(path, "/scim/"):
		return "scim"
	case hasPrefixFold(path, "/api/"):
		return "api"
	}
	return "other"
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// assignRequestID takes the caller's X-Request-Id if it is sound, or makes
// one, and echoes it.
func assignRequestID(c *fiber.Ctx) string {
	id := c.Get("X-Request-Id")
	if !validRequestID(id) {
		id = newRequestID()
	} else {
		id = strings.Clone(id)
	}
	c.Locals(localRequestID, id)
	c.Set("X-Request-Id", id)
	return id
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "req_" + hex.EncodeToString(b)
}

// validRequestID accepts a caller's id if it is short and printable ASCII.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// bearer returns the Authorization header's bearer credential.
func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ConsoleSessionHeader carries the console session a request to the admin
// API comes from; a signed-out session is refused even with a valid key.
const ConsoleSessionHeader = "X-Scimplane-Console-Session"

// authenticateKey resolves the admin API key to a Principal.
func (s *server) authenticateKey(c *fiber.Ctx) error {
	p, err := s.Tenants.AuthenticateKey(c.UserContext(), bearer(c), strings.Clone(c.Get(ConsoleSessionHeader)))
	if err != nil {
		return err
	}
	c.Locals(localPrincipal, p)
	c.SetUserContext(logctx.With(c.UserContext(), slog.String("key_id", p.KeyID)))
	return c.Next()
}

func principal(c *fiber.Ctx) tenant.Principal {
	p, _ := c.Locals(localPrincipal).(tenant.Principal)
	return p
}
