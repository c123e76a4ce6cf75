package scimlog_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/pgtest"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// unlimited grants every connection permit.
type unlimited struct{}

func (unlimited) AcquireConn(context.Context, bool) error { return nil }
func (unlimited) ReleaseConn(context.Context) error       { return nil }

// env is a migrated tenant schema reached as a worker's login role, and a
// superuser connection to cut that role off.
type env struct {
	st    *store.Store
	pool  *store.Pool
	admin *pgx.Conn
	login string
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	adminURL := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, adminURL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	suffix := strings.ToLower(rand.Text()[:12])
	tenant, login := "tnt_"+suffix, "wkr_"+suffix
	for _, stmt := range []string{
		"CREATE ROLE " + tenant + " NOLOGIN",
		"CREATE SCHEMA " + tenant + " AUTHORIZATION " + tenant,
		"CREATE ROLE " + login + " LOGIN PASSWORD 'pw' IN ROLE " + tenant,
	} {
		_, err := conn.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	u, err := url.Parse(adminURL)
	require.NoError(t, err)
	u.User = nil
	p, err := store.OpenPool(ctx, store.PoolParams{URL: u.String(), User: login, Password: "pw", MaxConns: 4, Permits: unlimited{}})
	require.NoError(t, err)
	require.NoError(t, p.Bind(ctx, tenant))
	_, err = store.Migrate(ctx, p, tenant)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Close()
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+tenant+" CASCADE; DROP OWNED BY "+tenant+"; DROP ROLE "+login+"; DROP ROLE "+tenant)
	})
	return &env{st: store.New(p), pool: p, admin: conn, login: login}
}

// outage cuts the worker's role off the database until the returned
// function is called.
func (e *env) outage(t *testing.T) (end func()) {
	t.Helper()
	ctx := context.Background()
	_, err := e.admin.Exec(ctx, "ALTER ROLE "+e.login+" CONNECTION LIMIT 0")
	require.NoError(t, err)
	_, err = e.admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", e.login)
	require.NoError(t, err)
	return func() {
		_, err := e.admin.Exec(ctx, "ALTER ROLE "+e.login+" CONNECTION LIMIT -1")
		require.NoError(t, err)
	}
}

// rows returns request id and status of every log row, oldest first.
func (e *env) rows(t *testing.T) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT request_id, status FROM scim_requests ORDER BY at, id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var id string
		var status int
		err := r.Scan(&id, &status)
		return fmt.Sprintf("%s %d", id, status), err
	})
	require.NoError(t, err)
	return out
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var t0 = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// at0 is a Recorder's clock, stopped at t0.
func at0() time.Time { return t0 }

func entry(id string, sec int) scimlog.Entry {
	return scimlog.Entry{At: t0.Add(time.Duration(sec) * time.Second), RequestID: id, Method: "GET", Path: "/Users"}
}

// TestRecorder_WithTheChangeOrAfter: a row queued in a transaction that
// commits is written once, with it; one whose transaction fails is written
// after, with the reply's status.
func TestRecorder_WithTheChangeOrAfter(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	rec := scimlog.NewRecorder(scimlog.RecorderParams{Writer: e.st, Logger: quiet, Now: at0})
	errRolledBack := errors.New("rolled back")
	tests := []struct {
		name   string
		fail   bool
		status int
		want   string
	}{
		{name: "committed with the change", status: 200, want: "with 201"},
		{name: "transaction failed", fail: true, status: 503, want: "after 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rec.Begin(entry(strings.Fields(tt.want)[0], 0))
			err := c.Change(func() error {
				return e.st.InTx(ctx, func(tx provision.Tx) error {
					if err := c.WithChange(ctx, tx, 201, []byte(`{"password":"x"}`), "created"); err != nil {
						return err
					}
					if tt.fail {
						return errRolledBack
					}
					return nil
				})
			})
			if tt.fail {
				require.ErrorIs(t, err, errRolledBack)
			} else {
				require.NoError(t, err)
			}
			rec.Finish(ctx, c, tt.status, nil)
		})
	}
	require.Equal(t, []string{"with 201", "after 503"}, e.rows(t))
	var body string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT response_body FROM scim_requests WHERE request_id = 'with'`).Scan(&body))
	require.Equal(t, `{"password":"[redacted]"}`, body, "the row written with the change is redacted too")
	var summary *string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT summary FROM scim_requests WHERE request_id = 'after'`).Scan(&summary))
	require.Nil(t, summary, "a change rolled back is not summarised as done")
}

// TestRecorder_ConcurrentFinishes: rows of concurrent exchanges all land,
// batched, even when their callers' contexts are cancelled.
func TestRecorder_ConcurrentFinishes(t *testing.T) {
	e := setup(t)
	rec := scimlog.NewRecorder(scimlog.RecorderParams{Writer: e.st, Logger: quiet, Now: at0})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i%2 == 0 {
				ctx = cancelled
			}
			rec.Finish(ctx, rec.Begin(entry(fmt.Sprintf("r%02d", i), i)), 200, nil)
		}()
	}
	wg.Wait()
	got := e.rows(t)
	require.Len(t, got, 50)
	require.Equal(t, "r00 200", got[0])
	require.Equal(t, "r49 200", got[49])
}

// TestRecorder_SpoolsDuringAnOutage: rows that cannot be written are held
// and written, oldest first, by the next batch or by Replay.
func TestRecorder_SpoolsDuringAnOutage(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	rec := scimlog.NewRecorder(scimlog.RecorderParams{Writer: e.st, Logger: quiet, Now: at0})
	rec.Finish(ctx, rec.Begin(entry("before", 0)), 200, nil)
	end := e.outage(t)
	rec.Finish(ctx, rec.Begin(entry("during-1", 1)), 503, []byte(`{"status":"503","detail":"the tenant's database is unavailable"}`))
	rec.Finish(ctx, rec.Begin(entry("during-2", 2)), 503, nil)
	require.Equal(t, 2, rec.Held())
	require.Zero(t, rec.Replay(ctx), "nothing is written while the database is down")
	require.Equal(t, 2, rec.Held())
	end()
	rec.Finish(ctx, rec.Begin(entry("held-untried", 3)), 503, nil)
	require.Equal(t, 3, rec.Held(), "for a second after a failure, failed exchanges' rows are held without a try")
	require.Equal(t, []string{"before 200"}, e.rows(t))

	t.Run("with the next served exchange, within that second", func(t *testing.T) {
		// A control plane killed right after the database came back (its
		// workers with it) loses nothing: the first exchange served
		// wrote the held rows before its reply.
		rec.Finish(ctx, rec.Begin(entry("after", 4)), 200, nil)
		require.Zero(t, rec.Held())
		require.Equal(t, []string{"before 200", "during-1 503", "during-2 503", "held-untried 503", "after 200"}, e.rows(t))
	})
	t.Run("by replay, which does not wait", func(t *testing.T) {
		end := e.outage(t)
		rec.Finish(ctx, rec.Begin(entry("during-3", 5)), 503, nil)
		end()
		require.Equal(t, 1, rec.Replay(ctx))
		require.Zero(t, rec.Held())
		require.Equal(t, "during-3 503", e.rows(t)[5])
	})
}

// TestRecorder_SpoolLimit: past its byte bound the spool drops bodies,
// past its row bound the oldest rows.
func TestRecorder_SpoolLimit(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	rec := scimlog.NewRecorder(scimlog.RecorderParams{Writer: e.st, Logger: quiet, Limit: scimlog.SpoolLimit{Rows: 3, Bytes: 2000}, Now: at0})
	end := e.outage(t)
	for i := range 5 {
		x := entry(fmt.Sprintf("r%d", i), i)
		x.RequestBody = []byte(`{"userName":"` + strings.Repeat("a", 500) + `"}`)
		rec.Finish(ctx, rec.Begin(x), 503, nil)
	}
	require.Equal(t, 3, rec.Held())
	end()
	require.Equal(t, 3, rec.Replay(ctx))
	require.Equal(t, []string{"r2 503", "r3 503", "r4 503"}, e.rows(t))
	var withBodies int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM scim_requests WHERE request_body IS NOT NULL`).Scan(&withBodies))
	require.Less(t, withBodies, 3, "some bodies were dropped to stay within the byte bound")
}

// TestRecorder_RefusedRowsDoNotBlock: a row the database refuses (not
// for being unreachable) is dropped and reported, and the rows it was
// batched with are written.
func TestRecorder_RefusedRowsDoNotBlock(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	rec := scimlog.NewRecorder(scimlog.RecorderParams{Writer: e.st, Logger: quiet, Now: at0})
	poison := entry("poison", 1)
	poison.At = time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC) // before timestamptz's range
	rec.Finish(ctx, rec.Begin(poison), 0, nil)
	require.Zero(t, rec.Held(), "a refused row is not held")

	end := e.outage(t)
	rec.Finish(ctx, rec.Begin(entry("held-1", 2)), 503, nil)
	rec.Finish(ctx, rec.Begin(poison), 0, nil)
	rec.Finish(ctx, rec.Begin(entry("held-2", 3)), 503, nil)
	require.Equal(t, 3, rec.Held())
	end()
	require.Equal(t, 3, rec.Replay(ctx))
	require.Zero(t, rec.Held())
	require.Equal(t, []string{"held-1 503", "held-2 503"}, e.rows(t))
}
