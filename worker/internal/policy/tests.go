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

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// RunTests runs the bundle's Rego tests (rules named test_* in any module,
// usually *_test.rego) against its modules and mapping, like `opa test`,
// with built-in errors raised as test errors. A bundle that does not compile
// returns a *CompileError. Callers reject a version when any result's
// Outcome is fail or error, or when there are no results (Passed).
func RunTests(ctx context.Context, b Bundle) ([]scimworker.PolicyTest, error) {
	modules, data, err := parse(b, true)
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

	var results []scimworker.PolicyTest
	for r := range ch {
		tr := scimworker.PolicyTest{
			Package: r.Package,
			Name:    r.Name,
			Outcome: scimworker.TestPass,
			Message: strings.TrimSpace(string(r.Output)),
		}
		switch {
		case r.Skip:
			tr.Outcome = scimworker.TestSkip
		case r.Error != nil:
			tr.Outcome = scimworker.TestError
			tr.Message = strings.TrimSpace(fmt.Sprintf("%v\n%s", r.Error, tr.Message))
		case r.Fail:
			tr.Outcome = scimworker.TestFail
		}
		if r.Location != nil {
			tr.File, tr.Line = r.Location.File, r.Location.Row
		}
		results = append(results, tr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run policy tests: %w", err)
	}
	slices.SortFunc(results, func(a, b scimworker.PolicyTest) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), strings.Compare(a.Name, b.Name))
	})
	return results, nil
}

// Passed reports whether results accept a version: there are some, and
// none failed or erred.
func Passed(results []scimworker.PolicyTest) bool {
	for _, r := range results {
		if r.Outcome == scimworker.TestFail || r.Outcome == scimworker.TestError {
			return false
		}
	}
	return len(results) > 0
}
