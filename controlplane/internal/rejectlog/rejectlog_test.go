package rejectlog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

type memStore struct {
	mu   sync.Mutex
	rows []tenant.Rejection
}

func (m *memStore) InsertRejections(_ context.Context, rs []tenant.Rejection) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = append(m.rows, rs...)
	return nil
}

func (m *memStore) PruneRejections(context.Context, time.Time) error { return nil }

func TestRecorder_SamplesPerTenantAndFlushesOnClose(t *testing.T) {
	st := &memStore{}
	r := New(Params{Store: st, Logger: slog.New(slog.DiscardHandler), Retention: time.Hour, Registry: prometheus.NewRegistry()})
	for range 200 {
		r.Record(tenant.Rejection{TenantID: "tnt_a", Status: 401})
	}
	r.Record(tenant.Rejection{TenantID: "tnt_b", Status: 429})
	r.Close()
	r.Record(tenant.Rejection{TenantID: "tnt_b", Status: 429}) // after Close: ignored

	perTenant := map[string]int{}
	for _, x := range st.rows {
		perTenant[x.TenantID]++
	}
	require.GreaterOrEqual(t, perTenant["tnt_a"], perTenantBurst)
	require.Less(t, perTenant["tnt_a"], 200)
	require.Equal(t, 1, perTenant["tnt_b"])
	require.Equal(t, float64(200-perTenant["tnt_a"]), testutil.ToFloat64(r.dropped))
}

func TestRecorder_KeepsTextPostgreSQLCanStore(t *testing.T) {
	st := &memStore{}
	r := New(Params{Store: st, Logger: slog.New(slog.DiscardHandler), Retention: time.Hour, Registry: prometheus.NewRegistry()})
	r.Record(tenant.Rejection{TenantID: "tnt_a", Path: "/scim/tnt_a/v2/Users/\xff\x00x", Reason: "bad \xfe", Status: 400})
	r.Record(tenant.Rejection{TenantID: "tnt_a", Path: "/" + strings.Repeat("é", 2000), Status: 400})
	r.Close()
	require.Len(t, st.rows, 2)
	require.Equal(t, "/scim/tnt_a/v2/Users/\uFFFD\uFFFDx", st.rows[0].Path)
	require.Equal(t, "bad \uFFFD", st.rows[0].Reason)
	require.True(t, utf8.ValidString(st.rows[1].Path))
	require.LessOrEqual(t, len(st.rows[1].Path), maxText)
}
