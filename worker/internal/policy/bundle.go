// Package policy embeds OPA: it compiles a tenant's permission policy once,
// runs its Rego tests, and evaluates it per user as provision's Decider.
// Lifecycle keeps a tenant's policy in force: loading, validation, dry runs
// and activation.
package policy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/policies"
)

// Bundle is one version of a tenant's policy: Rego modules by file name
// (files named *_test.rego are Rego tests, which RunTests runs and Compile
// leaves out) and the mapping document, visible to the policy as
// data.mapping.
type Bundle = scimworker.PolicyBundle

// mappingFile names the mapping document in problems and in the default FS.
const mappingFile = "mapping/data.json"

// Default returns the policy shipped in policies.FS.
func Default() (Bundle, error) {
	names, err := fs.Glob(policies.FS, "*.rego")
	if err != nil {
		return Bundle{}, fmt.Errorf("list default policy: %w", err)
	}
	b := Bundle{Modules: make(map[string]string, len(names))}
	for _, name := range names {
		src, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			return Bundle{}, fmt.Errorf("read default policy: %w", err)
		}
		b.Modules[name] = string(src)
	}
	b.Mapping, err = fs.ReadFile(policies.FS, mappingFile)
	if err != nil {
		return Bundle{}, fmt.Errorf("read default mapping: %w", err)
	}
	return b, nil
}

// CompileError lists every problem found while compiling a bundle,
// located for its author.
type CompileError struct {
	Problems []scimworker.PolicyProblem
}

func (e *CompileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Line == 0 {
			lines[i] = p.File + ": " + p.Message
		} else {
			lines[i] = fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
		}
	}
	return "policy does not compile: " + strings.Join(lines, "; ")
}

// parse parses the bundle's modules (tests too when withTests is set) and
// decodes its mapping document into the data the policy sees.
func parse(b Bundle, withTests bool) (map[string]*ast.Module, map[string]any, error) {
	var problems []scimworker.PolicyProblem
	modules := map[string]*ast.Module{}
	for name, src := range b.Modules {
		if !withTests && isTest(name) {
			continue
		}
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			problems = append(problems, astProblems(name, err)...)
			continue
		}
		problems = append(problems, deniedCalls(name, m)...)
		modules[name] = m
	}

	mapping, problem := decodeMapping(b.Mapping)
	if problem != nil {
		problems = append(problems, *problem)
	}
	if len(modules) == 0 && len(problems) == 0 {
		problems = append(problems, scimworker.PolicyProblem{File: "(bundle)", Message: "no Rego modules"})
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, nil, &CompileError{Problems: problems}
	}
	return modules, map[string]any{"mapping": mapping}, nil
}

func isTest(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// decodeMapping decodes the mapping with OPA's number handling. An empty
// document is an empty mapping.
func decodeMapping(raw json.RawMessage) (map[string]any, *scimworker.PolicyProblem) {
	mapping := map[string]any{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return mapping, nil
	}
	dec := util.NewJSONDecoder(bytes.NewReader(raw))
	err := dec.Decode(&mapping)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON object")
	}
	if err == nil {
		return mapping, nil
	}
	p := scimworker.PolicyProblem{File: mappingFile, Message: "invalid JSON object: " + err.Error()}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		p.Line, p.Column = lineColumn(raw, syntax.Offset)
	}
	return nil, &p
}

// lineColumn locates the byte before offset, where a *json.SyntaxError
// points after the offending byte.
func lineColumn(src []byte, offset int64) (int, int) {
	before := src[:min(int(offset), len(src))]
	line := bytes.Count(before, []byte("\n")) + 1
	return line, len(before) - 1 - bytes.LastIndexByte(before, '\n')
}

// astProblems turns OPA parse or compile errors into problems; file names
// the module when the error has no location.
func astProblems(file string, err error) []scimworker.PolicyProblem {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return []scimworker.PolicyProblem{{File: file, Message: err.Error()}}
	}
	problems := make([]scimworker.PolicyProblem, 0, len(errs))
	for _, e := range errs {
		p := scimworker.PolicyProblem{File: file, Message: e.Code + ": " + e.Message}
		if e.Location != nil {
			p.File, p.Line, p.Column = cmp.Or(e.Location.File, file), e.Location.Row, e.Location.Col
		}
		problems = append(problems, p)
	}
	return problems
}

func sortProblems(problems []scimworker.PolicyProblem) {
	slices.SortStableFunc(problems, func(a, b scimworker.PolicyProblem) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// deniedBuiltins are the built-ins a permission policy may not call,
// with why. Besides these, every built-in OPA marks non-deterministic is
// denied (see deniedReason).
var deniedBuiltins = map[string]string{
	// Unbounded allocation in one call, out of reach of the time budget.
	"numbers.range":      "it can allocate without bound in one call",
	"numbers.range_step": "it can allocate without bound in one call",
	"net.cidr_expand":    "it can allocate without bound in one call",
	// Network and runtime access (also non-deterministic).
	"http.send":          "a policy may not reach the network",
	"net.lookup_ip_addr": "a policy may not reach the network",
	"opa.runtime":        "a policy may not read the worker's runtime",
}

// deniedReason says why a policy may not call the built-in name, or ""
// when it may. Non-deterministic built-ins (time.now_ns, rand.intn,
// uuid.rfc4122, io.jwt.decode_verify, ...) would make a decision depend on
// when or where it is taken: a grant could switch on at a date and pass
// validation, tests and dry run.
func deniedReason(name string) string {
	if why, ok := deniedBuiltins[name]; ok {
		return why
	}
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
		return "it is non-deterministic: a decision must depend only on the user, the groups and the mapping"
	}
	return ""
}

// deniedCalls locates every call of a denied built-in in m.
func deniedCalls(file string, m *ast.Module) []scimworker.PolicyProblem {
	var problems []scimworker.PolicyProblem
	report := func(op ast.Ref, loc *ast.Location) {
		name := op.String()
		why := deniedReason(name)
		if why == "" {
			return
		}
		p := scimworker.PolicyProblem{File: file, Message: "built-in " + name + " is not allowed: " + why}
		if loc != nil {
			p.Line, p.Column = loc.Row, loc.Col
		}
		problems = append(problems, p)
	}
	ast.WalkExprs(m, func(e *ast.Expr) bool {
		if e.IsCall() {
			report(e.Operator(), e.Location)
		}
		return false
	})
	ast.WalkTerms(m, func(t *ast.Term) bool {
		if call, ok := t.Value.(ast.Call); ok && len(call) > 0 {
			if op, ok := call[0].Value.(ast.Ref); ok {
				report(op, t.Location)
			}
		}
		return false
	})
	return problems
}

// capabilities are OPA's built-ins minus the denied ones (deniedCalls
// reports them with a clearer message first).
func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool {
		return deniedReason(b.Name) != ""
	})
	return caps
}
