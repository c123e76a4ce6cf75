// Package rejectlog records SCIM requests the control plane refuses before
// they reach a worker. Records are sampled per tenant (so a flood of bad
// tokens cannot flood the database), written in batches off the request
// path, and pruned by age.
package rejectlog

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

const (
	batchSize = 500
	// maxHeld bounds the rows kept while the database is unavailable; past
	// it the oldest are dropped (and counted).
	maxHeld       = 20000
	maxLimiters   = 100000
	flushInterval = time.Second
	pruneInterval = time.Hour
	// Per tenant at most perTenantRate records a second are kept, in bursts
	// of perTenantBurst; the rest are counted as dropped.
	perTenantRate  = 10
	perTenantBurst = 50
)

// Store persists rejections.
type Store interface {
	InsertRejections(ctx context.Context, rs []tenant.Rejection) error
	PruneRejections(ctx context.Context, before time.Time) error
}

// Recorder is safe for concurrent use.
type Recorder struct {
	store     Store
	log       *slog.Logger
	retention time.Duration
	ch        chan tenant.Rejection
	dropped   prometheus.Counter
	done      chan struct{}

	mu      sync.Mutex
	limits  map[string]*rate.Limiter
	stopped bool
}

// Params configures a Recorder.
type Params struct {
	Store     Store
	Logger    *slog.Logger
	Retention time.Duration
	Registry  prometheus.Registerer
}

// New starts a Recorder; Close flushes and stops it.
func New(p Params) *Recorder {
	r := &Recorder{
		store:     p.Store,
		log:       p.Logger,
		retention: p.Retention,
		ch:        make(chan tenant.Rejection, 4*batchSize),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimplane_scim_rejections_dropped_total",
			Help: "Refused SCIM requests not recorded (sampled out or buffer full).",
		}),
		done:   make(chan struct{}),
		limits: make(map[string]*rate.Limiter),
	}
	p.Registry.MustRegister(r.dropped)
	go r.run()
	return r
}

// maxText bounds the path and reason kept per record.
const maxText = 2048

// storable makes s valid UTF-8 without NUL, which PostgreSQL text needs
// (one bad row would fail the whole batch), and at most maxText bytes.
func storable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) > maxText {
		s = strings.ToValidUTF8(s[:maxText], "")
	}
	return s
}

// Record queues x without blocking. A path or reason that is not valid
// text (a request refused for that very reason) is kept with the bad bytes
// replaced by U+FFFD.
func (r *Recorder) Record(x tenant.Rejection) {
	x.Path, x.Reason = storable(x.Path), storable(x.Reason)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	l := r.limits[x.TenantID]
	if l == nil && len(r.limits) >= maxLimiters {
		// Tenant ids named by requests nobody could authenticate (the
		// database was down) are not all real: start over rather than grow.
		clear(r.limits)
	}
	if l == nil {
		l = rate.NewLimiter(perTenantRate, perTenantBurst)
		r.limits[x.TenantID] = l
	}
	if !l.Allow() {
		r.dropped.Inc()
		return
	}
	select {
	case r.ch <- x:
	default:
		r.dropped.Inc()
	}
}

// Close writes what is queued and stops the Recorder.
func (r *Recorder) Close() {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.ch)
	}
	r.mu.Unlock()
	<-r.done
}

func (r *Recorder) run() {
	defer close(r.done)
	flush := time.NewTicker(flushInterval)
	defer flush.Stop()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	batch := make([]tenant.Rejection, 0, batchSize)
	// held are rows a write could not store because the database was
	// unavailable; every later write tries them again, oldest first.
	var held []tenant.Rejection
	write := func() {
		if len(batch) == 0 && len(held) == 0 {
			return
		}
		rows := append(held, batch...)
		batch = batch[:0]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := r.store.InsertRejections(ctx, rows)
		switch {
		case err == nil:
			held = nil
		case errors.Is(err, tenant.ErrUnavailable):
			if over := len(rows) - maxHeld; over > 0 {
				r.dropped.Add(float64(over))
				rows = rows[over:]
			}
			if len(held) == 0 {
				r.log.Warn("holding scim rejections until the database is back", "count", len(rows), "err", err)
			}
			held = slices.Clip(rows)
		default:
			r.log.Warn("record scim rejections", "count", len(rows), "err", err)
			r.dropped.Add(float64(len(rows)))
			held = nil
		}
	}
	for {
		select {
		case x, ok := <-r.ch:
			if !ok {
				write()
				return
			}
			batch = append(batch, x)
			if len(batch) == batchSize {
				write()
			}
		case <-flush.C:
			write()
		case <-prune.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := r.store.PruneRejections(ctx, time.Now().Add(-r.retention)); err != nil {
				r.log.Warn("prune scim rejections", "err", err)
			}
			cancel()
		}
	}
}
