package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scaleReplicas are the scale profile's control-plane services.
var scaleReplicas = []string{"replica1", "replica2", "replica3"}

// scaleTenants is how many tenants the scale test drives through HAProxy.
const scaleTenants = 20

// TestScaleOut brings up docker-compose.yml's scale profile as it ships
// (HAProxy hashing tenants onto three control-plane replicas, PgBouncer,
// PostgreSQL; testdata/scale-replica-ports.yml only publishes each replica
// on 127.0.0.1 as well, so the test can ask each which workers it runs) and
// drives 20 tenants through HAProxy with Entra-shaped traffic. While every
// replica is up, each tenant's traffic must reach exactly one replica: one
// worker serving it in the cluster. Then, mid-cycle, one replica is killed
// (SIGKILL) and started again 5 s later, and the two others are restarted
// in turn (SIGTERM: each drains). Throughout, no answer may be a
// 5xx other than 503, every failure must be a 503 or 429 with Retry-After,
// no tenant may go more than 10 s without a 2xx answer to its probes, every
// accepted write must be read back at the end, and every exchange a
// replica answered must be in the tenant's SCIM log or refusal log.
func TestScaleOut(t *testing.T) {
	requireImages(t, controlPlaneImage, postgresImage, haproxyImage, pgbouncerImage)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	project := "scimplane-scale-" + hex.EncodeToString(suffix)
	lbPort := freePort(t)
	c := &compose{t: t, baseURL: "http://127.0.0.1:" + lbPort}
	c.cmd = append(composeCmd(t), "-f", filepath.Join(root, "docker-compose.yml"),
		"-f", filepath.Join(root, "tests", "integration", "testdata", "scale-replica-ports.yml"), "--profile", "scale")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCIMPLANE_") && !strings.HasPrefix(kv, "COMPOSE_") {
			c.env = append(c.env, kv)
		}
	}
	replicaURL := map[string]string{}
	for i, r := range scaleReplicas {
		port := freePort(t)
		replicaURL[r] = "http://127.0.0.1:" + port
		c.env = append(c.env, fmt.Sprintf("SCIMPLANE_TEST_REPLICA%d_PORT=%s", i+1, port))
	}
	c.env = append(c.env,
		"COMPOSE_PROJECT_NAME="+project,
		"SCIMPLANE_IMAGE="+controlPlaneImage,
		"SCIMPLANE_PG_IMAGE="+postgresImage,
		"SCIMPLANE_HAPROXY_IMAGE="+haproxyImage,
		"SCIMPLANE_PGBOUNCER_IMAGE="+pgbouncerImage,
		"SCIMPLANE_SCALE_PORT="+lbPort,
		"SCIMPLANE_SCALE_STATS_PORT="+freePort(t),
		"SCIMPLANE_SCALE_PUBLIC_URL="+c.baseURL,
		"SCIMPLANE_BOOTSTRAP_KEY="+operatorKey,
	)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.run("logs", "--tail", "60"))
		}
		c.run("down", "-v", "--remove-orphans")
		out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "name="+project).Output()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("volumes left behind by %s: %q (%v)", project, out, err)
		}
	})

	done := phase(t, "compose up (scale profile)")
	c.run("up", "-d", "lb")
	container := map[string]string{}
	for _, r := range scaleReplicas {
		require.True(t, waitReady(ctx, replicaURL[r], 2*time.Minute), "%s not ready", r)
		container[r] = strings.TrimSpace(c.run("ps", "-q", r))
	}
	require.True(t, waitReady(ctx, c.baseURL, time.Minute), "HAProxy not ready")
	done()

	done = phase(t, fmt.Sprintf("create %d tenants through HAProxy", scaleTenants))
	log := &trafficLog{}
	ds := make([]*driven, scaleTenants)
	names := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range ds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			tn := createTenant(t, c.baseURL, operatorKey, fmt.Sprintf("Scale %02d", i))
			d := newDriven(t, log, tn, fmt.Sprintf("sc%02d", i), uint64(100+i), 30, 3, 2)
			mu.Lock()
			defer mu.Unlock()
			ds[i], names[tn.ID] = d, tn.Name
		})
	}
	wg.Wait()
	done()

	log.begin("all replicas up")
	trafficStart := time.Now()
	stopTraffic := drive(ctx, ds)
	defer stopTraffic()
	probes := startProber(ctx, ds, 500*time.Millisecond)
	defer probes.stop()

	// Affinity: once every tenant has had traffic, each tenant's requests
	// have been served by one replica. Creating a tenant warms a worker on
	// whichever replica took the POST (round robin), so only workers used
	// since the traffic began count as serving it.
	time.Sleep(15 * time.Second)
	done = phase(t, "affinity: one serving worker per tenant")
	before := scaleWorkers(ctx, t, replicaURL)
	home := map[string]string{}
	for _, d := range ds {
		var serving []string
		for r, ws := range before {
			if w, ok := ws[d.tn.ID]; ok && w.LastUsed.After(trafficStart) {
				serving = append(serving, r)
			}
		}
		require.Len(t, serving, 1, "tenant %s served by %v while every replica is up", d.tn.Name, serving)
		home[d.tn.Name] = serving[0]
	}
	t.Logf("tenants per replica: %s; workers per tenant (serving or warm from creation): %s",
		countBy(home), workersPerTenant(before, ds))
	done()

	type event struct {
		name       string
		start, end time.Time
	}
	var events []event
	// run times one event; it ends once the replica is ready again and
	// HAProxy has had time to bring it back (two good checks, 1 s apart).
	run := func(name, replica string, do func()) {
		done := phase(t, name)
		log.begin(name)
		start := time.Now()
		do()
		require.True(t, waitReady(ctx, replicaURL[replica], 2*time.Minute), "%s not ready after %s", replica, name)
		time.Sleep(3 * time.Second)
		events = append(events, event{name, start, time.Now()})
		done()
	}
	// The docker CLI, not docker-compose, so that each step takes the
	// time Docker takes.
	run("kill replica1 (SIGKILL), start it 5s later", "replica1", func() {
		require.NoError(t, docker(ctx, "kill", container["replica1"]))
		// Long enough for HAProxy to take it out and its tenants to move.
		time.Sleep(5 * time.Second)
		require.NoError(t, docker(ctx, "start", container["replica1"]))
	})
	// A rolling restart of the others: with replica1 killed and started
	// again, every replica has gone away once.
	for _, r := range scaleReplicas[1:] {
		// As docker-compose restart does: SIGTERM, then the service's
		// stop_grace_period (30s) before SIGKILL.
		run("rolling restart "+r+" (SIGTERM)", r, func() {
			require.NoError(t, docker(ctx, "restart", "-t", "30", container[r]))
		})
	}

	done = phase(t, "stop traffic (cycles in progress finish)")
	log.begin("after the restarts")
	require.NoError(t, stopTraffic(), "every cycle completes through the failures")
	probes.stop()
	done()

	done = phase(t, "verify: read back every accepted write")
	verify(ctx, t, ds)
	checkCreated(t, log, ds)
	done()

	done = phase(t, "verify: records of every exchange")
	time.Sleep(2 * time.Second) // refusals are written every second
	records := map[string]map[string]bool{}
	for _, d := range ds {
		records[d.tn.ID] = recordIDs(ctx, t, c.baseURL, operatorKey, d.tn.ID)
	}
	reports := report(log, names, records)
	done()

	after := scaleWorkers(ctx, t, replicaURL)
	for _, r := range reports {
		for _, e := range events {
			if e.name != r.name {
				continue
			}
			for _, d := range ds {
				r.recovery[d.tn.Name] = probes.longestGap(d.tn.Name, e.start, e.end)
			}
		}
	}
	// HAProxy's own account of the exchanges that got no answer (its log
	// captures the request id): how each ended, and where.
	lbLog := strings.Split(c.run("logs", "--no-color", "lb"), "\n")
	for _, r := range reports {
		for _, e := range r.transportErrs {
			id, _, _ := strings.Cut(e, " ")
			found := false
			for _, line := range lbLog {
				if strings.Contains(line, "{"+id+"}") {
					t.Logf("HAProxy on %s: %s", id, strings.TrimSpace(line))
					found = true
				}
			}
			if !found {
				t.Logf("HAProxy logged no request %s (of %d log lines): the connection closed before it read one", id, len(lbLog))
			}
		}
	}
	for _, r := range reports {
		t.Log(r)
		if len(r.recovery) > 0 {
			t.Logf("  longest time without a 2xx per tenant: %s", worstGaps(r.recovery, home))
		}
	}
	t.Logf("workers per tenant at the end (stand-ins stop after SCIMPLANE_WORKER_IDLE_TIMEOUT): %s", workersPerTenant(after, ds))
	for _, r := range reports {
		r.requireClean(t)
		for name, gap := range r.recovery {
			require.LessOrEqual(t, gap, recoveryLimit, "%s: tenant %s (home %s) went %s without a 2xx", r.name, name, home[name], gap)
		}
	}
}

type workerInfo struct {
	TenantID string    `json:"tenant_id"`
	PID      int       `json:"pid"`
	LastUsed time.Time `json:"last_used"`
}

// scaleWorkers asks every replica directly which workers it runs:
// replica -> tenant id -> worker.
func scaleWorkers(ctx context.Context, t *testing.T, replicaURL map[string]string) map[string]map[string]workerInfo {
	t.Helper()
	out := map[string]map[string]workerInfo{}
	for r, base := range replicaURL {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/workers", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+operatorKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var list struct {
			Workers []workerInfo `json:"workers"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		require.NoError(t, err, "%s: GET /api/v1/workers: %d", r, resp.StatusCode)
		out[r] = map[string]workerInfo{}
		for _, w := range list.Workers {
			out[r][w.TenantID] = w
		}
	}
	return out
}

// workersPerTenant counts tenants by how many workers they have in the
// cluster: "1:14 2:6" is 14 tenants with one, 6 with two.
func workersPerTenant(ws map[string]map[string]workerInfo, ds []*driven) string {
	n := map[int]int{}
	for _, d := range ds {
		k := 0
		for _, byTenant := range ws {
			if _, ok := byTenant[d.tn.ID]; ok {
				k++
			}
		}
		n[k]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%d:%d", k, n[k]))
	}
	return strings.Join(parts, " ")
}

func countBy(home map[string]string) string {
	n := map[string]int{}
	for _, r := range home {
		n[r]++
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, n[r]))
	}
	return strings.Join(parts, ", ")
}

// worstGaps lists the three tenants that waited longest, with their home
// replica.
func worstGaps(gaps map[string]time.Duration, home map[string]string) string {
	names := slices.Collect(maps.Keys(gaps))
	slices.SortFunc(names, func(a, b string) int { return int(gaps[b] - gaps[a]) })
	var parts []string
	for _, name := range names[:min(3, len(names))] {
		parts = append(parts, fmt.Sprintf("%s (%s) %s", name, home[name], gaps[name].Round(10*time.Millisecond)))
	}
	var sum time.Duration
	for _, g := range gaps {
		sum += g
	}
	return fmt.Sprintf("worst %s; mean %s", strings.Join(parts, ", "), (sum / time.Duration(max(1, len(gaps)))).Round(10*time.Millisecond))
}

// waitReady polls base/readyz until it answers 200 or limit passes.
func waitReady(ctx context.Context, base string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}
