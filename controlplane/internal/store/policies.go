package store

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func (s *Store) CreatePolicyVersion(ctx context.Context, tenantID string, v tenant.PolicyVersion, a tenant.AuditEntry) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The tenant row lock serialises version numbering.
		if err := mustAffect(tx.Exec(ctx, `SELECT 1 FROM control.tenants WHERE id = $1 FOR UPDATE`, tenantID)); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO control.policy_versions (tenant_id, version, author, comment, modules, mapping, created_at)
			SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5, $6 FROM control.policy_versions WHERE tenant_id = $1
			RETURNING version`, tenantID, v.Author, v.Comment, v.Modules, v.Mapping, v.CreatedAt).Scan(&n)
		if err != nil {
			return err
		}
		a.Detail = "version " + strconv.FormatInt(n, 10)
		return audit(ctx, tx, a)
	})
	return n, err
}

// policyColumns marks as active the most recently activated version.
const policyColumns = `version, author, comment, created_at,
	activated_at IS NOT NULL AND activated_at = max(activated_at) OVER () AS active, modules, mapping`

func scanPolicy(r pgx.Row) (tenant.PolicyVersion, error) {
	var v tenant.PolicyVersion
	err := r.Scan(&v.Version, &v.Author, &v.Comment, &v.CreatedAt, &v.Active, &v.Modules, &v.Mapping)
	return v, err
}

func (s *Store) ListPolicyVersions(ctx context.Context, tenantID string) ([]tenant.PolicyVersion, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+policyColumns+` FROM control.policy_versions WHERE tenant_id = $1 ORDER BY version DESC`, tenantID)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tenant.PolicyVersion, error) { return scanPolicy(r) })
}

func (s *Store) GetPolicyVersion(ctx context.Context, tenantID string, version int64) (tenant.PolicyVersion, error) {
	v, err := scanPolicy(s.pool.QueryRow(ctx, `SELECT * FROM (SELECT `+policyColumns+`
		FROM control.policy_versions WHERE tenant_id = $1) v WHERE version = $2`, tenantID, version))
	return v, notFound(err)
}

func (s *Store) MarkPolicyActivated(ctx context.Context, tenantID string, version int64) error {
	return mustAffect(s.pool.Exec(ctx, `UPDATE control.policy_versions SET activated_at = clock_timestamp()
		WHERE tenant_id = $1 AND version = $2`, tenantID, version))
}
