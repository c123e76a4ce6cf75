package scimlog_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
)

// TestAdmin reads what a Recorder wrote: pages by cursor, one entry with
// its bodies, the export in both formats, health on a fixed clock.
func TestAdmin(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	rec := scimlog.NewRecorder(scimlog.RecorderParams{Writer: e.st, Logger: quiet, Now: at0})
	for i := range 25 {
		x := entry(fmt.Sprintf("r%02d", i), i*60)
		x.UserName, x.RequestBody = "Ann@Contoso.com", []byte(`{"password":"s3cret"}`)
		status := 200
		if i%5 == 0 {
			status = 409
		}
		rec.Finish(ctx, rec.Begin(x), status, []byte(`{"status":"409","scimType":"uniqueness","detail":"userName already exists"}`))
	}
	a := scimlog.NewAdmin(func() (scimlog.Store, error) { return e.st, nil }, quiet, func() time.Time { return t0.Add(30 * time.Minute) })

	var ids []string
	after := ""
	for {
		page, err := a.QueryLog(ctx, &scimworker.LogQuery{User: "ann@contoso.com", Limit: 10, After: after})
		require.NoError(t, err)
		for _, x := range page.Entries {
			require.Nil(t, x.RequestBody)
			ids = append(ids, x.RequestID)
		}
		if after = page.Next; after == "" {
			break
		}
	}
	require.Len(t, ids, 25)
	require.Equal(t, "r24", ids[0])
	require.Equal(t, "r00", ids[24])

	page, err := a.QueryLog(ctx, &scimworker.LogQuery{Status: "4xx", Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"r20", "r15"}, []string{page.Entries[0].RequestID, page.Entries[1].RequestID})
	one, err := a.GetLogEntry(ctx, &scimworker.LogEntryRequest{ID: page.Entries[0].ID})
	require.NoError(t, err)
	require.Equal(t, `{"password":"[redacted]"}`, *one.RequestBody)
	require.Equal(t, "userName already exists", one.Detail)
	_, err = a.GetLogEntry(ctx, &scimworker.LogEntryRequest{ID: 1 << 40})
	require.Equal(t, scimworker.NotFound("log entry not found"), err)
	_, err = a.QueryLog(ctx, &scimworker.LogQuery{After: "nonsense"})
	require.Equal(t, scimworker.BadRequest("bad cursor"), err)

	var out bytes.Buffer
	require.NoError(t, a.ExportLog(ctx, &scimworker.LogExportRequest{Format: scimworker.FormatNDJSON}, &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 25)
	var first scimworker.LogEntry
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.Equal(t, "r24", first.RequestID)
	out.Reset()
	require.NoError(t, a.ExportLog(ctx, &scimworker.LogExportRequest{LogQuery: scimworker.LogQuery{Status: "409"}, Format: scimworker.FormatCSV}, &out))
	records, err := csv.NewReader(&out).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 1+5)

	// At t0+30m the last hour holds r00..r24 (t0 to t0+24m); the day too.
	h, err := a.LogHealth(ctx, &scimworker.LogHealthRequest{})
	require.NoError(t, err)
	require.EqualValues(t, 25, h.LastHour.Requests)
	require.EqualValues(t, 5, h.LastHour.Failures)
	require.InDelta(t, 0.2, h.LastDay.FailureRate, 1e-9)
	require.Equal(t, []scimworker.ErrorCount{{Status: 409, ScimType: "uniqueness", Detail: "userName already exists", Count: 5}}, h.TopErrors)
	require.Equal(t, t0.Add(24*time.Minute), h.LastSuccess.UTC())
}
