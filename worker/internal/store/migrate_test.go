package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/worker/internal/scimlog"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// TestMigrate_WithoutTheCatalogs: the control plane takes SELECT on the
// catalogs from PUBLIC (controlplane/internal/store, restrict_public), so
// the worker migrates its schema and maintains its log partitions without
// reading them: as a login role granted the tenant's, as in production.
func TestMigrate_WithoutTheCatalogs(t *testing.T) {
	ctx := context.Background()
	p, schema := tenantPool(t, "REVOKE SELECT ON ALL TABLES IN SCHEMA pg_catalog, information_schema FROM PUBLIC")
	_, err := p.Exec(ctx, "SELECT count(*) FROM pg_tables")
	require.ErrorContains(t, err, "permission denied", "the catalogs are closed to the session")

	require.NoError(t, store.Migrate(ctx, p, schema), "first migration")
	require.NoError(t, store.Migrate(ctx, p, schema), "already up to date")

	st := store.New(p)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	// The log's janitor works as the worker's role, which reads no catalog.
	require.NoError(t, scimlog.EnsurePartitions(ctx, st, now.AddDate(0, 0, -40), 0))
	dropped, err := scimlog.Maintain(ctx, st, now)
	require.NoError(t, err)
	require.Equal(t, []string{"scim_requests_p" + now.AddDate(0, 0, -40).Format("20060102")}, dropped)
}
