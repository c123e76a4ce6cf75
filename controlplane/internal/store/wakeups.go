package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ScheduleWake sets when a tenant's worker is next due to deliver
// webhooks; a zero at removes the wake-up.
func (s *Store) ScheduleWake(ctx context.Context, tenantID string, at time.Time) error {
	var err error
	if at.IsZero() {
		_, err = s.pool.Exec(ctx, `DELETE FROM control.tenant_wakeups WHERE tenant_id = $1`, tenantID)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO control.tenant_wakeups (tenant_id, due_at) SELECT id, $2 FROM control.tenants WHERE id = $1
			ON CONFLICT (tenant_id) DO UPDATE SET due_at = excluded.due_at`, tenantID, at)
	}
	if err != nil {
		return fmt.Errorf("schedule wake-up: %w", err)
	}
	return nil
}

// TakeDueWakeups removes the wake-ups due by now and returns those of
// active tenants.
func (s *Store) TakeDueWakeups(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `DELETE FROM control.tenant_wakeups w USING control.tenants t
		WHERE t.id = w.tenant_id AND w.due_at <= $1 RETURNING w.tenant_id, t.status = 'active'`, now)
	if err != nil {
		return nil, fmt.Errorf("take wake-ups: %w", err)
	}
	var out []string
	var id string
	var active bool
	_, err = pgx.ForEachRow(rows, []any{&id, &active}, func() error {
		if active {
			out = append(out, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("take wake-ups: %w", err)
	}
	return out, nil
}
