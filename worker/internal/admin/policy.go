package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scimplane/scimplane/worker/internal/policy"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

// decider adapts a compiled policy to provision.Decider.
type decider struct {
	d *policy.Decider
}

func toPolicyInput(user map[string]any, groups []provision.GroupRef) policy.Input {
	in := policy.Input{User: user, Groups: make([]policy.Group, len(groups))}
	for i, g := range groups {
		in.Groups[i] = policy.Group{ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName}
	}
	return in
}

func (d decider) Decide(ctx context.Context, user map[string]any, groups []provision.GroupRef) (provision.Permissions, error) {
	dec, err := d.d.Decide(ctx, toPolicyInput(user, groups))
	if err != nil {
		return provision.Permissions{}, err
	}
	out := provision.Permissions{Permissions: dec.Permissions, Sets: dec.Sets, Grants: make([]provision.Grant, len(dec.Grants))}
	for i, g := range dec.Grants {
		out.Grants[i] = provision.Grant{Permission: g.Permission, Set: g.Set, Group: g.Group, Rule: g.Rule}
	}
	if out.Permissions == nil {
		out.Permissions = []string{}
	}
	if out.Sets == nil {
		out.Sets = []string{}
	}
	return out, nil
}

// bundleDoc is a policy version as stored and as sent by the control plane.
type bundleDoc struct {
	Version int64             `json:"version,omitempty"`
	Modules map[string]string `json:"modules"`
	Mapping json.RawMessage   `json:"mapping"`
}

func (b bundleDoc) bundle() policy.Bundle {
	return policy.Bundle{Modules: b.Modules, Mapping: b.Mapping}
}

// CompileDefault compiles the built-in default policy.
func CompileDefault(ctx context.Context) (*policy.Decider, error) {
	b, err := policy.Default()
	if err != nil {
		return nil, err
	}
	d, err := policy.Compile(ctx, b, policy.Options{})
	if err != nil {
		return nil, fmt.Errorf("compile default policy: %w", err)
	}
	return d, nil
}

// LoadPolicy compiles the stored policy and puts it in force. With none
// stored, the built-in default is used: from def if given (workers compile
// it ahead, while they connect), else compiled now.
func (a *Server) LoadPolicy(ctx context.Context, def func() (*policy.Decider, error)) error {
	rec, err := a.st.ActivePolicy(ctx)
	if errors.Is(err, provision.ErrNotFound) {
		if def == nil {
			def = func() (*policy.Decider, error) { return CompileDefault(ctx) }
		}
		d, err := def()
		if err != nil {
			return err
		}
		a.svc.SetPolicy(&provision.Policy{Version: 0, Decider: decider{d}, Reads: d.Reads()})
		return nil
	}
	if err != nil {
		return err
	}
	var doc bundleDoc
	if err := json.Unmarshal(rec.Bundle, &doc); err != nil {
		return fmt.Errorf("stored policy: %w", err)
	}
	d, err := policy.Compile(ctx, doc.bundle(), policy.Options{})
	if err != nil {
		return fmt.Errorf("compile policy version %d: %w", rec.Version, err)
	}
	a.svc.SetPolicy(&provision.Policy{Version: rec.Version, Decider: decider{d}, Reads: d.Reads()})
	return nil
}

// ReloadPolicyIfChanged reloads the policy when another worker of this
// tenant (on another replica) activated a new version.
func (a *Server) ReloadPolicyIfChanged(ctx context.Context) {
	v, err := a.st.PolicyVersion(ctx)
	if err != nil || a.svc.Policy() != nil && v == a.svc.Policy().Version {
		return
	}
	if err := a.LoadPolicy(ctx, nil); err != nil {
		a.log.ErrorContext(ctx, "reload policy", "err", err)
	}
}

// MaintainNow runs one round of log maintenance, logging any failure.
func (a *Server) MaintainNow(ctx context.Context) {
	if err := a.maintain(ctx); err != nil && ctx.Err() == nil {
		a.log.ErrorContext(ctx, "scim log maintenance", "err", err)
	}
}

func (a *Server) maintain(ctx context.Context) error { return a.MaintainAt(ctx, a.now()) }

// MaintainAt runs log maintenance as of now: partitions from now on, and
// retention measured from now.
func (a *Server) MaintainAt(ctx context.Context, now time.Time) error {
	if err := a.st.EnsurePartitions(ctx, now, 2); err != nil {
		return err
	}
	days, err := a.st.RetentionDays(ctx)
	if err != nil {
		return err
	}
	dropped, err := a.st.DropExpiredPartitions(ctx, now, days)
	if len(dropped) > 0 {
		a.log.InfoContext(ctx, "dropped expired scim log partitions", "partitions", dropped)
	}
	return err
}

func (a *Server) compile(ctx context.Context, args []byte) (bundleDoc, *policy.Decider, *reply) {
	var doc bundleDoc
	if err := json.Unmarshal(args, &doc); err != nil || len(doc.Modules) == 0 {
		return doc, nil, badRequest("args need \"modules\" (file name to Rego source) and \"mapping\"")
	}
	d, err := policy.Compile(ctx, doc.bundle(), policy.Options{})
	var ce *policy.CompileError
	if errors.As(err, &ce) {
		return doc, nil, &reply{status: 422, body: map[string]any{"error": "policy does not compile", "problems": problems(ce)}}
	}
	if err != nil {
		return doc, nil, &reply{status: 500, body: map[string]any{"error": "compile policy"}, err: err}
	}
	results, err := policy.RunTests(ctx, doc.bundle())
	if errors.As(err, &ce) {
		return doc, nil, &reply{status: 422, body: map[string]any{"error": "policy tests do not compile", "problems": problems(ce)}}
	}
	if err != nil {
		return doc, nil, &reply{status: 500, body: map[string]any{"error": "run policy tests"}, err: err}
	}
	tests := make([]map[string]any, len(results))
	failed := len(results) == 0
	for i, r := range results {
		tests[i] = map[string]any{"package": r.Package, "name": r.Name, "outcome": r.Outcome, "message": r.Message, "file": r.File, "line": r.Line}
		if r.Outcome == policy.Fail || r.Outcome == policy.Error {
			failed = true
		}
	}
	if failed {
		msg := "policy tests failed"
		if len(results) == 0 {
			msg = "policy has no tests"
		}
		return doc, nil, &reply{status: 422, body: map[string]any{"error": msg, "tests": tests}}
	}
	return doc, d, &reply{status: 200, body: map[string]any{"tests": tests}}
}

func problems(ce *policy.CompileError) []map[string]any {
	out := make([]map[string]any, len(ce.Problems))
	for i, p := range ce.Problems {
		out[i] = map[string]any{"file": p.File, "line": p.Line, "column": p.Column, "message": p.Message}
	}
	return out
}

func (a *Server) policyValidate(ctx context.Context, args []byte) *reply {
	_, _, r := a.compile(ctx, args)
	return r
}

// policyDryRun evaluates the candidate over every user and reports who
// gains and loses what, changing nothing.
func (a *Server) policyDryRun(ctx context.Context, args []byte) *reply {
	_, d, r := a.compile(ctx, args)
	if d == nil {
		return r
	}
	candidate := &provision.Policy{Decider: decider{d}, Reads: d.Reads()}
	const maxListed = 1000
	changes := []map[string]any{}
	var users, changed int
	var errs []map[string]any
	var after int64
	for {
		subs, last, err := a.st.SubjectsAfter(ctx, after, provision.RecomputeBatch)
		if err != nil {
			return internal(err)
		}
		if len(subs) == 0 {
			break
		}
		after = last
		for _, sub := range subs {
			users++
			next := provision.Evaluate(ctx, candidate, sub)
			if next.Error != "" && len(errs) < maxListed {
				errs = append(errs, map[string]any{"user_id": sub.UserID, "error": next.Error})
			}
			gained, lost := provision.Diff(sub.Current.Permissions, next.Permissions)
			if len(gained) == 0 && len(lost) == 0 {
				continue
			}
			changed++
			if len(changes) < maxListed {
				name, _ := sub.User["userName"].(string)
				changes = append(changes, map[string]any{"user_id": sub.UserID, "user_name": name, "gained": gained, "lost": lost})
			}
		}
	}
	return ok(map[string]any{"users": users, "changed": changed, "changes": changes, "errors": errs})
}

// policyActivate stores and enforces a version, then re-evaluates everyone.
func (a *Server) policyActivate(ctx context.Context, args []byte) *reply {
	doc, d, r := a.compile(ctx, args)
	if d == nil {
		return r
	}
	if doc.Version <= 0 {
		return badRequest("args need a positive \"version\"")
	}
	stored, _ := json.Marshal(bundleDoc{Modules: doc.Modules, Mapping: doc.Mapping})
	if err := a.st.SavePolicy(ctx, doc.Version, stored); err != nil {
		return internal(err)
	}
	a.svc.SetPolicy(&provision.Policy{Version: doc.Version, Decider: decider{d}, Reads: d.Reads()})
	start := a.now()
	n, err := a.svc.RecomputeAll(ctx, func(done int) {
		a.log.InfoContext(ctx, "recomputing permissions", "policy_version", doc.Version, "users_done", done)
	})
	if err != nil {
		return internal(err)
	}
	return ok(map[string]any{"version": doc.Version, "users": n, "took_ms": a.now().Sub(start).Milliseconds()})
}

func (a *Server) policyActive(ctx context.Context) *reply {
	rec, err := a.st.ActivePolicy(ctx)
	if errors.Is(err, provision.ErrNotFound) {
		b, err := policy.Default()
		if err != nil {
			return internal(err)
		}
		return ok(map[string]any{"version": 0, "modules": b.Modules, "mapping": b.Mapping})
	}
	if err != nil {
		return internal(err)
	}
	var doc bundleDoc
	if err := json.Unmarshal(rec.Bundle, &doc); err != nil {
		return internal(err)
	}
	return ok(map[string]any{"version": rec.Version, "activated_at": rec.ActivatedAt, "modules": doc.Modules, "mapping": doc.Mapping})
}
