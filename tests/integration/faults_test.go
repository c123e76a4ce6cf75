package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

// recoveryLimit is how soon after a fault ends (a hung worker: after the
// hang starts) every tenant must be served 2xx again.
const recoveryLimit = 10 * time.Second

// hangFor is how long a worker stays stopped (SIGSTOP) in the hang fault.
const hangFor = 60 * time.Second

// TestFaults drives Entra-shaped traffic (three tenants, three clients each,
// initial then incremental cycles) while it, in turn, kills a worker
// (SIGKILL), stops one with SIGSTOP for a minute, restarts PostgreSQL,
// stops PostgreSQL for 15 s, and kills the control plane (SIGKILL, then
// the container starts again). Every request names itself with
// X-Request-Id. For each fault it reports the
// exchanges sent, the answers by status, the transport errors (requests
// that found no listener: they reach nothing, so nothing records them),
// how long each tenant took to be served again and the records missing,
// and it requires: no 5xx but 503; every failure a 503 or 429 with
// Retry-After; every tenant answering 2xx within recoveryLimit; every
// answered exchange in the tenant's SCIM log or refusal log. After the
// faults every accepted write is read back: each simulator verifies its
// end state, and every 201 created an object the simulator holds.
func TestFaults(t *testing.T) {
	// The default rate limit: a tight one answers 429 more often than the
	// refusal log keeps records of (it samples 10 a second per tenant), and
	// TestRun_RateLimit* pin the 429s.
	s := startStack(t, map[string]string{"SCIMPLANE_SHUTDOWN_DELAY": "0s"})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	log := &trafficLog{}
	var ds []*driven
	names := map[string]string{}
	for i, name := range []string{"Fabrikam", "Tailspin", "Wingtip"} {
		tn := createTenant(t, s.baseURL, operatorKey, name)
		ds = append(ds, newDriven(t, log, tn, fmt.Sprintf("flt%d", i), uint64(60+i), 80, 6, 3))
		names[tn.ID] = name
	}

	faults := []struct {
		name string
		// run injects the fault and returns the moment recovery is
		// measured from, and, if the fault outlasts that, a wait for its
		// end.
		run func() (ref time.Time, end func() error, err error)
	}{
		{"kill worker (SIGKILL)", func() (time.Time, func() error, error) {
			pid, err := workerPID(ctx, s, ds[0].tn.ID)
			if err != nil {
				return time.Time{}, nil, err
			}
			return time.Now(), nil, execIn(ctx, s.cp, "kill", "-KILL", pid)
		}},
		{"hang worker (SIGSTOP 60s)", func() (time.Time, func() error, error) {
			pid, err := workerPID(ctx, s, ds[1].tn.ID)
			if err != nil {
				return time.Time{}, nil, err
			}
			ref := time.Now()
			if err := execIn(ctx, s.cp, "kill", "-STOP", pid); err != nil {
				return ref, nil, err
			}
			return ref, func() error {
				time.Sleep(time.Until(ref.Add(hangFor)))
				// The pool has killed it by now; continue it if not.
				if out, err := execOut(ctx, s.cp, "ps", "-o", "stat=", "-p", pid); err == nil && strings.HasPrefix(strings.TrimSpace(out), "T") {
					t.Logf("worker %s still stopped after %s; continuing it", pid, hangFor)
					return execIn(ctx, s.cp, "kill", "-CONT", pid)
				}
				return nil
			}, nil
		}},
		{faultRestartPostgres, func() (time.Time, func() error, error) {
			err := docker(ctx, "restart", "-t", "10", s.pg.GetContainerID())
			return time.Now(), nil, err
		}},
		{faultPostgresDown, func() (time.Time, func() error, error) {
			if err := docker(ctx, "stop", "-t", "10", s.pg.GetContainerID()); err != nil {
				return time.Time{}, nil, err
			}
			time.Sleep(15 * time.Second)
			err := docker(ctx, "start", s.pg.GetContainerID())
			return time.Now(), nil, err
		}},
		{"kill control plane", func() (time.Time, func() error, error) {
			if err := docker(ctx, "kill", s.cp.GetContainerID()); err != nil {
				return time.Time{}, nil, err
			}
			err := docker(ctx, "start", s.cp.GetContainerID())
			return time.Now(), nil, err
		}},
	}

	log.begin("traffic starts")
	stop := drive(ctx, ds)
	defer stop()
	// Faults begin while the initial cycles run.
	time.Sleep(5 * time.Second)
	recoveries := map[string]map[string]time.Duration{}
	unserved := map[string][]string{}
	for _, f := range faults {
		done := phase(t, "fault: "+f.name)
		log.begin(f.name)
		ref, end, err := f.run()
		require.NoError(t, err, f.name)
		recoveries[f.name] = map[string]time.Duration{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() {
				took, ok := untilServed(ctx, d, ref, time.Minute)
				mu.Lock()
				defer mu.Unlock()
				if ok {
					recoveries[f.name][d.tn.Name] = took
				} else {
					unserved[f.name] = append(unserved[f.name], d.tn.Name)
				}
			})
		}
		wg.Wait()
		if end != nil {
			require.NoError(t, end(), f.name)
		}
		time.Sleep(3 * time.Second) // traffic as usual before the next fault
		done()
	}

	done := phase(t, "stop traffic (cycles in progress finish)")
	log.begin("after the faults")
	require.NoError(t, stop(), "every cycle completes through the faults")
	done()

	done = phase(t, "verify: read back every accepted write")
	verify(ctx, t, ds)
	checkCreated(t, log, ds)
	done()

	done = phase(t, "verify: records of every exchange")
	// Refusals are written in batches every second.
	time.Sleep(2 * time.Second)
	records := map[string]map[string]bool{}
	for _, d := range ds {
		records[d.tn.ID] = recordIDs(ctx, t, s.baseURL, operatorKey, d.tn.ID)
	}
	reports := report(log, names, records)
	done()

	for _, r := range reports {
		if rec, ok := recoveries[r.name]; ok {
			r.recovery, r.unrecovered = rec, unserved[r.name]
		}
		t.Log(r)
	}
	for _, r := range reports {
		r.requireClean(t)
		require.Empty(t, r.unrecovered, "%s: tenants not served again", r.name)
		for name, took := range r.recovery {
			require.LessOrEqual(t, took, recoveryLimit, "%s: tenant %s served again only after %s", r.name, name, took)
		}
	}
}

// workerPID asks the control plane which process serves tenantID and
// checks, with ps inside the container, that it is a worker.
func workerPID(ctx context.Context, s *stack, tenantID string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+"/api/v1/workers", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var list struct {
		Workers []struct {
			TenantID string `json:"tenant_id"`
			PID      int    `json:"pid"`
		} `json:"workers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return "", fmt.Errorf("GET /api/v1/workers: %d: %w", resp.StatusCode, err)
	}
	for _, w := range list.Workers {
		if w.TenantID != tenantID {
			continue
		}
		pid := strconv.Itoa(w.PID)
		out, err := execOut(ctx, s.cp, "ps", "-o", "args=", "-p", pid)
		if err != nil {
			return "", err
		}
		if !strings.Contains(out, "/usr/local/bin/worker") {
			return "", fmt.Errorf("pid %s is %q, not a worker", pid, out)
		}
		return pid, nil
	}
	return "", fmt.Errorf("no worker runs for %s: %+v", tenantID, list.Workers)
}

// execOut runs a command in ctr and returns its output; a non-zero exit
// is an error.
func execOut(ctx context.Context, ctr *testcontainers.DockerContainer, cmd ...string) (string, error) {
	code, r, err := ctr.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(r)
	if code != 0 {
		return string(b), fmt.Errorf("%s exited %d: %s", strings.Join(cmd, " "), code, b)
	}
	return string(b), nil
}

func execIn(ctx context.Context, ctr *testcontainers.DockerContainer, cmd ...string) error {
	_, err := execOut(ctx, ctr, cmd...)
	return err
}

// docker runs the docker CLI, so that a fault takes the time docker takes
// and no wait strategy runs after a start.
func docker(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
