package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// logFilter checks a query's filters and turns them into the store's.
func logFilter(q *scimworker.LogQuery) (store.LogFilter, error) {
	f := store.LogFilter{Method: q.Method, ResourceType: q.ResourceType, ResourceID: q.ResourceID, User: q.User,
		RequestID: q.RequestID, Text: q.Q, After: q.After, Limit: q.Limit}
	for _, t := range []struct {
		text string
		dst  *time.Time
	}{{q.From, &f.From}, {q.To, &f.To}} {
		if t.text == "" {
			continue
		}
		var err error
		if *t.dst, err = time.Parse(time.RFC3339Nano, t.text); err != nil {
			return f, scimworker.BadRequest("from and to are RFC 3339 times")
		}
	}
	switch s := strings.ToLower(q.Status); {
	case s == "":
	case len(s) == 3 && strings.HasSuffix(s, "xx") && s[0] >= '1' && s[0] <= '5':
		f.StatusClass = int(s[0] - '0')
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return f, scimworker.BadRequest("status is a code like 409 or a class like 4xx")
		}
		f.Status = n
	}
	return f, nil
}

// QueryLog is a page of the SCIM log, newest first.
func (a *Server) QueryLog(ctx context.Context, req *scimworker.LogQuery) (*scimworker.LogPage, error) {
	return run(ctx, a, "query log", func(t *Tenant) (*scimworker.LogPage, error) {
		f, err := logFilter(req)
		if err != nil {
			return nil, err
		}
		f.Limit = page(f.Limit, 1000)
		entries, next, err := t.Store.QueryLog(ctx, f)
		if err != nil {
			return nil, err
		}
		return &scimworker.LogPage{Entries: orEmpty(entries), Next: next}, nil
	})
}

// GetLogEntry is one entry with its bodies.
func (a *Server) GetLogEntry(ctx context.Context, req *scimworker.LogEntryRequest) (*scimworker.LogEntry, error) {
	return run(ctx, a, "get log entry", func(t *Tenant) (*scimworker.LogEntry, error) {
		if req.ID <= 0 {
			return nil, scimworker.BadRequest(`a log entry needs a numeric "id"`)
		}
		e, err := t.Store.GetLog(ctx, req.ID)
		if errors.Is(err, provision.ErrNotFound) {
			return nil, scimworker.NotFound("log entry not found")
		}
		return e, err
	})
}

// exportPage is how many entries an export reads per query.
const exportPage = 1000

// ExportLog writes the entries the query selects, newest first, a page at a
// time, as NDJSON or CSV.
func (a *Server) ExportLog(ctx context.Context, req *scimworker.LogExportRequest, w io.Writer) error {
	t, err := a.tenant()
	if err != nil {
		return err
	}
	if req.Format != scimworker.FormatNDJSON && req.Format != scimworker.FormatCSV {
		return scimworker.BadRequest("format must be json, ndjson or csv")
	}
	f, err := logFilter(&req.LogQuery)
	if err != nil {
		return err
	}
	f.After, f.Limit = "", exportPage
	// Nothing is written before the first page is read, so that a query
	// the store refuses is refused whole.
	entries, next, err := t.Store.QueryLog(ctx, f)
	if err != nil {
		return a.refusal(ctx, t, "export log", err)
	}
	var out rowWriter = ndjsonRows{json.NewEncoder(w)}
	if req.Format == scimworker.FormatCSV {
		cw := csvRows{csv.NewWriter(w)}
		if err := cw.w.Write(scimworker.LogCSVColumns); err != nil {
			return err
		}
		out = cw
	}
	for rows := 0; ; {
		for i := range entries {
			if rows == scimworker.MaxExportRows {
				return out.flush()
			}
			if err := out.write(&entries[i]); err != nil {
				return err
			}
			rows++
		}
		if next == "" {
			return out.flush()
		}
		f.After = next
		if entries, next, err = t.Store.QueryLog(ctx, f); err != nil {
			return a.refusal(ctx, t, "export log", err)
		}
	}
}

// rowWriter writes an export's rows in one format.
type rowWriter interface {
	write(e *scimworker.LogEntry) error
	flush() error
}

type ndjsonRows struct{ enc *json.Encoder }

func (r ndjsonRows) write(e *scimworker.LogEntry) error { return r.enc.Encode(e) }
func (ndjsonRows) flush() error                         { return nil }

type csvRows struct{ w *csv.Writer }

func (r csvRows) write(e *scimworker.LogEntry) error { return r.w.Write(e.CSVRecord()) }
func (r csvRows) flush() error {
	r.w.Flush()
	return r.w.Error()
}

// Entra quarantines a provisioning job when nearly every call fails, or,
// from 5,000 failures on, when more than 40% fail or more than 40,000 fail.
// The warning fires well before those lines.
const (
	warnFailureRate  = 0.30
	warnMinFailures  = 1000
	warnFailureCount = 30000
)

func quarantineWarning(h *scimworker.LogHealth) string {
	d := h.LastDay
	switch {
	case d.Failures >= warnFailureCount:
		return "over " + strconv.Itoa(warnFailureCount) + " failed requests in the last day: Entra quarantines a job past 40,000 failures"
	case d.Failures >= warnMinFailures && d.FailureRate >= warnFailureRate:
		return strconv.Itoa(int(d.FailureRate*100)) + "% of the last day's requests failed: Entra quarantines a job past 40% failures (from 5,000 failures on)"
	case h.LastHour.Requests >= 20 && h.LastHour.FailureRate >= 0.9:
		return "nearly every request in the last hour failed: Entra quarantines a job whose calls all fail (bad credentials, incompatible responses)"
	}
	return ""
}

// LogHealth summarises the log and warns of a quarantine ahead.
func (a *Server) LogHealth(ctx context.Context, _ *scimworker.LogHealthRequest) (*scimworker.LogHealth, error) {
	return run(ctx, a, "log health", func(t *Tenant) (*scimworker.LogHealth, error) {
		h, err := t.Store.Health(ctx, a.now())
		if err != nil {
			return nil, err
		}
		h.QuarantineWarning = quarantineWarning(h)
		return h, nil
	})
}

// SetLogRetention stores the retention and drops what it expires.
func (a *Server) SetLogRetention(ctx context.Context, req *scimworker.LogRetentionRequest) (*scimworker.LogRetention, error) {
	return run(ctx, a, "set log retention", func(t *Tenant) (*scimworker.LogRetention, error) {
		days := req.Days
		if days == 0 {
			d, err := t.Store.RetentionDays(ctx)
			if err != nil {
				return nil, err
			}
			days = d
		}
		if days < 1 || days > 3650 {
			return nil, scimworker.BadRequest("days must be between 1 and 3650")
		}
		if err := t.Store.SetRetentionDays(ctx, days); err != nil {
			return nil, err
		}
		dropped, err := t.Store.DropExpiredPartitions(ctx, a.now(), days)
		if err != nil {
			return nil, err
		}
		return &scimworker.LogRetention{Days: days, Dropped: orEmpty(dropped)}, nil
	})
}
