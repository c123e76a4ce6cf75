package httpapi

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/controlplane/internal/workerpool"
)

// The admin API's list answers, which the console decodes too.
type (
	TenantList struct {
		Tenants []tenant.TenantView `json:"tenants"`
	}
	TokenList struct {
		Tokens []tenant.Token `json:"tokens"`
	}
	APIKeyList struct {
		APIKeys []tenant.APIKey `json:"api_keys"`
	}
	AuditList struct {
		Entries []tenant.AuditEntry `json:"entries"`
	}
	RejectionList struct {
		Rejections []tenant.Rejection `json:"rejections"`
	}
	PolicyList struct {
		Versions []tenant.PolicyVersion `json:"versions"`
	}
	WorkerList struct {
		Workers []workerpool.Info `json:"workers"`
	}
)

// decode reads an optional JSON body into v.
func (s *server) decode(c *fiber.Ctx, v any) error {
	body, err := s.body(c)
	if err != nil || len(body) == 0 {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &httpError{code: fiber.StatusBadRequest, msg: "invalid JSON body", err: err}
	}
	return nil
}

// me describes the calling key: its id, role and tenant scope.
func (s *server) me(c *fiber.Ctx) error {
	return c.JSON(principal(c))
}

func (s *server) createTenant(c *fiber.Ctx) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := s.decode(c, &in); err != nil {
		return err
	}
	t, err := s.Tenants.CreateTenant(c.UserContext(), principal(c), in.Name)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(t)
}

func (s *server) listTenants(c *fiber.Ctx) error {
	ts, err := s.Tenants.ListTenants(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(TenantList{ts})
}

func (s *server) getTenant(c *fiber.Ctx) error {
	t, err := s.Tenants.GetTenant(c.UserContext(), principal(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *server) setEnabled(enabled bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.Tenants.SetEnabled(c.UserContext(), principal(c), c.Params("id"), enabled); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
}

func (s *server) deleteTenant(c *fiber.Ctx) error {
	id := c.Params("id")
	if err := s.Tenants.DeleteTenant(c.UserContext(), principal(c), id, c.Query("confirm")); err != nil {
		return err
	}
	s.Limiter.Forget(id)
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) createToken(c *fiber.Ctx) error {
	var in tenant.CreateTokenParams
	if err := s.decode(c, &in); err != nil {
		return err
	}
	t, err := s.Tenants.CreateToken(c.UserContext(), principal(c), c.Params("id"), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(t)
}

func (s *server) listTokens(c *fiber.Ctx) error {
	ts, err := s.Tenants.ListTokens(c.UserContext(), principal(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(TokenList{ts})
}

func (s *server) revokeToken(c *fiber.Ctx) error {
	if err := s.Tenants.RevokeToken(c.UserContext(), principal(c), c.Params("id"), c.Params("token")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) createAPIKey(c *fiber.Ctx) error {
	var in tenant.CreateAPIKeyParams
	if err := s.decode(c, &in); err != nil {
		return err
	}
	k, err := s.Tenants.CreateAPIKey(c.UserContext(), principal(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(k)
}

func (s *server) listAPIKeys(c *fiber.Ctx) error {
	ks, err := s.Tenants.ListAPIKeys(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(APIKeyList{ks})
}

func (s *server) revokeAPIKey(c *fiber.Ctx) error {
	if err := s.Tenants.RevokeAPIKey(c.UserContext(), principal(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) listAudit(c *fiber.Ctx) error {
	limit, _ := strconv.Atoi(c.Query("limit"))
	es, err := s.Tenants.ListAudit(c.UserContext(), principal(c), c.Query("tenant_id"), limit)
	if err != nil {
		return err
	}
	return c.JSON(AuditList{es})
}

func (s *server) listRejections(c *fiber.Ctx) error {
	limit, _ := strconv.Atoi(c.Query("limit"))
	rs, err := s.Tenants.ListRejections(c.UserContext(), principal(c), c.Params("id"), limit)
	if err != nil {
		return err
	}
	return c.JSON(RejectionList{rs})
}

func (s *server) listWorkers(c *fiber.Ctx) error {
	if principal(c).Role != tenant.RoleOperator {
		return tenant.ErrForbidden
	}
	return c.JSON(WorkerList{s.Running()})
}

// endConsoleSession signs out the console session the request names (its
// ConsoleSessionHeader): the console calls it on sign-out.
func (s *server) endConsoleSession(c *fiber.Ctx) error {
	var in struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := s.decode(c, &in); err != nil {
		return err
	}
	if err := s.Tenants.EndConsoleSession(c.UserContext(), principal(c), in.ExpiresAt); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
