package httpapi

import (
	"encoding/json"
	"strconv"
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
	op := c.Params("op")
	write, ok := workerOps[op]
	if !ok {
		return fiber.ErrNotFound
	}
	args, err := s.body(c)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		args = []byte("{}")
	}
	return s.runOp(c, op, write, args)
}

// runOp authorises p for the tenant in the path, runs op on its worker and
// writes the worker's status and JSON body.
func (s *server) runOp(c *fiber.Ctx, op string, write bool, args []byte) error {
	reply, err := s.callOp(c, op, write, args)
	if err != nil {
		return err
	}
	c.Status(reply.Status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(reply.Body)
}

func (s *server) callOp(c *fiber.Ctx, op string, write bool, args []byte) (*scimworker.AdminReply, error) {
	tenantID := strings.Clone(c.Params("id")) // kept by the pool
	ctx := c.UserContext()
	if err := s.Tenants.AuthorizeTenantOp(ctx, principal(c), tenantID, "worker."+op, write); err != nil {
		return nil, err
	}
	reply, err := s.Workers.Admin(ctx, tenantID, &scimworker.AdminRequest{RequestID: requestID(c), Op: op, Args: args})
	if err != nil {
		return nil, workerUnavailable(err)
	}
	return reply, nil
}

// readRoute maps a GET route on a tenant's data to a worker operation:
// the listed query parameters become arguments ("limit" as a number) and
// the path parameter idParam, if any, becomes "id".
type readRoute struct {
	op        string
	idParam   string
	numericID bool
	query     []string
}

func (s *server) readOp(r readRoute) fiber.Handler {
	return func(c *fiber.Ctx) error {
		args, err := r.args(c)
		if err != nil {
			return err
		}
		return s.runOp(c, r.op, false, args)
	}
}

func (r readRoute) args(c *fiber.Ctx) ([]byte, error) {
	args := map[string]any{}
	for _, name := range r.query {
		if v := c.Query(name); v != "" {
			args[name] = v
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, &httpError{code: fiber.StatusBadRequest, msg: "limit must be a number"}
		}
		args["limit"] = n
	}
	if r.idParam != "" {
		id := c.Params(r.idParam)
		args["id"] = id
		if r.numericID {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return nil, fiber.ErrNotFound
			}
			args["id"] = n
		}
	}
	return json.Marshal(args)
}

var (
	pageQuery = []string{"q", "after"}
	logQuery  = []string{"from", "to", "status", "method", "resource_type", "resource_id", "user", "request_id", "q", "after"}
)

// mountTenantData adds the REST routes over the worker's read operations.
func (s *server) mountTenantData(api fiber.Router) {
	api.Get("/tenants/:id/groups", s.readOp(readRoute{op: scimworker.OpGroupsList, query: pageQuery}))
	api.Get("/tenants/:id/groups/:gid/members", s.readOp(readRoute{op: scimworker.OpGroupMembers, idParam: "gid", query: pageQuery}))
	api.Get("/tenants/:id/users", s.readOp(readRoute{op: scimworker.OpUsersList, query: pageQuery}))
	api.Get("/tenants/:id/users/:uid", s.readOp(readRoute{op: scimworker.OpUserGet, idParam: "uid"}))
	api.Get("/tenants/:id/users/:uid/explain", s.readOp(readRoute{op: scimworker.OpUserExplain, idParam: "uid", query: []string{"permission"}}))
	api.Get("/tenants/:id/changes", s.readOp(readRoute{op: scimworker.OpChanges, query: []string{"after"}}))
	api.Get("/tenants/:id/logs", s.logs)
	api.Get("/tenants/:id/logs/health", s.readOp(readRoute{op: scimworker.OpLogHealth}))
	api.Get("/tenants/:id/logs/:entry", s.readOp(readRoute{op: scimworker.OpLogGet, idParam: "entry", numericID: true}))
	api.Get("/tenants/:id/policies", s.listPolicies)
	api.Post("/tenants/:id/policies", s.savePolicy)
	api.Get("/tenants/:id/policies/:version", s.getPolicy)
	api.Post("/tenants/:id/policies/:version/dry-run", s.dryRunPolicy)
	api.Post("/tenants/:id/policies/:version/activate", s.activatePolicy)
}
