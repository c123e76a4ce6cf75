package httpapi

import (
	"context"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// mountTenantData adds the routes over a tenant's data, served by its
// worker. Each is one typed operation the tenant service authorises.
func (s *server) mountTenantData(api fiber.Router) {
	api.Get("/tenants/:id/groups", tenantOp(s, (*tenant.Service).ListGroups, nil))
	api.Get("/tenants/:id/groups/:gid/members", tenantOp(s, (*tenant.Service).GroupMembers,
		func(c *fiber.Ctx, r *scimworker.GroupMembersRequest) error { r.ID = c.Params("gid"); return nil }))
	api.Get("/tenants/:id/users", tenantOp(s, (*tenant.Service).ListUsers, nil))
	api.Get("/tenants/:id/users/:uid", tenantOp(s, (*tenant.Service).GetUser,
		func(c *fiber.Ctx, r *scimworker.UserRequest) error { r.ID = c.Params("uid"); return nil }))
	api.Get("/tenants/:id/users/:uid/explain", tenantOp(s, (*tenant.Service).ExplainUser,
		func(c *fiber.Ctx, r *scimworker.ExplainRequest) error { r.ID = c.Params("uid"); return nil }))
	api.Get("/tenants/:id/changes", tenantOp(s, (*tenant.Service).Changes, nil))
	api.Get("/tenants/:id/logs", s.logs)
	api.Get("/tenants/:id/logs/health", tenantOp(s, (*tenant.Service).LogHealth, nil))
	api.Put("/tenants/:id/logs/retention", tenantOp(s, (*tenant.Service).SetLogRetention,
		func(c *fiber.Ctx, r *scimworker.LogRetentionRequest) error { return s.decode(c, r) }))
	api.Get("/tenants/:id/logs/:entry", tenantOp(s, (*tenant.Service).GetLogEntry,
		func(c *fiber.Ctx, r *scimworker.LogEntryRequest) error {
			n, err := strconv.ParseInt(c.Params("entry"), 10, 64)
			if err != nil {
				return fiber.ErrNotFound
			}
			r.ID = n
			return nil
		}))
	api.Get("/tenants/:id/policies", s.listPolicies)
	api.Post("/tenants/:id/policies", s.savePolicy)
	api.Post("/tenants/:id/policies/validate", s.validatePolicy)
	api.Get("/tenants/:id/policies/active", s.activePolicy)
	api.Get("/tenants/:id/policies/:version", s.getPolicy)
	api.Post("/tenants/:id/policies/:version/dry-run", s.dryRunPolicy)
	api.Post("/tenants/:id/policies/:version/activate", s.activatePolicy)
}

// tenantOp serves one operation on the tenant in the path: its request
// is read from the query string (the request type's query tags), then
// from the path or body by more, if given; the answer is the reply as
// JSON.
func tenantOp[Req, Rep any](s *server, op func(*tenant.Service, context.Context, tenant.Principal, string, *Req) (*Rep, error),
	more func(*fiber.Ctx, *Req) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := new(Req)
		if err := c.QueryParser(req); err != nil {
			return &httpError{code: fiber.StatusBadRequest, msg: "invalid query parameters", err: err}
		}
		if more != nil {
			if err := more(c, req); err != nil {
				return err
			}
		}
		// The pool keeps the tenant id past the request.
		out, err := op(s.Tenants, c.UserContext(), principal(c), strings.Clone(c.Params("id")), req)
		if err != nil {
			return err
		}
		return c.JSON(out)
	}
}

// workerRequestID gives the worker calls an admin request makes the
// request's id, for the worker's log.
func workerRequestID(c *fiber.Ctx) error {
	c.SetUserContext(scimworker.WithRequestID(c.UserContext(), requestID(c)))
	return c.Next()
}
