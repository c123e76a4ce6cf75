package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"

	"github.com/scimplane/scimplane/plugins/tracing"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
	"github.com/scimplane/scimplane/worker/internal/store/dbsqlc"
)

// Tx implements provision.Tx as a pipeline: statements whose result is
// only their success are queued, and a statement whose rows are needed
// sends everything queued before it, BEGIN included, in one round trip.
// COMMIT goes out with whatever is still queued. A change that reads what
// it locks and then writes is therefore two round trips; one that only
// writes is one.
type Tx struct {
	conn  *Conn
	batch *pgx.Batch
	// sent is set once BEGIN has gone to the server.
	sent bool
	// changes are the change feed rows recorded so far, written by one
	// statement queued with COMMIT.
	changes []changeRow
}

// InTx runs fn in a transaction, committing if it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(provision.Tx) error) error {
	actx, span := tracing.Start(ctx, "store.acquire")
	conn, err := s.pool.Acquire(actx)
	span.End()
	if err != nil {
		return mapErr(err, "begin")
	}
	defer conn.Release()
	t := &Tx{conn: conn, batch: &pgx.Batch{}}
	t.batch.Queue("BEGIN")
	if err = fn(t); err == nil {
		t.queueChanges()
		t.batch.Queue("COMMIT")
		if err = t.flush(ctx, "commit"); err == nil {
			if len(t.changes) > 0 && s.changed != nil {
				s.changed()
			}
			return nil
		}
	}
	// A transaction left open or failed is rolled back; a connection that
	// cannot be is closed by the pool when released.
	if pc := conn.Conn.Conn().PgConn(); t.sent && !pc.IsClosed() && pc.TxStatus() != 'I' {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
	return err
}

// flush sends what is queued and runs the queued result handlers in order.
func (t *Tx) flush(ctx context.Context, what string) error {
	b := t.batch
	t.batch = &pgx.Batch{}
	t.sent = true
	return mapErr(t.conn.SendBatch(ctx, b).Close(), what)
}

// exec queues a statement.
func (t *Tx) exec(sql string, args ...any) {
	t.batch.Queue(sql, args...)
}

// query queues a statement and sends it, with everything before it; scan
// reads its rows.
func (t *Tx) query(ctx context.Context, what string, scan func(pgx.Rows) error, sql string, args ...any) error {
	t.batch.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return t.flush(ctx, what)
}

// queryRow is query for one row; no row is provision.ErrNotFound.
func (t *Tx) queryRow(ctx context.Context, what string, scan func(pgx.Row) error, sql string, args ...any) error {
	t.batch.Queue(sql, args...).QueryRow(scan)
	return t.flush(ctx, what)
}

func (t *Tx) InsertUser(_ context.Context, u *provision.UserRecord) error {
	name, ext, disp, mgr, active, emails := userColumns(u.Doc)
	t.exec(`INSERT INTO users (id, user_name, external_id, display_name, active, manager_id, emails_lc, doc, created, last_modified, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)`,
		u.ID, name, ext, disp, active, mgr, emails, u.Doc, u.Created, u.Version)
	return nil
}

func (t *Tx) UpdateUser(_ context.Context, u *provision.UserRecord) error {
	name, ext, disp, mgr, active, emails := userColumns(u.Doc)
	t.exec(`UPDATE users SET user_name = $2, external_id = $3, display_name = $4, active = $5, manager_id = $6,
		emails_lc = $7, doc = $8, last_modified = $9, version = $10 WHERE id = $1`,
		u.ID, name, ext, disp, active, mgr, emails, u.Doc, u.LastModified, u.Version)
	return nil
}

func (t *Tx) LockUser(ctx context.Context, id string) (*provision.UserRecord, error) {
	u := &provision.UserRecord{}
	err := t.queryRow(ctx, "lock user", func(r pgx.Row) error {
		return r.Scan(&u.ID, &u.Doc, &u.Created, &u.LastModified, &u.Version)
	}, `SELECT `+resourceCols+` FROM users WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// LockSubject locks a user and loads, in the same statement, what the
// permission policy needs about it.
func (t *Tx) LockSubject(ctx context.Context, id string) (*provision.UserRecord, *provision.Subject, error) {
	u := &provision.UserRecord{}
	sub := &provision.Subject{}
	err := t.queryRow(ctx, "lock user", func(r pgx.Row) error {
		return r.Scan(&u.ID, &u.Doc, &u.Created, &u.LastModified, &u.Version,
			&sub.Groups, &sub.Current.Permissions, &sub.Current.Sets, &sub.Current.Grants, &sub.Current.Error, &sub.Version)
	}, `SELECT u.id, u.doc, u.created, u.last_modified, u.version, `+subjectCols+`
		FROM users u LEFT JOIN permissions p ON p.user_id = u.id WHERE u.id = $1 FOR UPDATE OF u`, id)
	if err != nil {
		return nil, nil, err
	}
	sub.UserID = u.ID
	return u, sub, nil
}

func (t *Tx) DeleteUser(_ context.Context, id string) error {
	t.batch.Queue(`DELETE FROM users WHERE id = $1`, id).Exec(rowsOrNotFound)
	return nil
}

func rowsOrNotFound(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return provision.ErrNotFound
	}
	return nil
}

func (t *Tx) InsertGroup(_ context.Context, g *provision.GroupRecord) error {
	name, ext := groupColumns(g.Doc)
	t.exec(`INSERT INTO groups (id, display_name, external_id, doc, created, last_modified, version)
		VALUES ($1, $2, $3, $4, $5, $5, $6)`, g.ID, name, ext, g.Doc, g.Created, g.Version)
	return nil
}

func (t *Tx) UpdateGroup(_ context.Context, g *provision.GroupRecord) error {
	name, ext := groupColumns(g.Doc)
	t.exec(`UPDATE groups SET display_name = $2, external_id = $3, doc = $4, last_modified = $5, version = $6 WHERE id = $1`,
		g.ID, name, ext, g.Doc, g.LastModified, g.Version)
	return nil
}

func (t *Tx) LockGroup(ctx context.Context, id string) (*provision.GroupRecord, error) {
	g := t.lockGroup(id)
	if err := t.flush(ctx, "lock group"); err != nil {
		return nil, err
	}
	return g, nil
}

func (t *Tx) lockGroup(id string) *provision.GroupRecord {
	g := &provision.GroupRecord{}
	t.batch.Queue(`SELECT `+resourceCols+` FROM groups WHERE id = $1 FOR UPDATE`, id).QueryRow(func(r pgx.Row) error {
		return r.Scan(&g.ID, &g.Doc, &g.Created, &g.LastModified, &g.Version)
	})
	return g
}

func (t *Tx) DeleteGroup(_ context.Context, id string) error {
	t.batch.Queue(`DELETE FROM groups WHERE id = $1`, id).Exec(rowsOrNotFound)
	return nil
}

func groupColumns(doc resource.Doc) (displayName, externalID *string) {
	if s, ok := doc["displayName"].(string); ok {
		displayName = &s
	}
	if s, ok := doc["externalId"].(string); ok {
		externalID = &s
	}
	return
}

// Membership statements return the users whose link changed, as subjects:
// their groups as they were before the statement (a statement does not see
// its own changes) and their stored permissions. Unknown user ids are
// ignored; nothing is added to a group that does not exist.
const (
	addMembersSQL = `WITH changed AS (
		INSERT INTO members (group_id, user_id) SELECT $1, u.id FROM users u
		WHERE u.id = ANY($2) AND EXISTS (SELECT 1 FROM groups WHERE id = $1)
		ON CONFLICT DO NOTHING RETURNING user_id)`
	removeMembersSQL = `WITH changed AS (
		DELETE FROM members WHERE group_id = $1 AND user_id = ANY($2) RETURNING user_id)`
	removeAllMembersSQL = `WITH changed AS (
		DELETE FROM members WHERE group_id = $1 RETURNING user_id)`
	removeOtherMembersSQL = `WITH changed AS (
		DELETE FROM members WHERE group_id = $1 AND NOT (user_id = ANY($2)) RETURNING user_id)`
	changedSubjectsSQL = ` SELECT u.id, u.doc, ` + subjectCols + `
		FROM changed c JOIN users u ON u.id = c.user_id LEFT JOIN permissions p ON p.user_id = u.id`
)

// ChangeMembers applies membership changes in order, in one round trip
// with whatever is queued; the members after them, if asked for, are read
// in the same round trip.
func (t *Tx) ChangeMembers(ctx context.Context, groupID string, ops []resource.MemberOp, list bool) ([]provision.MemberChange, []resource.Member, error) {
	changes, err := t.changeMembers(groupID, ops)
	if err != nil {
		return nil, nil, err
	}
	var members *[]resource.Member
	if list {
		members = t.queueMembers(groupID)
	}
	if err := t.flush(ctx, "change members"); err != nil {
		return nil, nil, err
	}
	return *changes, deref(members), nil
}

// LockGroupAndChangeMembers locks a group and applies membership changes
// to it in the same round trip, for PATCHes that only change members.
func (t *Tx) LockGroupAndChangeMembers(ctx context.Context, groupID string, ops []resource.MemberOp, list bool) (*provision.GroupRecord, []provision.MemberChange, []resource.Member, error) {
	g := t.lockGroup(groupID)
	changes, err := t.changeMembers(groupID, ops)
	if err != nil {
		return nil, nil, nil, err
	}
	var members *[]resource.Member
	if list {
		members = t.queueMembers(groupID)
	}
	if err := t.flush(ctx, "change members"); err != nil {
		return nil, nil, nil, err
	}
	return g, *changes, deref(members), nil
}

// Members reads a group's members.
func (t *Tx) Members(ctx context.Context, groupID string) ([]resource.Member, error) {
	members := t.queueMembers(groupID)
	if err := t.flush(ctx, "list members"); err != nil {
		return nil, err
	}
	return *members, nil
}

// queueMembers queues the read of a group's members; the result is filled
// in when the batch is sent.
func (t *Tx) queueMembers(groupID string) *[]resource.Member {
	out := &[]resource.Member{}
	t.batch.Queue(groupMembersSQL, groupID).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var m resource.Member
			if err := rows.Scan(&m.Value, &m.Display); err != nil {
				return err
			}
			*out = append(*out, m)
		}
		return rows.Err()
	})
	return out
}

func deref(members *[]resource.Member) []resource.Member {
	if members == nil {
		return nil
	}
	return *members
}

// TouchGroupsOf gives userID's groups a new version, locking them in id
// order. It must be queued before a statement that removes the user's
// memberships.
func (t *Tx) TouchGroupsOf(_ context.Context, userID string, at time.Time) error {
	t.exec(`WITH touched AS (SELECT id FROM groups WHERE id IN (SELECT group_id FROM members WHERE user_id = $1) ORDER BY id FOR UPDATE)
		UPDATE groups g SET version = g.version + 1, last_modified = $2 FROM touched WHERE g.id = touched.id`, userID, at)
	return nil
}

func (t *Tx) changeMembers(groupID string, ops []resource.MemberOp) (*[]provision.MemberChange, error) {
	out := &[]provision.MemberChange{}
	queue := func(added bool, sql string, args ...any) {
		t.batch.Queue(sql+changedSubjectsSQL, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				sub, err := scanSubject(rows)
				if err != nil {
					return err
				}
				*out = append(*out, provision.MemberChange{Added: added, Subject: sub})
			}
			return rows.Err()
		})
	}
	for _, op := range ops {
		switch op.Kind {
		case resource.MembersAdd:
			queue(true, addMembersSQL, groupID, op.IDs)
		case resource.MembersRemove:
			queue(false, removeMembersSQL, groupID, op.IDs)
		case resource.MembersRemoveAll:
			queue(false, removeAllMembersSQL, groupID)
		case resource.MembersReplace:
			queue(false, removeOtherMembersSQL, groupID, op.IDs)
			queue(true, addMembersSQL, groupID, op.IDs)
		default:
			return nil, fmt.Errorf("change members: unknown operation %v", op.Kind)
		}
	}
	return out, nil
}

// GroupSubjects loads the subjects of a group's members.
func (t *Tx) GroupSubjects(ctx context.Context, groupID string) ([]*provision.Subject, error) {
	var out []*provision.Subject
	err := t.query(ctx, "load members", func(rows pgx.Rows) error {
		sub, err := scanSubject(rows)
		out = append(out, sub)
		return err
	}, subjectsSQL+` WHERE u.id IN (SELECT user_id FROM members WHERE group_id = $1)`, groupID)
	return out, err
}

// subjectCols are the columns the policy needs about user u (with its
// permissions row p): its groups, stored permissions and their version.
const subjectCols = `coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.id, 'externalId', coalesce(g.external_id, ''), 'displayName', g.display_name))
	          FROM members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id), '[]'),
	coalesce(p.permissions, '{}'), coalesce(p.sets, '{}'), coalesce(p.grants, '[]'), coalesce(p.error, ''), coalesce(p.policy_version, -1)`

// subjectsSQL loads users with their groups and stored permissions, one row
// per user.
const subjectsSQL = `SELECT u.id, u.doc, ` + subjectCols + ` FROM users u LEFT JOIN permissions p ON p.user_id = u.id`

func scanSubject(r pgx.Row) (*provision.Subject, error) {
	s := &provision.Subject{}
	var doc resource.Doc
	if err := r.Scan(&s.UserID, &doc, &s.Groups, &s.Current.Permissions, &s.Current.Sets, &s.Current.Grants, &s.Current.Error, &s.Version); err != nil {
		return nil, err
	}
	s.User = provision.PolicyInput(s.UserID, doc)
	return s, nil
}

// Subjects loads users with what the permission policy needs.
func (t *Tx) Subjects(ctx context.Context, userIDs []string) ([]*provision.Subject, error) {
	var out []*provision.Subject
	err := t.query(ctx, "load subjects", func(rows pgx.Rows) error {
		sub, err := scanSubject(rows)
		out = append(out, sub)
		return err
	}, subjectsSQL+` WHERE u.id = ANY($1)`, userIDs)
	return out, err
}

// SubjectsAfter loads up to limit users after the seq cursor, for bulk
// re-evaluation, and returns the cursor of the last one.
func (t *Tx) SubjectsAfter(ctx context.Context, after int64, limit int) ([]*provision.Subject, int64, error) {
	var out []*provision.Subject
	var last int64
	err := t.query(ctx, "page users", func(rows pgx.Rows) error {
		var seq int64
		s := &provision.Subject{}
		var doc resource.Doc
		if err := rows.Scan(&seq, &s.UserID, &doc, &s.Groups, &s.Current.Permissions, &s.Current.Sets, &s.Current.Grants, &s.Current.Error, &s.Version); err != nil {
			return err
		}
		s.User = provision.PolicyInput(s.UserID, doc)
		out, last = append(out, s), seq
		return nil
	}, `SELECT u.seq, u.id, u.doc, `+subjectCols+` FROM users u LEFT JOIN permissions p ON p.user_id = u.id
		WHERE u.seq > $1 ORDER BY u.seq LIMIT $2`, after, limit)
	return out, last, err
}

// SavePermissions upserts the rows in one statement. A row that grants
// nothing is kept too: its policy version says it is current.
func (t *Tx) SavePermissions(_ context.Context, version int64, rows []provision.UserPermissions) error {
	if len(rows) == 0 {
		return nil
	}
	doc := make([]permissionRow, len(rows))
	for i, r := range rows {
		doc[i] = permissionRow{UserID: r.UserID, Permissions: r.Permissions}
	}
	t.exec(`INSERT INTO permissions (user_id, permissions, sets, grants, policy_version, error, computed_at)
		SELECT r.user_id, ARRAY(SELECT jsonb_array_elements_text(coalesce(r.permissions, '[]'))),
		       ARRAY(SELECT jsonb_array_elements_text(coalesce(r.sets, '[]'))), coalesce(r.grants, '[]'), $2, nullif(r.error, ''), now()
		FROM jsonb_to_recordset($1) AS r(user_id text, permissions jsonb, sets jsonb, grants jsonb, error text)
		ON CONFLICT (user_id) DO UPDATE SET permissions = excluded.permissions, sets = excluded.sets, grants = excluded.grants,
		    policy_version = excluded.policy_version, error = excluded.error, computed_at = excluded.computed_at`, doc, version)
	return nil
}

type permissionRow struct {
	UserID string `json:"user_id"`
	provision.Permissions
}

// RecordChanges appends to the change feed. The rows of a whole
// transaction go in one statement, queued with its COMMIT: a write that
// records several kinds of change costs no more statements than one that
// records one, and no round trip.
func (t *Tx) RecordChanges(_ context.Context, changes []provision.Change) error {
	for _, c := range changes {
		t.changes = append(t.changes, changeRow{c.Kind, c.UserID, c.GroupID, c.Detail})
	}
	return nil
}

// queueChanges queues the insert of the changes recorded, in the order
// they were recorded (seq follows the order of the rows).
func (t *Tx) queueChanges() {
	if len(t.changes) == 0 {
		return
	}
	t.exec(`INSERT INTO changes (kind, user_id, group_id, detail)
		SELECT r.kind, r.user_id, r.group_id, r.detail FROM jsonb_to_recordset($1) AS r(kind text, user_id text, group_id text, detail jsonb)`, t.changes)
}

type changeRow struct {
	Kind    string `json:"kind"`
	UserID  string `json:"user_id,omitempty"`
	GroupID string `json:"group_id,omitempty"`
	Detail  any    `json:"detail,omitempty"`
}

// Log writes the SCIM log row inside the change's own transaction.
func (t *Tx) Log(ctx context.Context, e *scimlog.Entry) error {
	// The row goes out with COMMIT, in the change's batch.
	_, span := tracing.Start(ctx, "scimlog.write")
	if span.IsRecording() {
		span.SetAttributes(attribute.Bool("scimlog.with_change", true))
	}
	t.exec(dbsqlc.InsertLog, logArgs(e)...)
	span.End()
	return nil
}
