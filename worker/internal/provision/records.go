// Package provision holds the worker's SCIM use cases: create, replace,
// patch and delete users and groups, each in one transaction together with
// its SCIM log row. It declares the Store it needs; the store package
// implements it.
package provision

import (
	"context"
	"errors"
	"time"

	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
)

// Store errors.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("uniqueness conflict")
	// ErrUnavailable marks a failure to reach the database (restart,
	// failover, connection limit): the exchange may succeed if retried.
	ErrUnavailable = errors.New("database unavailable")
	// ErrDecisionUnavailable marks a permission decision that could not be
	// taken now: the policy's evaluation ran out of its time budget or was
	// cancelled. It is no decision: never stored, never in the change feed;
	// the write fails and may succeed if retried.
	ErrDecisionUnavailable = errors.New("permission decision unavailable")
)

// UserRecord is a stored user.
type UserRecord struct {
	resource.Meta
	Doc resource.Doc
}

// GroupRecord is a stored group (members live in their own table).
type GroupRecord struct {
	resource.Meta
	Doc resource.Doc
}

// Resource is a user or a group of a query over both.
type Resource struct {
	Group bool
	resource.Meta
	Doc resource.Doc
}

// Query selects a page of a list request. Start is 1-based. Without
// Sort, resources come in creation order.
type Query struct {
	Filter resource.Filter
	Sort   *resource.Sort
	Start  int
	Count  int
}

// Store is what the use cases need from storage.
type Store interface {
	// InTx runs fn in a transaction. Its writes are sent together with its
	// next read or with COMMIT, so a change costs a round trip per read it
	// needs, plus one.
	InTx(ctx context.Context, fn func(Tx) error) error
	GetUser(ctx context.Context, id string) (*UserRecord, error)
	ListUsers(ctx context.Context, q Query) ([]*UserRecord, int, error)
	GetGroup(ctx context.Context, id string) (*GroupRecord, error)
	ListGroups(ctx context.Context, q Query) ([]*GroupRecord, int, error)
	// ListSorted merges users and groups in the order of the sort both
	// queries carry (at least one of them); the users query gives the page.
	ListSorted(ctx context.Context, users, groups Query) ([]*Resource, int, error)
	Members(ctx context.Context, groupIDs []string) (map[string][]resource.Member, error)
}

// Tx is one transaction. Lock* take a row lock so concurrent writers of one
// resource serialise instead of losing updates; methods that return nothing
// but an error only queue their statement, and its failure surfaces from
// the transaction's next read or its commit.
type Tx interface {
	InsertUser(ctx context.Context, u *UserRecord) error
	LockUser(ctx context.Context, id string) (*UserRecord, error)
	// LockSubject locks a user and loads what the policy needs about it.
	LockSubject(ctx context.Context, id string) (*UserRecord, *Subject, error)
	UpdateUser(ctx context.Context, u *UserRecord) error
	DeleteUser(ctx context.Context, id string) error
	InsertGroup(ctx context.Context, g *GroupRecord) error
	LockGroup(ctx context.Context, id string) (*GroupRecord, error)
	UpdateGroup(ctx context.Context, g *GroupRecord) error
	DeleteGroup(ctx context.Context, id string) error
	// ChangeMembers applies membership changes in order; unknown user ids
	// are ignored. It returns a change per user whose link was added or
	// removed, with the user's groups as they were before that change, and,
	// if list is set, the group's members after the changes (read in the
	// same round trip).
	ChangeMembers(ctx context.Context, groupID string, ops []resource.MemberOp, list bool) ([]MemberChange, []resource.Member, error)
	// LockGroupAndChangeMembers is LockGroup then ChangeMembers in one
	// round trip.
	LockGroupAndChangeMembers(ctx context.Context, groupID string, ops []resource.MemberOp, list bool) (*GroupRecord, []MemberChange, []resource.Member, error)
	// Members reads a group's members, in creation order of the users.
	Members(ctx context.Context, groupID string) ([]resource.Member, error)
	// TouchGroupsOf gives every group userID belongs to a new version
	// (version+1, lastModified at): a member's display or the member list
	// changes with the user. Groups are locked in id order, so concurrent
	// calls cannot deadlock on each other.
	TouchGroupsOf(ctx context.Context, userID string, at time.Time) error
	// GroupSubjects loads the subjects of a group's members.
	GroupSubjects(ctx context.Context, groupID string) ([]*Subject, error)
	// SubjectsAfter loads up to limit users after a creation-order cursor
	// and returns the cursor of the last (0 when none are left).
	SubjectsAfter(ctx context.Context, after int64, limit int) ([]*Subject, int64, error)
	// Subjects loads users with their groups and stored permissions.
	Subjects(ctx context.Context, userIDs []string) ([]*Subject, error)
	// SavePermissions stores permission rows computed under version.
	SavePermissions(ctx context.Context, version int64, rows []UserPermissions) error
	// RecordChanges appends to the change feed.
	RecordChanges(ctx context.Context, changes []Change) error
	// Log queues the exchange's SCIM log row in the transaction.
	Log(ctx context.Context, e *scimlog.Entry) error
}

// MemberChange is a user added to or removed from a group.
type MemberChange struct {
	Added   bool
	Subject *Subject
}
