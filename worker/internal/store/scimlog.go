package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
	"github.com/scimplane/scimplane/worker/internal/store/dbsqlc"
)

var (
	_ scimlog.Store  = (*Store)(nil)
	_ scimlog.Writer = (*Store)(nil)
)

const logCols = `id, at, request_id, method, path, query, coalesce(filter, ''), coalesce(resource_type, ''), coalesce(resource_id, ''),
	coalesce(external_id, ''), coalesce(user_name, ''), coalesce(display_name, ''), coalesce(summary, ''), status,
	coalesce(scim_type, ''), coalesce(detail, ''), latency_us`

func scanLog(r pgx.Row) (scimworker.LogEntry, error) {
	var e scimworker.LogEntry
	return e, r.Scan(&e.ID, &e.At, &e.RequestID, &e.Method, &e.Path, &e.Query, &e.Filter, &e.ResourceType, &e.ResourceID,
		&e.ExternalID, &e.UserName, &e.DisplayName, &e.Summary, &e.Status, &e.ScimType, &e.Detail, &e.LatencyUS)
}

// QueryLog returns entries newest first. Every filter is served by an index
// (time, failures, request id, resource id, userName, externalId). Its
// WHERE clause is built from the filter, so it is written by hand, not
// generated (dbsqlc holds the log's static statements).
func (s *Store) QueryLog(ctx context.Context, f scimlog.Filter) ([]scimworker.LogEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.From.IsZero() {
		where = append(where, "at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "at < "+arg(f.To))
	}
	switch {
	case f.Status != 0:
		where = append(where, "status = "+arg(f.Status))
		if f.Status >= 400 {
			where = append(where, "status >= 400")
		}
	case f.StatusClass != 0:
		where = append(where, "status >= "+arg(f.StatusClass*100), "status < "+arg(f.StatusClass*100+100))
		if f.StatusClass >= 4 {
			where = append(where, "status >= 400")
		}
	}
	if f.Method != "" {
		where = append(where, "method = "+arg(strings.ToUpper(f.Method)))
	}
	if f.ResourceType != "" {
		where = append(where, "lower(resource_type) = lower("+arg(f.ResourceType)+")")
	}
	if f.ResourceID != "" {
		where = append(where, "resource_id = "+arg(f.ResourceID))
	}
	if f.User != "" {
		a := arg(f.User)
		where = append(where, "(resource_id = "+a+" OR lower(user_name) = lower("+a+") OR external_id = "+a+")")
	}
	if f.RequestID != "" {
		where = append(where, "request_id = "+arg(f.RequestID))
	}
	if f.Text != "" {
		a := arg(strings.ToLower(f.Text))
		where = append(where, "(strpos(lower(summary), "+a+") > 0 OR strpos(lower(detail), "+a+") > 0)")
	}
	if !f.AfterAt.IsZero() {
		where = append(where, "(at, id) < ("+arg(f.AfterAt)+", "+arg(f.AfterID)+")")
	}
	sql := "SELECT " + logCols + " FROM scim_requests"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	if f.User != "" || f.ResourceID != "" || f.RequestID != "" {
		// A key lookup matches few rows: find them all through their own
		// indexes first, rather than walking the time index past millions
		// of others, which the planner prefers once it sees the LIMIT.
		sql = "WITH m AS MATERIALIZED (" + sql + ") SELECT * FROM m"
	}
	sql += " ORDER BY at DESC, id DESC LIMIT " + arg(f.Limit)
	// Plan with the actual values every time: a cached generic plan cannot
	// see how selective a key is and was seen walking millions of rows.
	rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, mapErr(err, "query scim log")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimworker.LogEntry, error) { return scanLog(r) })
	return out, mapErr(err, "query scim log")
}

// GetLog returns one entry with its bodies.
func (s *Store) GetLog(ctx context.Context, id int64) (*scimworker.LogEntry, error) {
	r, err := s.q.GetLog(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, scimlog.ErrNotFound
	}
	if err != nil {
		return nil, mapErr(err, "read scim log entry")
	}
	return &scimworker.LogEntry{ID: r.ID, At: r.At, RequestID: r.RequestID, Method: r.Method, Path: r.Path, Query: r.Query,
		Filter: r.Filter, ResourceType: r.ResourceType, ResourceID: r.ResourceID, ExternalID: r.ExternalID, UserName: r.UserName,
		DisplayName: r.DisplayName, Summary: r.Summary, Status: int(r.Status), ScimType: r.ScimType, Detail: r.Detail,
		LatencyUS: r.LatencyUs, RequestBody: r.RequestBody, ResponseBody: r.ResponseBody}, nil
}

// LogCounts counts the log's requests and failures since hour and day,
// finds its last success since month and the day's five most frequent
// errors, from the log's indexes.
func (s *Store) LogCounts(ctx context.Context, hour, day, month time.Time) (*scimworker.LogHealth, error) {
	c, err := s.q.LogCounts(ctx, dbsqlc.LogCountsParams{Hour: hour, Day: day, Month: month})
	if err != nil {
		return nil, mapErr(err, "log health")
	}
	h := &scimworker.LogHealth{LastSuccess: timeOrNil(c.LastSuccess)}
	h.LastHour.Requests, h.LastHour.Failures = c.HourRequests, c.HourFailures
	h.LastDay.Requests, h.LastDay.Failures = c.DayRequests, c.DayFailures
	rows, err := s.q.LogTopErrors(ctx, day)
	if err != nil {
		return nil, mapErr(err, "log health")
	}
	h.TopErrors = make([]scimworker.ErrorCount, len(rows))
	for i, r := range rows {
		h.TopErrors[i] = scimworker.ErrorCount{Status: int(r.Status), ScimType: r.ScimType, Detail: r.D, Count: r.N}
	}
	return h, nil
}

// CreateLogPartition creates the log partition name for the UTC day
// starting at day. A partition that another worker created meanwhile is
// fine. Rows of that day already in the default partition (written before
// the partition existed, as a new tenant's first exchanges are) move into
// the new partition as it is created.
func (s *Store) CreateLogPartition(ctx context.Context, name string, day time.Time) error {
	table := pgx.Identifier{name}.Sanitize()
	from, to := day.UTC().Format(time.RFC3339), day.UTC().AddDate(0, 0, 1).Format(time.RFC3339)
	_, err := s.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF scim_requests FOR VALUES FROM ('%s') TO ('%s')`, table, from, to))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" {
		// check_violation: the default partition holds rows of the day.
		err = s.movePartitionOut(ctx, table, from, to)
	}
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create log partition %s: %w", name, err)
	}
	return nil
}

// movePartitionOut creates table as the partition [from, to) holding the
// rows of that range the default partition has, in one transaction. Inserts wait
// on the parent until it commits: one let through to the default partition
// (routed before the attach) would fail its partition check after it.
func (s *Store) movePartitionOut(ctx context.Context, table, from, to string) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, stmt := range []string{
			`LOCK TABLE scim_requests IN SHARE ROW EXCLUSIVE MODE`,
			`LOCK TABLE scim_requests_default IN ACCESS EXCLUSIVE MODE`,
			`CREATE TABLE ` + table + ` (LIKE scim_requests)`,
			fmt.Sprintf(`WITH moved AS (DELETE FROM scim_requests_default WHERE at >= '%s' AND at < '%s' RETURNING *)
				INSERT INTO %s SELECT * FROM moved`, from, to, table),
			fmt.Sprintf(`ALTER TABLE scim_requests ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`, table, from, to),
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}

// LogPartitions lists the log's daily partitions.
func (s *Store) LogPartitions(ctx context.Context) ([]string, error) {
	names, err := s.q.ListLogPartitions(ctx)
	return names, mapErr(err, "list log partitions")
}

// DropLogPartition drops one of the log's partitions.
func (s *Store) DropLogPartition(ctx context.Context, name string) error {
	_, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	return mapErr(err, "drop log partition")
}

// ExpireDefaultPartition deletes the rows of the log's default partition
// older than horizon.
func (s *Store) ExpireDefaultPartition(ctx context.Context, horizon time.Time) error {
	return mapErr(s.q.ExpireDefaultPartition(ctx, horizon), "expire default log partition")
}

// RetentionDays returns the tenant's log retention.
func (s *Store) RetentionDays(ctx context.Context) (int, error) {
	d, err := s.q.GetRetentionDays(ctx)
	return int(d), mapErr(err, "read retention")
}

// SetRetentionDays changes the tenant's log retention.
func (s *Store) SetRetentionDays(ctx context.Context, days int) error {
	return mapErr(s.q.SetRetentionDays(ctx, int32(days)), "set retention")
}

// WriteLog writes log rows after the fact (reads, failures, rows held
// back during an outage), together in one transaction. The rows are
// committed before the reply leaves, so a worker crash cannot lose them,
// but without waiting for the WAL flush: only a crash of PostgreSQL itself
// within its WAL writer delay could drop one.
func (s *Store) WriteLog(ctx context.Context, entries []*scimlog.Entry) error {
	pb := &pgx.Batch{}
	pb.Queue(`BEGIN`)
	pb.Queue(`SET LOCAL synchronous_commit TO OFF`)
	for _, e := range entries {
		pb.Queue(dbsqlc.InsertLog, logArgs(e)...)
	}
	pb.Queue(`COMMIT`)
	err := mapErr(s.pool.SendBatch(ctx, pb).Close(), "write scim log")
	if errors.Is(err, provision.ErrUnavailable) {
		return fmt.Errorf("%w: %w", scimlog.ErrUnavailable, err)
	}
	return err
}

// timeOrNil is a nullable timestamp sqlc types as any (an aggregate's).
func timeOrNil(v any) *time.Time {
	if t, ok := v.(time.Time); ok {
		return &t
	}
	return nil
}
