package rejectlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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

// downStore fails writes as the store does while the database is away.
type downStore struct {
	memStore
	down atomic.Bool
}

func (d *downStore) InsertRejections(ctx context.Context, rs []tenant.Rejection) error {
	if d.down.Load() {
		return fmt.Errorf("%w: connection refused", tenant.ErrUnavailable)
	}
	return d.memStore.InsertRejections(ctx, rs)
}

// TestRecorder_HoldsRowsWhileTheDatabaseIsAway: refusals that cannot be
// written while the database is unavailable are written, in order, once
// it is back (before, the batch was dropped).
func TestRecorder_HoldsRowsWhileTheDatabaseIsAway(t *testing.T) {
	st := &downStore{}
	st.down.Store(true)
	r := New(Params{Store: st, Logger: slog.New(slog.DiscardHandler), Retention: time.Hour, Registry: prometheus.NewRegistry()})
	for i := range 5 {
		r.Record(tenant.Rejection{TenantID: "tnt_a", RequestID: fmt.Sprint(i), Status: 503})
	}
	time.Sleep(2 * flushInterval) // at least one failed write
	st.down.Store(false)
	r.Record(tenant.Rejection{TenantID: "tnt_a", RequestID: "5", Status: 401})
	r.Close()
	var ids []string
	for _, x := range st.rows {
		ids = append(ids, x.RequestID)
	}
	require.Equal(t, []string{"0", "1", "2", "3", "4", "5"}, ids)
	require.Zero(t, testutil.ToFloat64(r.dropped))
}
