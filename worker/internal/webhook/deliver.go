package webhook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Cursor is a position in the change feed: (xid, seq).
type Cursor struct {
	Xid string
	Seq int64
}

// Claim is a delivery taken for one attempt.
type Claim struct {
	ID         int64
	WebhookID  string
	URL        string
	Generation int64
	MessageID  string
	Payload    []byte
	// Attempts counts this one.
	Attempts int
}

// Outcome is what an attempt got. Delivered ends the delivery; otherwise
// NextAttempt is when to try again, or zero when the delivery failed for
// good, and then Disable is the webhook's disabled reason.
type Outcome struct {
	ID          int64
	WebhookID   string
	At          time.Time
	Status      int
	Latency     time.Duration
	Error       string
	Excerpt     string
	Delivered   bool
	NextAttempt time.Time
	Disable     string
}

// Store is the outbox in the tenant's schema.
type Store interface {
	// PendingChanges reads up to limit committed changes after the
	// dispatch cursor, in commit order, and the cursor itself. hidden
	// reports committed changes after those that the feed's visibility
	// rule still holds back (an older transaction of the cluster is in
	// flight).
	PendingChanges(ctx context.Context, limit int) (changes []Change, cursor Cursor, hidden bool, err error)
	// Enqueue records a delivery of each event to every enabled webhook
	// subscribed to it (and created before it), and moves the cursor from
	// from to to, in one transaction; it does nothing if the cursor is no
	// longer at from.
	Enqueue(ctx context.Context, from, to Cursor, events []Event) error
	// Claim takes, for the enabled webhooks not in busy, up to perWebhook
	// due deliveries each that are the oldest pending of their order key,
	// counts the attempt and leases them until now+lease.
	Claim(ctx context.Context, now time.Time, busy []string, perWebhook int, lease time.Duration) ([]Claim, error)
	// Finish records an attempt's outcome.
	Finish(ctx context.Context, o *Outcome) error
	// NextDue is when the next delivery of a webhook not in busy is due
	// (zero: none), and when the next of any is (for the wake-up).
	NextDue(ctx context.Context, busy []string) (local, any time.Time, err error)
	// HasWebhooks reports whether the tenant has any webhook.
	HasWebhooks(ctx context.Context) (bool, error)
	// PruneDeliveries deletes the deliveries that ended before before.
	PruneDeliveries(ctx context.Context, before time.Time) error
}

// Retention is how long ended deliveries are kept.
const Retention = 30 * 24 * time.Hour

// Waker schedules a worker for the tenant when deliveries are due.
type Waker interface {
	ScheduleWake(ctx context.Context, at time.Time) error
}

// Params configure a Deliverer; zero durations take defaults.
type Params struct {
	Store Store
	Waker Waker
	// Key is the tenant's webhook key, which secrets derive from.
	Key          []byte
	AllowPrivate bool
	Log          *slog.Logger
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Schedule is the retry schedule (default Schedule).
	Schedule []time.Duration
	// PerWebhook is how many deliveries one endpoint gets at once
	// (default 4).
	PerWebhook int
	Now        func() time.Time
}

// Deliverer sends a tenant's deliveries in the background. Each webhook's
// batch of attempts runs on its own goroutines, so a slow endpoint holds
// up only its own deliveries; a user's events reach one endpoint in order
// because only the oldest pending delivery of an order key is attempted.
type Deliverer struct {
	p      Params
	client *http.Client
	nudge  chan struct{}
	// checked is closed once Run has looked whether the tenant has a
	// webhook.
	checked chan struct{}

	// active is set once the tenant has a webhook: until then a round
	// costs nothing, so a tenant without webhooks pays only for the
	// change rows.
	active atomic.Bool

	// sending counts the batches in flight, which Run waits for.
	sending sync.WaitGroup

	mu   sync.Mutex
	busy map[string]bool
	// reported is the wake-up last reported and when.
	reported, reportedAt time.Time
	// pruned is when ended deliveries were last pruned, lag how long the
	// deliverer waits to look again for changes held back (Run's
	// goroutine only).
	pruned time.Time
	lag    time.Duration
}

// NewDeliverer returns a Deliverer; Run starts it.
func NewDeliverer(p Params) *Deliverer {
	if p.Timeout == 0 {
		p.Timeout = 10 * time.Second
	}
	if p.Schedule == nil {
		p.Schedule = Schedule
	}
	if p.PerWebhook == 0 {
		p.PerWebhook = 4
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Deliverer{p: p, client: NewClient(p.AllowPrivate, p.Timeout), nudge: make(chan struct{}, 1), checked: make(chan struct{}), busy: map[string]bool{}}
}

// NewClient is the HTTP client deliveries go out with: no proxy, no
// redirects followed, only addresses the guard allows.
func NewClient(allowPrivate bool, timeout time.Duration) *http.Client {
	dialer := Dialer(allowPrivate, timeout)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Nudge makes the deliverer look for new changes and due deliveries now.
// It never blocks.
func (d *Deliverer) Nudge() {
	select {
	case d.nudge <- struct{}{}:
	default:
	}
}

// Checked is closed once Run has looked whether the tenant has a webhook,
// its only query for a tenant without one.
func (d *Deliverer) Checked() <-chan struct{} { return d.checked }

// Activate tells the deliverer the tenant has a webhook now.
func (d *Deliverer) Activate() {
	d.active.Store(true)
	d.Nudge()
}

// A change committed behind an older transaction still in flight (in any
// database of the cluster) becomes readable only when that one ends: while
// changes are held back, the deliverer looks again after minLag, doubling
// up to maxLag.
const (
	minLag = 250 * time.Millisecond
	maxLag = 30 * time.Second
)

// Run delivers until ctx is done. It touches the database only when
// nudged or when a delivery is due, so an idle tenant's connections can
// close.
func (d *Deliverer) Run(ctx context.Context) {
	if has, err := d.p.Store.HasWebhooks(ctx); has || err != nil {
		d.active.Store(true)
	}
	close(d.checked)
	defer d.sending.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := d.round(ctx)
		wait := time.Duration(-1)
		if !next.IsZero() {
			wait = max(next.Sub(d.p.Now()), 0)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.nudge:
		}
	}
}

// dispatchBatch is how many changes one dispatch transaction reads.
const dispatchBatch = 500

// round turns new changes into deliveries, starts the due ones and returns
// when the next is due (zero: nothing pending).
func (d *Deliverer) round(ctx context.Context) time.Time {
	if !d.active.Load() {
		return time.Time{}
	}
	hidden := false
	for {
		changes, cur, held, err := d.p.Store.PendingChanges(ctx, dispatchBatch)
		if err != nil {
			d.fail(ctx, "read changes for webhooks", err)
			return d.p.Now().Add(5 * time.Second)
		}
		hidden = held
		if len(changes) == 0 {
			break
		}
		events := make([]Event, 0, len(changes))
		for _, c := range changes {
			if ev, ok := FromChange(c); ok {
				events = append(events, ev)
			}
		}
		last := changes[len(changes)-1]
		to := Cursor{Xid: last.Xid, Seq: last.Seq}
		if err := d.p.Store.Enqueue(ctx, cur, to, events); err != nil {
			d.fail(ctx, "queue webhook deliveries", err)
			return d.p.Now().Add(5 * time.Second)
		}
		if len(changes) < dispatchBatch {
			break
		}
	}
	if now := d.p.Now(); now.Sub(d.pruned) >= time.Hour {
		d.pruned = now
		if err := d.p.Store.PruneDeliveries(ctx, now.Add(-Retention)); err != nil {
			d.fail(ctx, "prune webhook deliveries", err)
		}
	}
	busy := d.busyList()
	claims, err := d.p.Store.Claim(ctx, d.p.Now(), busy, d.p.PerWebhook, d.p.Timeout+20*time.Second)
	if err != nil {
		d.fail(ctx, "claim webhook deliveries", err)
		return d.p.Now().Add(5 * time.Second)
	}
	byHook := map[string][]Claim{}
	for _, c := range claims {
		byHook[c.WebhookID] = append(byHook[c.WebhookID], c)
	}
	d.mu.Lock()
	for id := range byHook {
		d.busy[id] = true
	}
	d.mu.Unlock()
	for id, cs := range byHook {
		d.sending.Add(1)
		go d.sendBatch(ctx, id, cs)
	}
	local, any, err := d.p.Store.NextDue(ctx, d.busyList())
	if err != nil {
		d.fail(ctx, "next webhook delivery", err)
		return d.p.Now().Add(5 * time.Second)
	}
	if hidden {
		// Look again soon, and have the tenant woken for it should this
		// worker stop first.
		d.lag = min(max(2*d.lag, minLag), maxLag)
		again := d.p.Now().Add(d.lag)
		local, any = earliest(local, again), earliest(any, again)
	} else {
		d.lag = 0
	}
	d.report(ctx, any)
	return local
}

// earliest is the earlier of two times, a zero one meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

func (d *Deliverer) busyList() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.busy))
	for id := range d.busy {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// report tells the control plane when deliveries are next due, when that
// changed or a minute passed (the control plane forgets a wake-up once it
// acts on it).
func (d *Deliverer) report(ctx context.Context, at time.Time) {
	if d.p.Waker == nil {
		return
	}
	now := d.p.Now()
	d.mu.Lock()
	same := at.Equal(d.reported) && now.Sub(d.reportedAt) < time.Minute
	d.mu.Unlock()
	if same {
		return
	}
	if err := d.p.Waker.ScheduleWake(ctx, at); err != nil {
		d.fail(ctx, "schedule wake-up", err)
		return
	}
	d.mu.Lock()
	d.reported, d.reportedAt = at, now
	d.mu.Unlock()
}

func (d *Deliverer) fail(ctx context.Context, what string, err error) {
	if ctx.Err() == nil {
		d.p.Log.WarnContext(ctx, what, "err", err)
	}
}

// sendBatch attempts one webhook's claimed deliveries at once, records
// each outcome, then frees the webhook for the next round.
func (d *Deliverer) sendBatch(ctx context.Context, webhookID string, claims []Claim) {
	defer d.sending.Done()
	var wg sync.WaitGroup
	for _, c := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := d.attempt(ctx, &c)
			if ctx.Err() != nil {
				// Stopping: the lease runs out and the delivery is
				// attempted again, by this tenant's next worker.
				return
			}
			if err := d.p.Store.Finish(ctx, o); err != nil {
				// The lease runs out and the delivery is attempted again:
				// at least once.
				d.fail(ctx, "record webhook delivery", err)
			}
		}()
	}
	wg.Wait()
	d.mu.Lock()
	delete(d.busy, webhookID)
	d.mu.Unlock()
	d.Nudge()
}

// excerptBytes bounds the response excerpt kept.
const excerptBytes = 1024

// attempt sends one delivery and decides what follows.
func (d *Deliverer) attempt(ctx context.Context, c *Claim) *Outcome {
	started := d.p.Now()
	o := &Outcome{ID: c.ID, WebhookID: c.WebhookID, At: started}
	ctx, cancel := context.WithTimeout(ctx, d.p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, strings.NewReader(string(c.Payload)))
	if err == nil {
		ts := started.Unix()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "scimplane-webhooks/1")
		req.Header.Set("webhook-id", c.MessageID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", Sign(Secret(d.p.Key, c.WebhookID, c.Generation), c.MessageID, ts, c.Payload))
		var resp *http.Response
		resp, err = d.client.Do(req)
		if err == nil {
			o.Status = resp.StatusCode
			b, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			o.Excerpt = excerpt(b)
		}
	}
	o.Latency = d.p.Now().Sub(started)
	switch {
	case err != nil:
		o.Error = attemptError(err)
	case o.Status >= 200 && o.Status < 300:
		o.Delivered = true
		return o
	default:
		o.Error = "endpoint answered " + strconv.Itoa(o.Status)
	}
	if next, ok := Retry(d.p.Schedule, c.Attempts, d.p.Now()); ok {
		o.NextAttempt = next
	} else {
		o.Disable = "disabled after " + strconv.Itoa(c.Attempts) + " failed attempts of delivery " +
			strconv.FormatInt(c.ID, 10) + ": " + o.Error
	}
	return o
}

func attemptError(err error) string {
	var timeout interface{ Timeout() bool }
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return "refused: the endpoint resolves to an address webhooks may not reach"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return "timed out"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// excerpt is b as valid UTF-8 text.
func excerpt(b []byte) string {
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}
