package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/policy"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

// input is what one decision is about: a user and its groups.
type input struct {
	User   map[string]any
	Groups []provision.GroupRef
}

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func user(active bool, department string) map[string]any {
	return map[string]any{
		"id":          "u-1",
		"userName":    "alice@example.com",
		"active":      active,
		"displayName": "Alice",
		"title":       "Engineer",
		"emails":      []any{map[string]any{"value": "alice@example.com", "primary": true}},
		"name":        map[string]any{"givenName": "Alice", "familyName": "Smith"},
		enterprise: map[string]any{
			"department":     department,
			"employeeNumber": "42",
			"manager":        map[string]any{"value": "u-0"},
		},
	}
}

func group(id, name string) provision.GroupRef {
	return provision.GroupRef{ID: id, ExternalID: "ext-" + id, DisplayName: name}
}

func defaultBundle(t testing.TB) policy.Bundle {
	t.Helper()
	b, err := policy.Default()
	require.NoError(t, err)
	return b
}

func compile(t testing.TB, b policy.Bundle, opts policy.Options) *policy.Decider {
	t.Helper()
	d, err := policy.Compile(context.Background(), b, opts)
	require.NoError(t, err)
	return d
}

// withModule returns the default bundle with one module replaced or added.
func withModule(t testing.TB, name, src string) policy.Bundle {
	b := defaultBundle(t)
	modules := map[string]string{name: src}
	for n, s := range b.Modules {
		if n != name {
			modules[n] = s
		}
	}
	b.Modules = modules
	return b
}

func TestDecider_Decide(t *testing.T) {
	customMapping := `{
		"permission_sets": {
			"reader": {"description": "r", "permissions": ["forms.view"]},
			"finance_designer": {"description": "d", "permissions": ["forms.design", "forms.view"]}
		},
		"grants": [
			{"name": "readers", "group": {"externalId": "ext-g-7"}, "sets": ["reader"]},
			{"name": "finance-designers", "group": {"id": "g-8"}, "sets": ["finance_designer"],
			 "when": [{"attribute": "` + enterprise + `:department", "equals": "Finance"}]}
		]
	}`

	tests := []struct {
		name    string
		mapping string // empty: the default mapping
		input   input
		want    provision.Permissions
	}{
		{
			name:  "no groups",
			input: input{User: user(true, "Engineering")},
			want:  provision.Permissions{Permissions: []string{}, Sets: []string{}, Grants: []provision.Grant{}},
		},
		{
			name:  "default mapping, designer by display name",
			input: input{User: user(true, "Engineering"), Groups: []provision.GroupRef{group("g-3", "forms designers"), group("g-9", "Sales")}},
			want: provision.Permissions{
				Permissions: []string{"forms.design", "forms.submit", "forms.view"},
				Sets:        []string{"designer"},
				Grants: []provision.Grant{
					{Permission: "forms.design", Set: "designer", Group: "g-3", Rule: "forms-designers"},
					{Permission: "forms.submit", Set: "designer", Group: "g-3", Rule: "forms-designers"},
					{Permission: "forms.view", Set: "designer", Group: "g-3", Rule: "forms-designers"},
				},
			},
		},
		{
			name:  "default mapping, department condition holds",
			input: input{User: user(true, "People Operations"), Groups: []provision.GroupRef{group("g-4", "HR"), group("g-1", "Forms Viewers")}},
			want: provision.Permissions{
				Permissions: []string{"forms.view", "users.manage"},
				Sets:        []string{"user_admin", "viewer"},
				Grants: []provision.Grant{
					{Permission: "forms.view", Set: "viewer", Group: "g-1", Rule: "forms-viewers"},
					{Permission: "users.manage", Set: "user_admin", Group: "g-4", Rule: "hr-user-admins"},
				},
			},
		},
		{
			name:  "default mapping, department condition fails",
			input: input{User: user(true, "Engineering"), Groups: []provision.GroupRef{group("g-4", "HR")}},
			want:  provision.Permissions{Permissions: []string{}, Sets: []string{}, Grants: []provision.Grant{}},
		},
		{
			name:  "inactive user gets nothing",
			input: input{User: user(false, "Engineering"), Groups: []provision.GroupRef{group("g-5", "Forms Administrators")}},
			want:  provision.Permissions{Permissions: []string{}, Sets: []string{}, Grants: []provision.Grant{}},
		},
		{
			name:    "custom mapping by externalId",
			mapping: customMapping,
			input:   input{User: user(true, "Engineering"), Groups: []provision.GroupRef{group("g-7", "anything")}},
			want: provision.Permissions{
				Permissions: []string{"forms.view"},
				Sets:        []string{"reader"},
				Grants:      []provision.Grant{{Permission: "forms.view", Set: "reader", Group: "g-7", Rule: "readers"}},
			},
		},
		{
			name:    "custom mapping, condition on department",
			mapping: customMapping,
			input:   input{User: user(true, "finance"), Groups: []provision.GroupRef{group("g-8", "x"), group("g-7", "y")}},
			want: provision.Permissions{
				Permissions: []string{"forms.design", "forms.view"},
				Sets:        []string{"finance_designer", "reader"},
				Grants: []provision.Grant{
					{Permission: "forms.design", Set: "finance_designer", Group: "g-8", Rule: "finance-designers"},
					{Permission: "forms.view", Set: "finance_designer", Group: "g-8", Rule: "finance-designers"},
					{Permission: "forms.view", Set: "reader", Group: "g-7", Rule: "readers"},
				},
			},
		},
		{
			name:    "custom mapping, default groups unknown",
			mapping: customMapping,
			input:   input{User: user(true, "Finance"), Groups: []provision.GroupRef{group("g-5", "Forms Administrators")}},
			want:    provision.Permissions{Permissions: []string{}, Sets: []string{}, Grants: []provision.Grant{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := defaultBundle(t)
			if tt.mapping != "" {
				b.Mapping = []byte(tt.mapping)
			}
			d := compile(t, b, policy.Options{})
			got, err := d.Decide(context.Background(), tt.input.User, tt.input.Groups)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecider_Decide_errorsGrantNothing(t *testing.T) {
	tests := []struct {
		name    string
		policy  string
		opts    policy.Options
		wantErr string
	}{
		{
			name: "conflicting outputs",
			policy: `package scimplane.permissions
decision := {"permissions": ["admin"], "sets": [], "grants": []}
decision := {"permissions": ["forms.view"], "sets": [], "grants": []} if input.user.active`,
			wantErr: "conflict",
		},
		{
			name: "division by zero",
			policy: `package scimplane.permissions
decision := {"permissions": ["admin"], "sets": [], "grants": []} if {
	count(input.groups) / 0 > 1
}`,
			wantErr: "divide by zero",
		},
		{
			name: "undefined",
			policy: `package scimplane.permissions
decision := {"permissions": ["admin"], "sets": [], "grants": []} if false`,
			wantErr: "undefined",
		},
		{
			name: "malformed",
			policy: `package scimplane.permissions
decision := {"permissions": ["admin", 1], "sets": [], "grants": []}`,
			wantErr: "malformed",
		},
		{
			name: "too many grants",
			policy: `package scimplane.permissions
decision := {"permissions": [sprintf("p%d", [i]) | some i, _ in input.user.tags], "sets": [], "grants": []}`,
			opts:    policy.Options{MaxGrants: 5},
			wantErr: "more than the limit of 5",
		},
		{
			name: "timeout",
			policy: `package scimplane.permissions
xs := [x | some x in input.user.tags]
decision := {"permissions": [], "sets": [], "grants": []} if {
	count([1 | some a in xs; some b in xs; some c in xs; some d in xs]) > 0
}`,
			opts:    policy.Options{Timeout: 20 * time.Millisecond},
			wantErr: policy.ErrTimeout.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := defaultBundle(t)
			b.Modules = map[string]string{"permissions.rego": tt.policy}
			d := compile(t, b, tt.opts)

			u := user(true, "Engineering")
			tags := make([]any, 200)
			for i := range tags {
				tags[i] = i
			}
			u["tags"] = tags
			got, err := d.Decide(context.Background(), u, []provision.GroupRef{group("g-5", "Forms Administrators")})
			require.ErrorContains(t, err, tt.wantErr)
			require.Equal(t, provision.Permissions{}, got)
		})
	}
}

func TestDecider_Decide_cancelledContext(t *testing.T) {
	d := compile(t, defaultBundle(t), policy.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := d.Decide(ctx, user(true, ""), []provision.GroupRef{group("g-5", "Forms Administrators")})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, provision.Permissions{}, got)
}

func TestDecider_Decide_concurrent(t *testing.T) {
	d := compile(t, defaultBundle(t), policy.Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			groups := []provision.GroupRef{group("g-1", "Forms Viewers")}
			want := []string{"forms.view"}
			if i%2 == 0 {
				groups = []provision.GroupRef{group("g-5", "Forms Administrators")}
				want = []string{"admin", "forms.design", "forms.submit", "forms.view", "users.manage"}
			}
			for range 200 {
				got, err := d.Decide(context.Background(), user(true, ""), groups)
				if err != nil || !slices.Equal(got.Permissions, want) {
					t.Errorf("got %v, %v; want %v", got.Permissions, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCompile_errors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*policy.Bundle)
		want  []scimworker.PolicyProblem
		wants string // substring of the first problem's message
	}{
		{
			name: "parse error",
			edit: func(b *policy.Bundle) {
				b.Modules["permissions.rego"] = "package scimplane.permissions\n\ndecision := {\"permissions\" []}\n"
			},
			// OPA reports a parse error twice: what it found, what it expected.
			want:  []scimworker.PolicyProblem{{File: "permissions.rego", Line: 3, Column: 28}, {File: "permissions.rego", Line: 3, Column: 28}},
			wants: "rego_parse_error: unexpected [ token",
		},
		{
			name: "unsafe variable",
			edit: func(b *policy.Bundle) {
				b.Modules["extra.rego"] = "package scimplane.extra\n\nallow if {\n\tx > 1\n}\n"
			},
			want:  []scimworker.PolicyProblem{{File: "extra.rego", Line: 4}},
			wants: "rego_unsafe_var_error",
		},
		{
			name: "denied built-in",
			edit: func(b *policy.Bundle) {
				b.Modules["extra.rego"] = "package scimplane.extra\n\nr := http.send({\"method\": \"get\", \"url\": \"http://x\"})\n"
			},
			want:  []scimworker.PolicyProblem{{File: "extra.rego", Line: 3}},
			wants: "built-in http.send is not allowed",
		},
		{
			name: "no decision rule",
			edit: func(b *policy.Bundle) {
				b.Modules["permissions.rego"] = "package scimplane.permissions\n\nallow := true\n"
			},
			want:  []scimworker.PolicyProblem{{File: "(bundle)"}},
			wants: "no rule data.scimplane.permissions.decision",
		},
		{
			name: "mapping problem",
			edit: func(b *policy.Bundle) {
				b.Mapping = []byte(`{"permission_sets": {}, "grants": [{"name": "x", "group": {"id": "g-1"}, "sets": ["nope"]}]}`)
			},
			want:  []scimworker.PolicyProblem{{File: "mapping/data.json"}},
			wants: `grants[0]: unknown permission set "nope"`,
		},
		{
			name: "mapping is not JSON",
			edit: func(b *policy.Bundle) {
				b.Mapping = []byte("{\n  \"grants\": [\n    {\"name\": x}\n  ]\n}")
			},
			want:  []scimworker.PolicyProblem{{File: "mapping/data.json", Line: 3, Column: 14}},
			wants: "invalid JSON object",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := defaultBundle(t)
			tt.edit(&b)
			_, err := policy.Compile(context.Background(), b, policy.Options{})
			var ce *policy.CompileError
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Problems, len(tt.want))
			for i, p := range ce.Problems {
				require.Equal(t, tt.want[i].File, p.File, p)
				require.Equal(t, tt.want[i].Line, p.Line, p)
				if tt.want[i].Column != 0 {
					require.Equal(t, tt.want[i].Column, p.Column, p)
				}
			}
			require.Contains(t, ce.Problems[0].Message, tt.wants)
			require.Contains(t, err.Error(), ce.Problems[0].Message)
		})
	}
}

func TestRunTests(t *testing.T) {
	t.Run("default bundle passes", func(t *testing.T) {
		results, err := policy.RunTests(context.Background(), defaultBundle(t))
		require.NoError(t, err)
		require.NotEmpty(t, results)
		for _, r := range results {
			require.Equal(t, scimworker.TestPass, r.Outcome, "%s.%s at %s:%d: %s", r.Package, r.Name, r.File, r.Line, r.Message)
		}
	})

	t.Run("failing and erroring tests are reported", func(t *testing.T) {
		b := withModule(t, "extra_test.rego", `package scimplane.extra_test

import data.scimplane.permissions

test_wrong if {
	print("decision was", permissions.decision)
	permissions.decision.permissions == ["admin"] with input as {"user": {}, "groups": []}
}

test_errors if {
	1 / 0 == 1
}
`)
		results, err := policy.RunTests(context.Background(), b)
		require.NoError(t, err)
		byName := map[string]scimworker.PolicyTest{}
		for _, r := range results {
			if r.Package == "data.scimplane.extra_test" {
				byName[r.Name] = r
			}
		}
		require.Len(t, byName, 2)
		require.Equal(t, scimworker.TestFail, byName["test_wrong"].Outcome)
		require.Equal(t, "extra_test.rego", byName["test_wrong"].File)
		require.Equal(t, 5, byName["test_wrong"].Line)
		require.Equal(t, scimworker.TestError, byName["test_errors"].Outcome)
		require.Contains(t, byName["test_errors"].Message, "divide by zero")
	})

	t.Run("broken test module is a compile error", func(t *testing.T) {
		b := withModule(t, "extra_test.rego", "package x\n\ntest_x if {\n")
		_, err := policy.RunTests(context.Background(), b)
		var ce *policy.CompileError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "extra_test.rego", ce.Problems[0].File)
	})
}

func TestDecider_Explain(t *testing.T) {
	d := compile(t, defaultBundle(t), policy.Options{})
	tests := []struct {
		name        string
		input       input
		permission  string
		wantGranted bool
		wantGrants  []scimworker.Grant
		wantReason  string
	}{
		{
			name:        "granted through two groups",
			input:       input{User: user(true, ""), Groups: []provision.GroupRef{group("g-1", "Forms Viewers"), group("g-2", "Forms Users")}},
			permission:  "forms.view",
			wantGranted: true,
			wantGrants: []scimworker.Grant{
				{Permission: "forms.view", Set: "submitter", Group: "g-2", Rule: "forms-users"},
				{Permission: "forms.view", Set: "viewer", Group: "g-1", Rule: "forms-viewers"},
			},
		},
		{
			name:       "no group maps to it",
			input:      input{User: user(true, ""), Groups: []provision.GroupRef{group("g-1", "Forms Viewers")}},
			permission: "forms.design",
			wantReason: "no group of this user maps to a set containing forms.design",
		},
		{
			name:       "no groups",
			input:      input{User: user(true, "")},
			permission: "forms.design",
			wantReason: "user is in no group",
		},
		{
			name:       "inactive",
			input:      input{User: user(false, ""), Groups: []provision.GroupRef{group("g-5", "Forms Administrators")}},
			permission: "admin",
			wantReason: "rule inactive: user is inactive; inactive users get no permissions",
		},
		{
			name:       "condition does not hold",
			input:      input{User: user(true, "Engineering"), Groups: []provision.GroupRef{group("g-4", "HR")}},
			permission: "users.manage",
			wantReason: `rule hr-user-admins, group g-4: group "HR" matches, but the condition on ` + enterprise + `:department does not hold`,
		},
		{
			name:       "condition does not hold, other permission",
			input:      input{User: user(true, "Engineering"), Groups: []provision.GroupRef{group("g-4", "HR")}},
			permission: "admin",
			wantReason: "no group of this user maps to a set containing admin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Explain(context.Background(), tt.input.User, tt.input.Groups, tt.permission)
			require.NoError(t, err)
			require.Equal(t, tt.permission, got.Permission)
			require.Equal(t, tt.wantGranted, got.Granted)
			if tt.wantGrants == nil {
				require.Empty(t, got.Grants)
			} else {
				require.Equal(t, tt.wantGrants, got.Grants)
			}
			if tt.wantReason == "" {
				require.Empty(t, got.Reasons)
			} else {
				require.Equal(t, []string{tt.wantReason}, got.Reasons)
			}
		})
	}
}

// TestDecider_Decide_matchesPlainEvaluation checks the prepared (partially
// evaluated) decision against evaluating the policy source as written.
func TestDecider_Decide_matchesPlainEvaluation(t *testing.T) {
	b := defaultBundle(t)
	d := compile(t, b, policy.Options{})

	opts := []func(*rego.Rego){rego.Query(policy.DecisionRule), rego.SetRegoVersion(ast.RegoV1)}
	for name, src := range b.Modules {
		if !strings.HasSuffix(name, "_test.rego") {
			opts = append(opts, rego.Module(name, src))
		}
	}
	var mapping map[string]any
	require.NoError(t, json.Unmarshal(b.Mapping, &mapping))
	plain, err := rego.New(append(opts, rego.Data(map[string]any{"mapping": mapping}))...).PrepareForEval(context.Background())
	require.NoError(t, err)

	names := []string{"Forms Viewers", "forms users", "FORMS DESIGNERS", "HR", "Forms Administrators", "Sales", ""}
	departments := []string{"Human Resources", "people operations", "Engineering", ""}
	for i := range 200 {
		u := user(i%7 != 0, departments[i%len(departments)])
		var groups []provision.GroupRef
		var rawGroups []any
		for j := range i % 4 {
			g := group(fmt.Sprintf("g-%d", (i+j)%9), names[(i*3+j)%len(names)])
			groups = append(groups, g)
			rawGroups = append(rawGroups, map[string]any{"id": g.ID, "externalId": g.ExternalID, "displayName": g.DisplayName})
		}
		got, err := d.Decide(context.Background(), u, groups)
		require.NoError(t, err)

		rs, err := plain.Eval(context.Background(), rego.EvalInput(map[string]any{"user": u, "groups": rawGroups}))
		require.NoError(t, err)
		want := rs[0].Expressions[0].Value.(map[string]any)
		require.Equal(t, want["permissions"], toAny(got.Permissions), "input %d", i)
		require.Equal(t, want["sets"], toAny(got.Sets), "input %d", i)
		require.Len(t, want["grants"], len(got.Grants), "input %d", i)
	}
}

func toAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
