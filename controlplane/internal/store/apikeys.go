package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

const apiKeyColumns = `id, name, role, COALESCE(tenant_id, ''), created_at, revoked_at`

func scanAPIKey(r pgx.Row) (tenant.APIKey, error) {
	var k tenant.APIKey
	err := r.Scan(&k.ID, &k.Name, &k.Role, &k.TenantID, &k.CreatedAt, &k.RevokedAt)
	return k, err
}

func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (tenant.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM control.api_keys WHERE key_hash = $1`, hash))
	return k, notFound(err)
}

func (s *Store) PutBootstrapKey(ctx context.Context, k tenant.APIKey, hash []byte, replace bool) (bool, error) {
	q := `INSERT INTO control.api_keys (id, name, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`
	if replace {
		q = `INSERT INTO control.api_keys (id, name, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET key_hash = EXCLUDED.key_hash, revoked_at = NULL
		WHERE control.api_keys.key_hash <> EXCLUDED.key_hash OR control.api_keys.revoked_at IS NOT NULL`
	}
	tag, err := s.pool.Exec(ctx, q, k.ID, k.Name, k.Role, hash, k.CreatedAt)
	if err != nil {
		return false, conflict(err)
	}
	return tag.RowsAffected() > 0, nil
}

func (s *Store) CreateAPIKey(ctx context.Context, k tenant.APIKey, hash []byte, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO control.api_keys (id, name, role, tenant_id, key_hash, created_at)
			VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6)`, k.ID, k.Name, k.Role, k.TenantID, hash, k.CreatedAt); err != nil {
			return conflict(err)
		}
		return audit(ctx, tx, a)
	})
}

func (s *Store) ListAPIKeys(ctx context.Context) ([]tenant.APIKey, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM control.api_keys ORDER BY created_at, id`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tenant.APIKey, error) { return scanAPIKey(r) })
}

func (s *Store) RevokeAPIKey(ctx context.Context, id string, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := mustAffect(tx.Exec(ctx, `UPDATE control.api_keys SET revoked_at = now()
			WHERE id = $1 AND revoked_at IS NULL`, id)); err != nil {
			return err
		}
		return audit(ctx, tx, a)
	})
}

func (s *Store) RecordAudit(ctx context.Context, a tenant.AuditEntry) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO control.audit_log (key_id, action, tenant_id, detail)
		VALUES ($1, $2, NULLIF($3, ''), $4)`, a.KeyID, a.Action, a.TenantID, a.Detail)
	return err
}

func (s *Store) ListAudit(ctx context.Context, tenantID string, limit int) ([]tenant.AuditEntry, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, at, key_id, action, COALESCE(tenant_id, ''), detail
		FROM control.audit_log WHERE $1 = '' OR tenant_id = $1 ORDER BY id DESC LIMIT $2`, tenantID, limit)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tenant.AuditEntry, error) {
		var e tenant.AuditEntry
		err := r.Scan(&e.ID, &e.At, &e.KeyID, &e.Action, &e.TenantID, &e.Detail)
		return e, err
	})
}
