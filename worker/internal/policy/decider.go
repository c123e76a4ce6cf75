package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/plugins/tracing"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

var _ provision.Decider = (*Decider)(nil)

// The rules the worker reads; see policies/permissions.rego. Only
// DecisionRule is required.
const (
	DecisionRule        = "data.scimplane.permissions.decision"
	DenialsRule         = "data.scimplane.permissions.denials"
	MappingProblemsRule = "data.scimplane.permissions.mapping_problems"

	grantsRule = "data.scimplane.permissions.grants"
)

// ErrTimeout reports a decision that ran out of its time budget.
var ErrTimeout = errors.New("policy evaluation timed out")

// Options bound each evaluation. Zero fields take the defaults.
type Options struct {
	// Timeout bounds one evaluation; default 500 ms. It stops runaway
	// policies; a busy 2-core node was seen to stall sound evaluations
	// (tens of microseconds of work) for more than 100 ms.
	Timeout time.Duration
	// MaxGrants bounds the grants, sets and permissions of one decision;
	// default 10,000.
	MaxGrants int
}

// Decider evaluates one compiled policy version: it is provision's
// Decider. It is safe for concurrent use; a new version needs a new
// Decider.
type Decider struct {
	decision  rego.PreparedEvalQuery
	denials   rego.PreparedEvalQuery
	timeout   time.Duration
	maxGrants int
	reads     [][]string
}

// Reads lists what the policy reads of input.user as key paths; nil means
// it may read anything. A decision depends only on these and the groups.
func (d *Decider) Reads() [][]string { return d.reads }

// Compile parses and compiles the bundle's non-test modules with its mapping
// as data.mapping and prepares the queries once. Problems in the Rego or the
// mapping are reported as a *CompileError.
func Compile(ctx context.Context, b Bundle, opts Options) (*Decider, error) {
	modules, data, err := parse(b, false)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().WithCapabilities(capabilities())
	if compiler.Compile(modules); compiler.Failed() {
		problems := astProblems("(bundle)", compiler.Errors)
		sortProblems(problems)
		return nil, &CompileError{Problems: problems}
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(DecisionRule))) == 0 {
		return nil, &CompileError{Problems: []scimworker.PolicyProblem{{File: "(bundle)", Message: "no rule " + DecisionRule}}}
	}

	store := inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	if err := checkMapping(ctx, compiler, store); err != nil {
		return nil, err
	}
	prepare := func(query string, opts ...rego.PrepareOption) (rego.PreparedEvalQuery, error) {
		return rego.New(
			rego.Query(query),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.StoreReadAST(true),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx, opts...)
	}
	d := &Decider{
		timeout:   cmp.Or(opts.Timeout, 500*time.Millisecond),
		maxGrants: cmp.Or(opts.MaxGrants, 10_000),
	}
	// Partial evaluation folds what depends on the mapping only (the default
	// policy's grant index) into the prepared query, so a decision costs a
	// few lookups per group. Keeping the grants rule whole stops its body
	// being copied into every rule that reads it. A policy partial
	// evaluation cannot handle is prepared as written.
	d.decision, err = prepare(DecisionRule, rego.WithPartialEval(), rego.WithNoInline([]string{grantsRule}))
	if err != nil {
		d.decision, err = prepare(DecisionRule)
	}
	if err != nil {
		return nil, fmt.Errorf("prepare decision: %w", err)
	}
	if d.denials, err = prepare(DenialsRule); err != nil {
		return nil, fmt.Errorf("prepare denials: %w", err)
	}
	if d.reads, err = reads(ctx, compiler, store); err != nil {
		return nil, &CompileError{Problems: []scimworker.PolicyProblem{{File: "(bundle)", Message: err.Error()}}}
	}
	return d, nil
}

// checkMapping evaluates MappingProblemsRule, if the policy has it, and
// reports its problems as a *CompileError on the mapping document.
func checkMapping(ctx context.Context, compiler *ast.Compiler, store storage.Store) error {
	rs, err := rego.New(
		rego.Query(MappingProblemsRule),
		rego.Compiler(compiler),
		rego.Store(store),
		rego.StrictBuiltinErrors(true),
	).Eval(ctx)
	if err != nil {
		return &CompileError{Problems: []scimworker.PolicyProblem{{File: mappingFile, Message: "checking the mapping failed: " + err.Error()}}}
	}
	if len(rs) == 0 {
		return nil
	}
	found, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return fmt.Errorf("check mapping: %s is not a set", MappingProblemsRule)
	}
	if len(found) == 0 {
		return nil
	}
	problems := make([]scimworker.PolicyProblem, len(found))
	for i, p := range found {
		problems[i] = scimworker.PolicyProblem{File: mappingFile, Message: fmt.Sprint(p)}
	}
	return &CompileError{Problems: problems}
}

// Decide evaluates the permissions of user (the SCIM user as the worker
// returns it, JSON-decoded) in groups; its slices are sorted and never nil.
// On any error (evaluation error, timeout, undefined or malformed result)
// it returns empty Permissions: a policy error never grants anything. A
// timeout or cancellation wraps provision.ErrDecisionUnavailable: it is no
// decision, and callers must not store it.
func (d *Decider) Decide(ctx context.Context, user map[string]any, groups []provision.GroupRef) (provision.Permissions, error) {
	ctx, span := tracing.Start(ctx, "policy.decide")
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("policy.groups", len(groups)))
	}
	t, err := d.eval(ctx, d.decision, user, groups)
	if err != nil {
		span.SetStatus(codes.Error, "policy error")
		return provision.Permissions{}, err
	}
	if t == nil {
		return provision.Permissions{}, fmt.Errorf("evaluate policy: %s is undefined", DecisionRule)
	}
	dec, err := d.decodeDecision(t)
	if err != nil {
		return provision.Permissions{}, fmt.Errorf("evaluate policy: malformed %s: %w", DecisionRule, err)
	}
	return dec, nil
}

// eval runs a prepared query within the time budget and returns its value,
// or nil when it is undefined.
func (d *Decider) eval(ctx context.Context, q rego.PreparedEvalQuery, user map[string]any, groups []provision.GroupRef) (*ast.Term, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluate policy: %w: %w", provision.ErrDecisionUnavailable, err)
	}
	input, err := inputValue(user, groups)
	if err != nil {
		return nil, fmt.Errorf("evaluate policy: input: %w", err)
	}

	// One cancel for both the budget and the caller's ctx, without the
	// goroutine per evaluation that rego starts for a cancellable ctx.
	cancel := topdown.NewCancel()
	timer := time.AfterFunc(d.timeout, cancel.Cancel)
	defer timer.Stop()
	defer context.AfterFunc(ctx, cancel.Cancel)()

	rs, err := q.Eval(ctx,
		rego.EvalParsedInput(input),
		rego.EvalExternalCancel(cancel),
		rego.EvalGenerateJSON(keepTerm),
	)
	switch {
	case err == nil:
	case !topdown.IsCancel(err):
		return nil, fmt.Errorf("evaluate policy: %w", err)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("evaluate policy: %w: %w", provision.ErrDecisionUnavailable, ctx.Err())
	default:
		return nil, fmt.Errorf("evaluate policy: %w: %w after %s", provision.ErrDecisionUnavailable, ErrTimeout, d.timeout)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return nil, errors.New("evaluate policy: unexpected result type")
	}
	return t, nil
}

// keepTerm hands results back as AST terms, skipping rego's conversion to
// Go maps: decodeDecision reads the terms directly.
func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// Object keys of the input and the results; never modified.
var (
	keyUser        = ast.StringTerm("user")
	keyGroups      = ast.StringTerm("groups")
	keyID          = ast.StringTerm("id")
	keyExternalID  = ast.StringTerm("externalId")
	keyDisplayName = ast.StringTerm("displayName")
	keyPermissions = ast.StringTerm("permissions")
	keySets        = ast.StringTerm("sets")
	keyGrants      = ast.StringTerm("grants")
	keyPermission  = ast.StringTerm("permission")
	keySet         = ast.StringTerm("set")
	keyGroup       = ast.StringTerm("group")
	keyRule        = ast.StringTerm("rule")
	keyReason      = ast.StringTerm("reason")
)

// inputValue builds {"user": ..., "groups": [...]} as an AST value, which
// spares rego the JSON round trip it applies to a Go input.
func inputValue(in map[string]any, groupRefs []provision.GroupRef) (ast.Value, error) {
	user, err := ast.InterfaceToValue(in)
	if err != nil {
		return nil, err
	}
	if in == nil {
		user = ast.NewObject()
	}
	groups := make([]*ast.Term, len(groupRefs))
	for i, g := range groupRefs {
		groups[i] = ast.ObjectTerm(
			ast.Item(keyID, ast.StringTerm(g.ID)),
			ast.Item(keyExternalID, ast.StringTerm(g.ExternalID)),
			ast.Item(keyDisplayName, ast.StringTerm(g.DisplayName)),
		)
	}
	return ast.NewObject(
		ast.Item(keyUser, ast.NewTerm(user)),
		ast.Item(keyGroups, ast.ArrayTerm(groups...)),
	), nil
}

func (d *Decider) decodeDecision(t *ast.Term) (provision.Permissions, error) {
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return provision.Permissions{}, errors.New("not an object")
	}
	var dec provision.Permissions
	var err error
	if dec.Permissions, err = d.strings(obj, keyPermissions); err != nil {
		return provision.Permissions{}, err
	}
	if dec.Sets, err = d.strings(obj, keySets); err != nil {
		return provision.Permissions{}, err
	}
	grants, err := d.array(obj, keyGrants)
	if err != nil {
		return provision.Permissions{}, err
	}
	dec.Grants = make([]provision.Grant, grants.Len())
	for i := range dec.Grants {
		g, ok := grants.Elem(i).Value.(ast.Object)
		if !ok {
			return provision.Permissions{}, fmt.Errorf("grants[%d] is not an object", i)
		}
		var fields [4]string
		for j, key := range []*ast.Term{keyPermission, keySet, keyGroup, keyRule} {
			if fields[j], ok = stringAt(g, key); !ok {
				return provision.Permissions{}, fmt.Errorf("grants[%d].%v is not a string", i, key)
			}
		}
		dec.Grants[i] = provision.Grant{Permission: fields[0], Set: fields[1], Group: fields[2], Rule: fields[3]}
	}
	slices.Sort(dec.Permissions)
	slices.Sort(dec.Sets)
	slices.SortFunc(dec.Grants, compareGrants)
	dec.Permissions = slices.Compact(dec.Permissions)
	dec.Sets = slices.Compact(dec.Sets)
	dec.Grants = slices.Compact(dec.Grants)
	return dec, nil
}

func compareGrants(a, b provision.Grant) int {
	return cmp.Or(
		strings.Compare(a.Permission, b.Permission),
		strings.Compare(a.Set, b.Set),
		strings.Compare(a.Group, b.Group),
		strings.Compare(a.Rule, b.Rule),
	)
}

func (d *Decider) array(obj ast.Object, key *ast.Term) (*ast.Array, error) {
	v := obj.Get(key)
	if v == nil {
		return nil, fmt.Errorf("%v is missing", key)
	}
	a, ok := v.Value.(*ast.Array)
	if !ok {
		return nil, fmt.Errorf("%v is not an array", key)
	}
	if a.Len() > d.maxGrants {
		return nil, fmt.Errorf("%v has %d entries, more than the limit of %d", key, a.Len(), d.maxGrants)
	}
	return a, nil
}

func (d *Decider) strings(obj ast.Object, key *ast.Term) ([]string, error) {
	a, err := d.array(obj, key)
	if err != nil {
		return nil, err
	}
	out := make([]string, a.Len())
	for i := range out {
		s, ok := a.Elem(i).Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("%v[%d] is not a string", key, i)
		}
		out[i] = string(s)
	}
	return out, nil
}

func stringAt(obj ast.Object, key *ast.Term) (string, bool) {
	v := obj.Get(key)
	if v == nil {
		return "", false
	}
	s, ok := v.Value.(ast.String)
	return string(s), ok
}
