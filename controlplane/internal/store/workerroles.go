package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// WorkerRolePrefix starts the name of every worker login role.
const WorkerRolePrefix = "wkr_"

// CreateWorkerRole creates a login role for one worker process: a member of
// the worker login group, whose only privilege is to connect to this
// database, and nothing else. It inherits what it is granted, which is how it may
// connect; the tenant's role is granted when the worker is bound.
//
// One round trip, and the commit does not wait for the disk: a role lost
// in a crash fails its worker, which is replaced with a new one.
func (s *Store) CreateWorkerRole(ctx context.Context) (string, string, error) {
	group, err := s.workerLoginGroup(ctx)
	if err != nil {
		return "", "", err
	}
	raw := make([]byte, 10)
	_, _ = rand.Read(raw)
	name := WorkerRolePrefix + hex.EncodeToString(raw)
	pw := make([]byte, 32)
	_, _ = rand.Read(pw)
	password := hex.EncodeToString(pw)
	role := pgx.Identifier{name}.Sanitize()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit TO off")
	// Neither DDL statement takes bind parameters; the names are sanitised
	// and the password is hex digits.
	b.Queue("CREATE ROLE " + role + " LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" +
		" CONNECTION LIMIT 16 PASSWORD '" + password + "' IN ROLE " + pgx.Identifier{group}.Sanitize())
	b.Queue("ALTER ROLE " + role + " SET statement_timeout = '30s'")
	// Pipelined with the DDL, so written here rather than in queries/.
	b.Queue(`INSERT INTO control.worker_roles (name) VALUES ($1)`, name)
	b.Queue("COMMIT")
	if err := s.pool.sendBatch(ctx, b); err != nil {
		return "", "", fmt.Errorf("create worker role: %w", err)
	}
	return name, password, nil
}

// workerLoginGroup is the name of this database's worker login group,
// read once: migrations create it and it never changes.
func (s *Store) workerLoginGroup(ctx context.Context) (string, error) {
	if g := s.loginGroup.Load(); g != nil {
		return *g, nil
	}
	group, err := s.q.GetWorkerLoginGroup(ctx)
	if err != nil {
		return "", fmt.Errorf("worker login group: %w", err)
	}
	s.loginGroup.Store(&group)
	return group, nil
}

// GrantTenant lets a worker's role act as the tenant's role. The commit
// does not wait for the disk: if the server crashes before the grant is
// flushed, the worker fails and is replaced, and its replacement is granted
// again.
func (s *Store) GrantTenant(ctx context.Context, role, tenantID string) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit TO off")
	b.Queue("GRANT " + pgx.Identifier{tenantID}.Sanitize() + " TO " + pgx.Identifier{role}.Sanitize())
	b.Queue("COMMIT")
	if err := s.pool.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("grant tenant role: %w", err)
	}
	return nil
}

// DropWorkerRoles ends the roles' sessions and drops them, all in one
// transaction and one round trip (a node that stops a wave of idle
// workers drops their roles together). A drop lost in a crash is redone by
// the sweep of stale roles.
func (s *Store) DropWorkerRoles(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = pgx.Identifier{n}.Sanitize()
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit TO off")
	b.Queue(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1)`, names)
	b.Queue("DROP ROLE IF EXISTS " + strings.Join(ids, ", "))
	b.Queue(`DELETE FROM control.worker_roles WHERE name = ANY($1)`, names)
	b.Queue("COMMIT")
	if err := s.pool.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("drop worker roles: %w", err)
	}
	return nil
}

// TouchWorkerRoles marks roles as belonging to live workers, then drops
// the roles nobody marked for five minutes (their replica is gone).
func (s *Store) TouchWorkerRoles(ctx context.Context, names []string) error {
	if err := s.q.TouchWorkerRoles(ctx, names); err != nil {
		return fmt.Errorf("touch worker roles: %w", err)
	}
	stale, err := s.q.ListStaleWorkerRoles(ctx)
	if err != nil {
		return fmt.Errorf("list stale worker roles: %w", err)
	}
	for len(stale) > 0 {
		n := min(len(stale), 100)
		if err := s.DropWorkerRoles(ctx, stale[:n]); err != nil {
			return err
		}
		stale = stale[n:]
	}
	return nil
}

// ConnectionBudget derives the workers' connection budget from the
// server's limit: max_connections less the superuser reserve and reserved
// connections for others (the control plane's pool, an operator).
func (s *Store) ConnectionBudget(ctx context.Context, reserved int) (int, error) {
	l, err := s.q.GetConnectionLimits(ctx)
	if err != nil {
		return 0, fmt.Errorf("read max_connections: %w", err)
	}
	budget := int(l.MaxConnections) - int(l.SuperuserReserved) - reserved
	if budget < 2 {
		return 0, fmt.Errorf("the database allows %d connections, too few for workers: set SCIMPLANE_DB_CONNECTIONS or raise max_connections", l.MaxConnections)
	}
	return budget, nil
}
