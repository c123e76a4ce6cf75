package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/store"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
	"github.com/scimplane/scimplane/tests/pgtest"
)

func setup(t *testing.T) (*store.Store, string) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := store.New(pool)
	require.NoError(t, s.Migrate(context.Background(), slog.New(slog.DiscardHandler)))
	return s, dbURL
}

func tenantID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return tenant.TenantPrefix + string(b)
}

func createTenant(t *testing.T, s *store.Store) string {
	t.Helper()
	id := tenantID()
	require.NoError(t, provision(t, s, id))
	return id
}

// provision creates tenant id with its role and schema, and drops them when
// the test ends.
func provision(t *testing.T, s *store.Store, id string) error {
	now := time.Now()
	hash := make([]byte, 32)
	_, _ = rand.Read(hash)
	t.Cleanup(func() {
		_ = s.DeleteTenant(context.Background(), id, tenant.AuditEntry{KeyID: "key_test", Action: "tenant.delete", TenantID: id})
	})
	return s.CreateTenant(context.Background(), tenant.NewTenant{
		Tenant:    tenant.Tenant{ID: id, Name: id, Status: tenant.StatusActive, CreatedAt: now},
		Token:     tenant.Token{ID: "tok_" + id[4:], TenantID: id, CreatedAt: now},
		TokenHash: hash,
	}, tenant.AuditEntry{KeyID: "key_test", Action: "tenant.create", TenantID: id})
}

// workerConn opens a session the way a worker does: as a login role of its
// own, created for it.
func workerConn(t *testing.T, s *store.Store, dbURL string) (*pgx.Conn, string) {
	t.Helper()
	ctx := context.Background()
	role, password, err := s.CreateWorkerRole(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.DropWorkerRoles(context.Background(), []string{role}) })
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	conn, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, role
}

// connectAs opens a session as a worker bound to the tenant: its role is
// granted the tenant's, which it acts as, in the tenant's schema.
func connectAs(t *testing.T, s *store.Store, dbURL, tenantID string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, role := workerConn(t, s, dbURL)
	require.NoError(t, s.GrantTenant(ctx, role, tenantID))
	id := pgx.Identifier{tenantID}.Sanitize()
	_, err := conn.Exec(ctx, "SET ROLE "+id+"; SET search_path TO "+id)
	require.NoError(t, err)
	return conn
}

func TestStore_TenantRoleIsConfinedToItsSchema(t *testing.T) {
	s, dbURL := setup(t)
	a, b := createTenant(t, s), createTenant(t, s)
	ctx := context.Background()
	connB := connectAs(t, s, dbURL, b)
	_, err := connB.Exec(ctx, "CREATE TABLE users (id text PRIMARY KEY); INSERT INTO users VALUES ('b-secret')")
	require.NoError(t, err)

	connA := connectAs(t, s, dbURL, a)
	qa, qb := pgx.Identifier{a}.Sanitize(), pgx.Identifier{b}.Sanitize()
	tests := []struct {
		name    string
		sql     string
		allowed bool
	}{
		{name: "create table in own schema", sql: "CREATE TABLE users (id text PRIMARY KEY)", allowed: true},
		{name: "write own schema", sql: "INSERT INTO " + qa + ".users VALUES ('a')", allowed: true},
		// What the worker needs without the catalogs: goose's version
		// check, its log partitions.
		{name: "look up own table by name", sql: "SELECT to_regclass(quote_ident(current_schema()) || '.users')", allowed: true},
		{name: "create and list own partitions", sql: "CREATE TABLE log (at date) PARTITION BY RANGE (at); " +
			"CREATE TABLE log_p1 PARTITION OF log FOR VALUES FROM ('2025-01-01') TO ('2025-01-02'); " +
			"SELECT relid::text FROM pg_partition_tree('log')", allowed: true},
		{name: "drop own table", sql: "DROP TABLE log", allowed: true},
		// The catalogs name every tenant's schema and role.
		{name: "list schemas", sql: "SELECT nspname FROM pg_namespace"},
		{name: "list roles", sql: "SELECT rolname FROM pg_roles"},
		{name: "list users view", sql: "SELECT usename FROM pg_user"},
		{name: "list role memberships", sql: "SELECT roleid FROM pg_auth_members"},
		{name: "list sessions", sql: "SELECT usename FROM pg_stat_activity"},
		{name: "list relations", sql: "SELECT relname FROM pg_class"},
		{name: "list tables", sql: "SELECT schemaname, tablename FROM pg_tables"},
		{name: "list table statistics", sql: "SELECT schemaname, relname FROM pg_stat_all_tables"},
		{name: "list indexes", sql: "SELECT indexname FROM pg_indexes"},
		{name: "list databases", sql: "SELECT datname FROM pg_database"},
		{name: "list schemas through information_schema", sql: "SELECT schema_name FROM information_schema.schemata"},
		{name: "list tables through information_schema", sql: "SELECT table_schema FROM information_schema.tables"},
		// The tenant's role and schema cannot be changed from its session.
		{name: "let own role log in", sql: "ALTER ROLE " + qa + " LOGIN"},
		{name: "lift own role's connection limit", sql: "ALTER ROLE " + qa + " CONNECTION LIMIT -1"},
		{name: "drop own role", sql: "DROP ROLE " + qa},
		{name: "hand own schema to itself", sql: "ALTER SCHEMA " + qa + " OWNER TO " + qa},
		{name: "rename own schema", sql: "ALTER SCHEMA " + qa + " RENAME TO evil"},
		{name: "drop own schema", sql: "DROP SCHEMA " + qa + " CASCADE"},
		{name: "read other tenant's table", sql: "SELECT * FROM " + qb + ".users"},
		{name: "write other tenant's table", sql: "INSERT INTO " + qb + ".users VALUES ('x')"},
		{name: "delete from other tenant's table", sql: "DELETE FROM " + qb + ".users"},
		{name: "create in other tenant's schema", sql: "CREATE TABLE " + qb + ".evil (id int)"},
		{name: "drop other tenant's schema", sql: "DROP SCHEMA " + qb + " CASCADE"},
		{name: "read control tenants", sql: "SELECT * FROM control.tenants"},
		{name: "read control token hashes", sql: "SELECT * FROM control.scim_tokens"},
		{name: "write control audit", sql: "INSERT INTO control.audit_log (key_id, action) VALUES ('x', 'y')"},
		{name: "create in public", sql: "CREATE TABLE public.evil (id int)"},
		{name: "create schema", sql: "CREATE SCHEMA evil"},
		{name: "create temp table", sql: "CREATE TEMP TABLE evil (id int)"},
		{name: "become other tenant", sql: "SET ROLE " + qb},
		{name: "become other tenant after resetting role", sql: "RESET ROLE; SET ROLE " + qb},
		{name: "grant own role to others", sql: "GRANT " + qa + " TO " + qb},
		{name: "create role", sql: "CREATE ROLE evil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := connA.Exec(ctx, tt.sql)
			if tt.allowed {
				require.NoError(t, err)
				return
			}
			var pgErr *pgconn.PgError
			require.True(t, errors.As(err, &pgErr), "want a permission error, got %v", err)
			require.Equal(t, "42501", pgErr.Code, pgErr.Message) // insufficient_privilege
		})
	}

	var n int
	require.NoError(t, connB.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n))
	require.Equal(t, 1, n)

	// The tenant owns its tables and may grant on them, but USAGE on its
	// schema is not its to give (PostgreSQL only warns), so what it grants
	// stays out of other tenants' reach.
	_, _ = connA.Exec(ctx, "GRANT USAGE ON SCHEMA "+qa+" TO "+qb)
	_, err = connA.Exec(ctx, "GRANT SELECT ON users TO "+qb)
	require.NoError(t, err)
	requireDenied(t, connB, "SELECT * FROM "+qa+".users")

	// PostgreSQL lets any role set its own password, but the tenant's role
	// still cannot log in with it.
	_, _ = connA.Exec(ctx, "ALTER ROLE "+qa+" PASSWORD 'chosen-by-the-session'")
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.UserPassword(a, "chosen-by-the-session")
	_, err = pgx.Connect(ctx, u.String())
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want a login refusal, got %v", err)
	require.Equal(t, "28000", pgErr.Code, pgErr.Message) // invalid_authorization_specification
}

func requireDenied(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	_, err := conn.Exec(context.Background(), sql)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "%s: want a permission error, got %v", sql, err)
	require.Equal(t, "42501", pgErr.Code, "%s: %s", sql, pgErr.Message) // insufficient_privilege
}

// TestStore_WorkerRolesConnectOnlyToTheirDatabase: a worker's login role
// connects to scimplane's database, with a connection limit and a
// statement timeout, and nowhere else (template1 and postgres would show
// it the cluster's roles and sessions).
func TestStore_WorkerRolesConnectOnlyToTheirDatabase(t *testing.T) {
	s, dbURL := setup(t)
	ctx := context.Background()
	role, password, err := s.CreateWorkerRole(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.DropWorkerRoles(context.Background(), []string{role}) })
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)

	conn, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var timeout string
	require.NoError(t, conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&timeout))
	require.Equal(t, "30s", timeout)
	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer admin.Close(ctx)
	var limit int
	require.NoError(t, admin.QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", role).Scan(&limit))
	require.Equal(t, 16, limit)

	for _, db := range []string{"template1", "postgres"} {
		t.Run(db, func(t *testing.T) {
			other := *u
			other.Path = "/" + db
			c, err := pgx.Connect(ctx, other.String())
			if err == nil {
				c.Close(ctx)
			}
			var pgErr *pgconn.PgError
			require.True(t, errors.As(err, &pgErr), "want a permission error, got %v", err)
			require.Equal(t, "42501", pgErr.Code, pgErr.Message)
		})
	}
}

// TestStore_RolesCannotLogInOrDoAnythingUnbound: tenant roles own their
// schemas but cannot log in; a worker's own role, before it is bound, can
// connect and do nothing.
func TestStore_RolesCannotLogInOrDoAnythingUnbound(t *testing.T) {
	s, dbURL := setup(t)
	a := createTenant(t, s)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var super, createRole, createDB, login bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = $1`, a).
		Scan(&super, &createRole, &createDB, &login))
	require.False(t, super || createRole || createDB || login)

	w, role := workerConn(t, s, dbURL)
	var password string
	require.NoError(t, conn.QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, role).Scan(&password))
	require.Regexp(t, `^SCRAM-SHA-256\$`, password)
	qa := pgx.Identifier{a}.Sanitize()
	for _, sql := range []string{
		"SET ROLE " + qa,
		"SELECT nspname FROM pg_namespace",
		"SELECT rolname FROM pg_roles",
		"SELECT * FROM control.tenants",
		"CREATE TABLE public.evil (id int)",
		"CREATE TABLE " + qa + ".evil (id int)",
		"CREATE SCHEMA evil",
	} {
		_, err := w.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%s: want a permission error, got %v", sql, err)
		require.Equal(t, "42501", pgErr.Code, "%s: %s", sql, pgErr.Message)
	}
}

// TestStore_WorkerRolesAreDroppedWhenStale: roles of live workers are
// touched; a role nobody touched for five minutes (its replica died) is
// dropped by whichever replica sweeps next.
func TestStore_WorkerRolesAreDroppedWhenStale(t *testing.T) {
	s, dbURL := setup(t)
	ctx := context.Background()
	live, _, err := s.CreateWorkerRole(ctx)
	require.NoError(t, err)
	stale, _, err := s.CreateWorkerRole(ctx)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE control.worker_roles SET seen_at = now() - interval '6 minutes'`)
	require.NoError(t, err)
	require.NoError(t, s.TouchWorkerRoles(ctx, []string{live}))
	var names []string
	rows, err := conn.Query(ctx, `SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1`, []string{live, stale})
	require.NoError(t, err)
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{live}, names)
	require.NoError(t, s.DropWorkerRoles(ctx, []string{live}))
}

func TestStore_ConnectionBudgetLeavesRoom(t *testing.T) {
	s, dbURL := setup(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var maxConns, reserved int
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int`).
		Scan(&maxConns, &reserved))
	budget, err := s.ConnectionBudget(ctx, 9)
	require.NoError(t, err)
	require.Equal(t, maxConns-reserved-9, budget)
	_, err = s.ConnectionBudget(ctx, maxConns)
	require.Error(t, err)
}

func TestStore_DeleteTenantDropsRoleAndSchema(t *testing.T) {
	s, dbURL := setup(t)
	a := createTenant(t, s)
	connectAs(t, s, dbURL, a) // an open session (a worker) must not block the drop
	require.NoError(t, s.DeleteTenant(context.Background(), a, tenant.AuditEntry{KeyID: "key_test", Action: "tenant.delete", TenantID: a}))

	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM pg_roles WHERE rolname = $1) + (SELECT count(*) FROM pg_namespace WHERE nspname = $1)`, a).Scan(&n))
	require.Zero(t, n)
	_, err = s.GetTenant(context.Background(), a)
	require.ErrorIs(t, err, tenant.ErrNotFound)
	require.ErrorIs(t, s.DeleteTenant(context.Background(), a, tenant.AuditEntry{}), tenant.ErrNotFound)
}

func TestStore_CredentialsAndTokens(t *testing.T) {
	s, _ := setup(t)
	ctx := context.Background()
	a := createTenant(t, s)
	audit := tenant.AuditEntry{KeyID: "key_test", Action: "token.create", TenantID: a}
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	require.NoError(t, s.CreateToken(ctx, tenant.Token{ID: "tok_second", TenantID: a, ExpiresAt: &exp, CreatedAt: time.Now()}, []byte("hash-2"), audit))
	require.ErrorIs(t, s.CreateToken(ctx, tenant.Token{ID: "tok_x", TenantID: "tnt_missingmissing12", CreatedAt: time.Now()}, []byte("hash-3"), audit), tenant.ErrNotFound)

	tn, hashes, err := s.GetCredentials(ctx, a)
	require.NoError(t, err)
	require.Equal(t, a, tn.ID)
	require.Len(t, hashes, 2)

	require.NoError(t, s.RevokeToken(ctx, a, "tok_second", audit))
	require.ErrorIs(t, s.RevokeToken(ctx, a, "tok_second", audit), tenant.ErrNotFound)
	_, hashes, err = s.GetCredentials(ctx, a)
	require.NoError(t, err)
	require.Len(t, hashes, 1)

	_, _, err = s.GetCredentials(ctx, "tnt_missingmissing12")
	require.ErrorIs(t, err, tenant.ErrNotFound)

	entries, err := s.ListAudit(ctx, a, 10)
	require.NoError(t, err)
	require.Len(t, entries, 3) // create tenant, create token, revoke token
}

func TestStore_MigrateIsIdempotent(t *testing.T) {
	s, _ := setup(t)
	require.NoError(t, s.Migrate(context.Background(), slog.New(slog.DiscardHandler)))
}

// Concurrent creations, here or on other replicas, must not collide on the
// database's ACL ("tuple concurrently updated" from GRANT CONNECT), and
// each role must still connect and stay confined to its own schema.
func TestStore_ConcurrentTenantCreation(t *testing.T) {
	s, dbURL := setup(t)
	ctx := context.Background()
	const n, concurrency = 40, 8
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = tenantID()
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = provision(t, s, ids[i])
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "tenant %d of %d", i+1, n)
	}

	for _, id := range ids {
		conn := connectAs(t, s, dbURL, id)
		_, err := conn.Exec(ctx, "CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('"+id+"')")
		require.NoError(t, err, id)
		require.NoError(t, conn.Close(ctx))
	}
	for i, id := range ids {
		conn := connectAs(t, s, dbURL, id)
		var v string
		require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM secrets").Scan(&v))
		require.Equal(t, id, v)
		other := pgx.Identifier{ids[(i+1)%n]}.Sanitize()
		_, err := conn.Exec(ctx, "SELECT v FROM "+other+".secrets")
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "want a permission error, got %v", err)
		require.Equal(t, "42501", pgErr.Code, pgErr.Message)
		require.NoError(t, conn.Close(ctx))
	}
}

// TestStore_MigrateAsARoleThatIsNotASuperuser: a managed PostgreSQL gives
// the control plane a role with CREATEROLE that owns its database. It
// migrates and provisions tenants, leaving the catalogs to the operator,
// who runs restrict_public once as a superuser and grants the control
// plane pg_monitor, so that it can still read them
// (docs/security-operations.md): then they are closed to workers and the
// control plane still migrates and provisions.
func TestStore_MigrateAsARoleThatIsNotASuperuser(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer admin.Close(ctx)
	cp := "cp_" + tenantID()[4:]
	for _, stmt := range []string{
		"CREATE ROLE " + cp + " LOGIN CREATEROLE PASSWORD 'pw'",
		"ALTER DATABASE " + pgx.Identifier{admin.Config().Database}.Sanitize() + " OWNER TO " + cp,
	} {
		_, err := admin.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.UserPassword(cp, "pw")
	pool, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	defer pool.Close()
	s := store.New(pool)
	require.NoError(t, s.Migrate(ctx, slog.New(slog.DiscardHandler)))
	a := createTenant(t, s)
	conn := connectAs(t, s, u.String(), a)
	_, err = conn.Exec(ctx, "SELECT nspname FROM pg_namespace")
	require.NoError(t, err, "not restricted: the role may not")

	for _, stmt := range []string{"SELECT control.restrict_public()", "GRANT pg_monitor TO " + cp} {
		_, err := admin.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	requireDenied(t, conn, "SELECT nspname FROM pg_namespace")
	require.NoError(t, s.Migrate(ctx, slog.New(slog.DiscardHandler)))
	b := createTenant(t, s)
	connB := connectAs(t, s, u.String(), b)
	_, err = connB.Exec(ctx, "CREATE TABLE users (id text)")
	require.NoError(t, err)
	requireDenied(t, connB, "SELECT nspname FROM pg_namespace")
	require.NoError(t, s.TouchWorkerRoles(ctx, nil))

	// Dropping a tenant's objects takes more than this role has (DROP
	// OWNED BY needs membership in the tenant's role): clean up as the
	// superuser.
	superPool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() {
		super := store.New(superPool)
		for _, id := range []string{a, b} {
			_ = super.DeleteTenant(context.Background(), id, tenant.AuditEntry{KeyID: "key_test", Action: "tenant.delete", TenantID: id})
		}
		_, _ = superPool.Exec(context.Background(), "DROP OWNED BY "+cp+" CASCADE")
		superPool.Close()
	})
}

// TestStore_DropWorkerRolesDropsAllAtOnce: one call drops every role given,
// ends their sessions and forgets them.
func TestStore_DropWorkerRolesDropsAllAtOnce(t *testing.T) {
	s, dbURL := setup(t)
	ctx := context.Background()
	var names []string
	for range 3 {
		name, _, err := s.CreateWorkerRole(ctx)
		require.NoError(t, err)
		names = append(names, name)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	count := func(sql string) int {
		var n int
		require.NoError(t, conn.QueryRow(ctx, sql, names).Scan(&n))
		return n
	}
	require.Equal(t, 3, count(`SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)`))
	require.NoError(t, s.DropWorkerRoles(ctx, append(names, "wkr_neverexisted")))
	require.Zero(t, count(`SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)`))
	require.Zero(t, count(`SELECT count(*) FROM control.worker_roles WHERE name = ANY($1)`))
}
