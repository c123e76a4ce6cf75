package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Explanation says whether a user has one permission and why.
type Explanation struct {
	Permission string
	Granted    bool
	// Grants are the grants that produced the permission.
	Grants []Grant
	// Reasons say why the permission was not granted.
	Reasons []string
}

// Explain reports which groups and rules give the user a permission, or, if
// none does, why not: the policy's denials that concern the permission
// (DenialsRule), else a plain reason.
func (d *Decider) Explain(ctx context.Context, in Input, permission string) (Explanation, error) {
	dec, err := d.Decide(ctx, in)
	if err != nil {
		return Explanation{}, err
	}
	ex := Explanation{Permission: permission}
	for _, g := range dec.Grants {
		if g.Permission == permission {
			ex.Grants = append(ex.Grants, g)
		}
	}
	if ex.Granted = len(ex.Grants) > 0; ex.Granted {
		return ex, nil
	}

	if ex.Reasons, err = d.denialReasons(ctx, in, permission); err != nil {
		return Explanation{}, err
	}
	if len(ex.Reasons) == 0 {
		if len(in.Groups) == 0 {
			ex.Reasons = []string{"user is in no group"}
		} else {
			ex.Reasons = []string{fmt.Sprintf("no group of this user maps to a set containing %s", permission)}
		}
	}
	return ex, nil
}

// denialReasons evaluates the policy's denials and keeps the reasons that
// concern the permission: those naming it, and those naming none.
func (d *Decider) denialReasons(ctx context.Context, in Input, permission string) ([]string, error) {
	t, err := d.eval(ctx, d.denials, in)
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
