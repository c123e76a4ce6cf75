package store

import (
	"context"
	"time"

	"github.com/scimplane/scimplane/controlplane/internal/store/dbsqlc"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

// InsertRejections writes a batch with COPY.
func (s *Store) InsertRejections(ctx context.Context, rs []tenant.Rejection) error {
	ps := make([]dbsqlc.InsertRejectionsParams, len(rs))
	for i, r := range rs {
		ps[i] = dbsqlc.InsertRejectionsParams{At: r.At, TenantID: r.TenantID, RequestID: r.RequestID,
			Method: r.Method, Path: r.Path, Status: int32(r.Status), Reason: r.Reason}
	}
	_, err := s.q.InsertRejections(ctx, ps)
	return err
}

func (s *Store) ListRejections(ctx context.Context, tenantID string, limit int) ([]tenant.Rejection, error) {
	rows, err := s.q.ListRejections(ctx, dbsqlc.ListRejectionsParams{TenantID: tenantID, Limit: int32(min(limit, 1<<31-1))})
	if err != nil {
		return nil, err
	}
	rs := make([]tenant.Rejection, len(rows))
	for i, r := range rows {
		rs[i] = tenant.Rejection{At: r.At, TenantID: r.TenantID, RequestID: r.RequestID, Method: r.Method,
			Path: r.Path, Status: int(r.Status), Reason: r.Reason}
	}
	return rs, nil
}

// PruneRejections drops rejections older than before.
func (s *Store) PruneRejections(ctx context.Context, before time.Time) error {
	return s.q.PruneRejections(ctx, before)
}
