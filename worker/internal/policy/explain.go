package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

// Explain reports which groups and rules give the user a permission, or, if
// none does, why not: the policy's denials that concern the permission
// (DenialsRule), else a plain reason. Grants and Reasons are never nil.
func (d *Decider) Explain(ctx context.Context, user map[string]any, groups []provision.GroupRef, permission string) (*scimworker.Explanation, error) {
	dec, err := d.Decide(ctx, user, groups)
	if err != nil {
		return nil, err
	}
	ex := &scimworker.Explanation{Permission: permission, Grants: []scimworker.Grant{}, Reasons: []string{}}
	for _, g := range dec.Grants {
		if g.Permission == permission {
			ex.Grants = append(ex.Grants, scimworker.Grant(g))
		}
	}
	if ex.Granted = len(ex.Grants) > 0; ex.Granted {
		return ex, nil
	}

	if ex.Reasons, err = d.denialReasons(ctx, user, groups, permission); err != nil {
		return nil, err
	}
	if len(ex.Reasons) == 0 {
		if len(groups) == 0 {
			ex.Reasons = []string{"user is in no group"}
		} else {
			ex.Reasons = []string{fmt.Sprintf("no group of this user maps to a set containing %s", permission)}
		}
	}
	return ex, nil
}

// denialReasons evaluates the policy's denials and keeps the reasons that
// concern the permission: those naming it, and those naming none.
func (d *Decider) denialReasons(ctx context.Context, user map[string]any, groups []provision.GroupRef, permission string) ([]string, error) {
	t, err := d.eval(ctx, d.denials, user, groups)
	if err != nil || t == nil {
		return nil, err
	}
	set, ok := t.Value.(ast.Set)
	if !ok {
		return nil, fmt.Errorf("evaluate policy: malformed %s: not a set", DenialsRule)
	}
	var reasons []string
	err = set.Iter(func(e *ast.Term) error {
		obj, ok := e.Value.(ast.Object)
		if !ok {
			return errors.New("denial is not an object")
		}
		if p, ok := stringAt(obj, keyPermission); ok && p != permission {
			return nil
		}
		rule, _ := stringAt(obj, keyRule)
		group, _ := stringAt(obj, keyGroup)
		reason, ok := stringAt(obj, keyReason)
		if !ok {
			return errors.New("denial reason is not a string")
		}
		reasons = append(reasons, describeDenial(rule, group, reason))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("evaluate policy: malformed %s: %w", DenialsRule, err)
	}
	return reasons, nil
}

func describeDenial(rule, group, reason string) string {
	switch {
	case rule == "":
		return reason
	case group == "":
		return fmt.Sprintf("rule %s: %s", rule, reason)
	default:
		return fmt.Sprintf("rule %s, group %s: %s", rule, group, reason)
	}
}
