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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

var (
	echoBin string
	// workerUser is who workers run as: nobody when the tests run as
	// root, as in production, else the tests' own user.
	workerUser *syscall.Credential
)

func TestMain(m *testing.M) {
	// As controlplane/main.go does: no other process of this user may read
	// this one's memory or environment.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "echoworker-")
	if err != nil {
		panic(err)
	}
	echoBin = filepath.Join(dir, "echoworker")
	if out, err := exec.Command("go", "build", "-o", echoBin, "./testdata/echoworker").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build echoworker: %v: %s", err, out))
	}
	// Workers of another user must reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	if workerUser, err = WorkerCredential(""); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// roles records what the pool asks of the database's roles. (The real
// implementation is tested against PostgreSQL in the store package.)
type roles struct {
	mu sync.Mutex
	n  int
	// creating and maxCreating count CreateWorkerRole calls in progress;
	// createDelay makes each take that long.
	creating, maxCreating int
	createDelay           time.Duration
	live                  map[string]bool
	granted               map[string]string // role -> tenant
	fail                  bool
}

func newRoles() *roles { return &roles{live: map[string]bool{}, granted: map[string]string{}} }

func (r *roles) CreateWorkerRole(context.Context) (string, string, error) {
	r.mu.Lock()
	r.creating++
	r.maxCreating = max(r.maxCreating, r.creating)
	delay := r.createDelay
	r.mu.Unlock()
	time.Sleep(delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.creating--
	if r.fail {
		return "", "", errors.New("database down")
	}
	r.n++
	name := fmt.Sprintf("wkr_%d", r.n)
	r.live[name] = true
	return name, "pw-" + name, nil
}

func (r *roles) GrantTenant(_ context.Context, role, tenantID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.granted[role] = tenantID
	return nil
}

func (r *roles) DropWorkerRoles(_ context.Context, roles []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, role := range roles {
		delete(r.live, role)
	}
	return nil
}

func (r *roles) TouchWorkerRoles(context.Context, []string) error { return nil }

func (r *roles) liveCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

type setup struct {
	pool    *Pool
	metrics *Metrics
	roles   *roles
}

func newPool(t testing.TB, mod func(*Params)) setup {
	t.Helper()
	s := setup{metrics: NewMetrics(prometheus.NewRegistry()), roles: newRoles()}
	p := Params{
		Bin:            echoBin,
		Env:            []string{"SCIMPLANE_LOG_LEVEL=warn"},
		Credential:     workerUser,
		Roles:          s.roles,
		DatabaseURL:    "postgres://db.invalid/scimplane",
		MaxWorkers:     10,
		ConnBudget:     100,
		ConnsPerWorker: 4,
		IdleTimeout:    time.Minute,
		SweepInterval:  50 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
		Metrics:        s.metrics,
		Binding: func(id string) *scimworker.Binding {
			return &scimworker.Binding{TenantID: id, BaseURL: "https://scim.example/scim/" + id + "/v2"}
		},
	}
	if mod != nil {
		mod(&p)
	}
	s.pool = New(p)
	t.Cleanup(s.pool.Close)
	return s
}

type echoed struct {
	TenantID string   `json:"tenant_id"`
	BaseURL  string   `json:"base_url"`
	Role     string   `json:"role"`
	PID      int      `json:"pid"`
	Path     string   `json:"path"`
	Env      []string `json:"env"`
	Held     int      `json:"held"`
}

func send(t testing.TB, p *Pool, tenantID, path string) (echoed, error) {
	t.Helper()
	reply, err := p.Handle(context.Background(), tenantID, &scimworker.Exchange{Method: "GET", Path: path})
	if err != nil {
		return echoed{}, err
	}
	var e echoed
	require.NoError(t, json.Unmarshal(reply.Body, &e))
	return e, nil
}

func TestPool_ConcurrentFirstRequestsBindOneWorker(t *testing.T) {
	s := newPool(t, nil)
	var wg sync.WaitGroup
	pids := make([]int, 20)
	for i := range pids {
		wg.Go(func() {
			e, err := send(t, s.pool, "tnt_a", "/Users")
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
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.running))

	e, err := send(t, s.pool, "tnt_a", "/Users")
	require.NoError(t, err)
	require.Equal(t, "tnt_a", e.TenantID)
	require.Equal(t, "https://scim.example/scim/tnt_a/v2", e.BaseURL)
	require.Equal(t, "tnt_a", s.roles.granted[e.Role], "the worker's own role was granted the tenant's")
	// Credentials travel over the plugin channel, never in the environment.
	require.Equal(t, []string{"SCIMPLANE_LOG_LEVEL=warn"}, ownEnv(e.Env))
}

// ownEnv is a worker's environment less go-plugin's handshake variables,
// its session variables and its TMPDIR.
func ownEnv(all []string) []string {
	notOwn := []string{"PLUGIN_", scimworker.Handshake.MagicCookieKey + "=", "TMPDIR=",
		scimworker.EnvSessionFD + "=", scimworker.EnvSessionCert + "="}
	var env []string
	for _, kv := range all {
		if !slices.ContainsFunc(notOwn, func(prefix string) bool { return strings.HasPrefix(kv, prefix) }) {
			env = append(env, kv)
		}
	}
	return env
}

type probed struct {
	UID           int      `json:"uid"`
	EUID          int      `json:"euid"`
	GID           int      `json:"gid"`
	EGID          int      `json:"egid"`
	Groups        []int    `json:"groups"`
	Env           []string `json:"env"`
	Tmp           string   `json:"tmp"`
	TmpUID        int      `json:"tmp_uid"`
	TmpGID        int      `json:"tmp_gid"`
	TmpMode       string   `json:"tmp_mode"`
	ParentEnviron string   `json:"parent_environ"`
	ParentMem     string   `json:"parent_mem"`
}

func probe(t *testing.T, p *Pool, tenantID string) probed {
	t.Helper()
	reply, err := p.Handle(context.Background(), tenantID, &scimworker.Exchange{Method: "GET", Path: "/probe"})
	require.NoError(t, err)
	var pr probed
	require.NoError(t, json.Unmarshal(reply.Body, &pr), string(reply.Body))
	return pr
}

// TestPool_WorkerRunsAsTheConfiguredUser: as root, workers run as the
// configured user and group, nobody by default, with no supplementary
// groups, and reach the host's callback socket (a permit) and their own
// directory.
func TestPool_WorkerRunsAsTheConfiguredUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("workers run as another user only when the control plane runs as root; these tests do not")
	}
	nobody, err := WorkerCredential("")
	require.NoError(t, err)
	configured, err := WorkerCredential("64999:64998")
	require.NoError(t, err)
	for _, cred := range []*syscall.Credential{nobody, configured} {
		t.Run(fmt.Sprintf("%d:%d", cred.Uid, cred.Gid), func(t *testing.T) {
			s := newPool(t, func(p *Params) { p.Credential = cred })
			pr := probe(t, s.pool, "tnt_a")
			require.Equal(t, []int{int(cred.Uid), int(cred.Uid)}, []int{pr.UID, pr.EUID})
			require.Equal(t, []int{int(cred.Gid), int(cred.Gid)}, []int{pr.GID, pr.EGID})
			require.Empty(t, pr.Groups, "root's supplementary groups are dropped")
			require.Equal(t, []int{int(cred.Uid), int(cred.Gid)}, []int{pr.TmpUID, pr.TmpGID})
			e, err := send(t, s.pool, "tnt_a", "/conn")
			require.NoError(t, err, "the worker calls the host back")
			require.Equal(t, 2, e.Held)
		})
	}
}

// TestPool_WorkerCannotReadTheControlPlane: a worker's environment holds
// no credential, its temporary directory is its own, and it can read
// neither the environment nor the memory of the control plane (here the
// test process, non-dumpable as the control plane makes itself), whether
// it runs as another user (as root) or as the same one.
func TestPool_WorkerCannotReadTheControlPlane(t *testing.T) {
	s := newPool(t, nil)
	pr := probe(t, s.pool, "tnt_a")
	require.Equal(t, []string{"SCIMPLANE_LOG_LEVEL=warn"}, ownEnv(pr.Env))
	require.Contains(t, pr.Env, "TMPDIR="+pr.Tmp)
	for _, kv := range pr.Env {
		require.NotContains(t, kv, "pw-wkr_", "the database password")
	}
	require.Equal(t, "drwx------", pr.TmpMode)
	require.Contains(t, pr.ParentEnviron, "permission denied")
	require.Contains(t, pr.ParentMem, "permission denied")

	s.pool.Stop("tnt_a")
	_, err := os.Stat(pr.Tmp)
	require.ErrorIs(t, err, os.ErrNotExist, "a stopped worker's directory is removed")
}

func TestPool_BindsPreparedWorkersAndKeepsSparesReady(t *testing.T) {
	s := newPool(t, func(p *Params) { p.Spares = 2 })
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.metrics.spares) == 2 }, 10*time.Second, 20*time.Millisecond)
	s.pool.mu.Lock()
	prepared := map[int]bool{}
	for _, w := range s.pool.spares {
		prepared[w.pid] = true
	}
	s.pool.mu.Unlock()

	e, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	require.True(t, prepared[e.PID], "the tenant got a prepared worker")
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.metrics.spares) == 2 }, 10*time.Second, 20*time.Millisecond,
		"the spare taken is replaced")
}

func TestPool_CrashRestartsOnlyThatTenant(t *testing.T) {
	s := newPool(t, nil)
	a, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	b, err := send(t, s.pool, "tnt_b", "/")
	require.NoError(t, err)

	_, err = send(t, s.pool, "tnt_a", "/crash")
	var unavailable *UnavailableError
	require.ErrorAs(t, err, &unavailable)
	require.Equal(t, "tnt_a", unavailable.TenantID)

	a2, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	require.NotEqual(t, a.PID, a2.PID)
	require.NotEqual(t, a.Role, a2.Role, "a new worker gets a new login role")
	b2, err := send(t, s.pool, "tnt_b", "/")
	require.NoError(t, err)
	require.Equal(t, b.PID, b2.PID)
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.restarts))
}

func TestPool_KilledWorkerIsReplacedOnNextRequest(t *testing.T) {
	s := newPool(t, nil)
	a, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(a.PID, syscall.SIGKILL))

	// The kill is noticed either before dispatch (new worker at once) or by
	// the failing RPC (503 for that request); the next one succeeds.
	require.Eventually(t, func() bool {
		e, err := send(t, s.pool, "tnt_a", "/")
		return err == nil && e.PID != a.PID
	}, 5*time.Second, 20*time.Millisecond)
}

func TestPool_RepeatedCrashesBackOff(t *testing.T) {
	s := newPool(t, nil)
	_, err := send(t, s.pool, "tnt_a", "/crash")
	require.Error(t, err)
	secondCrash := time.Now()
	_, err = send(t, s.pool, "tnt_a", "/crash")
	require.Error(t, err)

	// The first crash restarts at once, the second waits.
	s.pool.mu.Lock()
	f := *s.pool.failures["tnt_a"]
	s.pool.mu.Unlock()
	require.Equal(t, 2, f.count)
	require.True(t, f.notBefore.After(secondCrash.Add(200*time.Millisecond)), "no back-off after a repeated crash")
	require.Eventually(t, func() bool {
		_, err := send(t, s.pool, "tnt_a", "/")
		return err == nil
	}, 5*time.Second, 50*time.Millisecond)
}

func TestPool_UnhealthyIdleWorkerIsReplaced(t *testing.T) {
	s := newPool(t, nil)
	a, err := send(t, s.pool, "tnt_a", "/sicken")
	require.NoError(t, err)
	// Idle workers are checked every 30s; make this one due.
	s.pool.mu.Lock()
	s.pool.bound["tnt_a"].lastHealth = time.Time{}
	s.pool.mu.Unlock()
	requireGone(t, a.PID)
	a2, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	require.NotEqual(t, a.PID, a2.PID)
}

// TestPool_StoppedWorkerIsReplacedUnderTraffic: a worker that stops
// answering (SIGSTOP) while its tenant has requests in flight is
// health-checked and replaced; requests then reach the new worker.
func TestPool_StoppedWorkerIsReplacedUnderTraffic(t *testing.T) {
	s := newPool(t, func(p *Params) {
		p.HangAfter = 300 * time.Millisecond
		p.CallTimeout = 5 * time.Second
	})
	a, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(a.PID, syscall.SIGSTOP))
	require.Eventually(t, func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.PID))
		return err == nil && strings.Contains(string(stat), ") T ")
	}, 5*time.Second, time.Millisecond)
	stopped := time.Now()
	var got echoed
	require.Eventually(t, func() bool {
		got, err = send(t, s.pool, "tnt_a", "/")
		return err == nil
	}, 20*time.Second, 10*time.Millisecond)
	require.NotEqual(t, a.PID, got.PID)
	requireGone(t, a.PID)
	t.Logf("replaced %s after the worker stopped", time.Since(stopped).Round(time.Millisecond))
}

// TestPool_WorkerMissingDeadlinesIsReplaced: two calls in a row that run
// out of their own deadline (well below the request's) retire the worker.
func TestPool_WorkerMissingDeadlinesIsReplaced(t *testing.T) {
	s := newPool(t, func(p *Params) { p.CallTimeout = 200 * time.Millisecond })
	a, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	for range 2 {
		_, err = send(t, s.pool, "tnt_a", "/hang")
		var unavailable *UnavailableError
		require.ErrorAs(t, err, &unavailable)
	}
	requireGone(t, a.PID)
	b, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	require.NotEqual(t, a.PID, b.PID)
}

// TestPool_OverloadedWorkerIsNotReplaced: calls that run out of their
// deadline while the worker keeps finishing others are overload, not a
// hang: the worker stays (before, two timeouts in a row replaced it, failing
// everything it had in flight).
func TestPool_OverloadedWorkerIsNotReplaced(t *testing.T) {
	s := newPool(t, func(p *Params) { p.CallTimeout = 800 * time.Millisecond })
	a, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_, err := send(t, s.pool, "tnt_a", "/hang")
			var unavailable *UnavailableError
			require.ErrorAs(t, err, &unavailable)
		})
	}
	time.Sleep(250 * time.Millisecond)
	_, err = send(t, s.pool, "tnt_a", "/slow") // succeeds while both hang
	require.NoError(t, err)
	wg.Wait()
	b, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	require.Equal(t, a.PID, b.PID, "the worker was not replaced")
}

// TestPool_TenantStartsTakeTurns: tenants arriving together with no
// prepared worker start at most MaxStarting workers at once, and every one
// is served.
func TestPool_TenantStartsTakeTurns(t *testing.T) {
	s := newPool(t, func(p *Params) { p.MaxStarting = 2 })
	s.roles.mu.Lock()
	s.roles.createDelay = 100 * time.Millisecond
	s.roles.mu.Unlock()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			_, err := send(t, s.pool, fmt.Sprintf("tnt_%d", i), "/")
			require.NoError(t, err)
		})
	}
	wg.Wait()
	s.roles.mu.Lock()
	defer s.roles.mu.Unlock()
	require.LessOrEqual(t, s.roles.maxCreating, 2)
	require.Len(t, s.pool.Running(), 6)
}

func TestPool_IdleWorkerStopsAndDropsItsRole(t *testing.T) {
	s := newPool(t, func(p *Params) { p.IdleTimeout = 200 * time.Millisecond })
	a, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(s.pool.Running()) == 0 }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, 0.0, testutil.ToFloat64(s.metrics.running))
	requireGone(t, a.PID)
	require.Eventually(t, func() bool { return s.roles.liveCount() == 0 }, 5*time.Second, 20*time.Millisecond)
	used, _, _ := s.pool.budget.stats()
	require.Zero(t, used, "its connection permits came back")
}

func TestPool_CapEvictsLeastRecentlyUsed(t *testing.T) {
	s := newPool(t, func(p *Params) { p.MaxWorkers = 2 })
	a, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	_, err = send(t, s.pool, "tnt_b", "/")
	require.NoError(t, err)
	_, err = send(t, s.pool, "tnt_c", "/")
	require.NoError(t, err)

	var running []string
	for _, w := range s.pool.Running() {
		running = append(running, w.TenantID)
	}
	require.ElementsMatch(t, []string{"tnt_b", "tnt_c"}, running)
	requireGone(t, a.PID)
}

func TestPool_CloseKillsAll(t *testing.T) {
	s := newPool(t, func(p *Params) { p.Spares = 1 })
	a, err := send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
	b, err := send(t, s.pool, "tnt_b", "/")
	require.NoError(t, err)
	s.pool.Close()
	requireGone(t, a.PID)
	requireGone(t, b.PID)
	require.Zero(t, s.roles.liveCount())
	_, err = send(t, s.pool, "tnt_a", "/")
	require.True(t, errors.Is(err, ErrClosed))
}

// requireGone waits until pid no longer exists (killed and reaped).
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	}, 10*time.Second, 20*time.Millisecond, "process %d still exists", pid)
}

func TestPool_FailedStartIsUnavailableAndBacksOff(t *testing.T) {
	s := newPool(t, func(p *Params) {
		p.Bin = "/bin/false"
		p.StartTimeout = 2 * time.Second
	})
	for range 3 {
		_, err := s.pool.Handle(context.Background(), "tnt_a", &scimworker.Exchange{Method: "GET", Path: "/"})
		var unavailable *UnavailableError
		require.ErrorAs(t, err, &unavailable)
	}
	require.Empty(t, s.pool.Running())
	require.Equal(t, 0.0, testutil.ToFloat64(s.metrics.starts))
	require.Eventually(t, func() bool { return s.roles.liveCount() == 0 }, 5*time.Second, 20*time.Millisecond)
}

// TestBudget_IdleTenantGivesWayToNewOne: with the budget full, a new
// tenant's connection comes from an idle tenant, and the budget is never
// exceeded.
func TestBudget_IdleTenantGivesWayToNewOne(t *testing.T) {
	s := newPool(t, func(p *Params) { p.ConnBudget = 3 })
	for _, id := range []string{"tnt_a", "tnt_b", "tnt_c"} {
		_, err := send(t, s.pool, id, "/")
		require.NoError(t, err)
	}
	used, total, _ := s.pool.budget.stats()
	require.Equal(t, 3, used)
	require.Equal(t, 3, total)
	_, err := send(t, s.pool, "tnt_d", "/")
	require.NoError(t, err)
	used, _, waiting := s.pool.budget.stats()
	require.LessOrEqual(t, used, 3)
	require.Zero(t, waiting)
}

// TestBudget_PreparedWorkersGiveWayFirst: prepared workers hold a permit
// each; a tenant with no connection that needs one retires one of them. A
// tenant that has a connection gets another only from free permits.
func TestBudget_PreparedWorkersGiveWayFirst(t *testing.T) {
	s := newPool(t, func(p *Params) {
		p.ConnBudget = 2
		p.Spares = 2
	})
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.metrics.spares) == 2 }, 10*time.Second, 20*time.Millisecond)
	a, err := send(t, s.pool, "tnt_a", "/") // a spare: its permit comes along
	require.NoError(t, err)
	require.Equal(t, 1, a.Held)
	_, err = send(t, s.pool, "tnt_a", "/conn") // an extra: none free
	require.Error(t, err)
	_, err = send(t, s.pool, "tnt_a", "/release")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.metrics.spares) == 2 }, 10*time.Second, 20*time.Millisecond,
		"the freed permit goes to a new spare")
	// tnt_a has no connection now: its first one comes from a spare.
	a, err = send(t, s.pool, "tnt_a", "/conn")
	require.NoError(t, err)
	require.Equal(t, 1, a.Held)
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.sparesRetired))
	used, _, _ := s.pool.budget.stats()
	require.Equal(t, 2, used)
}

// TestBudget_LongWaitPreemptsTheLongestHolder: when every permit is held by
// a busy tenant, a tenant that waited MaxConnWait gets the connection of
// the one that has held it longest.
func TestBudget_LongWaitPreemptsTheLongestHolder(t *testing.T) {
	s := newPool(t, func(p *Params) {
		p.ConnBudget = 2
		p.MaxConnWait = 200 * time.Millisecond
		p.MinTenure = 300 * time.Millisecond
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, id := range []string{"tnt_a", "tnt_b"} {
		_, err := send(t, s.pool, id, "/")
		require.NoError(t, err)
		// Keep both busy: requests always in flight.
		wg.Go(func() {
			for ctx.Err() == nil {
				_, _ = s.pool.Handle(ctx, id, &scimworker.Exchange{Method: "GET", Path: "/slow"})
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	_, err := send(t, s.pool, "tnt_c", "/")
	require.NoError(t, err)
	require.GreaterOrEqual(t, testutil.ToFloat64(s.metrics.preemptions), 1.0)
	used, _, _ := s.pool.budget.stats()
	require.LessOrEqual(t, used, 2)
}

// TestBudget_StarvedWaiterPreemptsBeforeMinTenure: when every busy tenant
// got its connection at the same moment, none has reached MinTenure, yet a
// tenant that has waited StarvedWait still gets one (before, it waited
// MinTenure and its requests ran past the call deadline).
func TestBudget_StarvedWaiterPreemptsBeforeMinTenure(t *testing.T) {
	s := newPool(t, func(p *Params) {
		p.ConnBudget = 2
		p.MaxConnWait = 100 * time.Millisecond
		p.MinTenure = time.Hour
		p.StarvedWait = 500 * time.Millisecond
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, id := range []string{"tnt_a", "tnt_b"} {
		_, err := send(t, s.pool, id, "/")
		require.NoError(t, err)
		wg.Go(func() {
			for ctx.Err() == nil {
				_, _ = s.pool.Handle(ctx, id, &scimworker.Exchange{Method: "GET", Path: "/slow"})
			}
		})
	}
	callCtx, callCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer callCancel()
	_, err := s.pool.Handle(callCtx, "tnt_c", &scimworker.Exchange{Method: "GET", Path: "/"})
	require.NoError(t, err, "the starved tenant is served")
	require.GreaterOrEqual(t, testutil.ToFloat64(s.metrics.preemptions), 1.0)
}

// TestBudget_SparesWaitForAQuietSpell: prepared workers retired to give a
// waiting tenant a connection are not prepared again at once, which would
// start and stop processes in turn while tenants compete for connections.
func TestBudget_SparesWaitForAQuietSpell(t *testing.T) {
	s := newPool(t, func(p *Params) {
		p.ConnBudget = 2
		p.Spares = 1
		p.SpareQuiet = 2 * time.Second
	})
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.metrics.spares) == 1 }, 10*time.Second, 20*time.Millisecond)
	_, err := send(t, s.pool, "tnt_a", "/") // the spare, with its permit
	require.NoError(t, err)
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.metrics.spares) == 1 }, 10*time.Second, 20*time.Millisecond)
	_, err = send(t, s.pool, "tnt_b", "/") // the new spare
	require.NoError(t, err)
	_, err = send(t, s.pool, "tnt_a", "/release") // a's permit is free again
	require.NoError(t, err)
	_, err = send(t, s.pool, "tnt_a", "/conn") // a takes it back
	require.NoError(t, err)
	// Budget full, no spare: tnt_c waits, and b (idle) gives way.
	_, err = send(t, s.pool, "tnt_c", "/")
	require.NoError(t, err)
	_, err = send(t, s.pool, "tnt_c", "/release")
	require.NoError(t, err)
	time.Sleep(time.Second)
	require.Equal(t, 0.0, testutil.ToFloat64(s.metrics.spares), "no spare within the quiet spell")
	require.Eventually(t, func() bool { return testutil.ToFloat64(s.metrics.spares) == 1 }, 10*time.Second, 50*time.Millisecond)
}

// A worker binary replaced on disk after the pool read it is not launched
// (go-plugin's SecureConfig checksum); the tenants already served keep
// their workers.
func TestPool_ChangedWorkerBinaryIsNotLaunched(t *testing.T) {
	bin := filepath.Join(filepath.Dir(echoBin), "echoworker-"+strconv.Itoa(os.Getpid())+"-checksum")
	data, err := os.ReadFile(echoBin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	t.Cleanup(func() { _ = os.Remove(bin) })
	s := newPool(t, func(p *Params) { p.Bin = bin })

	_, err = send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)

	// Replaced the way an upgrade does it: a new file renamed over the old.
	require.NoError(t, os.WriteFile(bin+".new", append(data, 0), 0o755))
	require.NoError(t, os.Rename(bin+".new", bin))

	_, err = send(t, s.pool, "tnt_b", "/")
	var unavailable *UnavailableError
	require.ErrorAs(t, err, &unavailable)
	require.ErrorIs(t, err, plugin.ErrChecksumsDoNotMatch)
	_, err = send(t, s.pool, "tnt_a", "/")
	require.NoError(t, err)
}
