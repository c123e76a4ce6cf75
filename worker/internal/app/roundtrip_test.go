package app

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
)

// pgProxy forwards the worker's PostgreSQL connections and counts round
// trips: a burst of client bytes that follows a server reply (or opens the
// connection) starts one. pgxpool's liveness ping ("-- ping", sent before
// reusing a connection idle for a second) is not counted: it depends on
// the machine's speed, not on the exchange.
type pgProxy struct {
	ln     net.Listener
	target string
	trips  atomic.Int64
	// conns counts the connections opened through the proxy.
	conns atomic.Int64
	wg    sync.WaitGroup

	mu sync.Mutex
	// starts holds the first bytes of each round trip, for failures.
	starts []string
}

// since returns the starts of the round trips after the first n.
func (p *pgProxy) since(n int64) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.starts[n:], "\n")
}

// newProxiedWorker is a test worker of at most maxConns connections, all
// through a proxy that counts them and their round trips.
func newProxiedWorker(t *testing.T, maxConns int, opts ...func(*Config)) (*Worker, *pgProxy) {
	var proxy *pgProxy
	w, _ := newTestWorkerWithAdmin(t, append([]func(*Config){func(c *Config) {
		u, err := url.Parse(c.DatabaseURL)
		require.NoError(t, err)
		proxy = startProxy(t, u.Host)
		u.Host = proxy.ln.Addr().String()
		c.DatabaseURL = u.String()
		c.MaxConns = maxConns
	}}, opts...)...)
	return w, proxy
}

func startProxy(tb testing.TB, target string) *pgProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	p := &pgProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *pgProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var mu sync.Mutex
	clientTurn := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				mu.Lock()
				clientTurn = false
				mu.Unlock()
				if _, err := client.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				_ = client.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			mu.Lock()
			if !clientTurn && !(buf[0] == 'Q' && bytes.Contains(buf[:n], []byte("-- ping\x00"))) {
				p.trips.Add(1)
				p.mu.Lock()
				p.starts = append(p.starts, fmt.Sprintf("%q", buf[:min(n, 160)]))
				p.mu.Unlock()
			}
			clientTurn = true
			mu.Unlock()
			if _, err := server.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = server.Close()
	<-done
}

// TestWorker_RoundTrips counts the PostgreSQL round trips of each kind of
// exchange, as a proxy between worker and server sees them. A user PATCH
// and a member-add PATCH are two (lock and read, then the writes, the log
// row and COMMIT), with or without an If-Match, and a create is one; the
// group members a write answers with cost none of their own.
func TestWorker_RoundTrips(t *testing.T) {
	// One connection, warmed by the first runs.
	w, proxy := newProxiedWorker(t, 1, func(c *Config) {
		// No background queries in the middle of a measured exchange.
		c.Options.PolicyCheck = time.Hour
		c.Options.IdleConnClose = time.Hour
	})
	<-w.maintained
	n := 0
	next := func() string { n++; return fmt.Sprintf("%d", n) }
	newUser := func() string {
		return create(t, w, "/Users", `{"userName":"rt`+next()+`@contoso.com","displayName":"RT"}`)
	}
	group := create(t, w, "/Groups", `{"displayName":"Round trips"}`)
	user := newUser()
	version := func(path string) string {
		_, out, _ := do(t, w, "GET", path, "", "")
		return out["meta"].(map[string]any)["version"].(string)
	}
	tests := []struct {
		name  string
		trips int64
		ex    func() *scimworker.Exchange
	}{
		{"create user", 1, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "POST", Path: "/Users", Body: []byte(`{"userName":"rtc` + next() + `@contoso.com"}`)}
		}},
		{"user PATCH", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "PATCH", Path: "/Users/" + user,
				Body: []byte(`{"Operations":[{"op":"replace","path":"title","value":"T` + next() + `"}]}`)}
		}},
		{"user PATCH with If-Match", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "PATCH", Path: "/Users/" + user, IfMatch: version("/Users/" + user),
				Body: []byte(`{"Operations":[{"op":"replace","path":"title","value":"T` + next() + `"}]}`)}
		}},
		{"user PATCH renaming a member", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "PATCH", Path: "/Users/" + user,
				Body: []byte(`{"Operations":[{"op":"replace","path":"displayName","value":"D` + next() + `"}]}`)}
		}},
		{"member-add PATCH", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "PATCH", Path: "/Groups/" + group,
				Body: []byte(`{"Operations":[{"op":"Add","path":"members","value":[{"value":"` + newUser() + `"}]}]}`)}
		}},
		{"member-add PATCH with If-Match", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "PATCH", Path: "/Groups/" + group, IfMatch: version("/Groups/" + group),
				Body: []byte(`{"Operations":[{"op":"Add","path":"members","value":[{"value":"` + newUser() + `"}]}]}`)}
		}},
		{"member-add PATCH answering the members", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "PATCH", Path: "/Groups/" + group, RawQuery: "attributes=members",
				Body: []byte(`{"Operations":[{"op":"Add","path":"members","value":[{"value":"` + newUser() + `"}]}]}`)}
		}},
		{"group POST with members", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "POST", Path: "/Groups",
				Body: []byte(`{"displayName":"G` + next() + `","members":[{"value":"` + user + `"}]}`)}
		}},
		{"GET with the current If-None-Match (read and log row)", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "GET", Path: "/Groups/" + group, IfNoneMatch: version("/Groups/" + group)}
		}},
		{"delete user", 2, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "DELETE", Path: "/Users/" + newUser()}
		}},
		// Not on Entra's paths: the lock, the group's members as the
		// policy needs them, and COMMIT; the members answered come with
		// the membership change.
		{"group PUT with members", 4, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "PUT", Path: "/Groups/" + group,
				Body: []byte(`{"displayName":"Round trips","members":[{"value":"` + user + `"},{"value":"` + newUser() + `"}]}`)}
		}},
		// A failed precondition: the lock, ROLLBACK, then the log row.
		{"user PATCH with a stale If-Match", 3, func() *scimworker.Exchange {
			return &scimworker.Exchange{Method: "PATCH", Path: "/Users/" + user, IfMatch: `W/"1"`,
				Body: []byte(`{"Operations":[{"op":"replace","path":"title","value":"T` + next() + `"}]}`)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The first runs prepare the statements on the connection.
			for i := range 4 {
				ex := tt.ex()
				before := proxy.trips.Load()
				status, _, reply := doEx(t, w, ex)
				require.Contains(t, []int{200, 201, 204, 304, 412}, status, string(reply.Body))
				if i >= 2 {
					require.Equal(t, tt.trips, proxy.trips.Load()-before, "run %d:\n%s", i, proxy.since(before))
				}
			}
		})
	}
	// The proxy does see every exchange.
	before := proxy.trips.Load()
	do(t, w, "GET", "/Users", "filter="+url.QueryEscape(`userName eq "nobody"`), "")
	require.Positive(t, proxy.trips.Load()-before)
}

// TestWorker_FirstRequestsShareTheBindConnection: a worker is bound for a
// waiting request and more follow at once. They are served on the
// connection the worker opened when it was prepared, with nothing else
// between their statements; the log's maintenance and the webhook
// deliverer's first look wait for the first pause, and use that
// connection too. (They used to start at the bind, beside the first
// requests, which then waited or had the pool open a second connection.)
func TestWorker_FirstRequestsShareTheBindConnection(t *testing.T) {
	w, proxy := newProxiedWorker(t, 2)
	require.EqualValues(t, 1, proxy.conns.Load(), "prepare and bind use one connection")
	before := proxy.trips.Load()
	for i := range 10 {
		status, _, reply := do(t, w, "POST", "/Users", "", fmt.Sprintf(`{"userName":"first%d@contoso.com"}`, i))
		require.Equal(t, 201, status, string(reply.Body))
	}
	served := proxy.since(before)
	for _, background := range []string{"CREATE TABLE", "HasWebhooks", "ExpireDefaultPartition"} {
		require.NotContains(t, served, background, "background work ran between the first requests")
	}
	require.EqualValues(t, 1, proxy.conns.Load(), "the first requests opened no connection")

	<-w.maintained
	require.Contains(t, proxy.since(before), "CREATE TABLE", "the maintenance ran after the pause")
	require.EqualValues(t, 1, proxy.conns.Load(), "on the same connection")
}

// A new tenant's log partitions exist from its bind, so its first
// exchanges are logged into the day's partition, not the default one that
// a later round of maintenance would have to empty.
func TestWorker_NewTenantLogsIntoTheDaysPartition(t *testing.T) {
	var schema string
	w, admin := newTestWorkerWithAdmin(t, func(c *Config) { schema = c.TenantID })
	status, _, reply := do(t, w, "POST", "/Users", "", `{"userName":"first@contoso.com"}`)
	require.Equal(t, 201, status, string(reply.Body))
	conn, err := pgx.Connect(context.Background(), admin)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var inDefault, inDay int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".scim_requests_default").Scan(&inDefault))
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+"."+scimlog.PartitionName(time.Now())).Scan(&inDay))
	require.Zero(t, inDefault)
	require.Equal(t, 1, inDay)
}
