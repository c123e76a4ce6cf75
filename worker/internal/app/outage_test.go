package app

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestWorker_DatabaseOutageIs503: when the tenant's database cannot be
// reached, Entra gets 503 with Retry-After (retried soon), not a 500
// (retried next cycle); once it is back, requests succeed again.
func TestWorker_DatabaseOutageIs503(t *testing.T) {
	w, admin := newTestWorkerWithAdmin(t)
	create(t, w, "/Users", `{"userName":"before@contoso.com"}`)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	role := w.bound.Load().id
	_, err = conn.Exec(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT 0")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
	require.NoError(t, err)

	for _, req := range []struct{ method, path, body string }{
		{"POST", "/Users", `{"userName":"during@contoso.com"}`},
		{"GET", "/Users", ""},
	} {
		status, out, reply := do(t, w, req.method, req.path, "", req.body)
		require.Equal(t, 503, status, string(reply.Body))
		require.Equal(t, "5", header(reply).Get("Retry-After"))
		require.Equal(t, "503", out["status"])
	}

	_, err = conn.Exec(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT -1")
	require.NoError(t, err)
	create(t, w, "/Users", `{"userName":"after@contoso.com"}`)
	status, out, _ := do(t, w, "GET", "/Users", "", "")
	require.Equal(t, 200, status)
	require.EqualValues(t, 2, out["totalResults"], "the create refused during the outage was not half-applied")
}
