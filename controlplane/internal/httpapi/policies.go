package httpapi

import (
	"encoding/json"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

func (s *server) listPolicies(c *fiber.Ctx) error {
	vs, err := s.Tenants.ListPolicies(c.UserContext(), principal(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"versions": vs})
}

func (s *server) getPolicy(c *fiber.Ctx) error {
	v, err := s.policyVersion(c)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *server) policyVersion(c *fiber.Ctx) (tenant.PolicyVersion, error) {
	n, err := strconv.ParseInt(c.Params("version"), 10, 64)
	if err != nil {
		return tenant.PolicyVersion{}, tenant.ErrNotFound
	}
	return s.Tenants.GetPolicy(c.UserContext(), principal(c), c.Params("id"), n)
}

// savePolicy has the tenant's worker compile the policy and run its tests,
// and stores it as a new version only if they pass (else the worker's 422).
func (s *server) savePolicy(c *fiber.Ctx) error {
	var in tenant.NewPolicy
	if err := s.decode(c, &in); err != nil {
		return err
	}
	if err := in.Check(); err != nil {
		return err
	}
	args, err := json.Marshal(fiber.Map{"modules": in.Modules, "mapping": in.Mapping})
	if err != nil {
		return &httpError{code: fiber.StatusBadRequest, msg: "invalid policy", err: err}
	}
	check, err := s.callOp(c, scimworker.OpPolicyValidate, false, args)
	if err != nil {
		return err
	}
	if check.Status != fiber.StatusOK {
		c.Status(check.Status)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(check.Body)
	}
	v, err := s.Tenants.SavePolicy(c.UserContext(), principal(c), c.Params("id"), in)
	if err != nil {
		return err
	}
	var tests struct {
		Tests json.RawMessage `json:"tests"`
	}
	_ = json.Unmarshal(check.Body, &tests)
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"version": v.Version, "tests": tests.Tests})
}

// dryRunPolicy shows which users would gain or lose permissions under a
// saved version, changing nothing.
func (s *server) dryRunPolicy(c *fiber.Ctx) error {
	v, err := s.policyVersion(c)
	if err != nil {
		return err
	}
	args, _ := json.Marshal(fiber.Map{"modules": v.Modules, "mapping": v.Mapping})
	return s.runOp(c, scimworker.OpPolicyDryRun, false, args)
}

// activatePolicy makes a saved version the tenant's policy (rollback is
// activating an older one).
func (s *server) activatePolicy(c *fiber.Ctx) error {
	v, err := s.policyVersion(c)
	if err != nil {
		return err
	}
	args, _ := json.Marshal(fiber.Map{"version": v.Version, "modules": v.Modules, "mapping": v.Mapping})
	reply, err := s.callOp(c, scimworker.OpPolicyActivate, true, args)
	if err != nil {
		return err
	}
	if reply.Status == fiber.StatusOK {
		if err := s.Tenants.PolicyActivated(c.UserContext(), c.Params("id"), v.Version); err != nil {
			return err
		}
	}
	c.Status(reply.Status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(reply.Body)
}
