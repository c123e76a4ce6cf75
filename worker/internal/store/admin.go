package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/store/dbsqlc"
)

// ActivePolicy returns the stored policy, or provision.ErrNotFound.
func (s *Store) ActivePolicy(ctx context.Context) (*scimworker.ActivePolicy, error) {
	r, err := s.q.GetPolicy(ctx)
	if err != nil {
		return nil, mapErr(err, "read policy")
	}
	p := &scimworker.ActivePolicy{Version: r.Version, ActivatedAt: &r.ActivatedAt}
	if err := json.Unmarshal(r.Bundle, &p.PolicyBundle); err != nil {
		return nil, fmt.Errorf("read policy version %d: %w", p.Version, err)
	}
	return p, nil
}

// PolicyVersion returns the stored policy version, 0 when none is stored.
func (s *Store) PolicyVersion(ctx context.Context) (int64, error) {
	v, err := s.q.GetPolicyVersion(ctx)
	return v, mapErr(err, "read policy version")
}

// SavePolicy stores the policy version now in force.
func (s *Store) SavePolicy(ctx context.Context, version int64, b scimworker.PolicyBundle) error {
	bundle, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("save policy: %w", err)
	}
	return mapErr(s.q.SavePolicy(ctx, dbsqlc.SavePolicyParams{Version: version, Bundle: bundle}), "save policy")
}

// SubjectsAfter loads up to limit users after the seq cursor, for dry
// runs, and returns the cursor of the last one.
func (s *Store) SubjectsAfter(ctx context.Context, after int64, limit int) ([]*provision.Subject, int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.seq, u.id, u.doc, `+subjectCols+` FROM users u LEFT JOIN permissions p ON p.user_id = u.id
		WHERE u.seq > $1 ORDER BY u.seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, 0, mapErr(err, "page users")
	}
	defer rows.Close()
	var out []*provision.Subject
	var last int64
	for rows.Next() {
		s := &provision.Subject{}
		var doc resource.Doc
		if err := rows.Scan(&last, &s.UserID, &doc, &s.Groups, &s.Current.Permissions, &s.Current.Sets, &s.Current.Grants, &s.Current.Error, &s.Version); err != nil {
			return nil, 0, mapErr(err, "page users")
		}
		s.User = provision.PolicyInput(s.UserID, doc)
		out = append(out, s)
	}
	return out, last, mapErr(rows.Err(), "page users")
}

// GroupsPage lists groups by name after the cursor, optionally those whose
// name contains q, with their member counts.
func (s *Store) GroupsPage(ctx context.Context, after string, limit int, q string) ([]scimworker.GroupRow, string, error) {
	afterName, afterID, _ := strings.Cut(after, "\x00")
	rows, err := s.q.ListGroupsPage(ctx, dbsqlc.ListGroupsPageParams{AfterName: afterName, AfterID: afterID, Q: q, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", mapErr(err, "list groups")
	}
	out := make([]scimworker.GroupRow, len(rows))
	for i, r := range rows {
		out[i] = scimworker.GroupRow{ID: r.ID, DisplayName: r.DisplayName, ExternalID: r.ExternalID, Members: r.Members}
	}
	next := ""
	if len(out) == limit {
		last := out[len(out)-1]
		next = strings.ToLower(last.DisplayName) + "\x00" + last.ID
	}
	return out, next, nil
}

// GetGroupRow returns one group with its member count.
func (s *Store) GetGroupRow(ctx context.Context, id string) (*scimworker.GroupRow, error) {
	r, err := s.q.GetGroupSummary(ctx, id)
	if err != nil {
		return nil, mapErr(err, "read group")
	}
	return &scimworker.GroupRow{ID: r.ID, DisplayName: r.DisplayName, ExternalID: r.ExternalID, Members: r.Members}, nil
}

func seqCursor(after string) int64 {
	n, _ := strconv.ParseInt(after, 10, 64)
	return n
}

// UsersPage lists users in creation order after the cursor; q matches the
// start of userName or displayName.
func (s *Store) UsersPage(ctx context.Context, after string, limit int, q string) ([]scimworker.UserRow, string, error) {
	rows, err := s.q.ListUsersPage(ctx, dbsqlc.ListUsersPageParams{AfterSeq: seqCursor(after), Q: q, MaxRows: int32(limit)})
	return usersWithSeq(rows, err, limit)
}

// GroupMembersPage lists a group's members in creation order.
func (s *Store) GroupMembersPage(ctx context.Context, groupID, after string, limit int) ([]scimworker.UserRow, string, error) {
	rows, err := s.q.ListGroupMembersPage(ctx, dbsqlc.ListGroupMembersPageParams{GroupID: groupID, AfterSeq: seqCursor(after), MaxRows: int32(limit)})
	if err != nil {
		return nil, "", mapErr(err, "list users")
	}
	users := make([]dbsqlc.ListUsersPageRow, len(rows))
	for i, r := range rows {
		users[i] = dbsqlc.ListUsersPageRow(r)
	}
	return usersWithSeq(users, nil, limit)
}

// usersWithSeq converts a page of user rows; its cursor is the last
// row's seq when the page is full.
func usersWithSeq(rows []dbsqlc.ListUsersPageRow, err error, limit int) ([]scimworker.UserRow, string, error) {
	if err != nil {
		return nil, "", mapErr(err, "list users")
	}
	out := make([]scimworker.UserRow, len(rows))
	for i, r := range rows {
		out[i] = scimworker.UserRow{ID: r.ID, UserName: r.UserName, DisplayName: r.DisplayName, Active: r.Active,
			Permissions: r.Permissions, Sets: r.Sets, Error: r.Error}
	}
	next := ""
	if len(rows) == limit && limit > 0 {
		next = strconv.FormatInt(rows[len(rows)-1].Seq, 10)
	}
	return out, next, nil
}

// Subject loads one user as the policy sees it, with its stored permissions.
func (s *Store) Subject(ctx context.Context, id string) (*provision.Subject, error) {
	sub, err := scanSubject(s.pool.QueryRow(ctx, subjectsSQL+` WHERE u.id = $1`, id))
	if err != nil {
		return nil, mapErr(err, "load subject")
	}
	return sub, nil
}

// Changes returns feed entries after the cursor ("xid:seq") from
// transactions older than every transaction still in flight, so that a
// reader never moves past a change that commits later.
func (s *Store) Changes(ctx context.Context, after string, limit int) ([]scimworker.Change, string, error) {
	xid, seq := "0", int64(0)
	if x, sq, ok := strings.Cut(after, ":"); ok {
		if _, err := strconv.ParseUint(x, 10, 64); err != nil {
			return nil, "", fmt.Errorf("%w: bad cursor", ErrBadArgument)
		}
		xid, seq = x, seqCursor(sq)
	}
	rows, err := s.q.ListChanges(ctx, dbsqlc.ListChangesParams{AfterXid: xid, AfterSeq: seq, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", mapErr(err, "read changes")
	}
	out := make([]scimworker.Change, len(rows))
	for i, r := range rows {
		out[i] = scimworker.Change{Seq: r.Seq, At: r.At, Kind: r.Kind, UserID: r.UserID, GroupID: r.GroupID, Detail: r.Detail}
	}
	next := after
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		next = last.Xid + ":" + strconv.FormatInt(last.Seq, 10)
	}
	return out, next, nil
}

// ErrBadArgument marks an admin argument the store cannot use.
var ErrBadArgument = errors.New("bad argument")
