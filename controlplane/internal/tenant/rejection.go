package tenant

import (
	"context"
	"fmt"
	"time"
)

// Rejection is a SCIM request refused before it reached the tenant's worker.
type Rejection struct {
	At        time.Time `json:"at"`
	TenantID  string    `json:"tenant_id"`
	RequestID string    `json:"request_id"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`
	Reason    string    `json:"reason"`
}

// ListRejections returns the tenant's newest refused SCIM requests.
func (s *Service) ListRejections(ctx context.Context, p Principal, tenantID string, limit int) ([]Rejection, error) {
	if !p.canRead(tenantID) {
		return nil, ErrForbidden
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rs, err := s.store.ListRejections(ctx, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("list rejections: %w", err)
	}
	return rs, nil
}
