package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
)

func logIDs(t *testing.T, w *Worker, q scimworker.LogQuery) []string {
	t.Helper()
	out, err := w.QueryLog(bg, &q)
	require.NoError(t, err)
	var summaries []string
	for _, e := range out.Entries {
		require.Nil(t, e.RequestBody, "queries never carry bodies")
		summaries = append(summaries, fmt.Sprintf("%s %s %d", e.Method, e.RequestID, e.Status))
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
		name  string
		query scimworker.LogQuery
		want  []string
	}{
		{name: "everything, newest first", want: []string{"POST r6 201", "GET r5 400", "PATCH r4 200", "POST r3 409", "GET req-test 200", "POST r1 201"}},
		{name: "one request id", query: scimworker.LogQuery{RequestID: "r4"}, want: []string{"PATCH r4 200"}},
		{name: "failures", query: scimworker.LogQuery{Status: "4xx"}, want: []string{"GET r5 400", "POST r3 409"}},
		{name: "exact status", query: scimworker.LogQuery{Status: "409"}, want: []string{"POST r3 409"}},
		{name: "method", query: scimworker.LogQuery{Method: "patch"}, want: []string{"PATCH r4 200"}},
		{name: "resource type", query: scimworker.LogQuery{ResourceType: "Group"}, want: []string{"POST r6 201"}},
		{name: "user by id", query: scimworker.LogQuery{User: ann}, want: []string{"PATCH r4 200", "GET req-test 200", "POST r1 201"}},
		{name: "user by userName, any case", query: scimworker.LogQuery{User: "Ann@Contoso.com"}, want: []string{"PATCH r4 200", "POST r3 409", "GET req-test 200", "POST r1 201"}},
		{name: "user by externalId", query: scimworker.LogQuery{User: "ann-ext"}, want: []string{"PATCH r4 200", "GET req-test 200", "POST r1 201"}},
		{name: "text in the summary", query: scimworker.LogQuery{Q: "with 1 members"}, want: []string{"POST r6 201"}},
		{name: "time range", query: scimworker.LogQuery{From: time.Now().Add(time.Hour).Format(time.RFC3339)}, want: nil},
		{name: "page of two", query: scimworker.LogQuery{Limit: 2}, want: []string{"POST r6 201", "GET r5 400"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, logIDs(t, w, tt.query))
		})
	}

	// Cursor paging visits every entry once.
	var all []string
	after := ""
	for {
		out, err := w.QueryLog(bg, &scimworker.LogQuery{Limit: 4, After: after})
		require.NoError(t, err)
		for _, e := range out.Entries {
			all = append(all, e.RequestID)
		}
		if after = out.Next; after == "" {
			break
		}
	}
	require.Equal(t, []string{"r6", "r5", "r4", "r3", "req-test", "r1"}, all)

	// One entry carries its bodies, with the password redacted.
	out, err := w.QueryLog(bg, &scimworker.LogQuery{RequestID: "r1"})
	require.NoError(t, err)
	entry, err := w.GetLogEntry(bg, &scimworker.LogEntryRequest{ID: out.Entries[0].ID})
	require.NoError(t, err)
	require.NotContains(t, *entry.RequestBody, "s3cret")
	require.Contains(t, *entry.RequestBody, "[redacted]")
	require.Contains(t, *entry.ResponseBody, "ann@contoso.com")
	require.Equal(t, "created user ann@contoso.com; ignored unknown attributes password", entry.Summary)
	_, err = w.GetLogEntry(bg, &scimworker.LogEntryRequest{ID: 1 << 40})
	require.Equal(t, 404, refused(t, err).Status)

	for _, bad := range []scimworker.LogQuery{{Status: "teapot"}, {From: "yesterday"}, {After: "not-a-cursor"}} {
		_, err = w.QueryLog(bg, &bad)
		require.Equal(t, 400, refused(t, err).Status, "%+v", bad)
	}

	health, err := w.LogHealth(bg, &scimworker.LogHealthRequest{})
	require.NoError(t, err)
	require.EqualValues(t, 6, health.LastHour.Requests)
	require.EqualValues(t, 2, health.LastHour.Failures)
	require.Empty(t, health.QuarantineWarning)
	require.Len(t, health.TopErrors, 2)
}

// The export holds every selected entry, newest first, in either format,
// across pages of the store's query.
func TestSCIMLog_Export(t *testing.T) {
	w := newTestWorker(t)
	const n = 1007 // more than one page (1,000) of the export's queries
	_, err := w.pool.Load().Exec(bg, `INSERT INTO scim_requests (at, request_id, method, path, status, latency_us, detail)
		SELECT now() - i * interval '1 second', 'r' || i, 'GET', '/Users', CASE WHEN i % 2 = 0 THEN 200 ELSE 409 END, 1234567, 'd,"' || i
		FROM generate_series(1, $1) i`, n)
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, w.ExportLog(bg, &scimworker.LogExportRequest{Format: scimworker.FormatNDJSON}, &out))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, n)
	var first, last scimworker.LogEntry
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.NoError(t, json.Unmarshal([]byte(lines[n-1]), &last))
	require.Equal(t, "r1", first.RequestID)
	require.Equal(t, "r"+strconv.Itoa(n), last.RequestID)

	out.Reset()
	require.NoError(t, w.ExportLog(bg, &scimworker.LogExportRequest{LogQuery: scimworker.LogQuery{Status: "409"}, Format: scimworker.FormatCSV}, &out))
	records, err := csv.NewReader(&out).ReadAll()
	require.NoError(t, err)
	require.Equal(t, scimworker.LogCSVColumns, records[0])
	require.Len(t, records, 1+(n+1)/2)
	require.Equal(t, []string{"r1", "409", `d,"1`, "1234567"}, []string{records[1][2], records[1][6], records[1][8], records[1][15]})

	out.Reset()
	err = w.ExportLog(bg, &scimworker.LogExportRequest{LogQuery: scimworker.LogQuery{Status: "teapot"}, Format: scimworker.FormatCSV}, &out)
	require.Equal(t, 400, refused(t, err).Status)
	err = w.ExportLog(bg, &scimworker.LogExportRequest{Format: "xml"}, &out)
	require.Equal(t, 400, refused(t, err).Status)
	require.Zero(t, out.Len(), "a refused export writes nothing")
}

func TestSCIMLog_RetentionDropsOldPartitions(t *testing.T) {
	// A fixed clock: with the wall clock, "old plus an hour" crossed into
	// the next day's partition between 23:00 and 24:00 UTC.
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	w, _ := newTestWorkerWithAdmin(t, func(c *Config) { c.Options.Now = func() time.Time { return now } })
	ctx := context.Background()
	<-w.maintained
	old := now.AddDate(0, 0, -40)
	_, err := scimlog.Maintain(ctx, w.bound.Load().admin.Store, old)
	require.NoError(t, err)
	_, err = w.pool.Load().Exec(ctx, `INSERT INTO scim_requests (at, request_id, method, path, status, latency_us) VALUES
		($1, 'old', 'GET', '/Users', 200, 1), ($2, 'very-old-default', 'GET', '/Users', 200, 1), ($3, 'new', 'GET', '/Users', 200, 1)`,
		old.Add(time.Hour), old.AddDate(0, 0, -30), now)
	require.NoError(t, err)
	var partition string
	require.NoError(t, w.pool.Load().QueryRow(ctx, `SELECT tableoid::regclass::text FROM scim_requests WHERE request_id = 'old'`).Scan(&partition))
	require.Equal(t, "scim_requests_p"+old.Format("20060102"), partition)

	out, err := w.SetLogRetention(ctx, &scimworker.LogRetentionRequest{Days: 30})
	require.NoError(t, err)
	require.Equal(t, 30, out.Days)
	require.Contains(t, out.Dropped, partition)
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
