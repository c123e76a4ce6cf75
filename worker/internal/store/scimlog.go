package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// LogFilter selects SCIM log entries; zero fields do not filter.
type LogFilter struct {
	From, To     time.Time
	Status       int // exact status
	StatusClass  int // 2, 4 or 5 for 2xx, 4xx, 5xx
	Method       string
	ResourceType string
	ResourceID   string
	User         string // id, userName or externalId
	RequestID    string
	Text         string // in the summary or detail
	After        string // cursor
	Limit        int
}

const logCols = `id, at, request_id, method, path, query, coalesce(filter, ''), coalesce(resource_type, ''), coalesce(resource_id, ''),
	coalesce(external_id, ''), coalesce(user_name, ''), coalesce(display_name, ''), coalesce(summary, ''), status,
	coalesce(scim_type, ''), coalesce(detail, ''), latency_us`

func scanLog(r pgx.Row, withBodies bool) (scimworker.LogEntry, error) {
	var e scimworker.LogEntry
	dst := []any{&e.ID, &e.At, &e.RequestID, &e.Method, &e.Path, &e.Query, &e.Filter, &e.ResourceType, &e.ResourceID,
		&e.ExternalID, &e.UserName, &e.DisplayName, &e.Summary, &e.Status, &e.ScimType, &e.Detail, &e.LatencyUS}
	if withBodies {
		dst = append(dst, &e.RequestBody, &e.ResponseBody)
	}
	return e, r.Scan(dst...)
}

// QueryLog returns entries newest first. Every filter is served by an index
// (time, failures, request id, resource id, userName, externalId).
func (s *Store) QueryLog(ctx context.Context, f LogFilter) ([]scimworker.LogEntry, string, error) {
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
	if f.After != "" {
		at, id, err := parseLogCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(at, id) < ("+arg(at)+", "+arg(id)+")")
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
		return nil, "", mapErr(err, "query scim log")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimworker.LogEntry, error) { return scanLog(r, false) })
	if err != nil {
		return nil, "", mapErr(err, "query scim log")
	}
	next := ""
	if len(out) == f.Limit {
		last := out[len(out)-1]
		next = last.At.UTC().Format(time.RFC3339Nano) + "," + strconv.FormatInt(last.ID, 10)
	}
	return out, next, nil
}

func parseLogCursor(c string) (time.Time, int64, error) {
	ts, idText, ok := strings.Cut(c, ",")
	at, err := time.Parse(time.RFC3339Nano, ts)
	id, err2 := strconv.ParseInt(idText, 10, 64)
	if !ok || err != nil || err2 != nil {
		return time.Time{}, 0, fmt.Errorf("%w: bad cursor", ErrBadArgument)
	}
	return at, id, nil
}

// GetLog returns one entry with its bodies.
func (s *Store) GetLog(ctx context.Context, id int64) (*scimworker.LogEntry, error) {
	e, err := scanLog(s.pool.QueryRow(ctx, "SELECT "+logCols+", request_body, response_body FROM scim_requests WHERE id = $1", id), true)
	if err != nil {
		return nil, mapErr(err, "read scim log entry")
	}
	return &e, nil
}

// Health computes the summary of the last day from the log's indexes,
// without its quarantine warning.
func (s *Store) Health(ctx context.Context, now time.Time) (*scimworker.LogHealth, error) {
	h := &scimworker.LogHealth{TopErrors: []scimworker.ErrorCount{}}
	hour, day := now.Add(-time.Hour), now.Add(-24*time.Hour)
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM scim_requests WHERE at >= $1),
		(SELECT count(*) FROM scim_requests WHERE at >= $1 AND status >= 400),
		(SELECT count(*) FROM scim_requests WHERE at >= $2),
		(SELECT count(*) FROM scim_requests WHERE at >= $2 AND status >= 400),
		(SELECT max(at) FROM scim_requests WHERE at >= $3 AND status < 400)`, hour, day, now.Add(-30*24*time.Hour)).
		Scan(&h.LastHour.Requests, &h.LastHour.Failures, &h.LastDay.Requests, &h.LastDay.Failures, &h.LastSuccess)
	if err != nil {
		return nil, mapErr(err, "log health")
	}
	for _, w := range []*scimworker.LogWindow{&h.LastHour, &h.LastDay} {
		if w.Requests > 0 {
			w.FailureRate = float64(w.Failures) / float64(w.Requests)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT status, coalesce(scim_type, ''), left(coalesce(detail, ''), 200) AS d, count(*) FROM scim_requests
		WHERE at >= $1 AND status >= 400 GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1 LIMIT 5`, day)
	if err != nil {
		return nil, mapErr(err, "log health")
	}
	h.TopErrors, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimworker.ErrorCount, error) {
		var e scimworker.ErrorCount
		return e, r.Scan(&e.Status, &e.ScimType, &e.Detail, &e.Count)
	})
	return h, mapErr(err, "log health")
}

func partitionName(day time.Time) string { return "scim_requests_p" + day.Format("20060102") }

// EnsurePartitions creates the daily log partitions from today to days
// ahead. A partition that another worker created meanwhile is fine.
func (s *Store) EnsurePartitions(ctx context.Context, now time.Time, ahead int) error {
	today := now.UTC().Truncate(24 * time.Hour)
	for i := 0; i <= ahead; i++ {
		day := today.AddDate(0, 0, i)
		name := pgx.Identifier{partitionName(day)}.Sanitize()
		_, err := s.pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF scim_requests FOR VALUES FROM ('%s') TO ('%s')`,
			name, day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339)))
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("create log partition %s: %w", name, err)
		}
	}
	return nil
}

// MaintainLog keeps the log's daily partitions two days ahead of now and
// drops those past the tenant's retention; it returns the partitions
// dropped.
func (s *Store) MaintainLog(ctx context.Context, now time.Time) ([]string, error) {
	if err := s.EnsurePartitions(ctx, now, 2); err != nil {
		return nil, err
	}
	days, err := s.RetentionDays(ctx)
	if err != nil {
		return nil, err
	}
	return s.DropExpiredPartitions(ctx, now, days)
}

// RetentionDays returns the tenant's log retention.
func (s *Store) RetentionDays(ctx context.Context) (int, error) {
	var d int
	err := s.pool.QueryRow(ctx, `SELECT log_retention_days FROM settings`).Scan(&d)
	return d, mapErr(err, "read retention")
}

// SetRetentionDays changes the tenant's log retention.
func (s *Store) SetRetentionDays(ctx context.Context, days int) error {
	_, err := s.pool.Exec(ctx, `UPDATE settings SET log_retention_days = $1`, days)
	return mapErr(err, "set retention")
}

// DropExpiredPartitions drops whole daily partitions that end before the
// retention horizon, and deletes expired rows from the default partition.
func (s *Store) DropExpiredPartitions(ctx context.Context, now time.Time, days int) ([]string, error) {
	horizon := now.UTC().AddDate(0, 0, -days)
	// pg_partition_tree, not the catalogs, which workers may not read.
	rows, err := s.pool.Query(ctx, `SELECT relid::text FROM pg_partition_tree('scim_requests')
		WHERE level = 1 AND relid::text LIKE 'scim\_requests\_p%'`)
	if err != nil {
		return nil, mapErr(err, "list log partitions")
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, mapErr(err, "list log partitions")
	}
	var dropped []string
	for _, name := range names {
		day, err := time.Parse("20060102", strings.TrimPrefix(name, "scim_requests_p"))
		if err != nil || day.AddDate(0, 0, 1).After(horizon) {
			continue
		}
		if _, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return dropped, mapErr(err, "drop log partition")
		}
		dropped = append(dropped, name)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM scim_requests_default WHERE at < $1`, horizon); err != nil {
		return dropped, mapErr(err, "expire default log partition")
	}
	return dropped, nil
}
