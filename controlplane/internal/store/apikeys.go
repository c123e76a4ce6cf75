package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/store/dbsqlc"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (tenant.APIKey, error) {
	r, err := s.q.GetAPIKeyByHash(ctx, hash)
	if err != nil {
		return tenant.APIKey{}, notFound(err)
	}
	return tenant.APIKey{ID: r.ID, Name: r.Name, Role: tenant.Role(r.Role), TenantID: r.TenantID,
		CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}, nil
}

// PutBootstrapKey inserts the operator key from the configuration, or with
// replace, makes it the key's hash and unrevokes it. It reports whether it
// wrote anything.
func (s *Store) PutBootstrapKey(ctx context.Context, k tenant.APIKey, hash []byte, replace bool) (bool, error) {
	var (
		n   int64
		err error
	)
	if replace {
		n, err = s.q.ReplaceBootstrapKey(ctx, dbsqlc.ReplaceBootstrapKeyParams{
			ID: k.ID, Name: k.Name, Role: string(k.Role), KeyHash: hash, CreatedAt: k.CreatedAt})
	} else {
		n, err = s.q.InsertBootstrapKey(ctx, dbsqlc.InsertBootstrapKeyParams{
			ID: k.ID, Name: k.Name, Role: string(k.Role), KeyHash: hash, CreatedAt: k.CreatedAt})
	}
	if err != nil {
		return false, conflict(err)
	}
	return n > 0, nil
}

func (s *Store) CreateAPIKey(ctx context.Context, k tenant.APIKey, hash []byte, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(_ pgx.Tx, q *dbsqlc.Queries) error {
		if err := q.InsertAPIKey(ctx, dbsqlc.InsertAPIKeyParams{ID: k.ID, Name: k.Name, Role: string(k.Role),
			TenantID: k.TenantID, KeyHash: hash, CreatedAt: k.CreatedAt}); err != nil {
			return conflict(err)
		}
		return audit(ctx, q, a)
	})
}

func (s *Store) ListAPIKeys(ctx context.Context) ([]tenant.APIKey, error) {
	rs, err := s.q.ListAPIKeys(ctx)
	if err != nil {
		return nil, err
	}
	ks := make([]tenant.APIKey, len(rs))
	for i, r := range rs {
		ks[i] = tenant.APIKey{ID: r.ID, Name: r.Name, Role: tenant.Role(r.Role), TenantID: r.TenantID,
			CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}
	}
	return ks, nil
}

func (s *Store) RevokeAPIKey(ctx context.Context, id string, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(_ pgx.Tx, q *dbsqlc.Queries) error {
		if err := mustAffect(q.RevokeAPIKey(ctx, id)); err != nil {
			return err
		}
		return audit(ctx, q, a)
	})
}

func (s *Store) RecordAudit(ctx context.Context, a tenant.AuditEntry) error {
	return audit(ctx, s.q, a)
}

func (s *Store) ListAudit(ctx context.Context, tenantID string, limit int) ([]tenant.AuditEntry, error) {
	rs, err := s.q.ListAudit(ctx, dbsqlc.ListAuditParams{TenantID: tenantID, MaxRows: int32(min(limit, 1<<31-1))})
	if err != nil {
		return nil, err
	}
	es := make([]tenant.AuditEntry, len(rs))
	for i, r := range rs {
		es[i] = tenant.AuditEntry{ID: r.ID, At: r.At, KeyID: r.KeyID, Action: r.Action, TenantID: r.TenantID, Detail: r.Detail}
	}
	return es, nil
}
