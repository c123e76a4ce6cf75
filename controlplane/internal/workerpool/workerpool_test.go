package workerpool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

var echoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "echoworker-")
	if err != nil {
		panic(err)
	}
	echoBin = filepath.Join(dir, "echoworker")
	if out, err := exec.Command("go", "build", "-o", echoBin, "./testdata/echoworker").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build echoworker: %v: %s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newPool(t testing.TB, maxWorkers int, idle time.Duration) (*Pool, *Metrics) {
	return newPoolSweeping(t, maxWorkers, idle, 0)
}

func newPoolSweeping(t testing.TB, maxWorkers int, idle, sweep time.Duration) (*Pool, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	p := New(Params{
		Bin: echoBin,
		Env: func(tenantID string) []string {
			return []string{scimworker.EnvTenantID + "=" + tenantID, "PATH=" + os.Getenv("PATH")}
		},
		MaxWorkers:    maxWorkers,
		IdleTimeout:   idle,
		SweepInterval: sweep,
		Logger:        slog.New(slog.DiscardHandler),
		Metrics:       m,
	})
	t.Cleanup(p.Close)
	return p, m
}

type echoed struct {
	TenantID string   `json:"tenant_id"`
	PID      int      `json:"pid"`
	Path     string   `json:"path"`
	Env      []string `json:"env"`
}

func send(t *testing.T, p *Pool, tenantID, path string) (echoed, error) {
	t.Helper()
	reply, err := p.Handle(context.Background(), tenantID, &scimworker.Exchange{Method: "GET", Path: path})
	if err != nil {
		return echoed{}, err
	}
	var e echoed
	require.NoError(t, json.Unmarshal(reply.Body, &e))
	return e, nil
}

func TestPool_ConcurrentFirstRequestsStartOneWorker(t *testing.T) {
	p, m := newPool(t, 10, time.Minute)
	var wg sync.WaitGroup
	pids := make([]int, 20)
	for i := range pids {
		wg.Go(func() {
			e, err := send(t, p, "tnt_a", "/Users")
			if err == nil {
				pids[i] = e.PID
			}
		})
	}
	wg.Wait()
	for _, pid := range pids {
		require.Equal(t, pids[0], pid)
	}
	require.NotZero(t, pids[0])
	require.Equal(t, 1.0, testutil.ToFloat64(m.starts))
	require.Equal(t, 1.0, testutil.ToFloat64(m.running))

	e, err := send(t, p, "tnt_a", "/Users")
	require.NoError(t, err)
	require.Equal(t, "tnt_a", e.TenantID)
	var env []string
	for _, kv := range e.Env {
		if !strings.HasPrefix(kv, "PLUGIN_") && !strings.HasPrefix(kv, scimworker.Handshake.MagicCookieKey+"=") {
			env = append(env, kv)
		}
	}
	require.ElementsMatch(t, []string{"SCIMPLANE_TENANT_ID=tnt_a", "PATH=" + os.Getenv("PATH")}, env)
}

func TestPool_CrashRestartsOnlyThatTenant(t *testing.T) {
	p, m := newPool(t, 10, time.Minute)
	a, err := send(t, p, "tnt_a", "/")
	require.NoError(t, err)
	b, err := send(t, p, "tnt_b", "/")
	require.NoError(t, err)

	_, err = send(t, p, "tnt_a", "/crash")
	var unavailable *UnavailableError
	require.ErrorAs(t, err, &unavailable)
	require.Equal(t, "tnt_a", unavailable.TenantID)

	a2, err := send(t, p, "tnt_a", "/")
	require.NoError(t, err)
	require.NotEqual(t, a.PID, a2.PID)
	b2, err := send(t, p, "tnt_b", "/")
	require.NoError(t, err)
	require.Equal(t, b.PID, b2.PID)
	require.Equal(t, 1.0, testutil.ToFloat64(m.restarts))
}

func TestPool_KilledWorkerIsReplacedOnNextRequest(t *testing.T) {
	p, _ := newPool(t, 10, time.Minute)
	a, err := send(t, p, "tnt_a", "/")
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(a.PID, syscall.SIGKILL))

	// The kill is noticed either before dispatch (new worker at once) or by
	// the failing RPC (503 for that request); the next one succeeds.
	require.Eventually(t, func() bool {
		e, err := send(t, p, "tnt_a", "/")
		return err == nil && e.PID != a.PID
	}, 5*time.Second, 20*time.Millisecond)
}

func TestPool_RepeatedCrashesBackOff(t *testing.T) {
	p, _ := newPool(t, 10, time.Minute)
	_, err := send(t, p, "tnt_a", "/crash")
	require.Error(t, err)
	secondCrash := time.Now()
	_, err = send(t, p, "tnt_a", "/crash")
	require.Error(t, err)

	// The first crash restarts at once, the second waits.
	p.mu.Lock()
	f := *p.failures["tnt_a"]
	p.mu.Unlock()
	require.Equal(t, 2, f.count)
	require.True(t, f.notBefore.After(secondCrash.Add(200*time.Millisecond)), "no back-off after a repeated crash")
	require.Eventually(t, func() bool {
		_, err := send(t, p, "tnt_a", "/")
		return err == nil
	}, 5*time.Second, 50*time.Millisecond)
}

func TestPool_UnhealthyWorkerIsReplaced(t *testing.T) {
	p, m := newPoolSweeping(t, 10, time.Hour, 100*time.Millisecond)
	a, err := send(t, p, "tnt_a", "/sicken")
	require.NoError(t, err)
	requireGone(t, a.PID)
	a2, err := send(t, p, "tnt_a", "/")
	require.NoError(t, err)
	require.NotEqual(t, a.PID, a2.PID)
	require.Equal(t, 1.0, testutil.ToFloat64(m.restarts))
}

func TestPool_IdleWorkerStops(t *testing.T) {
	p, m := newPool(t, 10, 200*time.Millisecond)
	a, err := send(t, p, "tnt_a", "/")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(p.Running()) == 0 }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, 0.0, testutil.ToFloat64(m.running))
	requireGone(t, a.PID)
}

func TestPool_CapEvictsLeastRecentlyUsed(t *testing.T) {
	p, _ := newPool(t, 2, time.Minute)
	a, err := send(t, p, "tnt_a", "/")
	require.NoError(t, err)
	_, err = send(t, p, "tnt_b", "/")
	require.NoError(t, err)
	_, err = send(t, p, "tnt_c", "/")
	require.NoError(t, err)

	var running []string
	for _, w := range p.Running() {
		running = append(running, w.TenantID)
	}
	require.ElementsMatch(t, []string{"tnt_b", "tnt_c"}, running)
	requireGone(t, a.PID)
}

func TestPool_CloseKillsAll(t *testing.T) {
	p, _ := newPool(t, 10, time.Minute)
	a, err := send(t, p, "tnt_a", "/")
	require.NoError(t, err)
	b, err := send(t, p, "tnt_b", "/")
	require.NoError(t, err)
	p.Close()
	requireGone(t, a.PID)
	requireGone(t, b.PID)
	_, err = send(t, p, "tnt_a", "/")
	require.True(t, errors.Is(err, ErrClosed))
}

// requireGone waits until pid no longer exists (killed and reaped).
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	}, 5*time.Second, 20*time.Millisecond, "process %d still exists", pid)
}

func TestPool_FailedStartIsUnavailableAndBacksOff(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	p := New(Params{
		Bin:          "/bin/false",
		Env:          func(string) []string { return nil },
		MaxWorkers:   10,
		IdleTimeout:  time.Minute,
		StartTimeout: 2 * time.Second,
		Logger:       slog.New(slog.DiscardHandler),
		Metrics:      m,
	})
	t.Cleanup(p.Close)
	for range 3 {
		_, err := p.Handle(context.Background(), "tnt_a", &scimworker.Exchange{Method: "GET", Path: "/"})
		var unavailable *UnavailableError
		require.ErrorAs(t, err, &unavailable)
	}
	require.Empty(t, p.Running())
	require.Equal(t, 0.0, testutil.ToFloat64(m.starts))
}
