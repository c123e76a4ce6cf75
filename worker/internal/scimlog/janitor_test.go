package scimlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/worker/internal/scimlog"
)

// TestMaintain keeps partitions ahead and drops those past the retention,
// on a fixed clock: near midnight a wall clock moves rows across days.
func TestMaintain(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, now := range []time.Time{t0, time.Date(2026, 6, 15, 23, 59, 59, 0, time.UTC), time.Date(2026, 6, 16, 0, 0, 0, 0, time.UTC)} {
		t.Run(now.Format(time.RFC3339), func(t *testing.T) {
			old := now.AddDate(0, 0, -31)
			require.NoError(t, scimlog.EnsurePartitions(ctx, e.st, old, 0))
			_, err := e.pool.Exec(ctx, `INSERT INTO scim_requests (at, request_id, method, path, status, latency_us) VALUES
				($1, 'old', 'GET', '/Users', 200, 1), ($2, 'ancient', 'GET', '/Users', 200, 1)`, old, old.AddDate(0, 0, -100))
			require.NoError(t, err)

			dropped, err := scimlog.Maintain(ctx, e.st, now)
			require.NoError(t, err)
			require.Contains(t, dropped, scimlog.PartitionName(old))
			names, err := e.st.LogPartitions(ctx)
			require.NoError(t, err)
			for i := range 3 {
				require.Contains(t, names, scimlog.PartitionName(now.AddDate(0, 0, i)))
			}
			require.NotContains(t, names, scimlog.PartitionName(old))
			var left int
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM scim_requests WHERE request_id IN ('old', 'ancient')`).Scan(&left))
			require.Zero(t, left, "default-partition rows past the retention are deleted too")
		})
	}
}
