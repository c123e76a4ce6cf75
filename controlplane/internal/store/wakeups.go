package store

import (
	"context"
	"fmt"
	"time"

	"github.com/scimplane/scimplane/controlplane/internal/store/dbsqlc"
)

// ScheduleWake sets when a tenant's worker is next due to deliver
// webhooks; a zero at removes the wake-up. An unknown tenant is ignored.
func (s *Store) ScheduleWake(ctx context.Context, tenantID string, at time.Time) error {
	var err error
	if at.IsZero() {
		err = s.q.DeleteWakeup(ctx, tenantID)
	} else {
		err = s.q.UpsertWakeup(ctx, dbsqlc.UpsertWakeupParams{TenantID: tenantID, DueAt: at})
	}
	if err != nil {
		return fmt.Errorf("schedule wake-up: %w", err)
	}
	return nil
}

// TakeDueWakeups removes the wake-ups due by now and returns those of
// active tenants.
func (s *Store) TakeDueWakeups(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.q.TakeDueWakeups(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("take wake-ups: %w", err)
	}
	var out []string
	for _, r := range rows {
		if r.Active {
			out = append(out, r.TenantID)
		}
	}
	return out, nil
}
