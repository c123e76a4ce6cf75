package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

func logIDs(t *testing.T, w *Worker, args map[string]any) []string {
	t.Helper()
	status, out := adminOp(t, w, scimworker.OpLogQuery, args)
	require.Equal(t, 200, status, out)
	var summaries []string
	for _, e := range out["entries"].([]any) {
		entry := e.(map[string]any)
		require.NotContains(t, entry, "request_body", "queries never carry bodies")
		summaries = append(summaries, fmt.Sprintf("%s %s %v", entry["method"], entry["request_id"], entry["status"]))
	}
	return summaries
}

func exchange(t *testing.T, w *Worker, reqID, method, path, query, body string) {
	t.Helper()
	_, err := w.Handle(context.Background(), &scimworker.Exchange{RequestID: reqID, Method: method, Path: path, RawQuery: query, Body: []byte(body)})
	require.NoError(t, err)
}

func TestSCIMLog_Filters(t *testing.T) {
	w := newTestWorker(t)
	exchange(t, w, "r1", "POST", "/Users", "", `{"userName":"ann@contoso.com","externalId":"ann-ext","password":"s3cret!"}`)
	status, list, _ := do(t, w, "GET", "/Users", `filter=userName+eq+%22ann%40contoso.com%22`, "")
	require.Equal(t, 200, status)
	ann := list["Resources"].([]any)[0].(map[string]any)["id"].(string)
	exchange(t, w, "r3", "POST", "/Users", "", `{"userName":"ANN@contoso.com"}`)
	exchange(t, w, "r4", "PATCH", "/Users/"+ann, "", `{"Operations":[{"op":"Replace","path":"title","value":"Boss"}]}`)
	exchange(t, w, "r5", "GET", "/Users", "filter=nonsense", "")
	exchange(t, w, "r6", "POST", "/Groups", "", `{"displayName":"Sales","members":[{"value":"`+ann+`"}]}`)

	tests := []struct {
		name string
		args map[string]any
		want []string
	}{
		{name: "everything, newest first", args: map[string]any{}, want: []string{"POST r6 201", "GET r5 400", "PATCH r4 200", "POST r3 409", "GET req-test 200", "POST r1 201"}},
		{name: "one request id", args: map[string]any{"request_id": "r4"}, want: []string{"PATCH r4 200"}},
		{name: "failures", args: map[string]any{"status": "4xx"}, want: []string{"GET r5 400", "POST r3 409"}},
		{name: "exact status", args: map[string]any{"status": "409"}, want: []string{"POST r3 409"}},
		{name: "method", args: map[string]any{"method": "patch"}, want: []string{"PATCH r4 200"}},
		{name: "resource type", args: map[string]any{"resource_type": "Group"}, want: []string{"POST r6 201"}},
		{name: "user by id", args: map[string]any{"user": ann}, want: []string{"PATCH r4 200", "GET req-test 200", "POST r1 201"}},
		{name: "user by userName, any case", args: map[string]any{"user": "Ann@Contoso.com"}, want: []string{"PATCH r4 200", "POST r3 409", "GET req-test 200", "POST r1 201"}},
		{name: "user by externalId", args: map[string]any{"user": "ann-ext"}, want: []string{"PATCH r4 200", "GET req-test 200", "POST r1 201"}},
		{name: "text in the summary", args: map[string]any{"q": "with 1 members"}, want: []string{"POST r6 201"}},
		{name: "time range", args: map[string]any{"from": time.Now().Add(time.Hour).Format(time.RFC3339)}, want: nil},
		{name: "page of two", args: map[string]any{"limit": 2}, want: []string{"POST r6 201", "GET r5 400"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, logIDs(t, w, tt.args))
		})
	}

	// Cursor paging visits every entry once.
	var all []string
	after := ""
	for {
		status, out := adminOp(t, w, scimworker.OpLogQuery, map[string]any{"limit": 4, "after": after})
		require.Equal(t, 200, status)
		for _, e := range out["entries"].([]any) {
			all = append(all, e.(map[string]any)["request_id"].(string))
		}
		if after = out["next"].(string); after == "" {
			break
		}
	}
	require.Equal(t, []string{"r6", "r5", "r4", "r3", "req-test", "r1"}, all)

	// One entry carries its bodies, with the password redacted.
	status, out := adminOp(t, w, scimworker.OpLogQuery, map[string]any{"request_id": "r1"})
	require.Equal(t, 200, status)
	id := out["entries"].([]any)[0].(map[string]any)["id"]
	status, entry := adminOp(t, w, scimworker.OpLogGet, map[string]any{"id": id})
	require.Equal(t, 200, status)
	require.NotContains(t, entry["request_body"], "s3cret")
	require.Contains(t, entry["request_body"], "[redacted]")
	require.Contains(t, entry["response_body"], "ann@contoso.com")
	require.Equal(t, "created user ann@contoso.com; ignored unknown attributes password", entry["summary"])

	status, bad := adminOp(t, w, scimworker.OpLogQuery, map[string]any{"status": "teapot"})
	require.Equal(t, 400, status, bad)

	status, health := adminOp(t, w, scimworker.OpLogHealth, nil)
	require.Equal(t, 200, status)
	require.EqualValues(t, 6, health["last_hour"].(map[string]any)["requests"])
	require.EqualValues(t, 2, health["last_hour"].(map[string]any)["failures"])
	require.Nil(t, health["quarantine_warning"])
	require.Len(t, health["top_errors"], 2)
}

func TestSCIMLog_RetentionDropsOldPartitions(t *testing.T) {
	// A fixed clock: with the wall clock, "old plus an hour" crossed into
	// the next day's partition between 23:00 and 24:00 UTC.
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	w, _ := newTestWorkerWithAdmin(t, func(c *Config) { c.Options.Now = func() time.Time { return now } })
	ctx := context.Background()
	<-w.maintained
	old := now.AddDate(0, 0, -40)
	require.NoError(t, w.bound.Load().admin.MaintainAt(ctx, old))
	_, err := w.pool.Load().Exec(ctx, `INSERT INTO scim_requests (at, request_id, method, path, status, latency_us) VALUES
		($1, 'old', 'GET', '/Users', 200, 1), ($2, 'very-old-default', 'GET', '/Users', 200, 1), ($3, 'new', 'GET', '/Users', 200, 1)`,
		old.Add(time.Hour), old.AddDate(0, 0, -30), now)
	require.NoError(t, err)
	var partition string
	require.NoError(t, w.pool.Load().QueryRow(ctx, `SELECT tableoid::regclass::text FROM scim_requests WHERE request_id = 'old'`).Scan(&partition))
	require.Equal(t, "scim_requests_p"+old.Format("20060102"), partition)

	status, out := adminOp(t, w, scimworker.OpLogRetention, map[string]any{"days": 30})
	require.Equal(t, 200, status, out)
	require.Contains(t, out["dropped"], partition)
	var left []string
	rows, err := w.pool.Load().Query(ctx, `SELECT request_id FROM scim_requests ORDER BY at`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		left = append(left, id)
	}
	require.Equal(t, []string{"new"}, left)
}
