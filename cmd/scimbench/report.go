package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result is one scenario run; -json writes these as they are.
type result struct {
	Scenario string    `json:"scenario"`
	Run      int       `json:"run"`
	Shape    string    `json:"shape"`
	Started  time.Time `json:"started"`
	Load1    float64   `json:"load1_before"`
	CPUs     int       `json:"cpus"`
	// ServiceEnv is the control plane's SCIMPLANE_* settings, the key
	// left out; Args the bench's command line.
	ServiceEnv []string `json:"service_env"`
	Args       []string `json:"args"`

	Requests      int                `json:"requests"`
	Seconds       float64            `json:"window_seconds"`
	RPS           float64            `json:"req_per_s"`
	Latency       latency            `json:"latency"`
	ByKind        map[string]latency `json:"latency_by_kind"`
	Statuses      map[string]int     `json:"statuses"`
	Errors        map[string]int     `json:"errors"`
	ErrorCount    int                `json:"error_count"`
	CPU           cpuSample          `json:"cpu_seconds"`
	CPUPerRequest cpuSample          `json:"cpu_ms_per_request"`
	// OtherCores is the CPU the machine spent outside the measured
	// processes during the window (other work, interrupts), in cores.
	OtherCores    float64     `json:"other_cores"`
	Peaks         peakFigures `json:"peaks"`
	BaselineConns int         `json:"baseline_conns"` // the control plane's own, before any tenant

	T3      *t3Figures    `json:"t3,omitempty"`
	Verify  *verifyResult `json:"verify,omitempty"`
	Failure string        `json:"failure,omitempty"`

	// A median row: how many of how many runs verified clean.
	verifiedRuns, runs int
}

// t3Figures are T3's extra measurements.
type t3Figures struct {
	Tenants       int     `json:"tenants"`
	CreateSeconds float64 `json:"create_seconds"`
	Active        int     `json:"active"`
	Waves         int     `json:"waves"`
	// Cold is the first request of each tenant that was not in a burst;
	// Burst those of tenants released together.
	Cold  latency `json:"cold_start"`
	Burst latency `json:"burst_cold_start"`

	IdleTimeout string `json:"worker_idle_timeout"`
	IdleWait    string `json:"idle_wait"`
	// Leftover workers were still running before the last wave although
	// their tenants had been quiet for the idle timeout and more.
	LeftoverWorkers int     `json:"leftover_workers"`
	IdleTenants     int     `json:"idle_tenants"`
	Baseline        memory  `json:"baseline_memory"`
	Idle            memory  `json:"idle_memory"`
	IdleKiBTenant   float64 `json:"idle_kib_per_tenant"`
	WorkerKiBTenant float64 `json:"idle_worker_kib_per_tenant"`
	DBKiBTenant     float64 `json:"idle_backend_kib_per_tenant"`
	BackendsTenant  float64 `json:"idle_backends_per_tenant"`
	Evicted         memory  `json:"after_eviction_memory"`
	EvictedWorkers  int     `json:"after_eviction_workers"`
	EvictedKiB      int64   `json:"after_eviction_kib"`
	EvictedWaited   float64 `json:"after_eviction_waited_seconds"`
}

// fill sets the load figures from the merged recorder, the window and the
// CPU spent in it.
func (r *result) fill(rec *recorder, elapsed time.Duration, cpu cpuSample) {
	r.Requests = rec.requests
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.RPS = float64(rec.requests) / r.Seconds
	}
	r.Latency = summarize(rec.all())
	r.ByKind = map[string]latency{}
	for k, l := range rec.lat {
		if len(l) > 0 {
			r.ByKind[kind(k).String()] = summarize(slices.Sorted(slices.Values(l)))
		}
	}
	r.Statuses = map[string]int{}
	for s, n := range rec.statuses {
		r.Statuses[strconv.Itoa(s)] = n
	}
	r.Errors = rec.errs
	r.ErrorCount = rec.errorCount()
	r.CPU = cpu
	if rec.requests > 0 {
		per := 1000 / float64(rec.requests)
		r.CPUPerRequest = cpuSample{cpu.Client * per, cpu.ControlPlane * per, cpu.Workers * per, cpu.Postgres * per, cpu.Other * per, 0}
	}
	if r.Seconds > 0 {
		r.OtherCores = max(0, cpu.Machine-cpu.total()) / r.Seconds
	}
}

var tableHeader = []string{"scenario", "run", "shape", "load1 before / others' cores / CPUs", "req/s", "p50 ms", "p99 ms", "errors",
	"CPU ms/req client / cp / workers / pg = total", "peak DB conns all / tenants (+opened in window)", "cold p50 / p99 ms",
	"burst p50 / p99 ms", "idle MiB/tenant", "after eviction", "verify"}

// writeTable prints one markdown row per run, then per scenario the
// medians when it ran more than once.
func writeTable(w io.Writer, results []*result) {
	row := func(cells ...string) { fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")) }
	row(tableHeader...)
	seps := make([]string, len(tableHeader))
	for i := range seps {
		seps[i] = "---"
	}
	row(seps...)
	var order []string
	byScenario := map[string][]*result{}
	for _, r := range results {
		if _, ok := byScenario[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		byScenario[r.Scenario] = append(byScenario[r.Scenario], r)
	}
	for _, s := range order {
		runs := byScenario[s]
		for _, r := range runs {
			row(rowCells(r)...)
		}
		if m, ok := medianResult(runs); ok {
			row(rowCells(m)...)
		}
	}
}

func rowCells(r *result) []string {
	run := strconv.Itoa(r.Run)
	if r.Run == 0 {
		run = "**median**"
	}
	if r.Failure != "" {
		cells := []string{r.Scenario, run, r.Shape, fmt.Sprintf("%.2f / - / %d", r.Load1, r.CPUs), "failed: " + oneLine(r.Failure)}
		for len(cells) < len(tableHeader) {
			cells = append(cells, "")
		}
		return cells
	}
	c := r.CPUPerRequest
	cpu := fmt.Sprintf("%.3f / %.3f / %.3f / %.3f", c.Client, c.ControlPlane, c.Workers, c.Postgres)
	if c.Other >= 0.0005 {
		cpu += fmt.Sprintf(" + other %.3f", c.Other)
	}
	cpu += fmt.Sprintf(" = %.3f", c.total())
	cold, burst, idle, evicted := "", "", "", ""
	if t := r.T3; t != nil {
		cold = fmt.Sprintf("%s / %s", ms(t.Cold.P50), ms(t.Cold.P99))
		burst = fmt.Sprintf("%s / %s", ms(t.Burst.P50), ms(t.Burst.P99))
		idle = fmt.Sprintf("%.2f (%.2f worker + %.2f db; %.2f backends)", t.IdleKiBTenant/1024, t.WorkerKiBTenant/1024, t.DBKiBTenant/1024, t.BackendsTenant)
		evicted = fmt.Sprintf("%d workers, %.1f MiB", t.EvictedWorkers, float64(t.EvictedKiB)/1024)
	}
	verify := ""
	if r.Run == 0 {
		verify = fmt.Sprintf("%d/%d runs ok", r.verifiedRuns, r.runs)
	} else if v := r.Verify; v != nil {
		switch {
		case v.Mismatches > 0:
			verify = fmt.Sprintf("**%d mismatches** in %d tenants", v.Mismatches, len(v.ByTenant))
		case v.Tenants == 0:
			verify = "skipped"
		default:
			verify = fmt.Sprintf("ok (%d users, %d groups", v.Users, v.Groups)
			if v.Unverifiable > 0 {
				verify += fmt.Sprintf(", %d unknown", v.Unverifiable)
			}
			verify += ")"
		}
	}
	errs := formatErrors(r.Errors)
	if r.Run == 0 {
		errs = fmt.Sprintf("%d", r.ErrorCount)
	}
	return []string{r.Scenario, run, r.Shape, fmt.Sprintf("%.2f / %.2f / %d", r.Load1, r.OtherCores, r.CPUs),
		fmt.Sprintf("%.0f", r.RPS), ms(r.Latency.P50), ms(r.Latency.P99), errs, cpu,
		fmt.Sprintf("%d / %d (+%d opened)", r.Peaks.Conns, r.Peaks.TenantConns, r.Peaks.Opened), cold, burst, idle, evicted, verify}
}

// ms prints milliseconds with precision that suits their size.
func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// medianResult is the per-figure median of the runs that completed, or
// false when fewer than two did.
func medianResult(runs []*result) (*result, bool) {
	var ok []*result
	for _, r := range runs {
		if r.Failure == "" {
			ok = append(ok, r)
		}
	}
	if len(ok) < 2 {
		return nil, false
	}
	med := func(f func(*result) float64) float64 {
		v := make([]float64, len(ok))
		for i, r := range ok {
			v[i] = f(r)
		}
		return median(v)
	}
	m := &result{Scenario: ok[0].Scenario, Shape: ok[0].Shape, CPUs: ok[0].CPUs}
	m.Load1 = med(func(r *result) float64 { return r.Load1 })
	m.OtherCores = med(func(r *result) float64 { return r.OtherCores })
	m.RPS = med(func(r *result) float64 { return r.RPS })
	m.Latency.P50 = med(func(r *result) float64 { return r.Latency.P50 })
	m.Latency.P99 = med(func(r *result) float64 { return r.Latency.P99 })
	m.ErrorCount = int(med(func(r *result) float64 { return float64(r.ErrorCount) }))
	m.CPUPerRequest = cpuSample{
		Client:       med(func(r *result) float64 { return r.CPUPerRequest.Client }),
		ControlPlane: med(func(r *result) float64 { return r.CPUPerRequest.ControlPlane }),
		Workers:      med(func(r *result) float64 { return r.CPUPerRequest.Workers }),
		Postgres:     med(func(r *result) float64 { return r.CPUPerRequest.Postgres }),
		Other:        med(func(r *result) float64 { return r.CPUPerRequest.Other }),
	}
	m.Peaks.Conns = int(med(func(r *result) float64 { return float64(r.Peaks.Conns) }))
	m.Peaks.TenantConns = int(med(func(r *result) float64 { return float64(r.Peaks.TenantConns) }))
	m.Peaks.Opened = int(med(func(r *result) float64 { return float64(r.Peaks.Opened) }))
	if ok[0].T3 != nil {
		t3 := func(f func(*t3Figures) float64) float64 {
			return med(func(r *result) float64 {
				if r.T3 == nil {
					return 0
				}
				return f(r.T3)
			})
		}
		m.T3 = &t3Figures{
			Cold:            latency{P50: t3(func(t *t3Figures) float64 { return t.Cold.P50 }), P99: t3(func(t *t3Figures) float64 { return t.Cold.P99 })},
			Burst:           latency{P50: t3(func(t *t3Figures) float64 { return t.Burst.P50 }), P99: t3(func(t *t3Figures) float64 { return t.Burst.P99 })},
			IdleKiBTenant:   t3(func(t *t3Figures) float64 { return t.IdleKiBTenant }),
			WorkerKiBTenant: t3(func(t *t3Figures) float64 { return t.WorkerKiBTenant }),
			DBKiBTenant:     t3(func(t *t3Figures) float64 { return t.DBKiBTenant }),
			BackendsTenant:  t3(func(t *t3Figures) float64 { return t.BackendsTenant }),
			EvictedWorkers:  int(t3(func(t *t3Figures) float64 { return float64(t.EvictedWorkers) })),
			EvictedKiB:      int64(t3(func(t *t3Figures) float64 { return float64(t.EvictedKiB) })),
		}
	}
	m.runs = len(ok)
	for _, r := range ok {
		if r.Verify != nil && r.Verify.Mismatches == 0 && r.Verify.Tenants > 0 {
			m.verifiedRuns++
		}
	}
	return m, true
}
