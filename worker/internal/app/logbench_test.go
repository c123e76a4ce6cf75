package app

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
)

// BenchmarkLogQueries measures the support queries on a large SCIM log:
// SCIMPLANE_LOG_ROWS rows (default 200,000; the closing figures use
// 10,000,000) over 30 daily partitions, 5% failures, 50,000 users.
func BenchmarkLogQueries(b *testing.B) {
	rows := 200_000
	if v := os.Getenv("SCIMPLANE_LOG_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		rows = n
	}
	w := newTestWorker(b)
	ctx := context.Background()
	<-w.maintained
	now := time.Now().UTC()
	for d := 30; d >= 0; d-- {
		_, err := scimlog.Maintain(ctx, w.bound.Load().admin.Store, now.AddDate(0, 0, -d))
		require.NoError(b, err)
	}
	start := time.Now()
	const chunk = 500_000
	for done := 0; done < rows; done += chunk {
		n := min(chunk, rows-done)
		_, err := w.pool.Load().Exec(ctx, `INSERT INTO scim_requests (at, request_id, method, path, query, resource_type, resource_id, external_id,
			user_name, summary, status, scim_type, detail, latency_us, request_body, response_body)
			SELECT $2::timestamptz - (i * (interval '30 days' / $3::int)), 'req-' || i, CASE WHEN i % 3 = 0 THEN 'GET' ELSE 'PATCH' END,
			       '/Users/u-' || (i % 50000), '', 'User', 'u-' || (i % 50000), 'ext-' || (i % 50000), 'user' || (i % 50000) || '@contoso.com',
			       'patched user user' || (i % 50000) || '@contoso.com: replace title', CASE WHEN i % 20 = 0 THEN 409 ELSE 200 END,
			       CASE WHEN i % 20 = 0 THEN 'uniqueness' END, CASE WHEN i % 20 = 0 THEN 'userName already exists' END, 800,
			       '{"Operations":[{"op":"Replace","path":"title","value":"Engineer"}]}', '{"id":"u-1","userName":"x"}'
			FROM generate_series($1::int, $1::int + $4::int - 1) AS i`, done, now, rows, n)
		require.NoError(b, err)
	}
	_, err := w.pool.Load().Exec(ctx, `ANALYZE scim_requests`)
	require.NoError(b, err)
	b.Logf("seeded %d log rows in %v", rows, time.Since(start).Round(time.Second))

	queries := []struct {
		name  string
		query scimworker.LogQuery
	}{
		{"last_hour_failures", scimworker.LogQuery{Status: "4xx", From: now.Add(-time.Hour).Format(time.RFC3339)}},
		{"one_user", scimworker.LogQuery{User: "user4242@contoso.com"}},
		{"one_user_by_id", scimworker.LogQuery{User: "u-4242"}},
		{"one_request_id", scimworker.LogQuery{RequestID: "req-" + strconv.Itoa(rows/2)}},
		{"newest_page", scimworker.LogQuery{}},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := w.QueryLog(ctx, &q.query); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
