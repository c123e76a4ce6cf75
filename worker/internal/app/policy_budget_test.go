package app

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// hugeStringTest is a Rego test that builds a 1 GiB string from
// data.mapping.k, a list of 1,024 numbers.
const hugeStringTest = `package scimplane.huge_test

kib := concat("", ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" | some i in array.slice(data.mapping.k, 0, 16)])

mib := concat("", [kib | some i in data.mapping.k])

gib := concat("", [mib | some i in data.mapping.k])

test_huge if count(gib) > 0
`

// rss is this process's resident set in bytes.
func rss(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb int64
			_, err := fmt.Sscan(f[1], &kb)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// rssGrowthBound is how much the worker's resident memory may grow while
// a candidate that builds a 1 GiB string is checked.
const rssGrowthBound = 128 << 20

// TestPolicy_CandidateOverBudget: a Rego test that builds a 1 GiB string
// is answered 422 "policy exceeded its budget"; it runs in the sandbox, so
// the worker (here, this process) stays small and keeps serving SCIM.
func TestPolicy_CandidateOverBudget(t *testing.T) {
	w := newTestWorker(t)
	create(t, w, "/Users", `{"userName":"before@contoso.com"}`)
	b := defaultBundle(t, "")
	k := make([]string, 1024)
	for i := range k {
		k[i] = fmt.Sprint(i)
	}
	b.Mapping = []byte(strings.Replace(string(b.Mapping), "{", `{"k": [`+strings.Join(k, ",")+`],`, 1))
	b.Modules["huge_test.rego"] = hugeStringTest
	before := rss(t)

	done := make(chan error, 1)
	go func() {
		_, err := w.ValidatePolicy(bg, &scimworker.ValidatePolicyRequest{PolicyBundle: b})
		done <- err
	}()
	// SCIM traffic while the candidate runs.
	for i := 0; ; i++ {
		status, _, reply := do(t, w, "POST", "/Users", "", fmt.Sprintf(`{"userName":"during%d@contoso.com"}`, i))
		require.Equal(t, 201, status, string(reply.Body))
		select {
		case err := <-done:
			e := refused(t, err)
			require.Equal(t, 422, e.Status)
			require.Equal(t, "policy exceeded its budget", e.Message)
			status, _, reply = do(t, w, "GET", "/Users", `filter=userName eq "before@contoso.com"`, "")
			require.Equal(t, 200, status, string(reply.Body))
			grew := rss(t) - before
			t.Logf("worker RSS grew %d KiB; SCIM writes during the check: %d", grew>>10, i+1)
			require.Less(t, grew, int64(rssGrowthBound))
			return
		default:
		}
	}
}

// TestPolicy_DryRunOverBudget: a candidate whose decision builds a 1 GiB
// string for one user, in two calls of replace, passes its tests, but its
// dry run, which evaluates it in the sandbox too, is answered 422 and
// leaves the worker small.
func TestPolicy_DryRunOverBudget(t *testing.T) {
	// The memory limit, not the decision timeout, must end it, however
	// busy the machine.
	w, _ := newTestWorkerWithAdmin(t, func(c *Config) { c.Options.PolicyLimits.Decide = time.Minute })
	create(t, w, "/Users", `{"userName":"ann@contoso.com","title":"huge"}`)
	b := scimworker.PolicyBundle{
		Modules: map[string]string{
			"permissions.rego": `package scimplane.permissions

none := {"permissions": [], "sets": [], "grants": []}

decision := none if input.user.title != "huge"

# About 1 KiB with 1,025 "h": reads input, so it is not computed at
# compile time; then 1 MiB; then 1 GiB in one allocation.
decision := none if {
	input.user.title == "huge"
	kib := concat("", [data.mapping.kib, input.user.title])
	mib := replace(kib, "h", kib)
	gib := replace(mib, "h", kib)
	count(gib) > 0
}
`,
			"permissions_test.rego": `package scimplane.permissions_test

test_none if data.scimplane.permissions.decision == {"permissions": [], "sets": [], "grants": []} with input as {"user": {"title": "small"}, "groups": []}
`,
		},
		Mapping: []byte(`{"kib": "` + strings.Repeat("h", 1024) + `"}`),
	}
	before := rss(t)
	_, err := w.DryRunPolicy(bg, &scimworker.DryRunRequest{PolicyBundle: b})
	e := refused(t, err)
	require.Equal(t, 422, e.Status)
	require.Equal(t, "policy exceeded its budget", e.Message)
	require.Less(t, rss(t)-before, int64(rssGrowthBound))
	status, _, reply := do(t, w, "POST", "/Users", "", `{"userName":"bob@contoso.com"}`)
	require.Equal(t, 201, status, string(reply.Body))
}
