// Package store is the worker's PostgreSQL storage for one tenant's schema:
// users, groups, memberships and the SCIM log. Queries are unqualified; the
// pool's search_path pins them to the tenant's schema.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the tenant schema (the pool's search_path) up to date. A
// schema already at the newest version costs one query, which keeps binds
// short; otherwise a session lock per tenant keeps two workers of one
// tenant (on two replicas) from migrating at once.
func Migrate(ctx context.Context, pool *Pool, tenant string) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool.PGX())
	defer db.Close()
	h := fnv.New64a()
	h.Write([]byte("scimplane worker migrations " + tenant))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64() >> 1)))
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	sources := p.ListSources()
	latest := sources[len(sources)-1].Version
	var current int64
	err = pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&current)
	if err == nil && current == latest {
		return nil
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Store implements provision.Store on a pool pinned to one tenant schema.
type Store struct {
	pool *Pool
	logs *logBatcher
}

// New returns a Store over pool.
func New(pool *Pool) *Store { return &Store{pool: pool, logs: &logBatcher{pool: pool}} }

var _ provision.Store = (*Store)(nil)

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return provision.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return provision.ErrConflict
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, provision.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unavailable reports errors that mean the database could not be reached or
// is going away, as opposed to errors in what was asked of it.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception, 53: insufficient resources,
		// 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// resourceCols are the columns users and groups share.
const resourceCols = `id, doc, created, last_modified, version`

// userColumns extracts the indexed columns from a user document.
func userColumns(doc resource.Doc) (userName, externalID, displayName, managerID *string, active bool, emails []string) {
	get := func(m map[string]any, k string) *string {
		if s, ok := m[k].(string); ok {
			return &s
		}
		return nil
	}
	userName, externalID, displayName = get(doc, "userName"), get(doc, "externalId"), get(doc, "displayName")
	active = true
	if b, ok := doc["active"].(bool); ok {
		active = b
	}
	if ext, ok := doc[resourceEnterprise].(map[string]any); ok {
		if mgr, ok := ext["manager"].(map[string]any); ok {
			managerID = get(mgr, "value")
		}
	}
	emails = []string{}
	if list, ok := doc["emails"].([]any); ok {
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				if v, ok := m["value"].(string); ok {
					emails = append(emails, strings.ToLower(v))
				}
			}
		}
	}
	return
}

const resourceEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// Log writes a SCIM log row outside any change transaction (reads and
// failures). The row is committed before the reply leaves, so a worker crash
// cannot lose it, but without waiting for the WAL flush: only a crash of
// PostgreSQL itself within its WAL writer delay could drop such a row.
// Rows of concurrent exchanges share one round trip and one commit. The
// write does not end with the request's context: an exchange that reached
// the worker is logged even if its client went away.
func (s *Store) Log(ctx context.Context, e *provision.LogEntry) error {
	return s.logs.write(ctx, e)
}

// clean makes arbitrary request text storable in a PostgreSQL text column,
// which takes neither NUL bytes nor invalid UTF-8.
func clean(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\\u0000")
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	s = clean(s)
	return &s
}

func nullableBytes(b []byte) *string {
	if b == nil {
		return nil
	}
	s := clean(string(b))
	return &s
}

const insertLog = `INSERT INTO scim_requests (at, request_id, method, path, query, filter, resource_type, resource_id,
	external_id, user_name, display_name, summary, status, scim_type, detail, latency_us, request_body, response_body)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

func logArgs(e *provision.LogEntry) []any {
	return []any{e.At, clean(e.RequestID), clean(e.Method), clean(e.Path), clean(e.Query), nullable(e.Filter),
		nullable(e.ResourceType), nullable(e.ResourceID), nullable(e.ExternalID), nullable(e.UserName),
		nullable(e.DisplayName), nullable(e.Summary), e.Status, nullable(e.ScimType), nullable(e.Detail),
		e.Latency.Microseconds(), nullableBytes(e.RequestBody), nullableBytes(e.ResponseBody)}
}

func scanUser(row pgx.Row) (*provision.UserRecord, error) {
	u := &provision.UserRecord{}
	if err := row.Scan(&u.ID, &u.Doc, &u.Created, &u.LastModified, &u.Version); err != nil {
		return nil, mapErr(err, "read user")
	}
	return u, nil
}

func scanGroup(row pgx.Row) (*provision.GroupRecord, error) {
	g := &provision.GroupRecord{}
	if err := row.Scan(&g.ID, &g.Doc, &g.Created, &g.LastModified, &g.Version); err != nil {
		return nil, mapErr(err, "read group")
	}
	return g, nil
}

// GetUser reads one user.
func (s *Store) GetUser(ctx context.Context, id string) (*provision.UserRecord, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+resourceCols+` FROM users WHERE id = $1`, id))
}

// GetGroup reads one group without members.
func (s *Store) GetGroup(ctx context.Context, id string) (*provision.GroupRecord, error) {
	return scanGroup(s.pool.QueryRow(ctx, `SELECT `+resourceCols+` FROM groups WHERE id = $1`, id))
}

// ListUsers returns a page of users matching q and the total match count.
func (s *Store) ListUsers(ctx context.Context, q provision.Query) ([]*provision.UserRecord, int, error) {
	var out []*provision.UserRecord
	total, err := s.list(ctx, "users", q, func(rows pgx.Rows) error {
		u, err := scanUser(rows)
		if err == nil {
			out = append(out, u)
		}
		return err
	})
	return out, total, err
}

// ListGroups returns a page of groups matching q and the total match count.
func (s *Store) ListGroups(ctx context.Context, q provision.Query) ([]*provision.GroupRecord, int, error) {
	var out []*provision.GroupRecord
	total, err := s.list(ctx, "groups", q, func(rows pgx.Rows) error {
		g, err := scanGroup(rows)
		if err == nil {
			out = append(out, g)
		}
		return err
	})
	return out, total, err
}

// list pages through table in creation order (the seq index), so pages
// neither skip nor repeat. The count query is skipped when the first page
// already holds every match, the common case for Entra's lookups.
func (s *Store) list(ctx context.Context, table string, q provision.Query, scan func(pgx.Rows) error) (int, error) {
	b := &sqlBuilder{table: table}
	where := "true"
	if q.Filter != nil {
		w, err := b.where(q.Filter)
		if err != nil {
			return 0, err
		}
		where = w
	}
	n := 0
	if q.Count > 0 {
		args := append(b.args, q.Count, q.Start-1)
		sql := fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY seq LIMIT $%d OFFSET $%d`, resourceCols, table, where, len(b.args)+1, len(b.args)+2)
		if q.Filter == nil {
			// Skip to the page on the seq index alone (an index-only
			// scan), instead of reading every skipped row.
			sql = fmt.Sprintf(`SELECT %[1]s FROM %[2]s WHERE seq >= (SELECT seq FROM %[2]s ORDER BY seq OFFSET $2 LIMIT 1) ORDER BY seq LIMIT $1`, resourceCols, table)
		}
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return 0, mapErr(err, "list "+table)
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return 0, err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return 0, mapErr(err, "list "+table)
		}
		if q.Start == 1 && n < q.Count {
			return n, nil
		}
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE `+where, b.args...).Scan(&total); err != nil {
		return 0, mapErr(err, "count "+table)
	}
	return total, nil
}

// Members returns the members of each group, with their display names.
func (s *Store) Members(ctx context.Context, groupIDs []string) (map[string][]resource.Member, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.group_id, m.user_id, coalesce(u.display_name, '')
		FROM members m JOIN users u ON u.id = m.user_id WHERE m.group_id = ANY($1) ORDER BY m.group_id, u.seq`, groupIDs)
	if err != nil {
		return nil, mapErr(err, "list members")
	}
	defer rows.Close()
	out := make(map[string][]resource.Member, len(groupIDs))
	for _, id := range groupIDs {
		out[id] = []resource.Member{}
	}
	for rows.Next() {
		var gid string
		var m resource.Member
		if err := rows.Scan(&gid, &m.Value, &m.Display); err != nil {
			return nil, mapErr(err, "list members")
		}
		out[gid] = append(out[gid], m)
	}
	return out, mapErr(rows.Err(), "list members")
}
