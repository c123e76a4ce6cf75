package httpapi

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

// tenantOp serves one operation on the tenant in the path: its request
// is read from the query string (the request type's query tags), then
// from the path or body by more, if given; the answer is the reply as
// JSON.
func tenantOp[Req, Rep any](s *server, op func(*tenant.Service, context.Context, tenant.Principal, string, *Req) (*Rep, error),
	more func(*server, *fiber.Ctx, *Req) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := new(Req)
		if err := query(c, req); err != nil {
			return err
		}
		if more != nil {
			if err := more(s, c, req); err != nil {
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
