package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/scimplane/scimplane/tests/entrasim"
)

type runner struct {
	o    options
	http *http.Client
	fs   procFS
	log  *log.Logger
}

// serviceDefaults are a scenario's settings for the control plane; the
// bench's own SCIMPLANE_* environment overrides them.
func (r *runner) serviceDefaults(name string) map[string]string {
	if name != "T3" {
		return nil
	}
	// Workers must go idle and be evicted within the run, and the pool
	// must hold the active set.
	return map[string]string{
		"SCIMPLANE_WORKER_IDLE_TIMEOUT": r.o.t3IdleTimeout.String(),
		"SCIMPLANE_MAX_WORKERS":         strconv.Itoa(r.o.t3Active),
	}
}

func (r *runner) runScenario(ctx context.Context, name string, run int) *result {
	res := &result{Scenario: name, Run: run, Started: time.Now().UTC(), CPUs: runtime.NumCPU(), Args: os.Args[1:]}
	res.Load1, _ = r.fs.loadavg()
	r.log.Printf("%s run %d: starting the control plane (load %.2f)", name, run, res.Load1)
	svc, err := startService(ctx, serviceParams{
		controlplane: r.o.controlplane, worker: r.o.worker,
		logDir: r.o.logDir, label: fmt.Sprintf("%s-run%d", name, run),
		defaults: r.serviceDefaults(name),
	}, r.http)
	if err != nil {
		res.Failure = err.Error()
		return res
	}
	defer func() {
		r.log.Printf("%s run %d: stopping the control plane (log %s)", name, run, svc.logPath)
		svc.stop()
	}()
	res.ServiceEnv = settings(svc.env)
	if v, ok := envValue(svc.env, "SCIMPLANE_MAX_WORKERS"); name == "T3" && ok {
		if n, err := strconv.Atoi(v); err == nil && n < r.o.t3Active {
			r.log.Printf("T3: SCIMPLANE_MAX_WORKERS=%d is below the active set (%d); tenants will wait for workers", n, r.o.t3Active)
		}
	}
	obs, err := newObserver(r.fs, svc.pid(), commName(filepath.Base(r.o.worker)))
	if err == nil && obs.pg == 0 {
		err = errors.New("no embedded PostgreSQL child of the control plane")
	}
	if err == nil {
		res.BaselineConns, err = obs.learnOwnBackends()
	}
	if err != nil {
		res.Failure = err.Error()
		return res
	}
	peaks := obs.samplePeaks(ctx, 100*time.Millisecond)
	var tenants []*tenant
	switch name {
	case "T1":
		tenants, err = r.closedLoop(ctx, svc, obs, res, r.o.t1Tenants)
	case "T2":
		tenants, err = r.closedLoop(ctx, svc, obs, res, r.o.t2Tenants)
	case "T3":
		tenants, err = r.t3(ctx, svc, obs, res)
	case "T4":
		tenants, err = r.openLoop(ctx, svc, obs, res)
	default:
		err = fmt.Errorf("unknown scenario %q", name)
	}
	res.Peaks = peaks.stop()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		res.Failure = err.Error()
		return res
	}
	r.log.Printf("%s run %d: %d requests, %.0f req/s, p50 %s ms, p99 %s ms, errors %s", name, run,
		res.Requests, res.RPS, ms(res.Latency.P50), ms(res.Latency.P99), formatErrors(res.Errors))
	if r.o.verify {
		r.log.Printf("%s run %d: verifying %d tenants", name, run, len(tenants))
		v := verifyTenants(ctx, r.http, tenants, r.o.verifyConcurrency)
		res.Verify = &v
		r.log.Printf("%s run %d: verified %d users and %d groups in %.0fs: %d mismatches", name, run, v.Users, v.Groups, v.Seconds, v.Mismatches)
		for _, s := range v.Samples {
			r.log.Printf("  %s", s)
		}
	}
	return res
}

// settings is the service's SCIMPLANE_* environment without the key.
func settings(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "SCIMPLANE_") && !strings.HasPrefix(kv, "SCIMPLANE_BOOTSTRAP_KEY=") {
			out = append(out, kv)
		}
	}
	return out
}

// createTenants creates n tenants through the admin API, a few at a time.
func (r *runner) createTenants(ctx context.Context, svc *service, n int) ([]*tenant, error) {
	out := make([]*tenant, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.createConcurrency)
	for k := range n {
		g.Go(func() error {
			info, err := svc.createTenant(gctx, r.http, fmt.Sprintf("bench tenant %d", k))
			if err != nil {
				return err
			}
			out[k] = newTenant(k, info)
			return nil
		})
	}
	return out, g.Wait()
}

// warmUp sends each tenant's first request (its cold start) before the
// window, not measured.
func (r *runner) warmUp(ctx context.Context, tenants []*tenant) {
	r.log.Printf("warming up %d tenants (first requests, not measured)", len(tenants))
	var wg sync.WaitGroup
	next := make(chan *tenant)
	for range 8 {
		wg.Go(func() {
			s := &sender{http: r.http}
			for t := range next {
				_ = s.probe(ctx, t.shares[0], time.Time{})
			}
		})
	}
	for _, t := range tenants {
		next <- t
	}
	close(next)
	wg.Wait()
}

func shareSeed(t *tenant, client int) uint64 { return uint64(t.index)<<16 | uint64(client) }

// closedLoop is T1 and T2: per tenant, r.o.clients clients each run an
// initial cycle over its share of the directory, then incremental cycles,
// until the window ends. A request counts if it was sent in the window;
// the window closes when the last of those is answered.
func (r *runner) closedLoop(ctx context.Context, svc *service, obs *observer, res *result, n int) ([]*tenant, error) {
	o := r.o
	res.Shape = fmt.Sprintf("%d tenants × %d clients, closed, %s", n, o.clients, o.duration)
	r.log.Printf("%s: creating %d tenants", res.Scenario, n)
	tenants, err := r.createTenants(ctx, svc, n)
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		for c := range o.clients {
			t.shares = append(t.shares, newShare(t, c, shareSeed(t, c), max(1, o.users/o.clients), max(1, o.groups/o.clients)))
		}
	}
	r.warmUp(ctx, tenants)
	r.log.Printf("%s: %d clients for %s", res.Scenario, n*o.clients, o.duration)
	var wg sync.WaitGroup
	var recs []*recorder
	start := time.Now()
	end := start.Add(o.duration)
	before := obs.cpu()
	for _, t := range tenants {
		for _, sh := range t.shares {
			rec := newRecorder()
			recs = append(recs, rec)
			wg.Go(func() {
				s := &sender{http: r.http, rec: rec, deadline: end}
				runClosed(ctx, s, sh, rand.New(rand.NewPCG(shareSeed(t, sh.index), 0x10ad)))
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := obs.cpu().sub(before)
	all := newRecorder()
	for _, rec := range recs {
		all.merge(rec)
	}
	res.fill(all, elapsed, cpu)
	return tenants, nil
}

// runClosed is one closed-loop client: the initial cycle, then incremental
// cycles, until the window closes. The tenant's first client also sends
// each cycle's probe.
func runClosed(ctx context.Context, s *sender, sh *share, rng *rand.Rand) {
	probe := sh.index == 0
	plan := initialPlan(sh, probe)
	for {
		for _, st := range plan {
			if s.exec(ctx, sh, st) != nil {
				return
			}
		}
		if !time.Now().Before(s.deadline) {
			return
		}
		plan = incrementalPlan(sh, rng, probe)
	}
}

// arrival is one open-loop request: when it is due, and for which tenant.
type arrival struct {
	at     time.Duration
	tenant int
}

// schedule draws each tenant's Poisson arrivals at rate per second over d,
// merged in time order.
func schedule(rng *rand.Rand, tenants int, rate float64, d time.Duration) []arrival {
	var out []arrival
	for t := range tenants {
		at := 0.0
		for {
			at += rng.ExpFloat64() / rate
			if at >= d.Seconds() {
				break
			}
			out = append(out, arrival{at: time.Duration(at * float64(time.Second)), tenant: t})
		}
	}
	slices.SortFunc(out, func(a, b arrival) int { return int(a.at - b.at) })
	return out
}

// openLoop is T4: arrivals are drawn in advance and each is sent at its
// time by one of a fixed set of senders, whatever happened to the others;
// latency runs from the scheduled time, so a slow service cannot slow the
// offered load (no coordinated omission). An arrival that finds every
// sender busy is counted as an overflow error.
func (r *runner) openLoop(ctx context.Context, svc *service, obs *observer, res *result) ([]*tenant, error) {
	o := r.o
	res.Shape = fmt.Sprintf("%d tenants × %g req/s, open, %s", o.t4Tenants, o.t4Rate, o.duration)
	r.log.Printf("T4: creating %d tenants", o.t4Tenants)
	tenants, err := r.createTenants(ctx, svc, o.t4Tenants)
	if err != nil {
		return nil, err
	}
	// Enough users that creates (a fifth of the mix) last the window.
	users := int(o.t4Rate*o.duration.Seconds()*0.3) + 50
	for _, t := range tenants {
		t.shares = []*share{newShare(t, 0, shareSeed(t, 0), users, 10)}
	}
	r.warmUp(ctx, tenants)
	arrivals := schedule(rand.New(rand.NewPCG(uint64(len(tenants)), 0xa771)), len(tenants), o.t4Rate, o.duration)
	r.log.Printf("T4: %d arrivals over %s, at most %d in flight", len(arrivals), o.duration, o.t4MaxInFlight)
	work := make(chan arrival)
	recs := make([]*recorder, o.t4MaxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	before := obs.cpu()
	for k := range recs {
		recs[k] = newRecorder()
		wg.Go(func() {
			s := &sender{http: r.http, rec: recs[k]}
			rng := rand.New(rand.NewPCG(uint64(k), 0x0be7))
			for a := range work {
				s.openArrival(ctx, tenants[a.tenant].shares[0], rng, start.Add(a.at))
			}
		})
	}
	overflow := newRecorder()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for _, a := range arrivals {
		if d := time.Until(start.Add(a.at)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case work <- a:
		default:
			overflow.overflow()
		}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	cpu := obs.cpu().sub(before)
	for _, rec := range recs {
		overflow.merge(rec)
	}
	res.fill(overflow, elapsed, cpu)
	return tenants, nil
}

// openArrival sends the share's next ready operation, measured from due.
func (s *sender) openArrival(ctx context.Context, sh *share, rng *rand.Rand, due time.Time) {
	op := nextReady(sh, rng)
	t := sh.t
	sh.mu.Lock()
	var u *userState
	var g *groupState
	if op.kind == oLookupUser || op.kind == oCreateUser || op.kind == oGetUser || op.kind == oPatchUser {
		u = sh.users[op.user]
	} else {
		g = sh.groups[op.group]
	}
	var uid, gid string
	var have entrasim.UserView
	if u != nil {
		uid, have = u.id, u.sent
	}
	if g != nil {
		gid = g.id
	}
	var memberIDs []string
	for _, m := range op.members {
		memberIDs = append(memberIDs, sh.users[m].id)
	}
	sh.mu.Unlock()
	done := func() {
		sh.mu.Lock()
		if u != nil {
			u.busy = false
		}
		if g != nil {
			g.busy = false
		}
		sh.mu.Unlock()
	}
	switch op.kind {
	case oLookupUser:
		_, _, _ = s.send(ctx, t, kLookupUser, entrasim.LookupUser(u.src.UPN), due)
	case oLookupGroup:
		_, _, _ = s.send(ctx, t, kLookupGroup, entrasim.LookupGroup(g.name), due)
	case oGetUser:
		_, _, _ = s.send(ctx, t, kGetUser, entrasim.GetUser(uid), due)
	case oCreateUser:
		status, body, err := s.send(ctx, t, kCreateUser, entrasim.CreateUser(u.src, t.dialect), due)
		s.applyCreateUser(sh, u, status, body, err)
		done()
	case oPatchUser:
		req, ok := entrasim.PatchUser(uid, have, op.want, t.dialect)
		k := kPatchUser
		if !ok { // nothing to change after all: read it instead
			req, k = entrasim.GetUser(uid), kGetUser
		}
		status, _, err := s.send(ctx, t, k, req, due)
		if ok {
			s.applyPatchUser(sh, u, op.want, status, slices.Contains(req.Want, status), err)
		}
		done()
	case oCreateGroup:
		src := *g.src
		src.DisplayName = g.name
		status, body, err := s.send(ctx, t, kCreateGroup, entrasim.CreateGroup(&src), due)
		s.applyCreateGroup(sh, g, status, body, err)
		done()
	case oAddMembers, oRemoveMembers:
		req := entrasim.AddMembers(gid, memberIDs, t.dialect)
		add, remove := op.members, []int(nil)
		if op.kind == oRemoveMembers {
			req = entrasim.RemoveMembers(gid, memberIDs, t.dialect)
			add, remove = nil, op.members
		}
		status, _, err := s.send(ctx, t, kPatchMembers, req, due)
		applyMembers(sh, g, add, remove, writeOutcome(status, slices.Contains(req.Want, status), err))
		done()
	}
}

// evictionDeadline is how long after a tenant goes quiet its worker must
// be gone: the idle timeout, one sweep of the pool (a quarter of it,
// within 100 ms..30 s) and a margin for the kill.
func evictionDeadline(idle time.Duration) time.Duration {
	return idle + min(max(idle/4, 100*time.Millisecond), 30*time.Second) + 10*time.Second
}

// waitEvicted waits until no more workers than base run, or until
// deadline, and returns how many more there are.
func waitEvicted(ctx context.Context, obs *observer, base int, deadline time.Time) int {
	for {
		left := len(obs.workers()) - base
		if left <= 0 || !time.Now().Before(deadline) {
			return max(0, left)
		}
		select {
		case <-ctx.Done():
			return left
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// t3 creates every tenant up front, then moves traffic through them
// r.o.t3Active at a time (waves back to back; a new wave's tenants have
// never been touched). In each wave r.o.t3Burst tenants send their first
// request at the same instant and the rest start spread over r.o.t3Ramp.
// Before the last wave the earlier ones' workers are let go; after it,
// the bench waits r.o.idleWait, measures the idle tenants' memory, then
// waits for eviction and measures what is left.
func (r *runner) t3(ctx context.Context, svc *service, obs *observer, res *result) ([]*tenant, error) {
	o := r.o
	res.Shape = fmt.Sprintf("%d tenants, %d active, bursts of %d", o.t3Tenants, o.t3Active, o.t3Burst)
	v, _ := envValue(svc.env, "SCIMPLANE_WORKER_IDLE_TIMEOUT")
	idle, err := time.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("SCIMPLANE_WORKER_IDLE_TIMEOUT %q: %w", v, err)
	}
	fig := &t3Figures{Tenants: o.t3Tenants, Active: o.t3Active, IdleTimeout: idle.String(), IdleWait: o.idleWait.String()}
	res.T3 = fig
	fig.Baseline = obs.memory()
	r.log.Printf("T3: creating %d tenants", o.t3Tenants)
	began := time.Now()
	tenants, err := r.createTenants(ctx, svc, o.t3Tenants)
	if err != nil {
		return nil, err
	}
	fig.CreateSeconds = time.Since(began).Seconds()
	r.log.Printf("T3: created %d tenants in %.1fs", len(tenants), fig.CreateSeconds)
	res.Shape = fmt.Sprintf("%d tenants (created in %.0f s), %d active, bursts of %d", o.t3Tenants, fig.CreateSeconds, o.t3Active, o.t3Burst)
	for _, t := range tenants {
		t.shares = []*share{newShare(t, 0, shareSeed(t, 0), o.t3Users, 1)}
	}
	waves := slices.Collect(slices.Chunk(tenants, o.t3Active))
	fig.Waves = len(waves)
	all := newRecorder()
	var cpu cpuSample
	var traffic time.Duration
	var cold, burst []time.Duration
	for w, wave := range waves {
		if w == len(waves)-1 && w > 0 {
			r.log.Printf("T3: waiting for the earlier waves' workers to be evicted")
			fig.LeftoverWorkers = waitEvicted(ctx, obs, fig.Baseline.Workers, time.Now().Add(evictionDeadline(idle)))
		}
		r.log.Printf("T3: wave %d/%d, %d tenants", w+1, len(waves), len(wave))
		before := obs.cpu()
		began := time.Now()
		wr := r.t3Wave(ctx, wave, uint64(w))
		traffic += time.Since(began)
		cpu = cpu.add(obs.cpu().sub(before))
		all.merge(wr.rec)
		cold = append(cold, wr.cold...)
		burst = append(burst, wr.burst...)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	res.fill(all, traffic, cpu)
	fig.Cold = summarize(slices.Sorted(slices.Values(cold)))
	fig.Burst = summarize(slices.Sorted(slices.Values(burst)))

	quiet := time.Now()
	r.log.Printf("T3: last wave quiet; measuring memory in %s", o.idleWait)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.idleWait):
	}
	fig.Idle = obs.memory()
	idleFigures(fig)
	r.log.Printf("T3: %d idle tenants, %.2f MiB each; waiting for eviction", fig.IdleTenants, fig.IdleKiBTenant/1024)
	left := waitEvicted(ctx, obs, fig.Baseline.Workers, quiet.Add(evictionDeadline(idle)))
	fig.EvictedWaited = time.Since(quiet).Seconds()
	fig.Evicted = obs.memory()
	fig.EvictedWorkers = left
	fig.EvictedKiB = max(0, fig.Evicted.WorkerKiB-fig.Baseline.WorkerKiB) + max(0, fig.Evicted.BackendKiB-fig.Baseline.BackendKiB)
	return tenants, nil
}

// idleFigures divides the idle memory above the baseline (pre-started
// workers, if any) by the idle tenants, counted as the workers above the
// baseline: a tenant whose worker was already evicted costs nothing and
// is not counted.
func idleFigures(f *t3Figures) {
	f.IdleTenants = f.Idle.Workers - f.Baseline.Workers
	if f.IdleTenants <= 0 {
		f.IdleTenants = 0
		return
	}
	n := float64(f.IdleTenants)
	f.WorkerKiBTenant = float64(max(0, f.Idle.WorkerKiB-f.Baseline.WorkerKiB)) / n
	f.DBKiBTenant = float64(max(0, f.Idle.BackendKiB-f.Baseline.BackendKiB)) / n
	f.BackendsTenant = float64(max(0, f.Idle.Backends-f.Baseline.Backends)) / n
	f.IdleKiBTenant = f.WorkerKiBTenant + f.DBKiBTenant
}

type waveResult struct {
	rec         *recorder
	cold, burst []time.Duration
}

// t3Wave runs one wave: each tenant's small Entra cycle with one client,
// its first request recorded as its cold start.
func (r *runner) t3Wave(ctx context.Context, wave []*tenant, seed uint64) waveResult {
	n := len(wave)
	b := min(r.o.t3Burst, n)
	rng := rand.New(rand.NewPCG(seed, 0x7e3))
	offsets := make([]time.Duration, n)
	for k := b; k < n; k++ {
		offsets[k] = time.Duration((float64(k-b) + rng.Float64()) / float64(n-b) * float64(r.o.t3Ramp))
	}
	recs := make([]*recorder, n)
	first := make([]time.Duration, n)
	release := make(chan struct{})
	var t0 time.Time
	var ready, done sync.WaitGroup
	ready.Add(b)
	for k, t := range wave {
		recs[k] = newRecorder()
		sh := t.shares[0]
		plan := t3Plan(sh, rand.New(rand.NewPCG(uint64(t.index), 0x7e3)))
		done.Go(func() {
			s := &sender{http: r.http, rec: recs[k]}
			var from time.Time
			if k < b {
				ready.Done()
				<-release
				from = t0
			} else {
				<-release
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(t0.Add(offsets[k]))):
				}
			}
			_ = s.probe(ctx, sh, from)
			first[k] = recs[k].lat[kProbe][0]
			for _, st := range plan {
				if s.exec(ctx, sh, st) != nil {
					return
				}
			}
		})
	}
	ready.Wait()
	t0 = time.Now()
	close(release)
	done.Wait()
	wr := waveResult{rec: newRecorder()}
	for k, rec := range recs {
		wr.rec.merge(rec)
		if len(rec.lat[kProbe]) == 0 {
			continue
		}
		if k < b {
			wr.burst = append(wr.burst, first[k])
		} else {
			wr.cold = append(wr.cold, first[k])
		}
	}
	return wr
}

// t3Plan is a small Entra cycle after the probe: the users matched and
// created, the group matched, created and filled in one PATCH, and two
// attribute PATCHes.
func t3Plan(sh *share, rng *rand.Rand) []step {
	var out []step
	for i := range sh.users {
		out = append(out, step{kind: sProvisionUser, user: i})
	}
	for j := range sh.groups {
		out = append(out, step{kind: sProvisionGroup, group: j})
	}
	for i := range min(2, len(sh.users)) {
		want := createdView(sh.users[i].src)
		want.Title = pickOther(rng, titles, want.Title)
		want.Department = pickOther(rng, depts, want.Department)
		out = append(out, step{kind: sUpdateUser, user: i, want: want})
	}
	return out
}
