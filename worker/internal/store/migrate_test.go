package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/worker/internal/scimlog"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// TestMigrate_WithoutTheCatalogs: the control plane takes SELECT on the
// catalogs from PUBLIC (controlplane/internal/store, restrict_public), so
// the worker migrates its schema and maintains its log partitions without
// reading them: as a login role granted the tenant's, as in production.
func TestMigrate_WithoutTheCatalogs(t *testing.T) {
	ctx := context.Background()
	p, schema, _ := tenantPool(t, "REVOKE SELECT ON ALL TABLES IN SCHEMA pg_catalog, information_schema FROM PUBLIC")
	_, err := p.Exec(ctx, "SELECT count(*) FROM pg_tables")
	require.ErrorContains(t, err, "permission denied", "the catalogs are closed to the session")

	applied, err := store.Migrate(ctx, p, schema)
	require.NoError(t, err, "first migration")
	require.True(t, applied)
	applied, err = store.Migrate(ctx, p, schema)
	require.NoError(t, err, "already up to date")
	require.False(t, applied)

	st := store.New(p)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	// The log's janitor works as the worker's role, which reads no catalog.
	require.NoError(t, scimlog.EnsurePartitions(ctx, st, now.AddDate(0, 0, -40), 0))
	dropped, err := scimlog.Maintain(ctx, st, now)
	require.NoError(t, err)
	require.Equal(t, []string{"scim_requests_p" + now.AddDate(0, 0, -40).Format("20060102")}, dropped)
}

// A new tenant's first exchanges are logged before its worker has created
// the day's partition, so they land in the default partition; creating
// the partition then must move them, not fail with "updated partition
// constraint for default partition would be violated" at every round.
func TestCreateLogPartition_MovesTheDaysRowsOutOfTheDefault(t *testing.T) {
	ctx := context.Background()
	p, schema, _ := tenantPool(t)
	_, err := store.Migrate(ctx, p, schema)
	require.NoError(t, err)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{now, now.Add(-time.Hour), now.AddDate(0, 0, -3)} {
		_, err := p.Exec(ctx, `INSERT INTO scim_requests (at, request_id, method, path, status, latency_us) VALUES ($1, 'req', 'GET', '/Users', 200, 1)`, at)
		require.NoError(t, err)
	}
	count := func(table string) int {
		var n int
		require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		return n
	}
	require.Equal(t, 3, count("scim_requests_default"))

	require.NoError(t, scimlog.EnsurePartitions(ctx, store.New(p), now, 1))
	require.Equal(t, 2, count("scim_requests_p20260615"), "the day's rows moved")
	require.Equal(t, 0, count("scim_requests_p20260616"))
	require.Equal(t, 1, count("scim_requests_default"), "another day's row stays")
	require.Equal(t, 3, count("scim_requests"))

	// The partition is a real one: the day's new rows go there, and it
	// carries the log's indexes.
	_, err = p.Exec(ctx, `INSERT INTO scim_requests (at, request_id, method, path, status, latency_us) VALUES ($1, 'req2', 'GET', '/Users', 200, 1)`, now)
	require.NoError(t, err)
	require.Equal(t, 3, count("scim_requests_p20260615"))
	var indexes int
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE tablename = 'scim_requests_p20260615'").Scan(&indexes))
	require.Equal(t, 7, indexes, "primary key and the six log indexes")
	require.NoError(t, scimlog.EnsurePartitions(ctx, store.New(p), now, 1), "a second round finds them")
}

// An insert that comes while the day's rows move out of the default
// partition waits, and then lands in the new partition. (With only the
// default partition locked, it was routed there before the attach and
// failed its partition check after it: a write's COMMIT, or a read's log
// row, refused.)
func TestCreateLogPartition_ConcurrentInsertsWait(t *testing.T) {
	ctx := context.Background()
	p, schema, admin := tenantPool(t)
	_, err := store.Migrate(ctx, p, schema)
	require.NoError(t, err)
	now := time.Now().UTC()
	connect := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, admin)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(context.Background()) })
		_, err = c.Exec(ctx, "SET search_path TO "+pgx.Identifier{schema}.Sanitize())
		require.NoError(t, err)
		return c
	}
	const insert = `INSERT INTO scim_requests (at, request_id, method, path, status, latency_us) VALUES ($1, $2, 'GET', '/Users', 200, 1)`
	// An exchange's transaction has logged into the default partition.
	open := connect()
	tx, err := open.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, insert, now, "open")
	require.NoError(t, err)

	waiting := func(n int) {
		probe := connect()
		require.Eventually(t, func() bool {
			var waiters int
			require.NoError(t, probe.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiters))
			return waiters >= n
		}, 10*time.Second, 20*time.Millisecond)
	}
	// The partition is created, and waits for that transaction.
	created := make(chan error, 1)
	go func() { created <- scimlog.EnsurePartitions(ctx, store.New(p), now, 0) }()
	waiting(1)
	// Another exchange logs meanwhile.
	inserted := make(chan error, 1)
	go func() {
		_, err := connect().Exec(ctx, insert, now, "meanwhile")
		inserted <- err
	}()
	waiting(2)
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-created)
	require.NoError(t, <-inserted, "the insert that waited is not refused")

	var inPartition, inDefault int
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM "+scimlog.PartitionName(now)).Scan(&inPartition))
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM scim_requests_default").Scan(&inDefault))
	require.Equal(t, 2, inPartition, "both rows are in the day's partition")
	require.Zero(t, inDefault)
}
