package tenant

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/scimplane/scimplane/plugins/scimworker"
)

// access is what an operation on a tenant's data asks of the caller.
type access int

const (
	// read: readers of the tenant; audited for support keys, so that every
	// query support staff make into a tenant's data is on record.
	read access = iota
	// write: operators and the tenant's admins; always audited.
	write
	// check: operators and the tenant's admins (candidate policies run
	// arbitrary Rego on the worker); not audited, since nothing changes.
	check
)

// authorize checks that p may run action on tenantID's data, that the
// tenant exists, and records the action in the audit as a requires.
func (s *Service) authorize(ctx context.Context, p Principal, tenantID string, a access, action string) error {
	if a == read && !p.canRead(tenantID) || a != read && !p.canManage(tenantID) {
		return ErrForbidden
	}
	if _, err := s.store.GetTenant(ctx, tenantID); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if a == check || a == read && p.Role != RoleSupport {
		return nil
	}
	if err := s.store.RecordAudit(ctx, p.audit(action, tenantID, "")); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

// onWorker authorises action, then runs op with req on the tenant's
// worker.
func onWorker[Req, Rep any](ctx context.Context, s *Service, p Principal, tenantID string, a access, action string,
	op func(scimworker.Worker, context.Context, *Req) (*Rep, error), req *Req) (*Rep, error) {
	if err := s.authorize(ctx, p, tenantID, a, action); err != nil {
		return nil, err
	}
	return callWorker(ctx, s, tenantID, op, req)
}

// callWorker runs op with req on the tenant's worker. The worker's
// refusals come back as *scimworker.Error; a worker that could not answer
// as ErrWorkerUnavailable.
func callWorker[Req, Rep any](ctx context.Context, s *Service, tenantID string,
	op func(scimworker.Worker, context.Context, *Req) (*Rep, error), req *Req) (*Rep, error) {
	var out *Rep
	err := s.workers.Call(ctx, tenantID, func(ctx context.Context, w scimworker.Worker) (err error) {
		out, err = op(w, ctx, req)
		return err
	})
	if err != nil {
		return nil, workerError(err)
	}
	return out, nil
}

func workerError(err error) error {
	var refused *scimworker.Error
	if errors.As(err, &refused) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrWorkerUnavailable, err)
}

// ListGroups is the tenant's groups page.
func (s *Service) ListGroups(ctx context.Context, p Principal, tenantID string, req *scimworker.GroupsRequest) (*scimworker.GroupsPage, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.groups.list", scimworker.Worker.ListGroups, req)
}

// GroupMembers lists one group's members.
func (s *Service) GroupMembers(ctx context.Context, p Principal, tenantID string, req *scimworker.GroupMembersRequest) (*scimworker.GroupMembersPage, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.group.members", scimworker.Worker.GroupMembers, req)
}

// ListUsers lists the tenant's users with their effective permissions.
func (s *Service) ListUsers(ctx context.Context, p Principal, tenantID string, req *scimworker.UsersRequest) (*scimworker.UsersPage, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.users.list", scimworker.Worker.ListUsers, req)
}

// GetUser is one user with its groups and permissions.
func (s *Service) GetUser(ctx context.Context, p Principal, tenantID string, req *scimworker.UserRequest) (*scimworker.UserDetail, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.user.get", scimworker.Worker.GetUser, req)
}

// ExplainUser says why a user has, or lacks, a permission.
func (s *Service) ExplainUser(ctx context.Context, p Principal, tenantID string, req *scimworker.ExplainRequest) (*scimworker.Explanation, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.user.explain", scimworker.Worker.ExplainUser, req)
}

// Changes is a page of the tenant's change feed.
func (s *Service) Changes(ctx context.Context, p Principal, tenantID string, req *scimworker.ChangesRequest) (*scimworker.ChangesPage, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.changes", scimworker.Worker.Changes, req)
}

// QueryLog is a page of the tenant's SCIM log.
func (s *Service) QueryLog(ctx context.Context, p Principal, tenantID string, req *scimworker.LogQuery) (*scimworker.LogPage, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.log.query", scimworker.Worker.QueryLog, req)
}

// GetLogEntry is one SCIM log entry with its bodies.
func (s *Service) GetLogEntry(ctx context.Context, p Principal, tenantID string, req *scimworker.LogEntryRequest) (*scimworker.LogEntry, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.log.get", scimworker.Worker.GetLogEntry, req)
}

// LogHealth summarises the tenant's SCIM log.
func (s *Service) LogHealth(ctx context.Context, p Principal, tenantID string, req *scimworker.LogHealthRequest) (*scimworker.LogHealth, error) {
	return onWorker(ctx, s, p, tenantID, read, "worker.log.health", scimworker.Worker.LogHealth, req)
}

// SetLogRetention sets how long the tenant's SCIM log is kept.
func (s *Service) SetLogRetention(ctx context.Context, p Principal, tenantID string, req *scimworker.LogRetentionRequest) (*scimworker.LogRetention, error) {
	return onWorker(ctx, s, p, tenantID, write, "worker.log.retention", scimworker.Worker.SetLogRetention, req)
}

// ExportLog streams the SCIM log entries req selects to w, straight from
// the worker. A refusal before anything was written is the only error
// that leaves w untouched.
func (s *Service) ExportLog(ctx context.Context, p Principal, tenantID string, req *scimworker.LogExportRequest, w io.Writer) error {
	if err := s.authorize(ctx, p, tenantID, read, "worker.log.export"); err != nil {
		return err
	}
	err := s.workers.Stream(ctx, tenantID, func(ctx context.Context, wk scimworker.Worker) error {
		return wk.ExportLog(ctx, req, w)
	})
	if err != nil {
		return workerError(err)
	}
	return nil
}
