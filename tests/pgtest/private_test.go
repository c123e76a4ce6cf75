package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// Without TEST_DATABASE_URL, tests get a server started from the
// machine's binaries; this starts one whatever the environment says.
func TestStartPrivate_ServesConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes seconds")
	}
	if _, err := os.Stat(filepath.Join(DefaultBinDir, "initdb")); err != nil && os.Getenv("PG_BIN_DIR") == "" {
		t.Skip("no PostgreSQL server binaries in " + DefaultBinDir)
	}
	u, err := startPrivate()
	require.NoError(t, err)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var fsync string
	require.NoError(t, conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync))
	require.Equal(t, "off", fsync, "a test server trades durability for speed")
}
