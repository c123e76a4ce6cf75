package scimlog

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// ErrNotFound is what Store.GetLog returns for an id it does not hold.
var ErrNotFound = errors.New("log entry not found")

// Store is what support's side of the log needs of storage.
type Store interface {
	// QueryLog returns up to f.Limit entries newest first, without bodies.
	QueryLog(ctx context.Context, f Filter) ([]scimworker.LogEntry, error)
	// GetLog returns one entry with its bodies, or ErrNotFound.
	GetLog(ctx context.Context, id int64) (*scimworker.LogEntry, error)
	// LogCounts counts requests and failures since hour and day, finds the
	// last success since month and the day's five most frequent errors.
	LogCounts(ctx context.Context, hour, day, month time.Time) (*scimworker.LogHealth, error)
	Partitions
}

// Filter selects SCIM log entries; zero fields do not filter.
type Filter struct {
	From, To     time.Time
	Status       int // exact status
	StatusClass  int // 2, 4 or 5 for 2xx, 4xx, 5xx
	Method       string
	ResourceType string
	ResourceID   string
	User         string // id, userName or externalId
	RequestID    string
	Text         string // in the summary or detail
	// AfterAt and AfterID continue after the entry (AfterAt, AfterID) of a
	// previous page; a zero AfterAt starts at the newest.
	AfterAt time.Time
	AfterID int64
	Limit   int
}

// filter checks a query's filters and turns them into the store's.
func filter(q *scimworker.LogQuery) (Filter, error) {
	f := Filter{Method: q.Method, ResourceType: q.ResourceType, ResourceID: q.ResourceID, User: q.User,
		RequestID: q.RequestID, Text: q.Q, Limit: q.Limit}
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
	if q.After != "" {
		ts, idText, ok := strings.Cut(q.After, ",")
		at, err := time.Parse(time.RFC3339Nano, ts)
		id, err2 := strconv.ParseInt(idText, 10, 64)
		if !ok || err != nil || err2 != nil {
			return f, scimworker.BadRequest("bad cursor")
		}
		f.AfterAt, f.AfterID = at, id
	}
	return f, nil
}

// cursor is what continues after the last of a full page.
func cursor(entries []scimworker.LogEntry, limit int) string {
	if len(entries) == 0 || len(entries) < limit {
		return ""
	}
	last := entries[len(entries)-1]
	return last.At.UTC().Format(time.RFC3339Nano) + "," + strconv.FormatInt(last.ID, 10)
}

// Admin serves support's operations on the log of the tenant its worker
// is bound to (the log part of scimworker.Admin).
type Admin struct {
	store func() (Store, error)
	log   *slog.Logger
	now   func() time.Time
}

// NewAdmin returns an Admin over the store that store returns, which fails
// until the worker is bound. now is its clock (nil: time.Now).
func NewAdmin(store func() (Store, error), log *slog.Logger, now func() time.Time) *Admin {
	if now == nil {
		now = time.Now
	}
	return &Admin{store: store, log: log, now: now}
}

// refusal turns err into what the caller may see: refusals pass, anything
// else is logged and answered 500.
func (a *Admin) refusal(ctx context.Context, op string, err error) error {
	var refused *scimworker.Error
	if errors.As(err, &refused) {
		return refused
	}
	a.log.ErrorContext(ctx, "scim log operation failed", "op", op, "request_id", scimworker.RequestID(ctx), "err", err)
	return &scimworker.Error{Status: 500, Message: "internal error"}
}

// run gets the store and runs op on it, turning op's error into a
// refusal. A worker not bound yet cannot answer: that error passes as is.
func run[Rep any](ctx context.Context, a *Admin, name string, op func(Store) (*Rep, error)) (*Rep, error) {
	st, err := a.store()
	if err != nil {
		return nil, err
	}
	out, err := op(st)
	if err != nil {
		return nil, a.refusal(ctx, name, err)
	}
	return out, nil
}

// page bounds a page size: 50 by default, at most most.
func page(limit, most int) int {
	switch {
	case limit <= 0:
		return 50
	case limit > most:
		return most
	}
	return limit
}

// QueryLog is a page of the SCIM log, newest first.
func (a *Admin) QueryLog(ctx context.Context, req *scimworker.LogQuery) (*scimworker.LogPage, error) {
	return run(ctx, a, "query log", func(st Store) (*scimworker.LogPage, error) {
		f, err := filter(req)
		if err != nil {
			return nil, err
		}
		f.Limit = page(f.Limit, 1000)
		entries, err := st.QueryLog(ctx, f)
		if err != nil {
			return nil, err
		}
		if entries == nil {
			entries = []scimworker.LogEntry{}
		}
		return &scimworker.LogPage{Entries: entries, Next: cursor(entries, f.Limit)}, nil
	})
}

// GetLogEntry is one entry with its bodies.
func (a *Admin) GetLogEntry(ctx context.Context, req *scimworker.LogEntryRequest) (*scimworker.LogEntry, error) {
	return run(ctx, a, "get log entry", func(st Store) (*scimworker.LogEntry, error) {
		if req.ID <= 0 {
			return nil, scimworker.BadRequest(`a log entry needs a numeric "id"`)
		}
		e, err := st.GetLog(ctx, req.ID)
		if errors.Is(err, ErrNotFound) {
			return nil, scimworker.NotFound("log entry not found")
		}
		return e, err
	})
}

// exportPage is how many entries an export reads per query.
const exportPage = 1000

// ExportLog streams the entries the query selects, newest first, a page
// at a time, as NDJSON or CSV: the worker holds one page at a time, and
// the control plane copies the stream to its client.
func (a *Admin) ExportLog(ctx context.Context, req *scimworker.LogExportRequest, w io.Writer) error {
	st, err := a.store()
	if err != nil {
		return err
	}
	if req.Format != scimworker.FormatNDJSON && req.Format != scimworker.FormatCSV {
		return scimworker.BadRequest("format must be json, ndjson or csv")
	}
	q := req.LogQuery
	q.After = ""
	f, err := filter(&q)
	if err != nil {
		return err
	}
	f.Limit = exportPage
	// Nothing is written before the first page is read, so that a query
	// the store refuses is refused whole.
	entries, err := st.QueryLog(ctx, f)
	if err != nil {
		return a.refusal(ctx, "export log", err)
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
		if len(entries) < f.Limit {
			return out.flush()
		}
		last := entries[len(entries)-1]
		f.AfterAt, f.AfterID = last.At, last.ID
		if entries, err = st.QueryLog(ctx, f); err != nil {
			return a.refusal(ctx, "export log", err)
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
func (a *Admin) LogHealth(ctx context.Context, _ *scimworker.LogHealthRequest) (*scimworker.LogHealth, error) {
	return run(ctx, a, "log health", func(st Store) (*scimworker.LogHealth, error) {
		now := a.now()
		h, err := st.LogCounts(ctx, now.Add(-time.Hour), now.Add(-24*time.Hour), now.Add(-30*24*time.Hour))
		if err != nil {
			return nil, err
		}
		for _, w := range []*scimworker.LogWindow{&h.LastHour, &h.LastDay} {
			if w.Requests > 0 {
				w.FailureRate = float64(w.Failures) / float64(w.Requests)
			}
		}
		if h.TopErrors == nil {
			h.TopErrors = []scimworker.ErrorCount{}
		}
		h.QuarantineWarning = quarantineWarning(h)
		return h, nil
	})
}

// SetLogRetention stores the retention and drops what it expires.
func (a *Admin) SetLogRetention(ctx context.Context, req *scimworker.LogRetentionRequest) (*scimworker.LogRetention, error) {
	return run(ctx, a, "set log retention", func(st Store) (*scimworker.LogRetention, error) {
		days := req.Days
		if days == 0 {
			d, err := st.RetentionDays(ctx)
			if err != nil {
				return nil, err
			}
			days = d
		}
		if days < 1 || days > 3650 {
			return nil, scimworker.BadRequest("days must be between 1 and 3650")
		}
		if err := st.SetRetentionDays(ctx, days); err != nil {
			return nil, err
		}
		dropped, err := expire(ctx, st, a.now(), days)
		if err != nil {
			return nil, err
		}
		if dropped == nil {
			dropped = []string{}
		}
		return &scimworker.LogRetention{Days: days, Dropped: dropped}, nil
	})
}
