package scimlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/scimplane/scimplane/plugins/tracing"
)

// Writer is what the Recorder needs of storage: rows written after the
// fact, together, in one transaction. Its error wraps ErrUnavailable when
// the database could not be reached.
type Writer interface {
	WriteLog(ctx context.Context, entries []*Entry) error
}

// ErrUnavailable marks a write that failed because the database could not
// be reached: its rows are held and written again.
var ErrUnavailable = errors.New("database unavailable")

// transient reports whether a failed write may succeed later.
func transient(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// TxWriter is a change's transaction, which writes its log row with it.
type TxWriter interface {
	Log(ctx context.Context, e *Entry) error
}

// Recorder writes a tenant's SCIM log; it is the only writer. Every
// exchange gets a Capture (Begin). A write use case queues the row in its
// own transaction (Capture.WithChange inside Capture.Change), so the row
// commits or rolls back with the change; every other exchange, and every
// write whose transaction did not commit, is written by Finish before the
// reply leaves.
//
// Finish writes with a context detached from the request's (a client that
// went away still leaves its row) and batches the rows of concurrent
// exchanges into one transaction. A row that cannot be written (the
// database is down) is kept in a bounded in-memory spool and written with
// the next batch that succeeds, or by Replay, which the worker calls in
// the background.
type Recorder struct {
	w     Writer
	log   *slog.Logger
	limit SpoolLimit
	now   func() time.Time

	mu       sync.Mutex
	pending  []*pendingWrite
	flushing bool
	spool    []*Entry // oldest first
	spooled  int      // bytes in spool
	stripped int      // spool[:stripped] hold no bodies
	lost     int      // rows dropped since the last report
	// retryAt: until then, after a write found the database unreachable,
	// rows are held without trying (Replay keeps trying).
	retryAt time.Time
}

// SpoolLimit bounds the rows a Recorder holds while the database is
// unreachable: past Bytes, spooled rows lose their bodies; past Rows, the
// oldest are dropped (and counted in the worker's log).
type SpoolLimit struct {
	Rows  int
	Bytes int
}

// DefaultSpoolLimit holds a few minutes of a busy tenant's traffic.
var DefaultSpoolLimit = SpoolLimit{Rows: 50_000, Bytes: 32 << 20}

// RecorderParams configure a Recorder.
type RecorderParams struct {
	Writer Writer
	Logger *slog.Logger
	// Limit bounds the spool; zero is DefaultSpoolLimit.
	Limit SpoolLimit
	// Now paces write attempts while the database is down; nil is
	// time.Now.
	Now func() time.Time
}

// NewRecorder returns a Recorder.
func NewRecorder(p RecorderParams) *Recorder {
	if p.Limit == (SpoolLimit{}) {
		p.Limit = DefaultSpoolLimit
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Recorder{w: p.Writer, log: p.Logger, limit: p.Limit, now: p.Now}
}

// retryEvery is how long, after a write found the database unreachable,
// Finish holds the rows of failed exchanges (5xx) without trying to write
// them: replies do not wait on a database known to be down, and it is not
// hammered. An exchange that was served tries at once: the database most
// likely served it, and its write takes the held rows with it, before its
// reply, so that a worker killed just after the database came back loses
// none of them.
const retryEvery = time.Second

// errHeld is the outcome of a row held without a try.
var errHeld = fmt.Errorf("%w: row held, the last write found the database unreachable", ErrUnavailable)

// Capture is one exchange's log row while the exchange is served. Use
// cases fill in what they learn (resource, names); the Recorder decides
// when the row is written.
type Capture struct {
	Entry
	// staged: the row is queued in the running transaction; written: a
	// transaction holding it committed.
	staged, written bool
}

// Begin starts the capture of an exchange.
func (r *Recorder) Begin(e Entry) *Capture { return &Capture{Entry: e} }

// Change runs a change's transaction (run) and notes whether it committed
// the row queued by WithChange. Each attempt starts afresh; the summary of
// a change that did not commit is dropped, since it did not happen.
func (c *Capture) Change(run func() error) error {
	c.staged = false
	err := run()
	switch {
	case err == nil && c.staged:
		c.written = true
	case err != nil && c.staged:
		c.Summary = ""
	}
	return err
}

// WithChange completes the row with the change's outcome and queues it in
// the change's transaction tx.
func (c *Capture) WithChange(ctx context.Context, tx TxWriter, status int, body []byte, summary string) error {
	c.Status, c.ResponseBody, c.Summary = status, body, summary
	c.Latency = time.Since(c.At)
	if err := tx.Log(ctx, c.prepared()); err != nil {
		return err
	}
	c.staged = true
	return nil
}

// Finish records the exchange's reply. Unless a change's transaction
// already committed the row, it writes the row now, and returns when it is
// written or spooled.
func (r *Recorder) Finish(ctx context.Context, c *Capture, status int, body []byte) {
	if c.written {
		return
	}
	c.Status, c.Latency, c.ResponseBody = status, time.Since(c.At), body
	if status >= 400 {
		var e struct {
			ScimType string `json:"scimType"`
			Detail   string `json:"detail"`
		}
		_ = json.Unmarshal(body, &e)
		c.ScimType, c.Detail = e.ScimType, e.Detail
	}
	// Rows held without a try are not reported one by one: at most the
	// one attempt a second that found the database down is.
	wctx, span := tracing.Start(context.WithoutCancel(ctx), "scimlog.write")
	err := r.write(wctx, c.prepared())
	span.End()
	if err != nil && err != errHeld && transient(err) {
		r.log.WarnContext(ctx, "scim log row held back until the database is back", "request_id", c.RequestID, "err", err)
	}
}

// pendingWrite is a row waiting for the batch in flight.
type pendingWrite struct {
	e *Entry
	// done receives the write's result, or errLead: write the batch.
	done chan error
}

// writeTimeout bounds one batch write.
const writeTimeout = 10 * time.Second

// replayBatch is how many spooled rows ride along with one batch.
const replayBatch = 500

// write writes e with the rows of concurrent exchanges. The first writer
// to find no write in flight writes everything pending; writers that
// arrive meanwhile wait, and when it is done one of them writes
// everything pending then, and so on. Nobody waits for more than the
// write in flight and its own, and no goroutine runs between exchanges.
func (r *Recorder) write(ctx context.Context, e *Entry) error {
	w := &pendingWrite{e: e, done: make(chan error, 1)}
	r.mu.Lock()
	if e.Status >= 500 && r.now().Before(r.retryAt) {
		r.hold([]*Entry{e})
		r.mu.Unlock()
		return errHeld
	}
	r.pending = append(r.pending, w)
	lead := !r.flushing
	r.flushing = true
	r.mu.Unlock()
	if !lead {
		if err := <-w.done; err != errLead {
			return err
		}
	}
	r.flush(ctx)
	return <-w.done
}

// errLead tells a waiting writer to write the pending batch.
var errLead = &leadSignal{}

type leadSignal struct{}

func (*leadSignal) Error() string { return "write the pending log rows" }

func (r *Recorder) flush(ctx context.Context) {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	replay := r.takeSpool(replayBatch)
	r.mu.Unlock()

	rows := make([]*Entry, 0, len(replay)+len(batch))
	rows = append(rows, replay...)
	for _, w := range batch {
		rows = append(rows, w.e)
	}
	held, err := r.store(ctx, rows)

	r.mu.Lock()
	r.settle(held, err)
	for _, w := range batch {
		w.done <- err
	}
	if len(r.pending) == 0 {
		r.flushing = false
	} else {
		r.pending[0].done <- errLead
	}
	r.mu.Unlock()
	if err == nil && len(replay) > 0 {
		r.log.InfoContext(ctx, "wrote scim log rows held back during a database outage", "rows", len(replay))
	}
}

// takeSpool removes up to n of the oldest spooled rows; r.mu is held.
func (r *Recorder) takeSpool(n int) []*Entry {
	n = min(n, len(r.spool))
	out := r.spool[:n:n]
	r.spool = r.spool[n:]
	for _, e := range out {
		r.spooled -= e.size()
	}
	r.stripped = max(r.stripped-n, 0)
	return out
}

// settle notes a write's outcome: rows to hold, and whether the database
// was reachable; r.mu is held.
func (r *Recorder) settle(held []*Entry, err error) {
	switch {
	case len(held) > 0:
		r.hold(held)
		r.retryAt = r.now().Add(retryEvery)
	case err == nil:
		r.retryAt = time.Time{}
	}
}

// hold puts rows that could not be written in the spool, oldest first,
// within its limit; r.mu is held.
func (r *Recorder) hold(rows []*Entry) {
	inOrder := len(r.spool) == 0 || !rows[0].At.Before(r.spool[len(r.spool)-1].At)
	r.spool = append(r.spool, rows...)
	for _, e := range rows {
		r.spooled += e.size()
	}
	if !inOrder || !slices.IsSortedFunc(rows, byAt) {
		slices.SortStableFunc(r.spool, byAt)
		r.stripped = 0
	}
	for ; r.spooled > r.limit.Bytes && r.stripped < len(r.spool); r.stripped++ {
		e := r.spool[r.stripped]
		if e.RequestBody == nil && e.ResponseBody == nil {
			continue
		}
		r.spooled -= e.size()
		e.RequestBody, e.ResponseBody = nil, nil
		e.Summary = Cut(e.Summary, MaxText) + " (bodies dropped: the log spool was full)"
		r.spooled += e.size()
	}
	if over := len(r.spool) - r.limit.Rows; over > 0 {
		for _, e := range r.spool[:over] {
			r.spooled -= e.size()
		}
		r.spool = r.spool[over:]
		r.stripped = max(r.stripped-over, 0)
		r.lost += over
	}
}

func byAt(a, b *Entry) int { return a.At.Compare(b.At) }

// Held reports how many rows wait in the spool.
func (r *Recorder) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.spool)
}

// Replay writes the spooled rows, a batch at a time, until the spool is
// empty or the database is unreachable again. It returns the rows taken
// from the spool for good: written, or refused by the database (dropped
// and reported).
func (r *Recorder) Replay(ctx context.Context) int {
	r.mu.Lock()
	if lost := r.lost; lost > 0 {
		r.lost = 0
		r.log.ErrorContext(ctx, "scim log rows dropped: the database was unreachable and the spool full", "rows", lost)
	}
	r.mu.Unlock()
	written := 0
	for ctx.Err() == nil {
		r.mu.Lock()
		if r.flushing || len(r.spool) == 0 {
			// A batch in flight takes spooled rows with it.
			r.mu.Unlock()
			return written
		}
		r.flushing = true
		rows := r.takeSpool(replayBatch)
		r.mu.Unlock()

		held, err := r.store(ctx, rows)
		r.mu.Lock()
		r.settle(held, err)
		if len(r.pending) == 0 {
			r.flushing = false
		} else {
			r.pending[0].done <- errLead
		}
		r.mu.Unlock()
		if len(held) > 0 {
			return written
		}
		written += len(rows)
	}
	return written
}

// store writes rows in one transaction and returns those to hold back, and
// the write's error. A failure that is not the database's absence means a
// row it refuses: the rows are then written one by one, and a row refused
// on its own is dropped and reported, so that it cannot block the others.
func (r *Recorder) store(ctx context.Context, rows []*Entry) ([]*Entry, error) {
	err := r.writeTimed(ctx, rows)
	if err == nil || transient(err) {
		if err != nil {
			return rows, err
		}
		return nil, nil
	}
	var held []*Entry
	for i, e := range rows {
		if len(rows) > 1 {
			err = r.writeTimed(ctx, rows[i:i+1])
		}
		switch {
		case err == nil:
		case transient(err):
			held = append(held, e)
		default:
			r.log.ErrorContext(ctx, "scim log row refused by the database, dropped", "request_id", e.RequestID, "at", e.At, "status", e.Status, "err", err)
		}
	}
	return held, err
}

func (r *Recorder) writeTimed(ctx context.Context, rows []*Entry) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return r.w.WriteLog(ctx, rows)
}
