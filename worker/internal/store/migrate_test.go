package store_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/pgtest"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// TestMigrate_WithoutTheCatalogs: the control plane takes SELECT on the
// catalogs from PUBLIC (controlplane/internal/store, restrict_public), so
// the worker migrates its schema and maintains its log partitions without
// reading them: as a login role granted the tenant's, as in production.
func TestMigrate_WithoutTheCatalogs(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	suffix := rand.Text()[:12] // roles are cluster-wide
	tenant, login := `"tnt_`+suffix+`"`, `"wkr_`+suffix+`"`
	for _, stmt := range []string{
		"REVOKE SELECT ON ALL TABLES IN SCHEMA pg_catalog, information_schema FROM PUBLIC",
		"CREATE ROLE " + tenant + " NOLOGIN",
		"CREATE SCHEMA " + tenant,
		"GRANT USAGE, CREATE ON SCHEMA " + tenant + " TO " + tenant,
		"CREATE ROLE " + login + " LOGIN PASSWORD 'pw' IN ROLE " + tenant,
	} {
		_, err := conn.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+tenant+" CASCADE; DROP OWNED BY "+tenant+"; DROP ROLE "+login+"; DROP ROLE "+tenant)
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.User = nil
	p, err := store.OpenPool(ctx, store.PoolParams{URL: u.String(), User: "wkr_" + suffix, Password: "pw", MaxConns: 2, Permits: &permits{free: 2}})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Bind(ctx, "tnt_"+suffix))
	_, err = p.Exec(ctx, "SELECT count(*) FROM pg_tables")
	require.ErrorContains(t, err, "permission denied", "the catalogs are closed to the session")

	require.NoError(t, store.Migrate(ctx, p, "tnt_"+suffix), "first migration")
	require.NoError(t, store.Migrate(ctx, p, "tnt_"+suffix), "already up to date")

	st := store.New(p)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	// The log's janitor works as the worker's role, which reads no catalog.
	require.NoError(t, scimlog.EnsurePartitions(ctx, st, now.AddDate(0, 0, -40), 0))
	dropped, err := scimlog.Maintain(ctx, st, now)
	require.NoError(t, err)
	require.Equal(t, []string{"scim_requests_p" + now.AddDate(0, 0, -40).Format("20060102")}, dropped)
}
