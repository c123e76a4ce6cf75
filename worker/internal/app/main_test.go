package app

import (
	"os"
	"testing"

	"github.com/scimplane/scimplane/worker/internal/policy"
)

// TestMain lets the test binary serve as the policy sandbox, as the worker
// binary does: workers in these tests re-execute it.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == policy.SandboxArg {
		os.Exit(policy.SandboxMain(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}
