package store_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/pgtest"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// tenantPool sets a tenant up as the control plane does (a NOLOGIN tenant
// role owning its schema, a login role granted it) in a database of its
// own, after running setup there as the superuser, and returns a pool
// bound to the tenant, its schema not yet migrated, the schema's name and
// the superuser's URL of the database.
func tenantPool(t *testing.T, setup ...string) (*store.Pool, string, string) {
	t.Helper()
	ctx := context.Background()
	admin := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	suffix := rand.Text()[:12] // roles are cluster-wide
	tenant, login := `"tnt_`+suffix+`"`, `"wkr_`+suffix+`"`
	for _, stmt := range append(setup,
		"CREATE ROLE "+tenant+" NOLOGIN",
		"CREATE SCHEMA "+tenant,
		"GRANT USAGE, CREATE ON SCHEMA "+tenant+" TO "+tenant,
		"CREATE ROLE "+login+" LOGIN PASSWORD 'pw' IN ROLE "+tenant,
	) {
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
	t.Cleanup(p.Close)
	require.NoError(t, p.Bind(ctx, "tnt_"+suffix))
	return p, "tnt_" + suffix, admin
}
