package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// PolicyVersion is one saved version of a tenant's permission policy:
// Rego modules by file name plus the group mapping document.
type PolicyVersion struct {
	Version   int64     `json:"version"`
	Author    string    `json:"author"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	Active    bool      `json:"active"`
	scimworker.PolicyBundle
}

// PolicyStore keeps policy versions; part of Store.
type PolicyStore interface {
	// CreatePolicyVersion assigns the next version number and returns it.
	CreatePolicyVersion(ctx context.Context, tenantID string, v PolicyVersion, a AuditEntry) (int64, error)
	ListPolicyVersions(ctx context.Context, tenantID string) ([]PolicyVersion, error)
	GetPolicyVersion(ctx context.Context, tenantID string, version int64) (PolicyVersion, error)
	// MarkPolicyActivated makes version the active one. Marking it again
	// is harmless.
	MarkPolicyActivated(ctx context.Context, tenantID string, version int64) error
}

// NewPolicy is a candidate policy: to validate, or to save as a version.
type NewPolicy struct {
	scimworker.PolicyBundle
	Comment string `json:"comment"`
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

// The policy use cases. Only policy managers (operators and the tenant's
// admins) may validate, dry-run, save or activate: a candidate policy is
// code the worker runs. Each checks the caller before anything else, the
// worker validates before anything is stored, and only saved versions are
// ever activated.

// ValidatePolicy has the tenant's worker compile a candidate and run its
// tests; nothing is stored. A candidate that fails is a
// *scimworker.Error with the problems or the test results.
func (s *Service) ValidatePolicy(ctx context.Context, p Principal, tenantID string, in NewPolicy) (*scimworker.PolicyCheck, error) {
	if err := s.authorize(ctx, p, tenantID, check, "policy.validate"); err != nil {
		return nil, err
	}
	if err := in.Check(); err != nil {
		return nil, err
	}
	return callWorker(ctx, s, tenantID, scimworker.Worker.ValidatePolicy, &scimworker.ValidatePolicyRequest{PolicyBundle: in.PolicyBundle})
}

// SavedPolicy is a new version and the results of its tests.
type SavedPolicy struct {
	Version int64                   `json:"version"`
	Tests   []scimworker.PolicyTest `json:"tests"`
}

// SavePolicy validates a candidate on the tenant's worker and stores it as
// the next version if it passes; the version is not yet active.
func (s *Service) SavePolicy(ctx context.Context, p Principal, tenantID string, in NewPolicy) (SavedPolicy, error) {
	checked, err := s.ValidatePolicy(ctx, p, tenantID, in)
	if err != nil {
		return SavedPolicy{}, err
	}
	v := PolicyVersion{Author: p.KeyID, Comment: in.Comment, CreatedAt: s.now().UTC(), PolicyBundle: in.PolicyBundle}
	n, err := s.store.CreatePolicyVersion(ctx, tenantID, v, p.audit("policy.save", tenantID, ""))
	if err != nil {
		return SavedPolicy{}, fmt.Errorf("save policy: %w", err)
	}
	return SavedPolicy{Version: n, Tests: checked.Tests}, nil
}

// DryRunPolicy shows who would gain or lose what under a saved version,
// changing nothing.
func (s *Service) DryRunPolicy(ctx context.Context, p Principal, tenantID string, version int64) (*scimworker.DryRun, error) {
	if err := s.authorize(ctx, p, tenantID, check, "policy.dryrun"); err != nil {
		return nil, err
	}
	v, err := s.store.GetPolicyVersion(ctx, tenantID, version)
	if err != nil {
		return nil, fmt.Errorf("dry-run policy: %w", err)
	}
	return callWorker(ctx, s, tenantID, scimworker.Worker.DryRunPolicy, &scimworker.DryRunRequest{PolicyBundle: v.PolicyBundle})
}

// ActivatePolicy makes a saved version the tenant's policy (rollback is
// activating an older one): the audit records the attempt and the version,
// the tenant's worker (bound now if none runs) validates, enforces and
// recomputes, then the version is marked active here. Every step is
// idempotent, so when one fails (the worker's, or marking it here after
// the worker succeeded) activating the same version again completes the
// activation.
func (s *Service) ActivatePolicy(ctx context.Context, p Principal, tenantID string, version int64) (*scimworker.Activation, error) {
	if err := s.authorize(ctx, p, tenantID, check, "policy.activate"); err != nil {
		return nil, err
	}
	v, err := s.store.GetPolicyVersion(ctx, tenantID, version)
	if err != nil {
		return nil, fmt.Errorf("activate policy: %w", err)
	}
	// Recorded first: an activation that fails half-way may already be
	// enforced by the worker.
	if err := s.store.RecordAudit(ctx, p.audit("policy.activate", tenantID, "version "+strconv.FormatInt(v.Version, 10))); err != nil {
		return nil, fmt.Errorf("activate policy: %w", err)
	}
	done, err := callWorker(ctx, s, tenantID, scimworker.Worker.ActivatePolicy, &scimworker.ActivateRequest{Version: v.Version, PolicyBundle: v.PolicyBundle})
	if err != nil {
		return nil, err
	}
	if err := s.store.MarkPolicyActivated(ctx, tenantID, v.Version); err != nil {
		return nil, fmt.Errorf("activate policy: the worker enforces version %d, recording it failed (activate it again): %w", v.Version, err)
	}
	return done, nil
}

// ActivePolicy describes the policy the tenant's worker enforces, the
// built-in one (version 0) included.
func (s *Service) ActivePolicy(ctx context.Context, p Principal, tenantID string) (*scimworker.ActivePolicy, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.policy.active", scimworker.Worker.ActivePolicy, &scimworker.ActivePolicyRequest{})
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
