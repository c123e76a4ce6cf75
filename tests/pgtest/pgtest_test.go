package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/pgtest"
)

// Each test gets an empty database of its own, dropped when it ends.
func TestNewDatabase_OneEmptyDatabasePerTest(t *testing.T) {
	ctx := context.Background()
	var names [2]string
	for i := range names {
		t.Run("database", func(t *testing.T) {
			conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
			require.NoError(t, err)
			defer conn.Close(ctx)
			require.NoError(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&names[i]))
			var tables int
			require.NoError(t, conn.QueryRow(ctx,
				"SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").Scan(&tables))
			require.Zero(t, tables)
			_, err = conn.Exec(ctx, "CREATE TABLE t (x int)")
			require.NoError(t, err)
		})
	}
	require.NotEqual(t, names[0], names[1])

	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	var left int
	require.NoError(t, admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names[:]).Scan(&left))
	require.Zero(t, left, "the subtests' databases are dropped")
}
