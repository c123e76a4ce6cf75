package httpapi

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func (s *server) listPolicies(c *fiber.Ctx) error {
	vs, err := s.Tenants.ListPolicies(c.UserContext(), principal(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(PolicyList{vs})
}

// version is the policy version in the path; one that is not a number is
// not found.
func version(c *fiber.Ctx) (int64, error) {
	n, err := strconv.ParseInt(c.Params("version"), 10, 64)
	if err != nil {
		return 0, tenant.ErrNotFound
	}
	return n, nil
}

func (s *server) getPolicy(c *fiber.Ctx) error {
	n, err := version(c)
	if err != nil {
		return err
	}
	v, err := s.Tenants.GetPolicy(c.UserContext(), principal(c), c.Params("id"), n)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// activePolicy describes the policy the tenant's worker enforces, the
// built-in one included.
func (s *server) activePolicy(c *fiber.Ctx) error {
	p, err := s.Tenants.ActivePolicy(c.UserContext(), principal(c), strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// validatePolicy compiles and tests a candidate, storing nothing (422 with
// its problems or tests when it fails).
func (s *server) validatePolicy(c *fiber.Ctx) error {
	var in tenant.NewPolicy
	if err := s.decode(c, &in); err != nil {
		return err
	}
	out, err := s.Tenants.ValidatePolicy(c.UserContext(), principal(c), strings.Clone(c.Params("id")), in)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// savePolicy stores a candidate that validates as a new version.
func (s *server) savePolicy(c *fiber.Ctx) error {
	var in tenant.NewPolicy
	if err := s.decode(c, &in); err != nil {
		return err
	}
	v, err := s.Tenants.SavePolicy(c.UserContext(), principal(c), strings.Clone(c.Params("id")), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

// dryRunPolicy shows which users would gain or lose permissions under a
// saved version, changing nothing.
func (s *server) dryRunPolicy(c *fiber.Ctx) error {
	n, err := version(c)
	if err != nil {
		return err
	}
	out, err := s.Tenants.DryRunPolicy(c.UserContext(), principal(c), strings.Clone(c.Params("id")), n)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// activatePolicy makes a saved version the tenant's policy (rollback is
// activating an older one; a retry completes a failed activation).
func (s *server) activatePolicy(c *fiber.Ctx) error {
	n, err := version(c)
	if err != nil {
		return err
	}
	out, err := s.Tenants.ActivatePolicy(c.UserContext(), principal(c), strings.Clone(c.Params("id")), n)
	if err != nil {
		return err
	}
	return c.JSON(out)
}
