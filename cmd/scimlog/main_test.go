package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

func TestRun_FollowPrintsEachEntryOnceOldestFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	pages := [][]scimworker.LogEntry{
		{{ID: 2, At: t0.Add(time.Second), Method: "PATCH", Status: 409, RequestID: "r2", ScimType: "uniqueness", Detail: "userName already exists"},
			{ID: 1, At: t0, Method: "POST", Status: 201, RequestID: "r1", Summary: "created user a"}},
		{{ID: 3, At: t0.Add(2 * time.Second), Method: "GET", Status: 200, RequestID: "r3"},
			{ID: 2, At: t0.Add(time.Second), Method: "PATCH", Status: 409, RequestID: "r2"}},
	}
	var calls atomic.Int32
	var lastQuery atomic.Value
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/api/v1/tenants/tnt_a/logs", r.URL.Path)
		require.Equal(t, "Bearer spk_k", r.Header.Get("Authorization"))
		lastQuery.Store(r.URL.Query())
		i := int(calls.Add(1)) - 1
		if i >= len(pages) {
			cancel()
			_ = json.NewEncoder(w).Encode(scimworker.LogPage{})
			return
		}
		_ = json.NewEncoder(w).Encode(scimworker.LogPage{Entries: pages[i]})
	}))
	defer srv.Close()
	var out bytes.Buffer
	c := &client{base: srv.URL, key: "spk_k", tenant: "tnt_a", http: srv.Client()}
	err := run(ctx, c, url.Values{"status": {"4xx"}}, 20, true, time.Millisecond, &out)
	require.ErrorIs(t, err, context.Canceled)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	require.Contains(t, lines[0], " r1 ")
	require.Contains(t, lines[1], " r2 ")
	require.Contains(t, lines[1], "[uniqueness] userName already exists")
	require.Contains(t, lines[2], " r3 ")
	q := lastQuery.Load().(url.Values)
	require.Equal(t, "4xx", q.Get("status"))
	require.Equal(t, t0.Add(2*time.Second).Format(time.RFC3339Nano), q.Get("from"))
}
