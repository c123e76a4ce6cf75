package app

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/policy"
)

// slowModule is a chain of n rules, each reading the one before: OPA's
// compiler takes time quadratic in n (about 2 s of CPU for 3,000 rules,
// 5 s for 5,000; several times that on a busy machine).
func slowModule(n int) string {
	var sb strings.Builder
	sb.WriteString("package scimplane.generated\n\nr0 if input.user.title == \"t\"\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, "r%d if { input.user.title == \"t%d\"; r%d }\n", i, i, i-1)
	}
	return sb.String()
}

func activePolicy(t testing.TB, w *Worker) *scimworker.ActivePolicy {
	t.Helper()
	ap, err := w.ActivePolicy(bg, &scimworker.ActivePolicyRequest{})
	require.NoError(t, err)
	return ap
}

// TestPolicy_LoadsInBackground: a stored version that compiles slowly, or
// no longer compiles, never holds up Bind: the worker serves reads at
// once, defers decisions while the version loads, reports the state, and
// lets an admin activate (roll back to) another version meanwhile.
func TestPolicy_LoadsInBackground(t *testing.T) {
	var cfg Config
	w, _ := newTestWorkerWithAdmin(t, func(c *Config) { cfg = *c })
	_, err := activate(t, w, 1, defaultBundle(t, ""))
	require.NoError(t, err)
	create(t, w, "/Users", `{"userName":"ann@contoso.com"}`)
	// reopen stores b as the version in force, as a version saved before
	// compile time was bounded, and starts another worker for the tenant.
	reopen := func(version int64, b scimworker.PolicyBundle) {
		require.NoError(t, w.bound.Load().admin.Store.SavePolicy(bg, version, b))
		w.Close()
		w, err = Open(bg, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err)
		t.Cleanup(w.Close)
	}
	userNo := 0
	post := func() (int, *scimworker.Reply) {
		userNo++
		status, _, reply := do(t, w, "POST", "/Users", "", fmt.Sprintf(`{"userName":"u%d@contoso.com"}`, userNo))
		return status, reply
	}

	slow := defaultBundle(t, "")
	slow.Modules["generated.rego"] = slowModule(5000)
	reopen(2, slow)
	ap := activePolicy(t, w)
	require.Equal(t, int64(2), ap.Version)
	require.Equal(t, policy.StateLoading, ap.State)
	status, _, _ := do(t, w, "GET", "/Users", "", "")
	require.Equal(t, 200, status, "reads are served while the policy loads")
	status, reply := post()
	require.Equal(t, 503, status, "no decision under another policy: %s", reply.Body)
	require.Equal(t, "5", header(reply).Get("Retry-After"))
	require.Eventually(t, func() bool { return activePolicy(t, w).State == policy.StateActive }, 3*time.Minute, 100*time.Millisecond)
	require.Equal(t, int64(2), activePolicy(t, w).EnforcedVersion)
	status, reply = post()
	require.Equal(t, 201, status, string(reply.Body))

	// A version that no longer compiles (it calls a built-in denied since):
	// the built-in policy serves, and the admin sees why.
	broken := defaultBundle(t, "")
	broken.Modules["clock.rego"] = "package scimplane.clock\n\nnow := time.now_ns()\n"
	reopen(3, broken)
	require.Eventually(t, func() bool { return activePolicy(t, w).State == policy.StateFailed }, time.Minute, 50*time.Millisecond)
	ap = activePolicy(t, w)
	require.Equal(t, int64(3), ap.Version)
	require.Equal(t, int64(0), ap.EnforcedVersion)
	require.Contains(t, ap.Error, "built-in time.now_ns is not allowed")
	status, reply = post()
	require.Equal(t, 201, status, string(reply.Body))

	// Rolling back while a slow version loads: the activation wins.
	reopen(2, slow)
	require.Equal(t, policy.StateLoading, activePolicy(t, w).State)
	_, err = activate(t, w, 1, defaultBundle(t, ""))
	require.NoError(t, err)
	ap = activePolicy(t, w)
	require.Equal(t, int64(1), ap.Version)
	require.Equal(t, policy.StateActive, ap.State)
	require.Equal(t, int64(1), ap.EnforcedVersion)
	status, reply = post()
	require.Equal(t, 201, status, string(reply.Body))
}

// TestPolicy_ActivateRefusesSlowCompile: a candidate that takes longer than
// the compile budget is refused with a clear message, in the sandbox.
func TestPolicy_ActivateRefusesSlowCompile(t *testing.T) {
	w := newTestWorker(t)
	slow := defaultBundle(t, "")
	slow.Modules["generated.rego"] = slowModule(5000)
	for name, op := range map[string]func() error{
		"validate": func() error {
			_, err := w.ValidatePolicy(bg, &scimworker.ValidatePolicyRequest{PolicyBundle: slow})
			return err
		},
		"activate": func() error { _, err := activate(t, w, 1, slow); return err },
	} {
		t.Run(name, func(t *testing.T) {
			e := refused(t, op())
			require.Equal(t, 422, e.Status)
			require.Equal(t, "policy took longer than 2s to compile", e.Message)
		})
	}
	require.Equal(t, int64(0), activePolicy(t, w).Version)
}
