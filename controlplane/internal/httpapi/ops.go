package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// workerOps are the admin operations the API forwards to a tenant's
// worker, and whether each changes tenant data.
var workerOps = map[string]bool{
	scimworker.OpPolicyValidate: false,
	scimworker.OpPolicyDryRun:   false,
	scimworker.OpPolicyActivate: true,
	scimworker.OpPolicyActive:   false,
	scimworker.OpGroupsList:     false,
	scimworker.OpGroupMembers:   false,
	scimworker.OpUsersList:      false,
	scimworker.OpUserGet:        false,
	scimworker.OpUserExplain:    false,
	scimworker.OpChanges:        false,
	scimworker.OpLogQuery:       false,
	scimworker.OpLogGet:         false,
	scimworker.OpLogHealth:      false,
	scimworker.OpLogRetention:   true,
}

// workerOp forwards POST /api/v1/tenants/{id}/ops/{op} with its JSON
// arguments to the tenant's worker and answers with the worker's JSON.
func (s *server) workerOp(c *fiber.Ctx) error {
	tenantID := strings.Clone(c.Params("id")) // kept by the pool
	op := c.Params("op")
	write, ok := workerOps[op]
	if !ok {
		return fiber.ErrNotFound
	}
	ctx := c.UserContext()
	if err := s.Tenants.AuthorizeTenantOp(ctx, principal(c), tenantID, "worker."+op, write); err != nil {
		return err
	}
	args := c.Body()
	if len(args) == 0 {
		args = []byte("{}")
	}
	reply, err := s.Workers.Admin(ctx, tenantID, &scimworker.AdminRequest{RequestID: requestID(c), Op: op, Args: args})
	if err != nil {
		return workerUnavailable(err)
	}
	c.Status(reply.Status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(reply.Body)
}
