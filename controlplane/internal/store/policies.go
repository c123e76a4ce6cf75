package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/store/dbsqlc"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/plugins/scimworker"
)

func (s *Store) CreatePolicyVersion(ctx context.Context, tenantID string, v tenant.PolicyVersion, a tenant.AuditEntry) (int64, error) {
	modules, err := json.Marshal(v.Modules)
	if err != nil {
		return 0, fmt.Errorf("encode policy modules: %w", err)
	}
	var n int64
	err = s.inTx(ctx, func(_ pgx.Tx, q *dbsqlc.Queries) error {
		// The tenant row lock serialises version numbering.
		if err := mustAffect(q.LockTenant(ctx, tenantID)); err != nil {
			return err
		}
		var err error
		n, err = q.InsertPolicyVersion(ctx, dbsqlc.InsertPolicyVersionParams{TenantID: tenantID, Author: v.Author,
			Comment: v.Comment, Modules: modules, Mapping: v.Mapping, CreatedAt: v.CreatedAt})
		if err != nil {
			return err
		}
		a.Detail = "version " + strconv.FormatInt(n, 10)
		return audit(ctx, q, a)
	})
	return n, err
}

// policyVersion builds a version from the columns both queries read.
func policyVersion(version int64, author, comment string, created time.Time, active bool, modules, mapping json.RawMessage) (tenant.PolicyVersion, error) {
	v := tenant.PolicyVersion{Version: version, Author: author, Comment: comment, CreatedAt: created, Active: active,
		PolicyBundle: scimworker.PolicyBundle{Mapping: mapping}}
	if err := json.Unmarshal(modules, &v.Modules); err != nil {
		return tenant.PolicyVersion{}, fmt.Errorf("decode modules of policy version %d: %w", version, err)
	}
	return v, nil
}

func (s *Store) ListPolicyVersions(ctx context.Context, tenantID string) ([]tenant.PolicyVersion, error) {
	rs, err := s.q.ListPolicyVersions(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	vs := make([]tenant.PolicyVersion, len(rs))
	for i, r := range rs {
		if vs[i], err = policyVersion(r.Version, r.Author, r.Comment, r.CreatedAt, r.Active, r.Modules, r.Mapping); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

func (s *Store) GetPolicyVersion(ctx context.Context, tenantID string, version int64) (tenant.PolicyVersion, error) {
	r, err := s.q.GetPolicyVersion(ctx, dbsqlc.GetPolicyVersionParams{TenantID: tenantID, Version: version})
	if err != nil {
		return tenant.PolicyVersion{}, notFound(err)
	}
	return policyVersion(r.Version, r.Author, r.Comment, r.CreatedAt, r.Active, r.Modules, r.Mapping)
}

func (s *Store) MarkPolicyActivated(ctx context.Context, tenantID string, version int64) error {
	return mustAffect(s.q.MarkPolicyActivated(ctx, dbsqlc.MarkPolicyActivatedParams{TenantID: tenantID, Version: version}))
}
