// Command scimbench measures scimplane at hosted scale, end to end, through
// its public HTTP surface only. For each scenario run it starts a fresh
// control plane (bin/controlplane, embedded PostgreSQL, its own temporary
// data directory), creates tenants with the operator API, drives them with
// Entra's request sequence (tests/entrasim's request shapes, both PATCH
// dialects), reads back everything it wrote, and watches the processes
// through /proc: CPU by party, database connections, worker memory.
//
//	scimbench -scenarios T1,T2,T3,T4 -duration 60s -runs 3 -json out.json
//
// It prints one markdown table: a row per scenario run and the medians.
// It exits 1 if any run failed or read back something other than what it
// wrote. See docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	controlplane, worker string
	scenarios            []string
	duration             time.Duration
	runs                 int
	jsonPath             string
	logDir               string

	clients       int // closed loop: clients per tenant
	users, groups int // closed loop: directory per tenant, split between its clients
	t1Tenants     int
	t2Tenants     int

	t3Tenants, t3Active, t3Burst, t3Users int
	t3Ramp, t3IdleTimeout, idleWait       time.Duration

	t4Tenants     int
	t4Rate        float64
	t4MaxInFlight int

	createConcurrency int
	verify            bool
	verifyConcurrency int
	cpuProfile        string
}

var allScenarios = []string{"T1", "T2", "T3", "T4"}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("scimbench", flag.ContinueOnError)
	fs.StringVar(&o.controlplane, "controlplane", "bin/controlplane", "control plane binary")
	fs.StringVar(&o.worker, "worker", "bin/worker", "worker binary")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma-separated (T5, peak connections, is a column of every row)")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "measurement window of T1, T2 and T4")
	fs.IntVar(&o.runs, "runs", 1, "runs of each scenario (rows, then medians)")
	fs.StringVar(&o.jsonPath, "json", "", "write every run's raw results to this file")
	fs.StringVar(&o.logDir, "logs", filepath.Join(os.TempDir(), "scimbench-logs"), "directory for the control planes' logs")
	fs.IntVar(&o.clients, "clients", 4, "closed loop: concurrent clients per tenant")
	fs.IntVar(&o.users, "users", 80, "closed loop: users per tenant, split between its clients")
	fs.IntVar(&o.groups, "groups", 8, "closed loop: groups per tenant, split between its clients")
	fs.IntVar(&o.t1Tenants, "t1-tenants", 100, "T1: tenants")
	fs.IntVar(&o.t2Tenants, "t2-tenants", 10, "T2: tenants")
	fs.IntVar(&o.t3Tenants, "t3-tenants", 1000, "T3: tenants created up front")
	fs.IntVar(&o.t3Active, "t3-active", 200, "T3: tenants active at a time (a wave)")
	fs.IntVar(&o.t3Burst, "t3-burst", 50, "T3: tenants of each wave that send their first request at the same instant")
	fs.IntVar(&o.t3Users, "t3-users", 5, "T3: users per tenant's cycle")
	fs.DurationVar(&o.t3Ramp, "t3-ramp", 2*time.Second, "T3: the rest of a wave starts spread over this")
	fs.DurationVar(&o.t3IdleTimeout, "t3-idle-timeout", 20*time.Second, "T3: SCIMPLANE_WORKER_IDLE_TIMEOUT unless the environment sets it")
	fs.DurationVar(&o.idleWait, "idle-wait", 15*time.Second, "T3: quiet time before measuring idle memory (longer than the service's idle-connection close, shorter than eviction)")
	fs.IntVar(&o.t4Tenants, "t4-tenants", 100, "T4: tenants")
	fs.Float64Var(&o.t4Rate, "t4-rate", 25, "T4: requests per second per tenant (Poisson arrivals)")
	fs.IntVar(&o.t4MaxInFlight, "t4-max-inflight", 2000, "T4: requests in flight at most; an arrival beyond is an overflow error")
	fs.IntVar(&o.createConcurrency, "create-concurrency", 1, "tenant creations in flight (setup, not measured; today's service fails concurrent creates with 500 \"tuple concurrently updated\")")
	fs.BoolVar(&o.verify, "verify", true, "read back and compare everything written after each run")
	fs.IntVar(&o.verifyConcurrency, "verify-concurrency", 8, "tenants verified at once")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the bench's own CPU profile here (to keep the client cheap)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for s := range strings.SplitSeq(*scenarios, ",") {
		s = strings.ToUpper(strings.TrimSpace(s))
		switch {
		case s == "" || s == "T5":
			// T5 is measured in every row.
		case slices.Contains(allScenarios, s):
			o.scenarios = append(o.scenarios, s)
		default:
			return o, fmt.Errorf("unknown scenario %q (want %s)", s, strings.Join(allScenarios, ","))
		}
	}
	var errs []error
	check := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New(msg))
		}
	}
	check(len(o.scenarios) > 0, "no scenario to run")
	check(o.duration > 0, "-duration must be positive")
	check(o.runs >= 1, "-runs must be at least 1")
	check(o.clients >= 1 && o.users >= o.clients && o.groups >= 1, "-clients, -users and -groups must be positive, with a user per client at least")
	check(o.t1Tenants >= 1 && o.t2Tenants >= 1 && o.t4Tenants >= 1, "tenant counts must be positive")
	check(o.t3Tenants >= 1 && o.t3Active >= 1 && o.t3Burst >= 0 && o.t3Users >= 2, "-t3-tenants and -t3-active must be positive, -t3-users at least 2")
	check(o.t3Ramp > 0 && o.t3IdleTimeout > 0 && o.idleWait >= 0, "T3 durations must be positive")
	check(o.t4Rate > 0 && o.t4MaxInFlight >= 1, "-t4-rate and -t4-max-inflight must be positive")
	check(o.createConcurrency >= 1 && o.verifyConcurrency >= 1, "concurrencies must be positive")
	for _, p := range []*string{&o.controlplane, &o.worker} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := os.Stat(abs); err != nil {
			errs = append(errs, err)
		}
		*p = abs
	}
	return o, errors.Join(errs...)
}

func main() { os.Exit(run()) }

func run() int {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimbench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "scimbench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	r := &runner{
		o:    o,
		http: newHTTPClient(max(o.t1Tenants, o.t2Tenants)*o.clients + o.t3Active + o.t4MaxInFlight),
		fs:   procFS{root: "/proc"},
		log:  log.New(os.Stderr, "scimbench: ", log.Ltime),
	}
	var results []*result
	for run := 1; run <= o.runs && ctx.Err() == nil; run++ {
		for _, s := range o.scenarios {
			if ctx.Err() != nil {
				break
			}
			results = append(results, r.runScenario(ctx, s, run))
			if o.jsonPath != "" {
				if err := writeJSON(o.jsonPath, results); err != nil {
					r.log.Printf("write %s: %v", o.jsonPath, err)
				}
			}
		}
	}
	writeTable(os.Stdout, results)
	for _, res := range results {
		if res.Failure != "" || res.Verify != nil && res.Verify.Mismatches > 0 {
			return 1
		}
	}
	if ctx.Err() != nil {
		return 1
	}
	return 0
}

func writeJSON(path string, results []*result) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
