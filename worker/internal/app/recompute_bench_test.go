package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkRecomputeAll activates a policy over 100,000 users in 5,000
// groups (three memberships each): every user re-evaluated and stored, in
// batches of provision.RecomputeBatch, each its own transaction.
func BenchmarkRecomputeAll(b *testing.B) {
	w := newTestWorker(b)
	ctx := context.Background()
	seedUsers(b, w, 100_000)
	_, err := w.pool.Load().Exec(ctx, `INSERT INTO groups (id, display_name, doc, created, last_modified)
		SELECT 'g-' || i, 'G-' || i, jsonb_build_object('displayName', 'G-' || i), now(), now() FROM generate_series(0, 4999) i`)
	require.NoError(b, err)
	_, err = w.pool.Load().Exec(ctx, `INSERT INTO members (group_id, user_id)
		SELECT 'g-' || ((i * 7 + k * 1667) % 5000), 'u-' || i FROM generate_series(0, 99999) i, generate_series(0, 2) k ON CONFLICT DO NOTHING`)
	require.NoError(b, err)
	_, err = w.pool.Load().Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	bundle := defaultBundle(b, `{"permission_sets":{"viewer":{"permissions":["forms.view"]},"designer":{"permissions":["forms.view","forms.design"]}},
		"grants":[{"name":"g1","group":{"displayName":"G-1"},"sets":["viewer"]},{"name":"g2","group":{"id":"g-2"},"sets":["designer"]}]}`)
	var version int64
	for b.Loop() {
		version++
		start := time.Now()
		out, err := activate(b, w, version, bundle)
		require.NoError(b, err)
		require.Equal(b, 100_000, out.Users)
		b.ReportMetric(float64(time.Since(start).Microseconds())/100_000, "µs/user")
	}
}
