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
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/scimplane/scimplane/plugins/scim"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/resource"
	"github.com/scimplane/scimplane/worker/internal/scimlog"
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
	versions, err := database.NewStore(goose.DialectPostgres, versionTable)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectCustom, db, sub, goose.WithStore(versionStore{versions}),
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	sources := p.ListSources()
	latest := sources[len(sources)-1].Version
	var current int64
	err = pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+versionTable+` WHERE is_applied`).Scan(&current)
	if err == nil && current == latest {
		return nil
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

const versionTable = "goose_db_version"

// versionStore is goose's PostgreSQL store, except that it finds its table
// without the catalogs (goose reads pg_tables), which workers may not read.
type versionStore struct{ database.Store }

var _ database.StoreExtender = versionStore{}

func (versionStore) TableExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	var exists bool
	err := db.QueryRowContext(ctx, `SELECT to_regclass(quote_ident(current_schema()) || '.`+versionTable+`') IS NOT NULL`).Scan(&exists)
	return exists, err
}

// Store implements provision.Store on a pool pinned to one tenant schema.
type Store struct {
	pool *Pool
	// changed, if set, is called after a transaction that recorded
	// changes commits (the webhook deliverer's nudge).
	changed func()
}

// OnChanges makes fn be called after every commit that recorded changes
// in the feed. fn must not block; it is set once, before the store serves.
func (s *Store) OnChanges(fn func()) { s.changed = fn }

// New returns a Store over pool.
func New(pool *Pool) *Store { return &Store{pool: pool} }

var _ provision.Store = (*Store)(nil)

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

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullableBytes(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

const insertLog = `INSERT INTO scim_requests (at, request_id, method, path, query, filter, resource_type, resource_id,
	external_id, user_name, display_name, summary, status, scim_type, detail, latency_us, request_body, response_body)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

// logArgs are the insertLog arguments of e, which scimlog has redacted
// and cut to size.
func logArgs(e *scimlog.Entry) []any {
	return []any{e.At, e.RequestID, e.Method, e.Path, e.Query, nullable(e.Filter),
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
	total, err := s.list(ctx, "users", q, func(int) (*resource.Meta, *resource.Doc) {
		u := &provision.UserRecord{}
		out = append(out, u)
		return &u.Meta, &u.Doc
	})
	return out, total, err
}

// ListGroups returns a page of groups matching q and the total match count.
func (s *Store) ListGroups(ctx context.Context, q provision.Query) ([]*provision.GroupRecord, int, error) {
	var out []*provision.GroupRecord
	total, err := s.list(ctx, "groups", q, func(int) (*resource.Meta, *resource.Doc) {
		g := &provision.GroupRecord{}
		out = append(out, g)
		return &g.Meta, &g.Doc
	})
	return out, total, err
}

// ListSorted returns a page of users and groups matching their queries,
// merged in the order of the sort both carry (a sorted query over the
// server root). Start and Count are the users query's.
func (s *Store) ListSorted(ctx context.Context, users, groups provision.Query) ([]*provision.Resource, int, error) {
	b := &sqlBuilder{}
	var sources []source
	for _, q := range []struct {
		table string
		q     provision.Query
	}{{"users", users}, {"groups", groups}} {
		b.table = q.table
		src := source{table: q.table, where: "true", key: "NULL"}
		if q.q.Filter != nil {
			w, err := b.where(q.q.Filter)
			if err != nil {
				return nil, 0, err
			}
			src.where = w
		}
		if q.q.Sort != nil {
			src.key, _ = b.sortKey(q.q.Sort)
		}
		sources = append(sources, src)
	}
	sort := users.Sort
	if sort == nil {
		sort = groups.Sort
	}
	var out []*provision.Resource
	q := users
	q.Sort = sort
	total, err := s.listSorted(ctx, sources, b.args, q, func(src int) (*resource.Meta, *resource.Doc) {
		r := &provision.Resource{Group: src == 1}
		out = append(out, r)
		return &r.Meta, &r.Doc
	})
	return out, total, err
}

// list pages through table in creation order (the seq index), so pages
// neither skip nor repeat, or in the order q.Sort asks. The count query is
// skipped when the first page already holds every match, the common case
// for Entra's lookups.
//
// add gives, for each row, where to scan its metadata and document; src is
// the row's source in listSorted (0 otherwise).
func (s *Store) list(ctx context.Context, table string, q provision.Query, add func(src int) (*resource.Meta, *resource.Doc)) (int, error) {
	b := &sqlBuilder{table: table}
	where := "true"
	if q.Filter != nil {
		w, err := b.where(q.Filter)
		if err != nil {
			return 0, err
		}
		where = w
	}
	order := "seq"
	if q.Sort != nil && q.Count > 0 {
		key, indexed := b.sortKey(q.Sort)
		if !indexed {
			return s.listSorted(ctx, []source{{table: table, where: where, key: key}}, b.args, q, add)
		}
		order = orderBy(q.Sort, key, "seq")
	}
	n := 0
	if q.Count > 0 {
		args := append(b.args, q.Count, q.Start-1)
		rows, err := s.pool.Query(ctx, pageSQL(table, where, order, len(b.args)), args...)
		if err != nil {
			return 0, mapErr(err, "list "+table)
		}
		for rows.Next() {
			m, doc := add(0)
			if err := rows.Scan(&m.ID, doc, &m.Created, &m.LastModified, &m.Version); err != nil {
				rows.Close()
				return 0, mapErr(err, "list "+table)
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

// pageSQL selects a page of table's rows matching where in order; its
// last two parameters, after nargs of where's, are the count and offset.
func pageSQL(table, where, order string, nargs int) string {
	if where == "true" && order == "seq" {
		// Skip to the page on the seq index alone (an index-only scan),
		// instead of reading every skipped row.
		return fmt.Sprintf(`SELECT %[1]s FROM %[2]s WHERE seq >= (SELECT seq FROM %[2]s ORDER BY seq OFFSET $2 LIMIT 1) ORDER BY seq LIMIT $1`, resourceCols, table)
	}
	return fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT $%d OFFSET $%d`, resourceCols, table, where, order, nargs+1, nargs+2)
}

// source is one table's part of a sorted list: its WHERE clause and sort
// key, both over the arguments of one sqlBuilder.
type source struct {
	table, where, key string
}

// sortedSQL is listSorted's bounded count and page: after nargs of the
// sources' parameters come the bound, then the page's count and offset.
func sortedSQL(sources []source, nargs int, sort *resource.Sort) (count, page string) {
	limit := "$" + strconv.Itoa(nargs+1)
	var counts, parts []string
	for i, src := range sources {
		counts = append(counts, fmt.Sprintf(`(SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %s) m)`, src.table, src.where, limit))
		parts = append(parts, fmt.Sprintf(`(SELECT %d AS src, seq, %s, %s AS sort_key FROM %s WHERE %s LIMIT %s)`, i, resourceCols, src.key, src.table, src.where, limit))
	}
	page = fmt.Sprintf(`SELECT src, %s FROM (%s) m ORDER BY %s LIMIT $%d OFFSET $%d`, resourceCols, strings.Join(parts, " UNION ALL "),
		orderBy(sort, "sort_key", "src", "seq"), nargs+2, nargs+3)
	return `SELECT ` + strings.Join(counts, " + "), page
}

// listSorted pages through the rows of sources in the order of their sort
// keys (then table, then creation order), reading at most MaxSorted+1
// matching rows from each: more than MaxSorted matches in all is 400
// tooMany. The bounded count and the page go in one round trip. scan gets
// the index of the row's source.
func (s *Store) listSorted(ctx context.Context, sources []source, args []any, q provision.Query, add func(src int) (*resource.Meta, *resource.Doc)) (int, error) {
	count, page := sortedSQL(sources, len(args), q.Sort)
	args = append(args, MaxSorted+1)
	batch := &pgx.Batch{}
	var total int
	batch.Queue(count, args...).QueryRow(func(r pgx.Row) error { return r.Scan(&total) })
	batch.Queue(page, append(args, q.Count, q.Start-1)...).Query(func(rows pgx.Rows) error {
		if total > MaxSorted {
			return nil
		}
		for rows.Next() {
			var src int
			var m resource.Meta
			var doc resource.Doc
			if err := rows.Scan(&src, &m.ID, &doc, &m.Created, &m.LastModified, &m.Version); err != nil {
				return err
			}
			pm, pd := add(src)
			*pm, *pd = m, doc
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return 0, mapErr(err, "sort")
	}
	if total > MaxSorted {
		return 0, scim.NewError(400, scim.TypeTooMany, fmt.Sprintf("this sort reads at most %d matching resources; narrow the filter (on /Users and /Groups, id, externalId, userName and displayName sort without this limit)", MaxSorted))
	}
	return total, nil
}

// groupMembersSQL reads one group's members as Members does.
const groupMembersSQL = `SELECT m.user_id, coalesce(u.display_name, '')
	FROM members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 ORDER BY u.seq`

// Members returns the members of each group, with their display names, in
// creation order of the users.
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
