package policy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// Outcome is how one Rego test ended.
type Outcome string

// Test outcomes.
const (
	Pass  Outcome = "pass"
	Fail  Outcome = "fail"
	Error Outcome = "error"
	Skip  Outcome = "skip"
)

// TestResult is one Rego test's result.
type TestResult struct {
	Package string // e.g. data.scimplane.permissions_test
	Name    string // e.g. test_viewer
	Outcome Outcome
	// Message is the error for Error, and anything the test printed.
	Message string
	File    string
	Line    int
}

// RunTests runs the bundle's Rego tests (rules named test_* in any module,
// usually *_test.rego) against its modules and mapping, like `opa test`,
// with built-in errors raised as test errors. A bundle that does not compile
// returns a *CompileError. Callers reject a version when any result's
// Outcome is Fail or Error, or when there are no results.
func RunTests(ctx context.Context, b Bundle) ([]TestResult, error) {
	modules, data, err := b.parse(true)
	if err != nil {
		return nil, err
	}
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithCapabilities(capabilities()).WithEnablePrintStatements(true)).
		SetModules(modules).
		SetStore(inmem.NewFromObject(data)).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(true).
		RunTests(ctx, nil)
	if err != nil {
		problems := astProblems("(bundle)", err)
		sortProblems(problems)
		return nil, &CompileError{Problems: problems}
	}

	var results []TestResult
	for r := range ch {
		tr := TestResult{
			Package: r.Package,
			Name:    r.Name,
			Outcome: Pass,
			Message: strings.TrimSpace(string(r.Output)),
		}
		switch {
		case r.Skip:
			tr.Outcome = Skip
		case r.Error != nil:
			tr.Outcome = Error
			tr.Message = strings.TrimSpace(fmt.Sprintf("%v\n%s", r.Error, tr.Message))
		case r.Fail:
			tr.Outcome = Fail
		}
		if r.Location != nil {
			tr.File, tr.Line = r.Location.File, r.Location.Row
		}
		results = append(results, tr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run policy tests: %w", err)
	}
	slices.SortFunc(results, func(a, b TestResult) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), strings.Compare(a.Name, b.Name))
	})
	return results, nil
}
