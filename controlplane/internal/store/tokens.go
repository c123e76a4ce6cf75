package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func insertToken(ctx context.Context, tx pgx.Tx, t tenant.Token, hash []byte) error {
	_, err := tx.Exec(ctx, `INSERT INTO control.scim_tokens (id, tenant_id, name, token_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, t.ID, t.TenantID, t.Name, hash, t.CreatedAt, t.ExpiresAt)
	return conflict(err)
}

// GetCredentials reads the tenant's status and its unrevoked tokens in one
// query; a tenant without tokens still comes back (hashes empty).
func (s *Store) GetCredentials(ctx context.Context, tenantID string) (tenant.Tenant, []tenant.TokenHash, error) {
	rows, _ := s.pool.Query(ctx, `
		SELECT n.id, n.name, n.status, n.created_at, t.id, t.token_hash, t.expires_at
		FROM control.tenants n
		LEFT JOIN control.scim_tokens t ON t.tenant_id = n.id AND t.revoked_at IS NULL
		WHERE n.id = $1`, tenantID)
	defer rows.Close()
	var (
		tn     tenant.Tenant
		hashes []tenant.TokenHash
		found  bool
	)
	for rows.Next() {
		var (
			id   *string
			hash []byte
			exp  tenant.TokenHash
		)
		if err := rows.Scan(&tn.ID, &tn.Name, &tn.Status, &tn.CreatedAt, &id, &hash, &exp.ExpiresAt); err != nil {
			return tenant.Tenant{}, nil, err
		}
		found = true
		if id != nil {
			exp.ID, exp.Hash = *id, hash
			hashes = append(hashes, exp)
		}
	}
	if err := rows.Err(); err != nil {
		return tenant.Tenant{}, nil, err
	}
	if !found {
		return tenant.Tenant{}, nil, tenant.ErrNotFound
	}
	return tn, hashes, nil
}

func (s *Store) CreateToken(ctx context.Context, t tenant.Token, hash []byte, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := mustAffect(tx.Exec(ctx, `SELECT 1 FROM control.tenants WHERE id = $1 FOR UPDATE`, t.TenantID)); err != nil {
			return err
		}
		if err := insertToken(ctx, tx, t, hash); err != nil {
			return err
		}
		return audit(ctx, tx, a)
	})
}

func (s *Store) ListTokens(ctx context.Context, tenantID string) ([]tenant.Token, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, tenant_id, name, created_at, expires_at, last_used_at, revoked_at
		FROM control.scim_tokens WHERE tenant_id = $1 ORDER BY created_at, id`, tenantID)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tenant.Token, error) {
		var t tenant.Token
		err := r.Scan(&t.ID, &t.TenantID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
		return t, err
	})
}

func (s *Store) RevokeToken(ctx context.Context, tenantID, tokenID string, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := mustAffect(tx.Exec(ctx, `UPDATE control.scim_tokens SET revoked_at = now()
			WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`, tenantID, tokenID)); err != nil {
			return err
		}
		return audit(ctx, tx, a)
	})
}

// TouchToken writes last_used_at unless another replica did so within the
// last minute.
func (s *Store) TouchToken(ctx context.Context, tokenID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE control.scim_tokens SET last_used_at = now()
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, tokenID)
	return err
}
