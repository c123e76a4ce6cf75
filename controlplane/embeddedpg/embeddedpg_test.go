package embeddedpg

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const binDir = "/usr/lib/postgresql/15/bin"

func TestStart_PasswordAuthDurableAndRestartKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb takes seconds")
	}
	if _, err := os.Stat(filepath.Join(binDir, "initdb")); err != nil {
		t.Skip("no PostgreSQL binaries")
	}
	ctx := context.Background()
	// A dir the postgres OS user can traverse when tests run as root.
	parent := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(parent), 0o711))
	require.NoError(t, os.Chmod(parent, 0o711))
	p := Params{BinDir: binDir, Dir: filepath.Join(parent, "postgres"), Password: "pw-0123456789",
		SocketDir: filepath.Join(parent, "socket")}
	if os.Geteuid() == 0 {
		p.SocketGroup = 65534 // workers' group: they must reach the socket
	}

	s, err := Start(ctx, p)
	require.NoError(t, err)
	require.Equal(t, p.SocketDir, s.SocketDir())
	require.Contains(t, s.URL(), "host="+url.QueryEscape(p.SocketDir))
	fi, err := os.Stat(p.SocketDir)
	require.NoError(t, err)
	if os.Geteuid() == 0 {
		require.Equal(t, "drwxr-x---", fi.Mode().String(), "the server's, and its clients' group's")
		require.EqualValues(t, 65534, fi.Sys().(*syscall.Stat_t).Gid)
	} else {
		require.Equal(t, "drwx------", fi.Mode().String())
	}
	tcp, err := pgx.Connect(ctx, s.TCPURL())
	require.NoError(t, err, "TCP stays for tools and for clients that cannot reach the socket")
	tcp.Close(ctx)
	conn, err := pgx.Connect(ctx, s.URL())
	require.NoError(t, err)
	var fsync, syncCommit string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &syncCommit))
	require.Equal(t, "on", fsync)
	require.Equal(t, "on", syncCommit)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
	require.NoError(t, err)
	conn.Close(ctx)

	wrong, err := url.Parse(s.URL())
	require.NoError(t, err)
	wrong.User = url.UserPassword(Superuser, "wrong")
	_, err = pgx.Connect(ctx, wrong.String())
	require.ErrorContains(t, err, "password authentication failed")
	s.Stop()

	s, err = Start(ctx, p)
	require.NoError(t, err)
	defer s.Stop()
	conn, err = pgx.Connect(ctx, s.URL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v string
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, "still here", v)
}
