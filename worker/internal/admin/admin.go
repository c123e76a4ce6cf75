// Package admin serves the worker's admin operations (scimworker.Op*): the
// groups page, users and their effective permissions, policy validation,
// dry runs and activation, the change feed and the SCIM log queries. Each
// operation reads JSON arguments and answers JSON.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// Server answers admin operations for one tenant.
type Server struct {
	svc *provision.Service
	st  *store.Store
	log *slog.Logger
	now func() time.Time
}

// New returns a Server.
func New(svc *provision.Service, st *store.Store, log *slog.Logger) *Server {
	return &Server{svc: svc, st: st, log: log, now: time.Now}
}

// SetClock replaces time.Now as the server's clock; call it before the
// server is used.
func (a *Server) SetClock(now func() time.Time) { a.now = now }

type reply struct {
	status int
	body   any
	err    error // internal cause, logged, never sent
}

func ok(body any) *reply { return &reply{status: 200, body: body} }

func badRequest(msg string) *reply {
	return &reply{status: 400, body: map[string]any{"error": msg}}
}

func notFound(msg string) *reply {
	return &reply{status: 404, body: map[string]any{"error": msg}}
}

func internal(err error) *reply {
	return &reply{status: 500, body: map[string]any{"error": "internal error"}, err: err}
}

// Handle runs one operation.
func (a *Server) Handle(ctx context.Context, req *scimworker.AdminRequest) *scimworker.AdminReply {
	r := a.dispatch(ctx, req.Op, req.Args)
	if r.err != nil {
		if errors.Is(r.err, store.ErrBadArgument) {
			r = badRequest(r.err.Error())
		} else {
			a.log.ErrorContext(ctx, "admin operation failed", "op", req.Op, "request_id", req.RequestID, "err", r.err)
		}
	}
	body, err := json.Marshal(r.body)
	if err != nil {
		return &scimworker.AdminReply{Status: 500, Body: []byte(`{"error":"internal error"}`)}
	}
	return &scimworker.AdminReply{Status: r.status, Body: body}
}

func (a *Server) dispatch(ctx context.Context, op string, args []byte) *reply {
	if len(args) == 0 {
		args = []byte("{}")
	}
	switch op {
	case scimworker.OpPolicyValidate:
		return a.policyValidate(ctx, args)
	case scimworker.OpPolicyDryRun:
		return a.policyDryRun(ctx, args)
	case scimworker.OpPolicyActivate:
		return a.policyActivate(ctx, args)
	case scimworker.OpPolicyActive:
		return a.policyActive(ctx)
	case scimworker.OpGroupsList:
		return a.groupsList(ctx, args)
	case scimworker.OpGroupMembers:
		return a.groupMembers(ctx, args)
	case scimworker.OpUsersList:
		return a.usersList(ctx, args)
	case scimworker.OpUserGet:
		return a.userGet(ctx, args)
	case scimworker.OpUserExplain:
		return a.userExplain(ctx, args)
	case scimworker.OpChanges:
		return a.changes(ctx, args)
	case scimworker.OpLogQuery:
		return a.logQuery(ctx, args)
	case scimworker.OpLogGet:
		return a.logGet(ctx, args)
	case scimworker.OpLogHealth:
		return a.logHealth(ctx)
	case scimworker.OpLogRetention:
		return a.logRetention(ctx, args)
	}
	return notFound("unknown admin operation " + op)
}

// pageArgs are the paging arguments most operations take.
type pageArgs struct {
	ID         string `json:"id"`
	After      string `json:"after"`
	Limit      int    `json:"limit"`
	Q          string `json:"q"`
	Permission string `json:"permission"`
}

func parsePage(args []byte) (pageArgs, *reply) {
	var p pageArgs
	if err := json.Unmarshal(args, &p); err != nil {
		return p, badRequest("args must be a JSON object: " + err.Error())
	}
	switch {
	case p.Limit <= 0:
		p.Limit = 50
	case p.Limit > 500:
		p.Limit = 500
	}
	return p, nil
}

// groupsList is the groups page: each group with its member count and the
// permission sets the policy maps it to (for an active member with no other
// group; attribute conditions may narrow that per user).
func (a *Server) groupsList(ctx context.Context, args []byte) *reply {
	p, bad := parsePage(args)
	if bad != nil {
		return bad
	}
	groups, next, err := a.st.GroupsPage(ctx, p.After, p.Limit, p.Q)
	if err != nil {
		return internal(err)
	}
	out := make([]map[string]any, len(groups))
	for i, g := range groups {
		out[i] = a.groupRow(ctx, g)
	}
	return ok(map[string]any{"groups": out, "next": next})
}

func (a *Server) groupRow(ctx context.Context, g store.GroupSummary) map[string]any {
	row := map[string]any{"id": g.ID, "displayName": g.DisplayName, "externalId": g.ExternalID, "members": g.Members}
	if pol := a.svc.Policy(); pol != nil {
		probe := map[string]any{"id": "", "userName": "", "active": true}
		perms, err := pol.Decider.Decide(ctx, probe, []provision.GroupRef{{ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName}})
		if err != nil {
			row["error"] = err.Error()
		} else {
			row["sets"], row["permissions"] = perms.Sets, perms.Permissions
		}
	}
	return row
}

func (a *Server) groupMembers(ctx context.Context, args []byte) *reply {
	p, bad := parsePage(args)
	if bad != nil {
		return bad
	}
	g, err := a.st.GetGroupSummary(ctx, p.ID)
	if errors.Is(err, provision.ErrNotFound) {
		return notFound("group " + p.ID + " not found")
	}
	if err != nil {
		return internal(err)
	}
	members, next, err := a.st.GroupMembersPage(ctx, p.ID, p.After, p.Limit)
	if err != nil {
		return internal(err)
	}
	return ok(map[string]any{"group": a.groupRow(ctx, *g), "members": orEmpty(members), "next": next})
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *Server) usersList(ctx context.Context, args []byte) *reply {
	p, bad := parsePage(args)
	if bad != nil {
		return bad
	}
	users, next, err := a.st.UsersPage(ctx, p.After, p.Limit, p.Q)
	if err != nil {
		return internal(err)
	}
	return ok(map[string]any{"users": orEmpty(users), "next": next})
}

func (a *Server) subject(ctx context.Context, args []byte) (*provision.Subject, pageArgs, *reply) {
	p, bad := parsePage(args)
	if bad != nil {
		return nil, p, bad
	}
	sub, err := a.st.Subject(ctx, p.ID)
	if errors.Is(err, provision.ErrNotFound) {
		return nil, p, notFound("user " + p.ID + " not found")
	}
	if err != nil {
		return nil, p, internal(err)
	}
	return sub, p, nil
}

func (a *Server) userGet(ctx context.Context, args []byte) *reply {
	sub, _, r := a.subject(ctx, args)
	if r != nil {
		return r
	}
	return ok(map[string]any{
		"user": sub.User, "groups": orEmpty(sub.Groups), "permissions": orEmpty(sub.Current.Permissions),
		"sets": orEmpty(sub.Current.Sets), "grants": orEmpty(sub.Current.Grants), "error": sub.Current.Error,
		"policy_version": sub.Version,
	})
}

func (a *Server) userExplain(ctx context.Context, args []byte) *reply {
	sub, p, r := a.subject(ctx, args)
	if r != nil {
		return r
	}
	if p.Permission == "" {
		return badRequest("args need \"permission\"")
	}
	pol := a.svc.Policy()
	if pol == nil {
		return internal(errors.New("no policy loaded"))
	}
	ex, err := pol.Decider.(decider).d.Explain(ctx, toPolicyInput(sub.User, sub.Groups), p.Permission)
	if err != nil {
		return ok(map[string]any{"permission": p.Permission, "granted": false, "grants": []any{},
			"reasons": []string{"the policy failed for this user, so nothing is granted: " + err.Error()}})
	}
	grants := make([]map[string]any, len(ex.Grants))
	for i, g := range ex.Grants {
		grants[i] = map[string]any{"permission": g.Permission, "set": g.Set, "group": g.Group, "rule": g.Rule}
	}
	return ok(map[string]any{"permission": ex.Permission, "granted": ex.Granted, "grants": grants, "reasons": orEmpty(ex.Reasons),
		"policy_version": pol.Version})
}

func (a *Server) changes(ctx context.Context, args []byte) *reply {
	p, bad := parsePage(args)
	if bad != nil {
		return bad
	}
	changes, next, err := a.st.Changes(ctx, p.After, p.Limit)
	if err != nil {
		return internal(err)
	}
	return ok(map[string]any{"changes": orEmpty(changes), "next": next})
}
