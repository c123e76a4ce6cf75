package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/config"
	"github.com/scimplane/scimplane/controlplane/internal/httpapi"
	"github.com/scimplane/scimplane/controlplane/internal/ratelimit"
	"github.com/scimplane/scimplane/controlplane/internal/store"
	"github.com/scimplane/scimplane/tests/pgtest"
)

type readiness struct {
	t        *testing.T
	base     string
	proxy    *dbProxy
	warming  atomic.Bool
	draining chan struct{}
}

// serveReadiness serves the HTTP API with only what /readyz and /healthz
// need: a real database behind a dbProxy.
func serveReadiness(t *testing.T) *readiness {
	t.Helper()
	proxy, dbURL := newDBProxy(t, pgtest.NewDatabase(t))
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	r := &readiness{t: t, proxy: proxy, draining: make(chan struct{})}
	app := httpapi.New(httpapi.Params{
		Workers:        &okWorkers{},
		Limiter:        ratelimit.New(1000, 1000, 0),
		DB:             store.New(pool),
		Logger:         slog.New(slog.DiscardHandler),
		Registry:       prometheus.NewRegistry(),
		MaxBodyBytes:   1 << 20,
		RequestTimeout: 10 * time.Second,
		Draining:       r.draining,
		Warming:        r.warming.Load,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(httpapi.LimitListener(ln, config.Ingress{})) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	r.base = "http://" + ln.Addr().String()
	return r
}

// get returns the status, body and whether the answer closed its
// connection.
func (r *readiness) get(path string) (int, string, bool) {
	r.t.Helper()
	resp, err := http.Get(r.base + path)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(r.t, err)
	return resp.StatusCode, string(b), resp.Close
}

func (r *readiness) requireReady(want int, body string) {
	r.t.Helper()
	status, got, _ := r.get("/readyz")
	require.Equal(r.t, want, status, got)
	require.Equal(r.t, body, got)
}

// A warming replica is not ready until it has warmed up.
func TestReadyz_WarmingUp(t *testing.T) {
	r := serveReadiness(t)
	r.warming.Store(true)
	r.requireReady(http.StatusServiceUnavailable, "warming up")
	r.warming.Store(false)
	r.requireReady(http.StatusOK, "ok")
}

// A draining replica is not ready at once and closes the connection of
// every answer it still gives.
func TestReadyz_Draining(t *testing.T) {
	r := serveReadiness(t)
	_, _, closed := r.get("/healthz")
	require.False(t, closed)
	close(r.draining)
	r.requireReady(http.StatusServiceUnavailable, "draining")
	status, _, closed := r.get("/healthz")
	require.Equal(t, http.StatusOK, status, "a draining replica still serves")
	require.True(t, closed, "answers while draining close their connection")
}

// One failed ping (a busy pool, a slow answer) keeps the replica ready;
// a database unreachable for dbUnreadyAfter does not, and the replica is
// ready again as soon as it answers.
func TestReadyz_DatabaseUnreachable(t *testing.T) {
	r := serveReadiness(t)
	r.requireReady(http.StatusOK, "ok")
	r.proxy.cut()
	r.requireReady(http.StatusOK, "ok")
	require.Eventually(t, func() bool {
		status, _, _ := r.get("/readyz")
		return status == http.StatusServiceUnavailable
	}, 20*time.Second, 100*time.Millisecond)
	r.requireReady(http.StatusServiceUnavailable, "database unreachable")
	r.proxy.restore()
	require.Eventually(t, func() bool {
		status, _, _ := r.get("/readyz")
		return status == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
}
