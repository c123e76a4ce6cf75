package httpapi

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/logctx"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// scim authenticates the token for the tenant in the URL, applies the
// tenant's rate and size limits, reads the body and forwards the exchange,
// unparsed, to the tenant's worker. Nothing past the first 8 KiB of the
// body is read before the token is checked.
func (s *server) scim(c *fiber.Ctx) error {
	tenantID := strings.Clone(c.Params("tenant")) // kept past the handler by the pool and limiter
	ctx := c.UserContext()
	client := clientKey(c.Context().RemoteAddr())
	// A client that keeps failing authentication may not make this replica
	// look up tenant ids it has never seen; tenants it knows cost nothing.
	if retry, blocked := s.authFailures.Blocked(client); blocked && s.Tenants.NeedsLookup(tenantID) {
		return &httpError{code: fiber.StatusTooManyRequests, msg: "too many failed authentications from this address, retry later", retryAfter: retry}
	}
	err := s.Tenants.AuthenticateSCIM(ctx, tenantID, bearer(c))
	if errors.Is(err, tenant.ErrUnauthenticated) {
		s.authFailures.Fail(client)
	}
	if errors.Is(err, tenant.ErrUnavailable) {
		// The database could not say whose request this is. Its refusal
		// is recorded under the tenant id it names (the recorder holds it
		// until the database is back), without a metric label of its own.
		c.Locals(localClaimedTenantID, tenantID)
	}
	if errors.Is(err, tenant.ErrUnknownTenant) || err != nil && !errors.Is(err, tenant.ErrUnauthenticated) && !errors.Is(err, tenant.ErrDisabled) {
		return err
	}
	// Only known tenants get their own log attribute, metric label and
	// rejection records.
	ctx = logctx.With(ctx, slog.String("tenant_id", tenantID))
	c.SetUserContext(ctx)
	c.Locals(localTenantID, tenantID)
	if err != nil {
		return err
	}

	retry, ok, err := s.Limiter.Wait(ctx, tenantID)
	if err != nil {
		return &httpError{code: fiber.StatusServiceUnavailable, msg: "request timed out waiting for capacity", err: err, retryAfter: time.Second}
	}
	if !ok {
		return &httpError{code: fiber.StatusTooManyRequests, msg: "too many requests for this tenant", retryAfter: retry}
	}
	if err := checkRequestText(c, true); err != nil {
		return err
	}
	body, err := s.body(c)
	if err != nil {
		return err
	}

	ex := &scimworker.Exchange{
		RequestID:   requestID(c),
		Method:      c.Method(),
		Path:        "/" + c.Params("*"),
		RawQuery:    string(c.Request().URI().QueryString()),
		ContentType: c.Get(fiber.HeaderContentType),
		IfMatch:     c.Get(fiber.HeaderIfMatch),
		IfNoneMatch: c.Get(fiber.HeaderIfNoneMatch),
		Body:        body,
	}
	reply, err := s.Workers.Handle(ctx, tenantID, ex)
	if err != nil {
		return workerUnavailable(err)
	}
	c.Locals(localForwarded, true)
	reply.WriteHeaders(c.Set)
	c.Status(reply.Status)
	return c.Send(reply.Body)
}

// workerUnavailable answers 503 with the pool's retry hint, if any.
func workerUnavailable(err error) *httpError {
	retry := time.Second
	var r interface{ RetryIn() time.Duration }
	if errors.As(err, &r) {
		retry = max(r.RetryIn(), time.Second)
	}
	return &httpError{code: fiber.StatusServiceUnavailable, msg: "tenant worker unavailable, retry later", err: err, retryAfter: retry}
}
