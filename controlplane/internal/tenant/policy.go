package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// PolicyVersion is one saved version of a tenant's permission policy:
// Rego modules by file name plus the group mapping document.
type PolicyVersion struct {
	Version   int64             `json:"version"`
	Author    string            `json:"author"`
	Comment   string            `json:"comment"`
	CreatedAt time.Time         `json:"created_at"`
	Active    bool              `json:"active"`
	Modules   map[string]string `json:"modules"`
	Mapping   json.RawMessage   `json:"mapping"`
}

// PolicyStore keeps policy versions; part of Store.
type PolicyStore interface {
	// CreatePolicyVersion assigns the next version number and returns it.
	CreatePolicyVersion(ctx context.Context, tenantID string, v PolicyVersion, a AuditEntry) (int64, error)
	ListPolicyVersions(ctx context.Context, tenantID string) ([]PolicyVersion, error)
	GetPolicyVersion(ctx context.Context, tenantID string, version int64) (PolicyVersion, error)
	MarkPolicyActivated(ctx context.Context, tenantID string, version int64) error
}

// NewPolicy is a policy to save, already validated by the tenant's worker.
type NewPolicy struct {
	Modules map[string]string `json:"modules"`
	Mapping json.RawMessage   `json:"mapping"`
	Comment string            `json:"comment"`
}

// Check refuses a policy that cannot be stored, before anything compiles
// it.
func (in NewPolicy) Check() error {
	switch {
	case len(in.Modules) == 0:
		return invalid("a policy needs at least one module")
	case len(in.Mapping) == 0 || !json.Valid(in.Mapping):
		return invalid("mapping must be a JSON document")
	case utf8.RuneCountInString(in.Comment) > 1000:
		return invalid("comment must be at most 1000 characters")
	}
	if err := checkStorable("comment", in.Comment); err != nil {
		return err
	}
	for name, src := range in.Modules {
		if err := checkText("module name", name); err != nil {
			return err
		}
		if err := checkStorable("module "+name, src); err != nil {
			return err
		}
	}
	return checkStorableJSON("mapping", in.Mapping)
}

// SavePolicy stores a new version of the tenant's policy.
func (s *Service) SavePolicy(ctx context.Context, p Principal, tenantID string, in NewPolicy) (PolicyVersion, error) {
	if !p.canManage(tenantID) {
		return PolicyVersion{}, ErrForbidden
	}
	if err := in.Check(); err != nil {
		return PolicyVersion{}, err
	}
	v := PolicyVersion{Author: p.KeyID, Comment: in.Comment, CreatedAt: s.now().UTC(), Modules: in.Modules, Mapping: in.Mapping}
	n, err := s.store.CreatePolicyVersion(ctx, tenantID, v, p.audit("policy.save", tenantID, ""))
	if err != nil {
		return PolicyVersion{}, fmt.Errorf("save policy: %w", err)
	}
	v.Version = n
	return v, nil
}

// ListPolicies returns the tenant's policy versions, newest first.
func (s *Service) ListPolicies(ctx context.Context, p Principal, tenantID string) ([]PolicyVersion, error) {
	if !p.canRead(tenantID) {
		return nil, ErrForbidden
	}
	vs, err := s.store.ListPolicyVersions(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	return vs, nil
}

// GetPolicy returns one policy version.
func (s *Service) GetPolicy(ctx context.Context, p Principal, tenantID string, version int64) (PolicyVersion, error) {
	if !p.canRead(tenantID) {
		return PolicyVersion{}, ErrForbidden
	}
	v, err := s.store.GetPolicyVersion(ctx, tenantID, version)
	if err != nil {
		return PolicyVersion{}, fmt.Errorf("get policy: %w", err)
	}
	return v, nil
}

// PolicyActivated records that the tenant's worker activated version; the
// caller authorised and audited the activation (AuthorizeTenantOp).
func (s *Service) PolicyActivated(ctx context.Context, tenantID string, version int64) error {
	if err := s.store.MarkPolicyActivated(ctx, tenantID, version); err != nil {
		return fmt.Errorf("record policy activation: %w", err)
	}
	return nil
}
