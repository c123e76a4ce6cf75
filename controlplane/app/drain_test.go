package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// On SIGTERM (Run's context ending) a replica reports not ready at once,
// keeps serving through SCIMPLANE_SHUTDOWN_DELAY with every answer closing
// its connection, then refuses new connections, finishes the request in
// flight (a create whose body was still arriving when the drain began),
// stops its workers and returns; the create is in the database.
func TestRun_DrainFinishesRequestsInFlightThenRefusesConnections(t *testing.T) {
	e := boot(t, map[string]string{"SCIMPLANE_SHUTDOWN_GRACE": "30s", "SCIMPLANE_SHUTDOWN_DELAY": "5s"})
	a := e.createTenant("A")
	require.Equal(t, http.StatusOK, e.scim(a.ID, a.Token, "GET", lookup, nil).status)

	// A create whose body is half sent: the request is in its handler,
	// reading the body.
	// Past fasthttp's 8 KiB read-ahead, so the handler streams the rest.
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"drained@example.com",` +
		strings.Repeat(" ", 16<<10) + `"active":true}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /scim/%s/v2/Users HTTP/1.1\r\nHost: scim.test\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n%s", a.ID, a.Token, len(body), body[:len(body)/2])
	require.NoError(t, err)

	drained := make(chan error, 1)
	go func() { drained <- e.stop() }()

	// Not ready at once, while still serving SCIM; every answer closes its
	// connection.
	require.Eventually(t, func() bool {
		return e.do("GET", "/readyz", "", nil).status == http.StatusServiceUnavailable
	}, 5*time.Second, 10*time.Millisecond)
	req, err := http.NewRequest("GET", e.base+"/scim/"+a.ID+"/v2"+lookup, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "SCIM is served during the shutdown delay")
	require.True(t, resp.Close, "answers given while draining close their connection")

	// Then the listener closes: a new connection is refused, so a load
	// balancer retries it on another replica.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(e.base, "http://"), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 20*time.Second, 50*time.Millisecond)
	select {
	case err := <-drained:
		t.Fatalf("Run returned with a request in flight: %v", err)
	default:
	}

	// The request in flight completes, and its connection closes.
	_, err = conn.Write([]byte(body[len(body)/2:]))
	require.NoError(t, err)
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.True(t, resp.Close, "the answer given while draining closes its connection")
	require.NoError(t, <-drained)

	ctx := context.Background()
	db, err := pgx.Connect(ctx, e.db)
	require.NoError(t, err)
	defer db.Close(ctx)
	var n int
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{a.ID, "users"}.Sanitize()+
		` WHERE user_name = 'drained@example.com'`).Scan(&n))
	require.Equal(t, 1, n, "the create answered 201 during the drain is stored")
}

// A new replica reports not ready until its spare workers are prepared,
// so that the tenants a load balancer moves to it bind prepared workers.
func TestRun_NotReadyUntilSparesArePrepared(t *testing.T) {
	e := boot(t, map[string]string{"SCIMPLANE_WORKER_SPARES": "3"})
	require.Eventually(t, func() bool {
		return e.do("GET", "/readyz", "", nil).status == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
	var list struct {
		Workers []workerInfo `json:"workers"`
	}
	e.do("GET", "/api/v1/workers", operatorKey, nil).json(t, &list)
	require.Empty(t, list.Workers, "no tenant is bound yet")
	body := string(e.do("GET", "/metrics", "", nil).body)
	require.Contains(t, body, "scimplane_workers_prepared 3", "ready once the three spares are prepared")
}
