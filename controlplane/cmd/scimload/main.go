// Command scimload measures the control plane under Entra-shaped traffic.
// It starts bin/controlplane as a child process on 127.0.0.1 (embedded
// PostgreSQL unless -database-url is given), creates tenants, warms each
// tenant's worker once (the cold start), then sends a concurrent mix of
// GET /Users?filter=..., POST /Users, PATCH /Users/{id} and
// GET /Groups?filter=... for a bounded time and request count. It prints
// throughput, latency percentiles, cold-start times, idle worker RSS and
// the CPU time of each party (load generator, control plane, workers,
// PostgreSQL).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	controlplane string
	worker       string
	databaseURL  string
	tenants      int
	concurrency  int
	duration     time.Duration
	maxRequests  int
}

func main() {
	var o options
	flag.StringVar(&o.controlplane, "controlplane", "bin/controlplane", "control plane binary")
	flag.StringVar(&o.worker, "worker", "bin/worker", "worker binary")
	flag.StringVar(&o.databaseURL, "database-url", "", "PostgreSQL for the control plane (default: embedded)")
	flag.IntVar(&o.tenants, "tenants", 50, "tenants to create (at most 500)")
	flag.IntVar(&o.concurrency, "concurrency", 64, "concurrent clients (at most 1000)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "load phase length (at most 5m)")
	flag.IntVar(&o.maxRequests, "max-requests", 200000, "stop the load phase after this many requests")
	flag.Parse()
	if o.tenants < 1 || o.tenants > 500 || o.concurrency < 1 || o.concurrency > 1000 || o.duration <= 0 || o.duration > 5*time.Minute {
		fmt.Fprintln(os.Stderr, "scimload: flags out of bounds")
		os.Exit(2)
	}
	for _, path := range []*string{&o.controlplane, &o.worker} {
		abs, err := filepath.Abs(*path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimload:", err)
			os.Exit(2)
		}
		*path = abs
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scimload:", err)
		os.Exit(1)
	}
}

type tenantRun struct {
	id, token, base string

	mu      sync.Mutex
	userIDs []string
}

func run(o options) error {
	dataDir, err := os.MkdirTemp("", "scimload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	// The embedded PostgreSQL runs as the postgres OS user when we are root.
	if err := os.Chmod(dataDir, 0o711); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	key := "spk_" + randomHex(24)
	cp := exec.Command(o.controlplane)
	cp.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"SCIMPLANE_ADDR=" + addr,
		"SCIMPLANE_DATA_DIR=" + dataDir,
		"SCIMPLANE_BOOTSTRAP_KEY=" + key,
		"SCIMPLANE_WORKER_BIN=" + o.worker,
		"SCIMPLANE_LOG_LEVEL=warn",
		"SCIMPLANE_WORKER_LOG_LEVEL=warn",
		"SCIMPLANE_MAX_WORKERS=" + fmt.Sprint(max(200, o.tenants)),
	}
	if o.databaseURL != "" {
		cp.Env = append(cp.Env, "DATABASE_URL="+o.databaseURL)
	}
	cp.Stdout, cp.Stderr = os.Stderr, os.Stderr
	if err := cp.Start(); err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	defer func() {
		_ = cp.Process.Signal(syscall.SIGINT)
		_ = cp.Wait()
	}()
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency}, Timeout: time.Minute}
	if err := waitReady(client, base+"/readyz"); err != nil {
		return err
	}

	fmt.Printf("creating %d tenants\n", o.tenants)
	tenants := make([]*tenantRun, o.tenants)
	for i := range tenants {
		t, err := createTenant(client, base, key, fmt.Sprintf("Load %d", i))
		if err != nil {
			return err
		}
		tenants[i] = t
	}

	// Cold start: the first SCIM request of each tenant spawns its worker.
	// Sequential, so each measures one start on an otherwise quiet node.
	cold := make([]time.Duration, 0, len(tenants))
	for _, t := range tenants {
		began := time.Now()
		status, _, err := send(client, t, "GET", "/Users?filter="+filterEq("userName", "9b1f0c4e-3d7a-4d55-a0a9-5f3e1c2b7d10"), nil)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("first request for %s: status %d: %v", t.id, status, err)
		}
		cold = append(cold, time.Since(began))
	}
	workers, err := workerPIDs(client, base, key)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	idleRSS := rssOf(workers)
	serverCold, err := serverColdStart(client, base)
	if err != nil {
		return err
	}

	cpuBefore := cpuSnapshot(cp.Process.Pid)
	res := load(client, tenants, o)
	cpuAfter := cpuSnapshot(cp.Process.Pid)
	busyRSS := rssOf(workers)

	fmt.Printf("\n== scimload: %d tenants, %d clients, %s, %d CPUs\n", o.tenants, o.concurrency, o.duration, runtime.NumCPU())
	fmt.Printf("requests        %d in %.1fs = %.0f req/s\n", len(res.latencies), res.elapsed.Seconds(), float64(len(res.latencies))/res.elapsed.Seconds())
	fmt.Printf("latency         p50 %s  p90 %s  p99 %s  max %s\n", pct(res.latencies, 50), pct(res.latencies, 90), pct(res.latencies, 99), pct(res.latencies, 100))
	fmt.Printf("statuses        %v  (transport errors %d)\n", res.statuses, res.errors)
	for _, op := range slices.Sorted(mapsKeys(res.byOp)) {
		l := res.byOp[op]
		fmt.Printf("  %-13s n=%-7d p50 %s  p99 %s\n", op, len(l), pct(l, 50), pct(l, 99))
	}
	fmt.Printf("cold start      first request per tenant (client side): p50 %s  p99 %s  max %s\n", pct(cold, 50), pct(cold, 99), pct(cold, 100))
	fmt.Printf("                worker spawn+handshake+health (server histogram): mean %s over %d starts\n", serverCold.mean, serverCold.count)
	fmt.Printf("worker RSS      after first request: median %s  max %s; after load: median %s  max %s (%d workers)\n",
		kib(pctInt(idleRSS, 50)), kib(pctInt(idleRSS, 100)), kib(pctInt(busyRSS, 50)), kib(pctInt(busyRSS, 100)), len(workers))
	fmt.Printf("CPU seconds     load generator %.1f  control plane %.1f  workers %.1f  postgres %s  (wall %.1f)\n",
		cpuAfter.self-cpuBefore.self, cpuAfter.controlplane-cpuBefore.controlplane, cpuAfter.workers-cpuBefore.workers,
		postgresCPU(o, cpuBefore, cpuAfter), res.elapsed.Seconds())
	return nil
}

type result struct {
	latencies []time.Duration
	byOp      map[string][]time.Duration
	statuses  map[int]int
	errors    int
	elapsed   time.Duration
}

// load runs the concurrent phase: each client picks a random tenant and an
// Entra-shaped operation until the time or request budget is spent.
func load(client *http.Client, tenants []*tenantRun, o options) result {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var (
		mu    sync.Mutex
		res   = result{byOp: map[string][]time.Duration{}, statuses: map[int]int{}}
		sent  int
		wg    sync.WaitGroup
		began = time.Now()
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		sent++
		return sent <= o.maxRequests
	}
	for c := range o.concurrency {
		wg.Go(func() {
			var lat []time.Duration
			ops := map[string][]time.Duration{}
			statuses := map[int]int{}
			errs := 0
			for n := 0; ctx.Err() == nil && take(); n++ {
				t := tenants[randInt(len(tenants))]
				op, method, path, body := nextOp(t, c, n)
				start := time.Now()
				status, reply, err := send(client, t, method, path, body)
				d := time.Since(start)
				if err != nil {
					errs++
					continue
				}
				lat = append(lat, d)
				ops[op] = append(ops[op], d)
				statuses[status]++
				if op == "POST /Users" && status == http.StatusCreated {
					var u struct {
						ID string `json:"id"`
					}
					if json.Unmarshal(reply, &u) == nil {
						t.mu.Lock()
						t.userIDs = append(t.userIDs, u.ID)
						t.mu.Unlock()
					}
				}
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			for k, v := range ops {
				res.byOp[k] = append(res.byOp[k], v...)
			}
			for k, v := range statuses {
				res.statuses[k] += v
			}
			res.errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(began)
	return res
}

// nextOp picks an operation in roughly the proportions of an Entra
// incremental cycle: lookups, creates, attribute PATCHes, group lookups.
func nextOp(t *tenantRun, client, n int) (op, method, path string, body []byte) {
	t.mu.Lock()
	var id string
	if len(t.userIDs) > 0 {
		id = t.userIDs[randInt(len(t.userIDs))]
	}
	t.mu.Unlock()
	r := randInt(100)
	switch {
	case r < 40:
		return "GET /Users", "GET", "/Users?filter=" + filterEq("userName", fmt.Sprintf("u%d-%d@example.com", client, randInt(n+1))), nil
	case r < 65 || id == "":
		user := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],`+
			`"externalId":"%s","userName":"u%d-%d-%s@example.com","active":true,"displayName":"Load User %d",`+
			`"emails":[{"primary":true,"type":"work","value":"u%d-%d@example.com"}],"name":{"givenName":"Load","familyName":"User"},`+
			`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering"}}`,
			randomHex(8), client, n, randomHex(4), n, client, n)
		return "POST /Users", "POST", "/Users", []byte(user)
	case r < 90:
		patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` +
			`{"op":"Replace","path":"displayName","value":"Renamed ` + randomHex(3) + `"},{"op":"Replace","path":"active","value":"False"}]}`
		return "PATCH /Users", "PATCH", "/Users/" + id, []byte(patch)
	default:
		return "GET /Groups", "GET", "/Groups?excludedAttributes=members&filter=" + filterEq("displayName", "group-"+randomHex(4)), nil
	}
}

func send(client *http.Client, t *tenantRun, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, t.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func filterEq(attr, value string) string {
	return attr + "+eq+%22" + value + "%22"
}

func createTenant(client *http.Client, base, key, name string) (*tenantRun, error) {
	req, _ := http.NewRequest("POST", base+"/api/v1/tenants", strings.NewReader(`{"name":"`+name+`"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		ID      string `json:"id"`
		SCIMURL string `json:"scim_url"`
		Token   string `json:"token"`
	}
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("create tenant: %d %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return &tenantRun{id: out.ID, token: out.Token, base: out.SCIMURL}, nil
}

func workerPIDs(client *http.Client, base, key string) ([]int, error) {
	req, _ := http.NewRequest("GET", base+"/api/v1/workers", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Workers []struct {
			PID int `json:"pid"`
		} `json:"workers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	pids := make([]int, len(out.Workers))
	for i, w := range out.Workers {
		pids[i] = w.PID
	}
	return pids, nil
}

type coldStart struct {
	mean  time.Duration
	count int
}

// serverColdStart reads the worker start histogram's sum and count.
func serverColdStart(client *http.Client, base string) (coldStart, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return coldStart{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return coldStart{}, err
	}
	var sum float64
	var count int
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "scimplane_worker_start_seconds_sum "); ok {
			fmt.Sscan(v, &sum)
		}
		if v, ok := strings.CutPrefix(line, "scimplane_worker_start_seconds_count "); ok {
			fmt.Sscan(v, &count)
		}
	}
	if count == 0 {
		return coldStart{}, errors.New("no worker starts in /metrics")
	}
	return coldStart{mean: time.Duration(sum / float64(count) * float64(time.Second)), count: count}, nil
}

func waitReady(client *http.Client, url string) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("control plane not ready after 90s")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(10 * time.Microsecond)
}

func pctInt(v []int, p int) int {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func kib(v int) string { return fmt.Sprintf("%.1f MiB", float64(v)/1024) }

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// postgresCPU is only known for the embedded server (a child of the
// control plane).
func postgresCPU(o options, before, after cpu) string {
	if o.databaseURL != "" {
		return "n/a (external)"
	}
	return fmt.Sprintf("%.1f", after.postgres-before.postgres)
}
