package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
)

// ActivePolicy returns the stored policy, or provision.ErrNotFound.
func (s *Store) ActivePolicy(ctx context.Context) (*scimworker.ActivePolicy, error) {
	p := &scimworker.ActivePolicy{}
	var bundle []byte
	err := s.pool.QueryRow(ctx, `SELECT version, bundle, activated_at FROM policy`).Scan(&p.Version, &bundle, &p.ActivatedAt)
	if err != nil {
		return nil, mapErr(err, "read policy")
	}
	if err := json.Unmarshal(bundle, &p.PolicyBundle); err != nil {
		return nil, fmt.Errorf("read policy version %d: %w", p.Version, err)
	}
	return p, nil
}

// PolicyVersion returns the stored policy version, 0 when none is stored.
func (s *Store) PolicyVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT version FROM policy), 0)`).Scan(&v)
	return v, mapErr(err, "read policy version")
}

// SavePolicy stores the policy version now in force.
func (s *Store) SavePolicy(ctx context.Context, version int64, b scimworker.PolicyBundle) error {
	bundle, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("save policy: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO policy (version, bundle, activated_at) VALUES ($1, $2, now())
		ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, bundle = excluded.bundle, activated_at = excluded.activated_at`, version, bundle)
	return mapErr(err, "save policy")
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
	rows, err := s.pool.Query(ctx, `SELECT g.id, g.display_name, coalesce(g.external_id, ''),
		(SELECT count(*) FROM members m WHERE m.group_id = g.id)
		FROM groups g WHERE (lower(g.display_name), g.id) > ($1, $2) AND ($3 = '' OR strpos(lower(g.display_name), lower($3)) > 0)
		ORDER BY lower(g.display_name), g.id LIMIT $4`, afterName, afterID, q, limit)
	if err != nil {
		return nil, "", mapErr(err, "list groups")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimworker.GroupRow, error) {
		var g scimworker.GroupRow
		return g, r.Scan(&g.ID, &g.DisplayName, &g.ExternalID, &g.Members)
	})
	if err != nil {
		return nil, "", mapErr(err, "list groups")
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
	g := &scimworker.GroupRow{}
	err := s.pool.QueryRow(ctx, `SELECT g.id, g.display_name, coalesce(g.external_id, ''),
		(SELECT count(*) FROM members m WHERE m.group_id = g.id) FROM groups g WHERE g.id = $1`, id).
		Scan(&g.ID, &g.DisplayName, &g.ExternalID, &g.Members)
	if err != nil {
		return nil, mapErr(err, "read group")
	}
	return g, nil
}

const userRowCols = `u.id, u.user_name, coalesce(u.display_name, ''), u.active,
	coalesce(p.permissions, '{}'), coalesce(p.sets, '{}'), coalesce(p.error, '')`

func seqCursor(after string) int64 {
	n, _ := strconv.ParseInt(after, 10, 64)
	return n
}

// UsersPage lists users in creation order after the cursor; q matches the
// start of userName or displayName.
func (s *Store) UsersPage(ctx context.Context, after string, limit int, q string) ([]scimworker.UserRow, string, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userRowCols+`, u.seq FROM users u LEFT JOIN permissions p ON p.user_id = u.id
		WHERE u.seq > $1 AND ($2 = '' OR starts_with(lower(u.user_name), lower($2)) OR starts_with(lower(u.display_name), lower($2)))
		ORDER BY u.seq LIMIT $3`, seqCursor(after), q, limit)
	return collectUsersWithSeq(rows, err, limit)
}

// GroupMembersPage lists a group's members in creation order.
func (s *Store) GroupMembersPage(ctx context.Context, groupID, after string, limit int) ([]scimworker.UserRow, string, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userRowCols+`, u.seq FROM members m JOIN users u ON u.id = m.user_id
		LEFT JOIN permissions p ON p.user_id = u.id
		WHERE m.group_id = $1 AND u.seq > $2 ORDER BY u.seq LIMIT $3`, groupID, seqCursor(after), limit)
	return collectUsersWithSeq(rows, err, limit)
}

func collectUsersWithSeq(rows pgx.Rows, err error, limit int) ([]scimworker.UserRow, string, error) {
	if err != nil {
		return nil, "", mapErr(err, "list users")
	}
	var last int64
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimworker.UserRow, error) {
		var u scimworker.UserRow
		return u, r.Scan(&u.ID, &u.UserName, &u.DisplayName, &u.Active, &u.Permissions, &u.Sets, &u.Error, &last)
	})
	if err != nil {
		return nil, "", mapErr(err, "list users")
	}
	next := ""
	if len(out) == limit {
		next = strconv.FormatInt(last, 10)
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
	rows, err := s.pool.Query(ctx, `SELECT seq, at, kind, coalesce(user_id, ''), coalesce(group_id, ''), detail, xid::text FROM changes
		WHERE (xid, seq) > ($1::text::xid8, $2) AND xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY xid, seq LIMIT $3`, xid, seq, limit)
	if err != nil {
		return nil, "", mapErr(err, "read changes")
	}
	var lastXid string
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimworker.Change, error) {
		var c scimworker.Change
		return c, r.Scan(&c.Seq, &c.At, &c.Kind, &c.UserID, &c.GroupID, &c.Detail, &lastXid)
	})
	if err != nil {
		return nil, "", mapErr(err, "read changes")
	}
	next := after
	if len(out) > 0 {
		next = lastXid + ":" + strconv.FormatInt(out[len(out)-1].Seq, 10)
	}
	return out, next, nil
}

// ErrBadArgument marks an admin argument the store cannot use.
var ErrBadArgument = errors.New("bad argument")
