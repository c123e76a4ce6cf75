// Package admin serves a bound worker's admin operations on its directory
// and policy (scimworker.Admin, less the SCIM log's, which package scimlog
// serves): it reads the tenant's directory through the store, asks the
// policy in force about groups and users, and hands the policy operations
// to the policy lifecycle. What fails becomes the contract's refusal
// (*scimworker.Error), internal causes logged here and never sent.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/policy"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/store"
	"github.com/scimplane/scimplane/worker/internal/webhook"
)

// Tenant is what the admin operations use of the tenant a worker is bound
// to.
type Tenant struct {
	ID        string
	Provision *provision.Service
	Store     *store.Store
	Policies  *policy.Lifecycle
	// Webhooks delivers the tenant's webhooks.
	Webhooks *webhook.Deliverer
	// WebhookKey derives webhook secrets; WebhookAllowPrivate lets
	// webhooks reach private addresses.
	WebhookKey          []byte
	WebhookAllowPrivate bool
}

// Server implements scimworker.Admin for the tenant its worker is bound to.
type Server struct {
	tenant func() (*Tenant, error)
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Server over the tenant that tenant returns, which fails
// until the worker is bound. now is its clock (nil: time.Now).
func New(tenant func() (*Tenant, error), log *slog.Logger, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{tenant: tenant, log: log, now: now}
}

// refusal turns err into what the caller may see: refusals pass, bad
// arguments become 400, anything else is logged and answered 500.
func (a *Server) refusal(ctx context.Context, t *Tenant, op string, err error) error {
	var refused *scimworker.Error
	switch {
	case errors.As(err, &refused):
		return refused
	case errors.Is(err, store.ErrBadArgument):
		return scimworker.BadRequest(err.Error())
	case errors.Is(err, provision.ErrDecisionUnavailable):
		a.log.WarnContext(ctx, "admin operation: permission decision unavailable", "tenant_id", t.ID, "op", op, "request_id", scimworker.RequestID(ctx), "err", err)
		return &scimworker.Error{Status: 503, Message: "policy evaluation exceeded its budget; retry (an activation resumes where it stopped)"}
	}
	a.log.ErrorContext(ctx, "admin operation failed", "tenant_id", t.ID, "op", op, "request_id", scimworker.RequestID(ctx), "err", err)
	return &scimworker.Error{Status: 500, Message: "internal error"}
}

// run gets the tenant and runs op on it, turning op's error into a
// refusal. A worker not bound yet cannot answer: that error passes as is.
func run[Rep any](ctx context.Context, a *Server, name string, op func(*Tenant) (*Rep, error)) (*Rep, error) {
	t, err := a.tenant()
	if err != nil {
		return nil, err
	}
	out, err := op(t)
	if err != nil {
		return nil, a.refusal(ctx, t, name, err)
	}
	return out, nil
}

// page bounds a page size: 50 by default, at most most.
func page(limit, most int) int {
	switch {
	case limit <= 0:
		return 50
	case limit > most:
		return most
	}
	return limit
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ListGroups is the groups page.
func (a *Server) ListGroups(ctx context.Context, req *scimworker.GroupsRequest) (*scimworker.GroupsPage, error) {
	return run(ctx, a, "list groups", func(t *Tenant) (*scimworker.GroupsPage, error) {
		groups, next, err := t.Store.GroupsPage(ctx, req.After, page(req.Limit, 500), req.Q)
		if err != nil {
			return nil, err
		}
		for i := range groups {
			decideGroup(ctx, t, &groups[i])
		}
		return &scimworker.GroupsPage{Groups: orEmpty(groups), Next: next}, nil
	})
}

// decideGroup sets what the policy in force gives an active member of g
// with no other group.
func decideGroup(ctx context.Context, t *Tenant, g *scimworker.GroupRow) {
	pol := t.Provision.Policy()
	if pol == nil {
		return
	}
	probe := map[string]any{"id": "", "userName": "", "active": true}
	perms, err := pol.Decider.Decide(ctx, probe, []provision.GroupRef{{ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName}})
	if err != nil {
		g.Error = err.Error()
		return
	}
	g.Sets, g.Permissions = perms.Sets, perms.Permissions
}

// GroupMembers is one group with a page of its members.
func (a *Server) GroupMembers(ctx context.Context, req *scimworker.GroupMembersRequest) (*scimworker.GroupMembersPage, error) {
	return run(ctx, a, "group members", func(t *Tenant) (*scimworker.GroupMembersPage, error) {
		g, err := t.Store.GetGroupRow(ctx, req.ID)
		if errors.Is(err, provision.ErrNotFound) {
			return nil, scimworker.NotFound("group " + req.ID + " not found")
		}
		if err != nil {
			return nil, err
		}
		members, next, err := t.Store.GroupMembersPage(ctx, req.ID, req.After, page(req.Limit, 500))
		if err != nil {
			return nil, err
		}
		decideGroup(ctx, t, g)
		return &scimworker.GroupMembersPage{Group: *g, Members: orEmpty(members), Next: next}, nil
	})
}

// ListUsers is a page of users with their effective permissions.
func (a *Server) ListUsers(ctx context.Context, req *scimworker.UsersRequest) (*scimworker.UsersPage, error) {
	return run(ctx, a, "list users", func(t *Tenant) (*scimworker.UsersPage, error) {
		users, next, err := t.Store.UsersPage(ctx, req.After, page(req.Limit, 500), req.Q)
		if err != nil {
			return nil, err
		}
		return &scimworker.UsersPage{Users: orEmpty(users), Next: next}, nil
	})
}

func subject(ctx context.Context, t *Tenant, id string) (*provision.Subject, error) {
	sub, err := t.Store.Subject(ctx, id)
	if errors.Is(err, provision.ErrNotFound) {
		return nil, scimworker.NotFound("user " + id + " not found")
	}
	return sub, err
}

// GetUser is one user as the policy sees it, with its stored permissions.
func (a *Server) GetUser(ctx context.Context, req *scimworker.UserRequest) (*scimworker.UserDetail, error) {
	return run(ctx, a, "get user", func(t *Tenant) (*scimworker.UserDetail, error) {
		sub, err := subject(ctx, t, req.ID)
		if err != nil {
			return nil, err
		}
		user, err := json.Marshal(sub.User)
		if err != nil {
			return nil, err
		}
		out := &scimworker.UserDetail{User: user, Groups: make([]scimworker.GroupRef, len(sub.Groups)),
			Permissions: orEmpty(sub.Current.Permissions), Sets: orEmpty(sub.Current.Sets),
			Grants: make([]scimworker.Grant, len(sub.Current.Grants)), Error: sub.Current.Error, PolicyVersion: sub.Version}
		for i, g := range sub.Groups {
			out.Groups[i] = scimworker.GroupRef(g)
		}
		for i, g := range sub.Current.Grants {
			out.Grants[i] = scimworker.Grant(g)
		}
		return out, nil
	})
}

// ExplainUser asks the policy in force why a user has, or lacks, a
// permission.
func (a *Server) ExplainUser(ctx context.Context, req *scimworker.ExplainRequest) (*scimworker.Explanation, error) {
	return run(ctx, a, "explain user", func(t *Tenant) (*scimworker.Explanation, error) {
		if req.Permission == "" {
			return nil, scimworker.BadRequest(`explaining needs a "permission"`)
		}
		sub, err := subject(ctx, t, req.ID)
		if err != nil {
			return nil, err
		}
		return t.Policies.Explain(ctx, sub.User, sub.Groups, req.Permission)
	})
}

// Changes is a page of the change feed.
func (a *Server) Changes(ctx context.Context, req *scimworker.ChangesRequest) (*scimworker.ChangesPage, error) {
	return run(ctx, a, "changes", func(t *Tenant) (*scimworker.ChangesPage, error) {
		changes, next, err := t.Store.Changes(ctx, req.After, page(req.Limit, 500))
		if err != nil {
			return nil, err
		}
		return &scimworker.ChangesPage{Changes: orEmpty(changes), Next: next}, nil
	})
}

// ValidatePolicy hands the candidate to the policy lifecycle.
func (a *Server) ValidatePolicy(ctx context.Context, req *scimworker.ValidatePolicyRequest) (*scimworker.PolicyCheck, error) {
	return run(ctx, a, "validate policy", func(t *Tenant) (*scimworker.PolicyCheck, error) { return t.Policies.ValidatePolicy(ctx, req) })
}

// DryRunPolicy hands the candidate to the policy lifecycle.
func (a *Server) DryRunPolicy(ctx context.Context, req *scimworker.DryRunRequest) (*scimworker.DryRun, error) {
	return run(ctx, a, "dry-run policy", func(t *Tenant) (*scimworker.DryRun, error) { return t.Policies.DryRunPolicy(ctx, req) })
}

// ActivatePolicy hands the version to the policy lifecycle.
func (a *Server) ActivatePolicy(ctx context.Context, req *scimworker.ActivateRequest) (*scimworker.Activation, error) {
	return run(ctx, a, "activate policy", func(t *Tenant) (*scimworker.Activation, error) { return t.Policies.ActivatePolicy(ctx, req) })
}

// ActivePolicy asks the policy lifecycle what is in force.
func (a *Server) ActivePolicy(ctx context.Context, req *scimworker.ActivePolicyRequest) (*scimworker.ActivePolicy, error) {
	return run(ctx, a, "active policy", func(t *Tenant) (*scimworker.ActivePolicy, error) { return t.Policies.ActivePolicy(ctx, req) })
}
