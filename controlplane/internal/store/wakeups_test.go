package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

// Wake-ups: set, moved, cancelled; taken once when due, and only for
// tenants that are active.
func TestStore_Wakeups(t *testing.T) {
	s, _ := setup(t)
	ctx := context.Background()
	a, b, c := createTenant(t, s), createTenant(t, s), createTenant(t, s)
	now := time.Now()
	require.NoError(t, s.ScheduleWake(ctx, a, now.Add(-time.Second)))
	require.NoError(t, s.ScheduleWake(ctx, b, now.Add(-time.Second)))
	require.NoError(t, s.ScheduleWake(ctx, b, now.Add(time.Hour)), "moved later")
	require.NoError(t, s.ScheduleWake(ctx, c, now.Add(-time.Second)))
	require.NoError(t, s.ScheduleWake(ctx, c, time.Time{}), "cancelled")
	require.NoError(t, s.ScheduleWake(ctx, "tnt_unknown", now), "an unknown tenant is ignored")

	due, err := s.TakeDueWakeups(ctx, now)
	require.NoError(t, err)
	require.Equal(t, []string{a}, due)
	due, err = s.TakeDueWakeups(ctx, now)
	require.NoError(t, err)
	require.Empty(t, due, "taken once")

	due, err = s.TakeDueWakeups(ctx, now.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, []string{b}, due)

	// A disabled tenant's wake-up is dropped, not acted on.
	require.NoError(t, s.SetTenantStatus(ctx, a, tenant.StatusDisabled, tenant.AuditEntry{KeyID: "key_test", Action: "tenant.disable", TenantID: a}))
	require.NoError(t, s.ScheduleWake(ctx, a, now))
	due, err = s.TakeDueWakeups(ctx, now)
	require.NoError(t, err)
	require.Empty(t, due)
}
