package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
)

// Store keeps the tenant's policy in force; the worker's store implements
// it.
type Store interface {
	// ActivePolicy returns the stored version, or provision.ErrNotFound
	// when none is (the built-in policy is in force).
	ActivePolicy(ctx context.Context) (*scimworker.ActivePolicy, error)
	// PolicyVersion returns the stored version's number, 0 when none is.
	PolicyVersion(ctx context.Context) (int64, error)
	// SavePolicy stores the version now in force.
	SavePolicy(ctx context.Context, version int64, b Bundle) error
	// SubjectsAfter loads up to limit users after the seq cursor and
	// returns the cursor of the last.
	SubjectsAfter(ctx context.Context, after int64, limit int) ([]*provision.Subject, int64, error)
}

// LifecycleParams wires a Lifecycle.
type LifecycleParams struct {
	Store     Store
	Provision *provision.Service
	// Builtin returns the compiled built-in policy; nil compiles it when
	// needed.
	Builtin func() (*Decider, error)
	Logger  *slog.Logger
	// Now is the clock activations are timed with; nil is time.Now.
	Now func() time.Time
}

// Lifecycle keeps one tenant's policy in force: it loads the stored
// version (or the built-in one), follows versions activated through other
// replicas, and validates, dry-runs and activates candidates sent by the
// control plane. Its last four methods are scimworker.Admin's policy
// operations; refusals are *scimworker.Error.
type Lifecycle struct {
	p LifecycleParams
	// inForce is what the last Load or ActivatePolicy put in force.
	inForce atomic.Pointer[inForce]
}

type inForce struct {
	version int64
	decider *Decider
}

// NewLifecycle returns a Lifecycle; call Load before serving.
func NewLifecycle(p LifecycleParams) *Lifecycle {
	if p.Builtin == nil {
		p.Builtin = func() (*Decider, error) { return CompileDefault(context.Background()) }
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Lifecycle{p: p}
}

// CompileDefault compiles the built-in policy.
func CompileDefault(ctx context.Context) (*Decider, error) {
	b, err := Default()
	if err != nil {
		return nil, err
	}
	d, err := Compile(ctx, b, Options{})
	if err != nil {
		return nil, fmt.Errorf("compile default policy: %w", err)
	}
	return d, nil
}

// Load compiles the stored version and puts it in force; with none stored,
// the built-in policy.
func (l *Lifecycle) Load(ctx context.Context) error {
	stored, err := l.p.Store.ActivePolicy(ctx)
	if errors.Is(err, provision.ErrNotFound) {
		d, err := l.p.Builtin()
		if err != nil {
			return err
		}
		l.enforce(0, d)
		return nil
	}
	if err != nil {
		return err
	}
	d, err := Compile(ctx, stored.PolicyBundle, Options{})
	if err != nil {
		return fmt.Errorf("compile policy version %d: %w", stored.Version, err)
	}
	l.enforce(stored.Version, d)
	return nil
}

// ReloadIfChanged reloads the policy when another worker of this tenant (on
// another replica) activated a different version.
func (l *Lifecycle) ReloadIfChanged(ctx context.Context) {
	v, err := l.p.Store.PolicyVersion(ctx)
	if cur := l.p.Provision.Policy(); err != nil || cur != nil && v == cur.Version {
		return
	}
	if err := l.Load(ctx); err != nil {
		l.p.Logger.ErrorContext(ctx, "reload policy", "err", err)
	}
}

func (l *Lifecycle) enforce(version int64, d *Decider) {
	l.inForce.Store(&inForce{version: version, decider: d})
	l.p.Provision.SetPolicy(&provision.Policy{Version: version, Decider: d, Reads: d.Reads()})
}

// Explain says why the policy in force gives, or does not give, user in
// groups a permission. A policy that fails for the user explains that
// nothing is granted.
func (l *Lifecycle) Explain(ctx context.Context, user map[string]any, groups []provision.GroupRef, permission string) (*scimworker.Explanation, error) {
	cur := l.inForce.Load()
	if cur == nil {
		return nil, errors.New("explain: no policy loaded")
	}
	ex, err := cur.decider.Explain(ctx, user, groups, permission)
	if err != nil {
		ex = &scimworker.Explanation{Permission: permission, Grants: []scimworker.Grant{},
			Reasons: []string{"the policy failed for this user, so nothing is granted: " + err.Error()}}
	}
	ex.PolicyVersion = cur.version
	return ex, nil
}

// validate compiles b and runs its tests. A bundle that fails either is
// refused with status 422 and what failed.
func (l *Lifecycle) validate(ctx context.Context, b Bundle) (*Decider, []scimworker.PolicyTest, error) {
	if len(b.Modules) == 0 {
		return nil, nil, scimworker.BadRequest(`a policy needs "modules" (file name to Rego source) and "mapping"`)
	}
	d, err := Compile(ctx, b, Options{})
	var ce *CompileError
	if errors.As(err, &ce) {
		return nil, nil, &scimworker.Error{Status: 422, Message: "policy does not compile", Problems: ce.Problems}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("compile policy: %w", err)
	}
	results, err := RunTests(ctx, b)
	if errors.As(err, &ce) {
		return nil, nil, &scimworker.Error{Status: 422, Message: "policy tests do not compile", Problems: ce.Problems}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("run policy tests: %w", err)
	}
	if !Passed(results) {
		msg := "policy tests failed"
		if len(results) == 0 {
			msg = "policy has no tests"
		}
		return nil, nil, &scimworker.Error{Status: 422, Message: msg, Tests: results}
	}
	return d, results, nil
}

// ValidatePolicy compiles a candidate and runs its tests.
func (l *Lifecycle) ValidatePolicy(ctx context.Context, req *scimworker.ValidatePolicyRequest) (*scimworker.PolicyCheck, error) {
	_, tests, err := l.validate(ctx, req.PolicyBundle)
	if err != nil {
		return nil, err
	}
	return &scimworker.PolicyCheck{Tests: tests}, nil
}

// maxListed bounds the users a dry run lists.
const maxListed = 1000

// DryRunPolicy evaluates a valid candidate over every user and reports who
// gains and loses what, changing nothing.
func (l *Lifecycle) DryRunPolicy(ctx context.Context, req *scimworker.DryRunRequest) (*scimworker.DryRun, error) {
	d, _, err := l.validate(ctx, req.PolicyBundle)
	if err != nil {
		return nil, err
	}
	candidate := &provision.Policy{Decider: d, Reads: d.Reads()}
	out := &scimworker.DryRun{Changes: []scimworker.DryRunChange{}}
	var after int64
	for {
		subs, last, err := l.p.Store.SubjectsAfter(ctx, after, provision.RecomputeBatch)
		if err != nil {
			return nil, err
		}
		if len(subs) == 0 {
			return out, nil
		}
		after = last
		for _, sub := range subs {
			out.Users++
			next, err := provision.Evaluate(ctx, candidate, sub)
			if err != nil {
				// A candidate that runs out of its budget for a user
				// shows as an error of that user; nothing is stored.
				next = provision.Permissions{Error: err.Error()}
			}
			if next.Error != "" && len(out.Errors) < maxListed {
				out.Errors = append(out.Errors, scimworker.DryRunError{UserID: sub.UserID, Error: next.Error})
			}
			gained, lost := provision.Diff(sub.Current.Permissions, next.Permissions)
			if len(gained) == 0 && len(lost) == 0 {
				continue
			}
			out.Changed++
			if len(out.Changes) < maxListed {
				name, _ := sub.User["userName"].(string)
				out.Changes = append(out.Changes, scimworker.DryRunChange{UserID: sub.UserID, UserName: name, Gained: gained, Lost: lost})
			}
		}
	}
}

// ActivatePolicy validates a version, stores it as the one in force,
// enforces it, then re-evaluates every user in batches. Each step may be
// repeated: activating the version in force again completes a recompute
// that an earlier call did not finish, and changes nothing else.
func (l *Lifecycle) ActivatePolicy(ctx context.Context, req *scimworker.ActivateRequest) (*scimworker.Activation, error) {
	if req.Version <= 0 {
		return nil, scimworker.BadRequest(`a policy version needs a positive "version"`)
	}
	d, _, err := l.validate(ctx, req.PolicyBundle)
	if err != nil {
		return nil, err
	}
	if err := l.p.Store.SavePolicy(ctx, req.Version, req.PolicyBundle); err != nil {
		return nil, err
	}
	l.enforce(req.Version, d)
	start := l.p.Now()
	n, err := l.p.Provision.RecomputeAll(ctx, func(done int) {
		l.p.Logger.InfoContext(ctx, "recomputing permissions", "policy_version", req.Version, "users_done", done)
	})
	if err != nil {
		return nil, fmt.Errorf("recompute permissions under version %d: %w", req.Version, err)
	}
	return &scimworker.Activation{Version: req.Version, Users: n, TookMS: l.p.Now().Sub(start).Milliseconds()}, nil
}

// ActivePolicy describes the policy in force: the stored version, else the
// built-in one (version 0).
func (l *Lifecycle) ActivePolicy(ctx context.Context, _ *scimworker.ActivePolicyRequest) (*scimworker.ActivePolicy, error) {
	stored, err := l.p.Store.ActivePolicy(ctx)
	if !errors.Is(err, provision.ErrNotFound) {
		return stored, err
	}
	b, err := Default()
	if err != nil {
		return nil, err
	}
	return &scimworker.ActivePolicy{PolicyBundle: b}, nil
}
