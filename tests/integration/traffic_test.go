package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/entrasim"
)

// trafficLog records every exchange the suite's SCIM clients have (each
// attempt, answered or not) with the tenant it was for, and names the
// phases of a run so that each exchange counts in the phase it started in.
type trafficLog struct {
	mu        sync.Mutex
	exchanges []exchange
	phases    []phaseMark
}

type exchange struct {
	*entrasim.Exchange
	tenant string
}

type phaseMark struct {
	name string
	at   time.Time
}

// begin starts a phase: exchanges started from now on count in it.
func (l *trafficLog) begin(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phases = append(l.phases, phaseMark{name, time.Now()})
}

func (l *trafficLog) phaseOf(at time.Time) string {
	name := ""
	for _, p := range l.phases {
		if !at.Before(p.at) {
			name = p.name
		}
	}
	return name
}

// client returns a SCIM client for tn that names every exchange
// <prefix>-<n> in X-Request-Id and records it here. retryFor 0 sends each
// request once.
func (l *trafficLog) client(t *testing.T, tn tenant, prefix string, retryFor time.Duration) *entrasim.Client {
	t.Helper()
	c, err := entrasim.NewClient(tn.SCIMURL, tn.Token, retryFor)
	require.NoError(t, err)
	c.RequestIDPrefix = prefix
	c.OnExchange = func(x *entrasim.Exchange) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.exchanges = append(l.exchanges, exchange{x, tn.ID})
	}
	return c
}

func (l *trafficLog) snapshot() []exchange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.exchanges)
}

// driven is one tenant under Entra-shaped traffic: its simulator (several
// clients: the sim's concurrency) and a client of its own for probes.
type driven struct {
	tn    tenant
	sim   *entrasim.Sim
	probe *entrasim.Client
	err   error
}

// newDriven prepares tenant tn with a directory of users and groups; its
// clients retry as Entra does, for up to two minutes a request.
func newDriven(t *testing.T, log *trafficLog, tn tenant, prefix string, seed uint64, users, groups, clients int) *driven {
	dir := entrasim.Generate(seed, prefix+".test", users, groups)
	return &driven{
		tn:    tn,
		sim:   entrasim.New(log.client(t, tn, prefix, 2*time.Minute), dir, entrasim.Legacy, clients),
		probe: log.client(t, tn, prefix+"-probe", 0),
	}
}

// drive runs an initial cycle for every tenant, then incremental cycles
// (alternating the PATCH dialect) until the returned stop is called; stop
// waits for the cycles in progress to end and returns their errors.
func drive(ctx context.Context, ds []*driven) (stop func() error) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() {
			d.err = d.sim.Initial(ctx)
			for cycle := 1; d.err == nil; cycle++ {
				select {
				case <-done:
					return
				default:
				}
				d.sim.Dir.Evolve()
				d.sim.Dialect = entrasim.Dialect(cycle % 2)
				if err := d.sim.Incremental(ctx); err != nil {
					d.err = fmt.Errorf("incremental cycle %d: %w", cycle, err)
				}
			}
		})
	}
	return sync.OnceValue(func() error {
		close(done)
		wg.Wait()
		var errs []error
		for _, d := range ds {
			if d.err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", d.tn.Name, d.err))
			}
		}
		return errors.Join(errs...)
	})
}

// probeInterval is how often a tenant waiting to be served again is
// probed; each probe is one exchange of its own, so a probe stuck on a
// hung worker does not delay the next.
const probeInterval = 200 * time.Millisecond

// untilServed probes d with Test Connection's lookup every probeInterval
// until one answers 2xx, and returns how long after ref that answer came
// (false if none came within limit). It waits for its probes to end.
func untilServed(ctx context.Context, d *driven, ref time.Time, limit time.Duration) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	served := make(chan time.Time, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		wg.Go(func() {
			r := entrasim.ProbeUsers(fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12))
			if resp, err := d.probe.Do(ctx, r, false); err == nil && resp.Status/100 == 2 {
				select {
				case served <- time.Now():
				default:
				}
			}
		})
		select {
		case at := <-served:
			cancel()
			return at.Sub(ref), true
		case <-ctx.Done():
			return 0, false
		case <-tick.C:
		}
	}
}

// prober probes every tenant with Test Connection's lookup at a fixed
// interval, each probe one exchange of its own (so one stuck on a dying
// replica does not delay the next), and keeps when each 2xx answer came.
type prober struct {
	mu     sync.Mutex
	served map[string][]time.Time // tenant name -> 2xx answer times
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startProber(ctx context.Context, ds []*driven, interval time.Duration) *prober {
	ctx, cancel := context.WithCancel(ctx)
	p := &prober{served: map[string][]time.Time{}, cancel: cancel}
	for _, d := range ds {
		p.wg.Go(func() {
			var probes sync.WaitGroup
			defer probes.Wait()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				probes.Go(func() {
					r := entrasim.ProbeUsers(fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12))
					if resp, err := d.probe.Do(ctx, r, false); err == nil && resp.Status/100 == 2 {
						p.mu.Lock()
						p.served[d.tn.Name] = append(p.served[d.tn.Name], time.Now())
						p.mu.Unlock()
					}
				})
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	return p
}

// stop ends probing and waits for the probes in flight.
func (p *prober) stop() {
	p.cancel()
	p.wg.Wait()
}

// longestGap is the longest time within [from, to] that tenant went
// without a 2xx answer to its probes: to has passed only when the tenant
// was served at the end too.
func (p *prober) longestGap(tenant string, from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	times := slices.Clone(p.served[tenant])
	slices.SortFunc(times, time.Time.Compare)
	last, gap := from, time.Duration(0)
	for _, at := range times {
		if at.Before(from) || at.After(to) {
			continue
		}
		gap = max(gap, at.Sub(last))
		last = at
	}
	return max(gap, to.Sub(last))
}

// recordIDs returns the request ids of tenantID's exchanges that the
// service recorded: its SCIM log (every exchange a worker answered) and
// its refusals (every one refused before a worker). It asks the admin API
// at base, as an operator would.
func recordIDs(ctx context.Context, t *testing.T, base, key, tenantID string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	get := func(path string) *http.Response {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
		require.NoError(t, err)
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return resp
	}
	resp := get("/api/v1/tenants/" + tenantID + "/logs?format=ndjson")
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct {
			RequestID string `json:"request_id"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		ids[e.RequestID] = true
	}
	require.NoError(t, sc.Err())
	resp.Body.Close()

	resp = get("/api/v1/tenants/" + tenantID + "/rejections?limit=1000")
	var rs struct {
		Rejections []struct {
			RequestID string `json:"request_id"`
		} `json:"rejections"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rs))
	resp.Body.Close()
	if len(rs.Rejections) == 1000 {
		t.Logf("tenant %s: 1000 refusals or more; older ones are not checked", tenantID)
	}
	for _, r := range rs.Rejections {
		ids[r.RequestID] = true
	}
	return ids
}

// phaseReport sums up the exchanges that started in one phase.
type phaseReport struct {
	name      string
	sent      int
	statuses  map[int]int
	transport int // no answer: connection refused or cut, timeouts
	// answered by something in front of the replicas (a load balancer's
	// own 503): the answer does not echo the request's X-Request-Id, so no
	// replica may have seen it, and no record is required.
	notReplica int
	// 5xx other than 503; failures that are not 429/503 with Retry-After
	// (a create retried after its answer was lost may find its user and
	// get 409: that counts as done, not as a failure); answered exchanges
	// with neither a SCIM log row nor a refusal record.
	fivexx, unexpected, missing []string
	// transportErrs are the first few transport errors, for the log.
	transportErrs []string
	recovery      map[string]time.Duration // per tenant name
	unrecovered   []string
}

// The names of the PostgreSQL faults.
const (
	faultRestartPostgres = "restart postgres"
	faultPostgresDown    = "postgres down 15s"
)

// report sorts every exchange into its phase and checks each against the
// rules; records maps tenant ids to their recorded request ids (nil skips
// the records check).
func report(log *trafficLog, names map[string]string, records map[string]map[string]bool) []*phaseReport {
	byName := map[string]*phaseReport{}
	var out []*phaseReport
	for _, p := range log.phases {
		r := &phaseReport{name: p.name, statuses: map[int]int{}, recovery: map[string]time.Duration{}}
		byName[p.name] = r
		out = append(out, r)
	}
	for _, x := range log.snapshot() {
		phase := log.phaseOf(x.Start)
		r := byName[phase]
		if r == nil {
			continue
		}
		r.sent++
		what := fmt.Sprintf("%s %s %s", x.RequestID, x.Method, strings.TrimPrefix(x.URL, "http://"))
		if x.Status == 0 {
			if !errors.Is(x.Err, context.Canceled) {
				r.transport++
				if len(r.transportErrs) < 3 {
					r.transportErrs = append(r.transportErrs, fmt.Sprintf("%s: %v", what, x.Err))
				}
			}
			continue
		}
		r.statuses[x.Status]++
		if x.Status >= 500 && x.Status != http.StatusServiceUnavailable {
			r.fivexx = append(r.fivexx, fmt.Sprintf("%s -> %d %.200s", what, x.Status, x.Body))
		}
		retried409 := x.Status == http.StatusConflict && x.Method == http.MethodPost && x.Attempt > 0
		if !x.Wanted && !retried409 {
			_, err := strconv.Atoi(x.Header.Get("Retry-After"))
			if (x.Status != http.StatusServiceUnavailable && x.Status != http.StatusTooManyRequests) || err != nil {
				r.unexpected = append(r.unexpected, fmt.Sprintf("%s -> %d (Retry-After %q) %.200s",
					what, x.Status, x.Header.Get("Retry-After"), x.Body))
			}
		}
		if x.Header.Get("X-Request-Id") != x.RequestID {
			r.notReplica++
			continue
		}
		if ids, ok := records[x.tenant]; ok && !ids[x.RequestID] {
			r.missing = append(r.missing, fmt.Sprintf("%s [%s] -> %d %.120s", what, names[x.tenant], x.Status, x.Body))
		}
	}
	return out
}

func (r *phaseReport) String() string {
	codes := slices.Sorted(maps.Keys(r.statuses))
	var st []string
	for _, c := range codes {
		st = append(st, fmt.Sprintf("%d:%d", c, r.statuses[c]))
	}
	var rec []string
	for _, name := range slices.Sorted(maps.Keys(r.recovery)) {
		rec = append(rec, fmt.Sprintf("%s %s", name, r.recovery[name].Round(10*time.Millisecond)))
	}
	for _, name := range r.unrecovered {
		rec = append(rec, name+" NOT SERVED")
	}
	line := fmt.Sprintf("%-28s sent %5d  answers %-34s transport errors %3d  answered by the LB %3d  recovery [%s]  5xx-not-503 %d  unexpected %d  records missing %d",
		r.name, r.sent, strings.Join(st, " "), r.transport, r.notReplica, strings.Join(rec, ", "), len(r.fivexx), len(r.unexpected),
		len(r.missing))
	for _, e := range r.transportErrs {
		line += "\n    transport error: " + e
	}
	return line
}

// requireClean fails the test on what a phase broke: 5xx other than 503,
// failures without Retry-After, missing records.
func (r *phaseReport) requireClean(t *testing.T) {
	t.Helper()
	require.Empty(t, r.fivexx, "%s: 5xx other than 503", r.name)
	require.Empty(t, r.unexpected, "%s: failures that are not 503/429 with Retry-After", r.name)
	require.Empty(t, r.missing, "%s: answered exchanges with neither a SCIM log row nor a refusal record", r.name)
}

// verify reads back every tenant's end state, all tenants at once: every
// accepted write is there (entrasim's Verify).
func verify(ctx context.Context, t *testing.T, ds []*driven) {
	t.Helper()
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			if err := d.sim.Verify(ctx); err != nil {
				errs[i] = fmt.Errorf("tenant %s: %w", d.tn.Name, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

// checkCreated verifies that every user and group a 2xx POST created is
// one the simulator holds (live, and read back by Verify, or deleted since,
// and then checked gone): no accepted create was lost or duplicated.
func checkCreated(t *testing.T, log *trafficLog, ds []*driven) {
	t.Helper()
	known := map[string]bool{}
	for _, d := range ds {
		for i := range d.sim.Dir.Users {
			known[d.sim.UserID(i)] = true
		}
		for j := range d.sim.Dir.Groups {
			known[d.sim.GroupID(j)] = true
		}
	}
	created := 0
	for _, x := range log.snapshot() {
		if x.Method != http.MethodPost || x.Status != http.StatusCreated {
			continue
		}
		var obj struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(x.Body, &obj), "201 body of %s", x.RequestID)
		require.True(t, known[obj.ID], "%s created %s, which the simulator never adopted", x.RequestID, obj.ID)
		created++
	}
	t.Logf("%d objects created with 201, every one held by its simulator", created)
}
