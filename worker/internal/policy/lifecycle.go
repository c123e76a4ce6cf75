package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// Sandbox checks candidates (compile within budget, Rego tests) out
	// of the worker's process.
	Sandbox *Sandbox
	// Builtin returns the compiled built-in policy; nil compiles it when
	// needed.
	Builtin func() (*Decider, error)
	Logger  *slog.Logger
	// Now is the clock activations are timed with; nil is time.Now.
	Now func() time.Time
}

// Lifecycle keeps one tenant's policy in force: it loads the stored
// version (or the built-in one) in the background, follows versions
// activated through other replicas, and validates, dry-runs and activates
// candidates sent by the control plane. Its last four methods are
// scimworker.Admin's policy operations; refusals are *scimworker.Error.
type Lifecycle struct {
	p LifecycleParams
	// mu orders what puts a policy in force; gen counts activations, so
	// that a load started before one does not undo it.
	mu  sync.Mutex
	gen uint64
	// inForce is what is in force now.
	inForce atomic.Pointer[inForce]
}

// The states of the stored version (scimworker.ActivePolicy.State).
const (
	StateLoading = "loading"
	StateActive  = "active"
	StateFailed  = "failed"
)

type inForce struct {
	// version is the stored version; decider enforces enforced (the
	// stored version once loaded, 0 for the built-in policy), nil while
	// the stored version loads.
	version  int64
	enforced int64
	decider  *Decider
	state    string
	problem  string
}

// NewLifecycle returns a Lifecycle; call Start before serving.
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

// loading is the decider while the stored version compiles: no decision
// can be taken yet (a decision under another policy would be stored and
// fed as a change), so writes that need one answer 503 with Retry-After
// for those few seconds; reads are served.
type loading struct{ version int64 }

func (l loading) Decide(context.Context, map[string]any, []provision.GroupRef) (provision.Permissions, error) {
	return provision.Permissions{}, fmt.Errorf("policy version %d is loading: %w", l.version, provision.ErrDecisionUnavailable)
}

// Start puts the tenant's policy in force without compiling it on the
// caller's path (the worker's Bind, which the control plane waits for):
// with no stored version the built-in policy is in force at once;
// otherwise the stored version compiles in the background under ctx (the
// worker's life) and is in force once compiled. A stored version that no
// longer compiles leaves the built-in policy in force, reported as
// StateFailed by ActivePolicy until a version is activated.
func (l *Lifecycle) Start(ctx context.Context) error {
	stored, err := l.p.Store.ActivePolicy(ctx)
	if errors.Is(err, provision.ErrNotFound) {
		d, err := l.p.Builtin()
		if err != nil {
			return err
		}
		l.enforce(&inForce{decider: d, state: StateActive})
		return nil
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	gen := l.gen
	l.inForce.Store(&inForce{version: stored.Version, state: StateLoading})
	l.p.Provision.SetPolicy(&provision.Policy{Version: stored.Version, Decider: loading{stored.Version}})
	l.mu.Unlock()
	go l.load(ctx, gen, stored, true)
	return nil
}

// load compiles stored and puts it in force unless a version was activated
// since gen. When it fails, the built-in policy takes over if fallback is
// set (nothing was in force), else what is in force stays.
func (l *Lifecycle) load(ctx context.Context, gen uint64, stored *scimworker.ActivePolicy, fallback bool) {
	start := time.Now()
	d, err := Compile(ctx, stored.PolicyBundle, Options{})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen || ctx.Err() != nil {
		return
	}
	if err == nil {
		l.p.Logger.InfoContext(ctx, "policy loaded", "policy_version", stored.Version, "took_ms", time.Since(start).Milliseconds())
		l.enforce(&inForce{version: stored.Version, enforced: stored.Version, decider: d, state: StateActive})
		return
	}
	problem := fmt.Sprintf("policy version %d does not compile: %v", stored.Version, err)
	l.p.Logger.ErrorContext(ctx, "load policy", "policy_version", stored.Version, "err", err)
	cur := l.inForce.Load()
	if fallback || cur == nil || cur.decider == nil {
		if d, err = l.p.Builtin(); err != nil {
			l.p.Logger.ErrorContext(ctx, "compile built-in policy", "err", err)
			return
		}
		l.enforce(&inForce{version: stored.Version, decider: d, state: StateFailed, problem: problem})
		return
	}
	l.enforce(&inForce{version: stored.Version, enforced: cur.enforced, decider: cur.decider, state: StateFailed, problem: problem})
}

// ReloadIfChanged reloads the policy when another worker of this tenant (on
// another replica) activated a different version. What is in force stays
// while the new version compiles, and if it fails to.
func (l *Lifecycle) ReloadIfChanged(ctx context.Context) {
	v, err := l.p.Store.PolicyVersion(ctx)
	if cur := l.inForce.Load(); err != nil || cur != nil && v == cur.version {
		return
	}
	stored, err := l.p.Store.ActivePolicy(ctx)
	if err != nil {
		l.p.Logger.ErrorContext(ctx, "reload policy", "err", err)
		return
	}
	l.mu.Lock()
	gen := l.gen
	l.mu.Unlock()
	l.load(ctx, gen, stored, false)
}

// enforce puts f in force; the caller holds mu or is alone.
func (l *Lifecycle) enforce(f *inForce) {
	l.inForce.Store(f)
	l.p.Provision.SetPolicy(&provision.Policy{Version: f.enforced, Decider: f.decider, Reads: f.decider.Reads()})
}

// Explain says why the policy in force gives, or does not give, user in
// groups a permission. A policy that fails for the user explains that
// nothing is granted.
func (l *Lifecycle) Explain(ctx context.Context, user map[string]any, groups []provision.GroupRef, permission string) (*scimworker.Explanation, error) {
	cur := l.inForce.Load()
	if cur == nil {
		return nil, errors.New("explain: no policy loaded")
	}
	if cur.decider == nil {
		return nil, &scimworker.Error{Status: 503, Message: fmt.Sprintf("policy version %d is loading, retry in a few seconds", cur.version)}
	}
	ex, err := cur.decider.Explain(ctx, user, groups, permission)
	if err != nil {
		ex = &scimworker.Explanation{Permission: permission, Grants: []scimworker.Grant{},
			Reasons: []string{"the policy failed for this user, so nothing is granted: " + err.Error()}}
	}
	ex.PolicyVersion = cur.enforced
	return ex, nil
}

// validate checks b in the sandbox (it compiles within its budget and its
// tests pass) and, with compile set, compiles it here for use. A bundle
// that fails is refused with status 422 and what failed.
func (l *Lifecycle) validate(ctx context.Context, b Bundle, compile bool) (*Decider, []scimworker.PolicyTest, error) {
	if len(b.Modules) == 0 {
		return nil, nil, scimworker.BadRequest(`a policy needs "modules" (file name to Rego source) and "mapping"`)
	}
	results, err := l.p.Sandbox.Check(ctx, b)
	if err != nil || !compile {
		return nil, results, err
	}
	d, err := Compile(ctx, b, Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("compile policy: %w", err)
	}
	return d, results, nil
}

// ValidatePolicy compiles a candidate and runs its tests.
func (l *Lifecycle) ValidatePolicy(ctx context.Context, req *scimworker.ValidatePolicyRequest) (*scimworker.PolicyCheck, error) {
	_, tests, err := l.validate(ctx, req.PolicyBundle, false)
	if err != nil {
		return nil, err
	}
	return &scimworker.PolicyCheck{Tests: tests}, nil
}

// maxListed bounds the users a dry run lists.
const maxListed = 1000

// DryRunPolicy evaluates a valid candidate over every user and reports who
// gains and loses what, changing nothing. The candidate runs in the
// sandbox, its decisions included.
func (l *Lifecycle) DryRunPolicy(ctx context.Context, req *scimworker.DryRunRequest) (*scimworker.DryRun, error) {
	if len(req.Modules) == 0 {
		return nil, scimworker.BadRequest(`a policy needs "modules" (file name to Rego source) and "mapping"`)
	}
	session, _, err := l.p.Sandbox.DryRun(ctx, req.PolicyBundle)
	if err != nil {
		return nil, err
	}
	defer session.Close()
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
			next, err := session.Decide(sub.User, sub.Groups)
			if err != nil {
				return nil, err
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
	d, _, err := l.validate(ctx, req.PolicyBundle, true)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.gen++
	if err := l.p.Store.SavePolicy(ctx, req.Version, req.PolicyBundle); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	l.enforce(&inForce{version: req.Version, enforced: req.Version, decider: d, state: StateActive})
	l.mu.Unlock()
	start := l.p.Now()
	n, err := l.p.Provision.RecomputeAll(ctx, func(done int) {
		l.p.Logger.InfoContext(ctx, "recomputing permissions", "policy_version", req.Version, "users_done", done)
	})
	if err != nil {
		return nil, fmt.Errorf("recompute permissions under version %d: %w", req.Version, err)
	}
	return &scimworker.Activation{Version: req.Version, Users: n, TookMS: l.p.Now().Sub(start).Milliseconds()}, nil
}

// ActivePolicy describes the stored version (else the built-in one,
// version 0) and whether it is in force: State "loading" while it
// compiles, "active", or "failed" with Error when it did not compile
// (EnforcedVersion says what is in force instead: 0, the built-in policy,
// or the last good version).
func (l *Lifecycle) ActivePolicy(ctx context.Context, _ *scimworker.ActivePolicyRequest) (*scimworker.ActivePolicy, error) {
	out, err := l.p.Store.ActivePolicy(ctx)
	if errors.Is(err, provision.ErrNotFound) {
		var b Bundle
		b, err = Default()
		out = &scimworker.ActivePolicy{PolicyBundle: b}
	}
	if err != nil {
		return nil, err
	}
	out.State = StateActive
	if cur := l.inForce.Load(); cur != nil && cur.version == out.Version {
		out.State, out.Error, out.EnforcedVersion = cur.state, cur.problem, cur.enforced
	} else if cur != nil {
		// Activated through another replica, not yet followed here.
		out.State, out.EnforcedVersion = StateLoading, cur.enforced
	}
	return out, nil
}
