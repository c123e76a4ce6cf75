package entrasim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClient_Retries checks Entra's retry behaviour: 429 and 503 are retried
// honouring Retry-After, a steady 500 is given up after a few attempts, 4xx
// is not retried, and the bearer token and media type are sent.
func TestClient_Retries(t *testing.T) {
	tests := []struct {
		name      string
		responses []int // status per attempt; the last one repeats
		header    string
		wantErr   bool
		wantCalls int64
		minWait   time.Duration
	}{
		{name: "429 then ok honours Retry-After", responses: []int{429, 200}, header: "1", wantCalls: 2, minWait: time.Second},
		{name: "503 then ok", responses: []int{503, 503, 200}, wantCalls: 3},
		{name: "steady 500 gives up", responses: []int{500}, wantErr: true, wantCalls: 9},
		{name: "400 is final", responses: []int{400}, wantErr: true, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
				n := int(calls.Add(1)) - 1
				status := tc.responses[min(n, len(tc.responses)-1)]
				if tc.header != "" && status != 200 {
					w.Header().Set("Retry-After", tc.header)
				}
				w.Header().Set("Content-Type", "application/scim+json")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			c, err := NewClient(srv.URL+"/scim/t/v2", "tok", time.Minute)
			require.NoError(t, err)
			start := time.Now()
			_, err = c.Do(context.Background(), GetUser("u-1"), false)
			if tc.wantErr {
				var se *StatusError
				require.ErrorAs(t, err, &se)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantCalls, calls.Load())
			require.GreaterOrEqual(t, time.Since(start), tc.minWait)
		})
	}
}

func TestClient_RetriesConnectionFailuresUntilDeadline(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, err := NewClient(url, "tok", 500*time.Millisecond)
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Do(context.Background(), GetUser("u-1"), false)
	require.Error(t, err)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Contains(t, c.Stats(), "0 responses")
}

// TestClient_ReportsEveryExchange checks that every attempt is reported,
// with its own request id, status and Retry-After, and that a transport
// error is reported without a status.
func TestClient_ReportsEveryExchange(t *testing.T) {
	var calls atomic.Int64
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids = append(ids, r.Header.Get("X-Request-Id"))
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	c, err := NewClient(srv.URL+"/scim/t/v2", "tok", time.Minute)
	require.NoError(t, err)
	c.RequestIDPrefix = "t1"
	var got []*Exchange
	c.OnExchange = func(x *Exchange) { got = append(got, x) }
	_, err = c.Do(context.Background(), GetUser("u-1"), false)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, []string{"t1-1", "t1-2"}, ids)
	require.Equal(t, "t1-1", got[0].RequestID)
	require.Equal(t, http.StatusServiceUnavailable, got[0].Status)
	require.Equal(t, "0", got[0].Header.Get("Retry-After"))
	require.False(t, got[0].Wanted)
	require.Equal(t, 0, got[0].Attempt)
	require.Equal(t, http.StatusOK, got[1].Status)
	require.True(t, got[1].Wanted)
	require.Equal(t, 1, got[1].Attempt)
	require.False(t, got[1].Write)

	srv.Close()
	got = nil
	c, err = NewClient(srv.URL+"/scim/t/v2", "tok", 0)
	require.NoError(t, err)
	c.OnExchange = func(x *Exchange) { got = append(got, x) }
	_, err = c.Do(context.Background(), DeleteUser("u-1"), false)
	require.Error(t, err)
	require.Len(t, got, 1)
	require.Zero(t, got[0].Status)
	require.Error(t, got[0].Err)
	require.True(t, got[0].Write)
}
