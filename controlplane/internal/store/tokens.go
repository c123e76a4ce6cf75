package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/store/dbsqlc"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func insertToken(ctx context.Context, q *dbsqlc.Queries, t tenant.Token, hash []byte) error {
	return conflict(q.InsertToken(ctx, dbsqlc.InsertTokenParams{
		ID: t.ID, TenantID: t.TenantID, Name: t.Name, TokenHash: hash, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
	}))
}

// GetCredentials reads the tenant's status and its unrevoked tokens in one
// query; a tenant without tokens still comes back (hashes empty).
func (s *Store) GetCredentials(ctx context.Context, tenantID string) (tenant.Tenant, []tenant.TokenHash, error) {
	rs, err := s.q.GetCredentials(ctx, tenantID)
	if err != nil {
		return tenant.Tenant{}, nil, err
	}
	if len(rs) == 0 {
		return tenant.Tenant{}, nil, tenant.ErrNotFound
	}
	r := rs[0]
	tn := tenant.Tenant{ID: r.ID, Name: r.Name, Status: tenant.Status(r.Status), CreatedAt: r.CreatedAt}
	var hashes []tenant.TokenHash
	for _, r := range rs {
		if r.TokenID != nil {
			hashes = append(hashes, tenant.TokenHash{ID: *r.TokenID, Hash: r.TokenHash, ExpiresAt: r.ExpiresAt})
		}
	}
	return tn, hashes, nil
}

func (s *Store) CreateToken(ctx context.Context, t tenant.Token, hash []byte, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(_ pgx.Tx, q *dbsqlc.Queries) error {
		if err := mustAffect(q.LockTenant(ctx, t.TenantID)); err != nil {
			return err
		}
		if err := insertToken(ctx, q, t, hash); err != nil {
			return err
		}
		return audit(ctx, q, a)
	})
}

func (s *Store) ListTokens(ctx context.Context, tenantID string) ([]tenant.Token, error) {
	rs, err := s.q.ListTokens(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ts := make([]tenant.Token, len(rs))
	for i, r := range rs {
		ts[i] = tenant.Token{ID: r.ID, TenantID: r.TenantID, Name: r.Name, CreatedAt: r.CreatedAt,
			ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt}
	}
	return ts, nil
}

func (s *Store) RevokeToken(ctx context.Context, tenantID, tokenID string, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(_ pgx.Tx, q *dbsqlc.Queries) error {
		if err := mustAffect(q.RevokeToken(ctx, dbsqlc.RevokeTokenParams{TenantID: tenantID, ID: tokenID})); err != nil {
			return err
		}
		return audit(ctx, q, a)
	})
}

// TouchToken writes last_used_at unless another replica did so within the
// last minute.
func (s *Store) TouchToken(ctx context.Context, tokenID string) error {
	return s.q.TouchToken(ctx, tokenID)
}
