package policy_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
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

// hugeStringTest is a Rego test that builds a 1 GiB string.
const hugeStringTest = `package scimplane.huge_test

kib := concat("", ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" | some i in array.slice(data.mapping.k, 0, 16)])

mib := concat("", [kib | some i in data.mapping.k])

gib := concat("", [mib | some i in data.mapping.k])

test_huge if count(gib) > 0
`

func sandbox(t *testing.T, limits policy.Limits) *policy.Sandbox {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return policy.NewSandbox(exe, limits)
}

// withK adds data.mapping.k, a list of 1,024 numbers, to b's mapping.
func withK(t *testing.T, b policy.Bundle) policy.Bundle {
	t.Helper()
	k := make([]string, 1024)
	for i := range k {
		k[i] = fmt.Sprint(i)
	}
	b.Mapping = []byte(strings.Replace(string(b.Mapping), "{", `{"k": [`+strings.Join(k, ",")+`],`, 1))
	return b
}

func TestSandbox_Check(t *testing.T) {
	tests := []struct {
		name    string
		limits  policy.Limits
		edit    func(*policy.Bundle)
		status  int
		message string
	}{
		{name: "default policy passes", edit: func(*policy.Bundle) {}},
		{
			name:    "compile error",
			edit:    func(b *policy.Bundle) { b.Modules["x.rego"] = "package x\n\np if {\n" },
			status:  422,
			message: "policy does not compile",
		},
		{
			name:    "denied built-in",
			edit:    func(b *policy.Bundle) { b.Modules["x.rego"] = "package x\n\np := time.now_ns()\n" },
			status:  422,
			message: "policy does not compile",
		},
		{
			name:    "failing test",
			edit:    func(b *policy.Bundle) { b.Modules["x_test.rego"] = "package x_test\n\ntest_no if false\n" },
			status:  422,
			message: "policy tests failed",
		},
		{
			name:    "slow compile",
			edit:    func(b *policy.Bundle) { b.Modules["generated.rego"] = slowModule(5000) },
			status:  422,
			message: "policy took longer than 2s to compile",
		},
		{
			name:    "test builds a 1 GiB string",
			edit:    func(b *policy.Bundle) { b.Modules["huge_test.rego"] = hugeStringTest },
			status:  422,
			message: "policy exceeded its budget",
		},
		{
			name:   "test spins past the CPU limit",
			limits: policy.Limits{CPU: time.Second, Wall: 5 * time.Second},
			edit: func(b *policy.Bundle) {
				b.Modules["spin_test.rego"] = "package spin_test\n\ntest_spin if count([1 | some a in data.mapping.k; some b in data.mapping.k; some c in data.mapping.k]) > 0\n"
			},
			status:  422,
			message: "policy exceeded its budget",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := withK(t, defaultBundle(t))
			tt.edit(&b)
			results, err := sandbox(t, tt.limits).Check(context.Background(), b)
			if tt.status == 0 {
				require.NoError(t, err)
				require.True(t, policy.Passed(results))
				return
			}
			var refused *scimworker.Error
			require.ErrorAs(t, err, &refused)
			require.Equal(t, tt.status, refused.Status)
			require.Equal(t, tt.message, refused.Message)
		})
	}
}

// TestCompile_slowModuleIsSlow: the slow module really exceeds the 2 s
// budget, in CPU time, when compiled in process (as main's save, activate
// and worker start did).
func TestCompile_slowModuleIsSlow(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles for 5 s or more")
	}
	b := defaultBundle(t)
	b.Modules["generated.rego"] = slowModule(5000)
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start, wall := cpu(), time.Now()
	_, err := policy.Compile(context.Background(), b, policy.Options{})
	require.NoError(t, err)
	t.Logf("compiled 5,000 chained rules in %s of CPU, %s wall", cpu()-start, time.Since(wall))
	require.Greater(t, cpu()-start, 2*time.Second)
}
