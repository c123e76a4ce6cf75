package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

// InsertRejections writes a batch with COPY.
func (s *Store) InsertRejections(ctx context.Context, rs []tenant.Rejection) error {
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"control", "scim_rejections"},
		[]string{"at", "tenant_id", "request_id", "method", "path", "status", "reason"},
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) {
			r := rs[i]
			return []any{r.At, r.TenantID, r.RequestID, r.Method, r.Path, r.Status, r.Reason}, nil
		}))
	return err
}

func (s *Store) ListRejections(ctx context.Context, tenantID string, limit int) ([]tenant.Rejection, error) {
	rows, _ := s.pool.Query(ctx, `SELECT at, tenant_id, request_id, method, path, status, reason
		FROM control.scim_rejections WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2`, tenantID, limit)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tenant.Rejection, error) {
		var x tenant.Rejection
		err := r.Scan(&x.At, &x.TenantID, &x.RequestID, &x.Method, &x.Path, &x.Status, &x.Reason)
		return x, err
	})
}

// PruneRejections drops rejections older than before.
func (s *Store) PruneRejections(ctx context.Context, before time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM control.scim_rejections WHERE at < $1`, before)
	return err
}
