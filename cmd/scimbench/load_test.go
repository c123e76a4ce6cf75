package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/entrasim"
)

func TestServiceEnv(t *testing.T) {
	env := serviceEnv(
		map[string]string{"SCIMPLANE_ADDR": "127.0.0.1:1234", "PATH": "/bin"},
		map[string]string{"SCIMPLANE_LOG_LEVEL": "warn", "SCIMPLANE_WORKER_IDLE_TIMEOUT": "20s"},
		[]string{
			"SCIMPLANE_WORKER_IDLE_TIMEOUT=30s", // the operator's setting wins over the scenario's
			"SCIMPLANE_ADDR=0.0.0.0:80",         // but not over what the bench owns
			"DATABASE_URL=postgres://elsewhere", // never: the embedded default is measured
			"HOME=/root",
			"SCIMPLANE_X=a=b",
		})
	require.Equal(t, []string{
		"PATH=/bin",
		"SCIMPLANE_ADDR=127.0.0.1:1234",
		"SCIMPLANE_LOG_LEVEL=warn",
		"SCIMPLANE_WORKER_IDLE_TIMEOUT=30s",
		"SCIMPLANE_X=a=b",
	}, env)
	v, ok := envValue(env, "SCIMPLANE_X")
	require.True(t, ok)
	require.Equal(t, "a=b", v)
	_, ok = envValue(env, "DATABASE_URL")
	require.False(t, ok)
	require.Equal(t, []string{"SCIMPLANE_ADDR=127.0.0.1:1234", "SCIMPLANE_LOG_LEVEL=warn", "SCIMPLANE_WORKER_IDLE_TIMEOUT=30s", "SCIMPLANE_X=a=b"},
		settings(append(env, "SCIMPLANE_BOOTSTRAP_KEY=spk_secret")))
}

func TestTenantURL(t *testing.T) {
	info := tenantInfo{SCIMURL: "http://127.0.0.1:8080/scim/tnt_1/v2"}
	legacy, flag := newTenant(0, info), newTenant(1, info)
	require.Equal(t, entrasim.Legacy, legacy.dialect)
	require.Equal(t, entrasim.Flag, flag.dialect)
	lookup := entrasim.LookupUser("a@x.test")
	require.Equal(t, `http://127.0.0.1:8080/scim/tnt_1/v2/Users?filter=userName+eq+%22a%40x.test%22`, legacy.url(lookup))
	require.Equal(t, `http://127.0.0.1:8080/scim/tnt_1/v2/Users?aadOptscim062020&filter=userName+eq+%22a%40x.test%22`, flag.url(lookup))
	require.Equal(t, `http://127.0.0.1:8080/scim/tnt_1/v2/Users/u1`, legacy.url(entrasim.GetUser("u1")))
	require.Equal(t, `http://127.0.0.1:8080/scim/tnt_1/v2/Users/u1?aadOptscim062020`, flag.url(entrasim.GetUser("u1")))
}

func TestWriteOutcome(t *testing.T) {
	tests := []struct {
		status int
		ok     bool
		err    error
		want   outcome
	}{
		{200, true, nil, applied},
		{204, true, nil, applied},
		{400, false, nil, notApplied},
		{404, false, nil, notApplied},
		{429, false, nil, notApplied},
		{500, false, nil, unknown},
		{503, false, nil, unknown},
		{0, false, io.ErrUnexpectedEOF, unknown},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, writeOutcome(tt.status, tt.ok, tt.err), "%d %v", tt.status, tt.err)
	}
}

func TestApplyMembers(t *testing.T) {
	sh := createdShare(t, 10, 1)
	g := sh.groups[0]
	g.members = []int{1, 2, 3}
	applyMembers(sh, g, []int{5, 2}, nil, applied)
	require.Equal(t, []int{1, 2, 3, 5}, g.members)
	applyMembers(sh, g, nil, []int{1, 3}, applied)
	require.Equal(t, []int{2, 5}, g.members)
	applyMembers(sh, g, []int{7}, nil, notApplied)
	require.Equal(t, []int{2, 5}, g.members)
	require.False(t, g.uncertain)
	applyMembers(sh, g, []int{7}, nil, unknown)
	require.True(t, g.uncertain)
}

// The load client counts every response as it is: no retry of 429 or
// 503, since Entra counts those as failures.
func TestSender_CountsEveryStatus(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		require.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
		switch {
		case strings.HasSuffix(r.URL.Path, "/busy"):
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.Method == http.MethodPost:
			b, _ := io.ReadAll(r.Body)
			require.Contains(t, string(b), `"userName"`)
			require.Equal(t, "application/scim+json; charset=utf-8", r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":"u-1"}`))
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	tn := newTenant(0, tenantInfo{SCIMURL: srv.URL + "/scim/t/v2", Token: "tok"})
	rec := newRecorder()
	s := &sender{http: newHTTPClient(4), rec: rec}
	ctx := context.Background()

	status, _, err := s.send(ctx, tn, kGetUser, entrasim.Request{Method: http.MethodGet, Path: "/busy", Want: []int{200}}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, int32(1), hits.Load(), "a 503 is not retried")

	u := newShare(tn, 0, 1, 1, 0).users[0]
	status, body, err := s.send(ctx, tn, kCreateUser, entrasim.CreateUser(u.src, tn.dialect), time.Time{})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status)
	require.JSONEq(t, `{"id":"u-1"}`, string(body))

	// Latency runs from the scheduled time.
	_, _, err = s.send(ctx, tn, kProbe, entrasim.ProbeUsers("x"), time.Now().Add(-time.Second))
	require.NoError(t, err)
	require.GreaterOrEqual(t, rec.lat[kProbe][0], time.Second)

	srv.Close()
	_, _, err = s.send(ctx, tn, kGetUser, entrasim.GetUser("u-1"), time.Time{})
	require.Error(t, err)
	require.Equal(t, map[string]int{"503": 1, "conn": 1}, rec.errs)
	require.Equal(t, 4, rec.requests)

	// After the window, nothing is sent or counted.
	s.deadline = time.Now().Add(-time.Millisecond)
	_, _, err = s.send(ctx, tn, kGetUser, entrasim.GetUser("u-1"), time.Time{})
	require.ErrorIs(t, err, errWindowClosed)
	require.Equal(t, 4, rec.requests)
}
