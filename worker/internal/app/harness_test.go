package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/tests/pgtest"
)

const testBase = "https://scim.example.net/scim/tnt_test/v2"

// newTestWorker starts a Worker on a fresh database, in a schema owned by a
// login role of its own, as the control plane provisions tenants.
func newTestWorker(tb testing.TB) *Worker {
	tb.Helper()
	w, _ := newTestWorkerWithAdmin(tb)
	return w
}

// newTestWorkerWithAdmin also returns a superuser URL of the worker's
// database. Options adjust the worker's Config.
func newTestWorkerWithAdmin(tb testing.TB, opts ...func(*Config)) (*Worker, string) {
	tb.Helper()
	ctx := context.Background()
	admin := pgtest.NewDatabase(tb)
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(tb, err)
	defer conn.Close(ctx)
	role := "tnt_" + randomSuffix()
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD 'pw'",
		"CREATE SCHEMA " + role + " AUTHORIZATION " + role,
	} {
		_, err := conn.Exec(ctx, stmt)
		require.NoError(tb, err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+role+" CASCADE")
			_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role)
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(admin)
	require.NoError(tb, err)
	u.User = url.UserPassword(role, "pw")
	q := u.Query()
	q.Set("search_path", role)
	u.RawQuery = q.Encode()
	cfg := Config{TenantID: role, DatabaseURL: u.String(), BaseURL: testBase, MaxConns: 8}
	for _, o := range opts {
		o(&cfg)
	}
	w, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(tb, err)
	tb.Cleanup(w.Close)
	return w, admin
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// do sends one exchange and returns status and decoded body.
func do(tb testing.TB, w *Worker, method, path, query, body string) (int, map[string]any, *scimworker.Reply) {
	tb.Helper()
	reply, err := w.Handle(context.Background(), &scimworker.Exchange{
		RequestID: "req-test", Method: method, Path: path, RawQuery: query, Body: []byte(body),
	})
	require.NoError(tb, err)
	var out map[string]any
	if len(reply.Body) > 0 {
		require.NoError(tb, json.Unmarshal(reply.Body, &out), "body: %s", reply.Body)
	}
	return reply.Status, out, reply
}

// header is the HTTP header the control plane sends for reply.
func header(reply *scimworker.Reply) http.Header {
	h := http.Header{}
	reply.WriteHeaders(h.Set)
	return h
}
