// Package pgtest gives tests a real PostgreSQL: the server named by
// TEST_DATABASE_URL, or else one started once per test binary from the
// machine's PostgreSQL binaries (by controlplane/embeddedpg, the control
// plane's own starter, without durability). Each test gets a database of
// its own.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/embeddedpg"
)

// DefaultBinDir is where Debian installs the PostgreSQL 15 server binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

var (
	startOnce sync.Once
	adminURL  string
	startErr  error
)

// AdminURL returns a superuser URL for the shared test server.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	startOnce.Do(func() {
		if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
			adminURL = u
			return
		}
		adminURL, startErr = startPrivate()
	})
	if startErr != nil {
		tb.Fatalf("pgtest: %v", startErr)
	}
	return adminURL
}

// NewDatabase creates an empty database for this test and drops it when the
// test ends. It returns a superuser URL for it.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	admin := AdminURL(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	name := "t_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("pgtest: parse url: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startPrivate starts a server in a temporary directory on a free loopback
// port (as the postgres OS user when running as root), reached over TCP
// with a random superuser password. The server lives as long as the test
// binary; the directory is removed by the OS's tmp cleanup or the next run.
func startPrivate() (string, error) {
	binDir := os.Getenv("PG_BIN_DIR")
	if binDir == "" {
		binDir = DefaultBinDir
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return "", err
	}
	// The postgres OS user must traverse it to its data directory.
	if err := os.Chmod(dir, 0o711); err != nil {
		return "", err
	}
	s, err := embeddedpg.Start(context.Background(), embeddedpg.Params{
		BinDir:         binDir,
		Dir:            filepath.Join(dir, "data"),
		Password:       randomHex(16),
		MaxConnections: 500,
		NoSync:         true,
	})
	if err != nil {
		return "", err
	}
	return s.TCPURL(), nil
}
