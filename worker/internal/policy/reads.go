package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// UserAttributesRule is where a policy that reads user attributes through
// computed paths (object.get(input.user, path, ...)) lists those paths, as
// arrays of keys. The default policy lists the attributes its mapping's
// conditions name.
const UserAttributesRule = "data.scimplane.permissions.user_attributes"

// reads finds what the compiled policy reads of input.user: the constant
// paths of its references (input.user.active, input.user.emails[_].value
// reads "emails"), plus UserAttributesRule when some reference is computed.
// It returns nil, meaning anything, when input or input.user is used whole
// without that rule, or the rule is malformed.
func reads(ctx context.Context, compiler *ast.Compiler, store storage.Store) ([][]string, error) {
	paths := [][]string{}
	seen := map[string]bool{}
	add := func(path []string) {
		key := fmt.Sprintf("%q", path)
		if !seen[key] {
			seen[key] = true
			paths = append(paths, path)
		}
	}
	computed, whole := false, false
	for _, m := range compiler.Modules {
		ast.WalkRefs(m, func(ref ast.Ref) bool {
			if !ref[0].Equal(ast.InputRootDocument) {
				return false
			}
			if len(ref) == 1 {
				whole = true
				return false
			}
			key, ok := ref[1].Value.(ast.String)
			switch {
			case !ok:
				whole = true
			case key == "user":
				var path []string
				for _, t := range ref[2:] {
					s, ok := t.Value.(ast.String)
					if !ok {
						break
					}
					path = append(path, string(s))
				}
				if len(path) == 0 {
					computed = true
				} else {
					add(path)
				}
			case key != "groups":
				whole = true
			}
			return false
		})
	}
	if whole {
		return nil, nil
	}
	if !computed {
		return paths, nil
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(UserAttributesRule))) == 0 {
		return nil, nil
	}
	rs, err := rego.New(rego.Query(UserAttributesRule), rego.Compiler(compiler), rego.Store(store)).Eval(ctx)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", UserAttributesRule, err)
	}
	if len(rs) == 0 {
		return paths, nil
	}
	listed, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return nil, nil
	}
	for _, p := range listed {
		keys, ok := p.([]any)
		if !ok || len(keys) == 0 {
			return nil, nil
		}
		path := make([]string, len(keys))
		for i, k := range keys {
			if path[i], ok = k.(string); !ok {
				return nil, nil
			}
		}
		add(path)
	}
	return paths, nil
}
