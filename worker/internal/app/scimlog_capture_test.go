package app

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// logEntryText is everything support can read of the entries of one
// request id: the query columns and both bodies, as JSON.
func logEntryText(t *testing.T, w *Worker, reqID string) string {
	t.Helper()
	page, err := w.QueryLog(bg, &scimworker.LogQuery{RequestID: reqID})
	require.NoError(t, err)
	require.NotEmpty(t, page.Entries, "no log entry for %s", reqID)
	var all []string
	for _, e := range page.Entries {
		full, err := w.GetLogEntry(bg, &scimworker.LogEntryRequest{ID: e.ID})
		require.NoError(t, err)
		b, err := json.Marshal(full)
		require.NoError(t, err)
		all = append(all, string(b))
	}
	return strings.Join(all, "\n")
}

// TestSCIMLog_RedactsEverythingSupportReads sends secrets in every place
// an exchange can carry them and reads back what support sees.
func TestSCIMLog_RedactsEverythingSupportReads(t *testing.T) {
	w := newTestWorker(t)
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	const tok = "scimtok_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA"
	const key = "spk_a1b2c3d4e5f6a7b8c9d0e1f2"
	exchange(t, w, "seed", "POST", "/Users", "", `{"userName":"ann@contoso.com"}`)
	_, list, _ := do(t, w, "GET", "/Users", "", "")
	ann := list["Resources"].([]any)[0].(map[string]any)["id"].(string)

	tests := []struct {
		name, method, path, query, body string
		secrets                         []string
	}{
		{name: "patch replace path password (Entra)", method: "PATCH", path: "/Users/" + ann,
			body:    `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"password","value":"Pa55-replace"}]}`,
			secrets: []string{"Pa55-replace"}},
		{name: "patch replace without path", method: "PATCH", path: "/Users/" + ann,
			body: `{"Operations":[{"op":"replace","value":{"password":"Pa55-nopath"}}]}`, secrets: []string{"Pa55-nopath"}},
		{name: "patch add path Password", method: "PATCH", path: "/Users/" + ann,
			body: `{"Operations":[{"op":"add","path":"Password","value":"Pa55-add"}]}`, secrets: []string{"Pa55-add"}},
		{name: "patch extension path", method: "PATCH", path: "/Users/" + ann,
			body:    `{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:acme:2.0:User:secretCode","value":"Pa55-ext"}]}`,
			secrets: []string{"Pa55-ext"}},
		{name: "put with password", method: "PUT", path: "/Users/" + ann,
			body: `{"userName":"ann@contoso.com","password":"Pa55-put"}`, secrets: []string{"Pa55-put"}},
		{name: "token in a value", method: "POST", path: "/Users",
			body: `{"userName":"bob@contoso.com","title":"Bearer ` + tok + `"}`, secrets: []string{tok}},
		{name: "token as resource id", method: "GET", path: "/Users/" + tok, secrets: []string{tok}},
		{name: "jwt in the path", method: "DELETE", path: "/Groups/" + jwt, secrets: []string{jwt}},
		{name: "secret in the filter", method: "GET", path: "/Users",
			query: "filter=" + url.QueryEscape(`password eq "Pa55-filter"`), secrets: []string{"Pa55-filter"}},
		{name: "token in the filter echoed in the detail", method: "GET", path: "/Users",
			query: "filter=" + url.QueryEscape(`userName eq "`+key+`" and`), secrets: []string{key}},
		{name: "token-named query parameter", method: "GET", path: "/Users", query: "access_token=opaque-Pa55-query", secrets: []string{"opaque-Pa55-query"}},
		{name: "token in the query", method: "GET", path: "/Users", query: "attributes=" + jwt, secrets: []string{jwt}},
		{name: "unparseable body", method: "POST", path: "/Users", body: `{"userName":"x","password":"Pa55-broken"`, secrets: []string{"Pa55-broken"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "redact-" + string(rune('a'+i))
			exchange(t, w, id, tt.method, tt.path, tt.query, tt.body)
			text := logEntryText(t, w, id)
			for _, s := range tt.secrets {
				require.NotContains(t, text, s)
			}
		})
	}
}

// TestSCIMLog_RecordsHugeValues: what the log indexes is cut to fit its
// indexes, so the row is written whatever the request carries.
func TestSCIMLog_RecordsHugeValues(t *testing.T) {
	w := newTestWorker(t)
	// Random text: PostgreSQL compresses a repetitive index entry below its
	// limit.
	huge := ""
	for len(huge) < 10_000 {
		huge += randomSuffix()
	}
	tests := []struct{ name, method, path, query, body string }{
		{"userName", "POST", "/Users", "", `{"userName":"` + huge + `@contoso.com"}`},
		{"externalId", "POST", "/Users", "", `{"userName":"e@contoso.com","externalId":"` + huge + `"}`},
		{"group externalId", "POST", "/Groups", "", `{"displayName":"g","externalId":"` + huge + `"}`},
		{"resource id", "GET", "/Users/" + huge, "", ""},
		{"filter", "GET", "/Users", "filter=" + url.QueryEscape(`userName eq "`+huge+`"`), ""},
		{"request id", "GET", "/Users", "", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "huge-" + string(rune('a'+i))
			if tt.name == "request id" {
				id += huge
			}
			exchange(t, w, id, tt.method, tt.path, tt.query, tt.body)
			page, err := w.QueryLog(bg, &scimworker.LogQuery{Method: tt.method, Limit: 1000})
			require.NoError(t, err)
			found := false
			for _, e := range page.Entries {
				found = found || strings.HasPrefix(id, strings.TrimSuffix(e.RequestID, "...[truncated]"))
			}
			require.True(t, found, "no log row for %s", tt.name)
		})
	}
}

// TestSCIMLog_RecordsCancelledAndOutageExchanges: an exchange whose caller
// went away, and exchanges refused while the database is down, are in the
// log once the database is back.
func TestSCIMLog_RecordsCancelledAndOutageExchanges(t *testing.T) {
	// The worker's clock, moved on once the database is back: for a second
	// after a failed write the log holds rows without trying.
	var skew atomic.Int64
	w, admin := newTestWorkerWithAdmin(t, func(c *Config) {
		c.Options.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, ex := range []*scimworker.Exchange{
		{RequestID: "cancelled-read", Method: "GET", Path: "/Users"},
		{RequestID: "cancelled-write", Method: "POST", Path: "/Users", Body: []byte(`{"userName":"c@contoso.com"}`)},
	} {
		_, err := w.Handle(cancelled, ex)
		require.NoError(t, err)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	role := w.bound.Load().id
	_, err = conn.Exec(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT 0")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
	require.NoError(t, err)
	exchange(t, w, "outage-write", "POST", "/Users", "", `{"userName":"during@contoso.com"}`)
	exchange(t, w, "outage-read", "GET", "/Users", "", "")
	_, err = conn.Exec(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT -1")
	require.NoError(t, err)
	skew.Store(int64(2 * time.Second))

	// The next exchange's log write takes what was held back with it.
	exchange(t, w, "after", "GET", "/Users", "", "")
	got := map[string]int{}
	page, err := w.QueryLog(bg, &scimworker.LogQuery{Limit: 100})
	require.NoError(t, err)
	for _, e := range page.Entries {
		got[e.RequestID] = e.Status
	}
	require.Equal(t, map[string]int{"cancelled-read": got["cancelled-read"], "cancelled-write": got["cancelled-write"],
		"outage-write": 503, "outage-read": 503, "after": 200}, got)
}

// TestSCIMLog_ReplayedWithoutTraffic: rows held back during an outage are
// written by the worker's background loop once the database is back, with
// no further exchange to carry them.
func TestSCIMLog_ReplayedWithoutTraffic(t *testing.T) {
	w, admin := newTestWorkerWithAdmin(t, func(c *Config) { c.Options.IdleConnClose = 200 * time.Millisecond })
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	role := w.bound.Load().id
	_, err = conn.Exec(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT 0")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
	require.NoError(t, err)
	exchange(t, w, "outage-only", "GET", "/Users", "", "")
	_, err = conn.Exec(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT -1")
	require.NoError(t, err)

	var n int
	require.Eventually(t, func() bool {
		return conn.QueryRow(ctx, "SELECT count(*) FROM "+role+".scim_requests WHERE request_id = 'outage-only'").Scan(&n) == nil && n == 1
	}, 30*time.Second, 50*time.Millisecond, "the held row was written in the background")
}
