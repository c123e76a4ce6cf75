package integration

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"

	"github.com/scimplane/scimplane/tests/entrasim"
)

// milestones lets a test wait until the simulator has had n responses.
type milestones struct {
	mu    sync.Mutex
	n     int64
	waits map[int64]chan struct{}
}

func (m *milestones) observe(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n = n
	for k, ch := range m.waits {
		if n >= k {
			close(ch)
			delete(m.waits, k)
		}
	}
}

// after returns a channel closed once more responses than now+d arrived.
func (m *milestones) after(d int64) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.n + d
	if m.waits == nil {
		m.waits = map[int64]chan struct{}{}
	}
	if _, ok := m.waits[k]; !ok {
		m.waits[k] = make(chan struct{})
	}
	return m.waits[k]
}

// TestFaults injects failures while Entra's cycles run: a worker killed, the
// control-plane container restarted and the PostgreSQL container restarted
// during the initial cycle, and a worker killed during the incremental one;
// throughout, a tight per-tenant rate limit may answer 429 with Retry-After.
// The simulator retries as Entra does; the cycles must complete and the end
// state must hold everything that was accepted.
func TestFaults(t *testing.T) {
	s := startStack(t, map[string]string{
		"SCIMPLANE_RATE_LIMIT":      "300",
		"SCIMPLANE_RATE_BURST":      "40",
		"SCIMPLANE_RATE_QUEUE_WAIT": "0s",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*cycleTimeout)
	defer cancel()
	tn := createTenant(t, s.baseURL, operatorKey, "Faults")
	sim := newSim(t, tn, entrasim.Generate(41, "faults.test", 300, 20), entrasim.Legacy)
	var ms milestones
	sim.Client.OnResponse = ms.observe

	killWorkers := func() error {
		code, _, err := s.cp.Exec(ctx, []string{"pkill", "-KILL", "-f", "/usr/local/bin/worker"})
		if err == nil && code != 0 {
			err = fmt.Errorf("pkill exited %d: no worker process was running", code)
		}
		return err
	}
	restart := func(ctr *testcontainers.DockerContainer) error {
		timeout := 10 * time.Second
		if err := ctr.Stop(ctx, &timeout); err != nil {
			return err
		}
		return ctr.Start(ctx) // runs the wait strategy again
	}
	faults := []struct {
		name  string
		after int64
		do    func() error
	}{
		{"kill worker", 150, killWorkers},
		{"restart control plane", 250, func() error { return restart(s.cp) }},
		{"restart postgres", 250, func() error { return restart(s.pg) }},
	}

	cycleDone := make(chan error, 1)
	done := phase(t, "initial cycle under faults")
	go func() { cycleDone <- sim.Initial(ctx) }()
	var cycleErr error
	finished := false
	for _, f := range faults {
		select {
		case <-ms.after(f.after):
		case cycleErr = <-cycleDone:
			finished = true
		}
		if finished {
			t.Fatalf("initial cycle ended before fault %q could be injected: %v", f.name, cycleErr)
		}
		start := time.Now()
		require.NoError(t, f.do(), f.name)
		t.Logf("fault %q injected in %s (%s)", f.name, time.Since(start).Round(time.Millisecond), sim.Client.Stats())
	}
	require.NoError(t, <-cycleDone, "initial cycle")
	done()

	sim.Dialect = entrasim.Flag
	sim.Dir.Evolve()
	done = phase(t, "incremental cycle with a worker killed")
	go func() { cycleDone <- sim.Incremental(ctx) }()
	select {
	case <-ms.after(50):
		require.NoError(t, killWorkers(), "kill worker")
		require.NoError(t, <-cycleDone, "incremental cycle")
	case err := <-cycleDone:
		t.Fatalf("incremental cycle ended before the worker could be killed: %v", err)
	}
	done()

	done = phase(t, "verify after faults")
	require.NoError(t, sim.Verify(ctx))
	done()
	// How often the limit bites depends on the machine's speed, so the 429s
	// are reported, not required (TestClient_Retries pins the behaviour).
	t.Logf("rate limit answered 429 %d times; %s", sim.Client.Count(http.StatusTooManyRequests), sim.Client.Stats())
}
