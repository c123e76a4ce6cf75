package app

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// TestWorker_PluginBoundary drives the real worker through go-plugin's gRPC
// transport in-process, as the control plane does across processes.
func TestWorker_PluginBoundary(t *testing.T) {
	w := newTestWorker(t)
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		scimworker.PluginName: &scimworker.GRPCPlugin{Impl: w},
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(scimworker.PluginName)
	require.NoError(t, err)
	remote := raw.(scimworker.Worker)
	ctx := context.Background()

	h, err := remote.Health(ctx)
	require.NoError(t, err)
	require.Equal(t, w.bound.Load().id, h.TenantID)

	reply, err := remote.Handle(ctx, &scimworker.Exchange{
		RequestID: "r1", Method: "POST", Path: "/Users",
		ContentType: "application/scim+json",
		Body:        []byte(`{"userName":"plugin@contoso.com","active":"True"}`),
	})
	require.NoError(t, err)
	require.Equal(t, 201, reply.Status, string(reply.Body))
	require.Equal(t, "application/scim+json", header(reply).Get("Content-Type"))
	require.Contains(t, header(reply).Get("Location"), testBase+"/Users/")

	reply, err = remote.Handle(ctx, &scimworker.Exchange{RequestID: "r2", Method: "GET", Path: "/Users", RawQuery: `filter=userName eq "PLUGIN@contoso.com"`})
	require.NoError(t, err)
	require.Equal(t, 200, reply.Status)
	require.Contains(t, string(reply.Body), `"totalResults":1`)

	// The typed admin operations, a refusal and the export stream.
	page, err := remote.QueryLog(ctx, &scimworker.LogQuery{Method: "post"})
	require.NoError(t, err)
	require.Len(t, page.Entries, 1)
	require.Equal(t, "r1", page.Entries[0].RequestID)
	_, err = remote.GetUser(ctx, &scimworker.UserRequest{ID: "nobody"})
	var refused *scimworker.Error
	require.ErrorAs(t, err, &refused)
	require.Equal(t, &scimworker.Error{Status: 404, Message: "user nobody not found"}, refused)
	var export bytes.Buffer
	require.NoError(t, remote.ExportLog(ctx, &scimworker.LogExportRequest{Format: scimworker.FormatCSV}, &export))
	require.Equal(t, 3, strings.Count(export.String(), "\n"), "a header and both exchanges: %s", export.String())
}

// TestWorker_ConcurrentMemberAdds sends many PATCHes adding members to one
// group at once; none may be lost.
func TestWorker_ConcurrentMemberAdds(t *testing.T) {
	w := newTestWorker(t)
	_, g, _ := do(t, w, "POST", "/Groups", "", `{"displayName":"Busy"}`)
	gid := g["id"].(string)
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		_, u, _ := do(t, w, "POST", "/Users", "", fmt.Sprintf(`{"userName":"c%d@contoso.com"}`, i))
		ids[i] = u["id"].(string)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply, err := w.Handle(context.Background(), &scimworker.Exchange{Method: "PATCH", Path: "/Groups/" + gid,
				Body: []byte(`{"Operations":[{"op":"Add","path":"members","value":[{"value":"` + id + `"}]},{"op":"Replace","path":"displayName","value":"Busy"}]}`)})
			if err != nil || reply.Status != 204 {
				t.Errorf("patch: %v %v", err, reply)
			}
		}()
	}
	wg.Wait()
	status, out, _ := do(t, w, "GET", "/Groups/"+gid, "", "")
	require.Equal(t, 200, status)
	require.Len(t, out["members"], n)
	require.Equal(t, fmt.Sprintf(`W/"%d"`, n+1), out["meta"].(map[string]any)["version"])
}

// TestWorker_LogsEveryExchange checks that successes and failures both land
// in the SCIM log, with the resource they concern.
func TestWorker_LogsEveryExchange(t *testing.T) {
	w := newTestWorker(t)
	do(t, w, "POST", "/Users", "", `{"userName":"log@contoso.com","password":"hunter2"}`)
	do(t, w, "POST", "/Users", "", `{"userName":"log@contoso.com"}`)
	do(t, w, "GET", "/Users", `filter=bad+filter`, "")
	rows, err := w.pool.Load().Query(context.Background(), `SELECT method, status, coalesce(scim_type, ''), coalesce(user_name, ''), coalesce(request_body, '') FROM scim_requests ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	type row struct {
		method   string
		status   int
		scimType string
		userName string
		body     string
	}
	var got []row
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.method, &r.status, &r.scimType, &r.userName, &r.body))
		got = append(got, r)
	}
	require.Len(t, got, 3)
	require.Equal(t, 201, got[0].status)
	require.Equal(t, "log@contoso.com", got[0].userName)
	require.NotContains(t, got[0].body, "hunter2")
	require.Contains(t, got[0].body, "[redacted]")
	require.Equal(t, 409, got[1].status)
	require.Equal(t, "uniqueness", got[1].scimType)
	require.Equal(t, 400, got[2].status)
	require.Equal(t, "invalidFilter", got[2].scimType)
}
