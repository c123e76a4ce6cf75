package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WorkerRolePrefix starts the name of every worker login role.
const WorkerRolePrefix = "wkr_"

// CreateWorkerRole creates a login role for one worker process: a member of
// the worker login group, whose only privilege is to connect to this
// database, and nothing else. It inherits what it is granted, which is how it may
// connect; the tenant's role is granted when the worker is bound.
func (s *Store) CreateWorkerRole(ctx context.Context) (string, string, error) {
	raw := make([]byte, 10)
	_, _ = rand.Read(raw)
	name := WorkerRolePrefix + hex.EncodeToString(raw)
	pw := make([]byte, 32)
	_, _ = rand.Read(pw)
	password := hex.EncodeToString(pw)
	role := pgx.Identifier{name}.Sanitize()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var group string
		if err := tx.QueryRow(ctx, "SELECT name FROM control.worker_login_group").Scan(&group); err != nil {
			return fmt.Errorf("worker login group: %w", err)
		}
		// Neither takes bind parameters; the names are sanitised and the
		// password is hex digits.
		for _, stmt := range []string{
			"CREATE ROLE " + role + " LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" +
				" CONNECTION LIMIT 16 PASSWORD '" + password + "' IN ROLE " + pgx.Identifier{group}.Sanitize(),
			"ALTER ROLE " + role + " SET statement_timeout = '30s'",
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("create worker role: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO control.worker_roles (name) VALUES ($1)`, name)
		return err
	})
	if err != nil {
		return "", "", err
	}
	return name, password, nil
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

// DropWorkerRole ends the role's sessions and drops it.
func (s *Store) DropWorkerRole(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, name); err != nil {
			return fmt.Errorf("end worker sessions: %w", err)
		}
		if _, err := tx.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("drop worker role: %w", err)
		}
		_, err := tx.Exec(ctx, `DELETE FROM control.worker_roles WHERE name = $1`, name)
		return err
	})
}

// TouchWorkerRoles marks roles as belonging to live workers, then drops
// the roles nobody marked for staleAfter (their replica is gone).
func (s *Store) TouchWorkerRoles(ctx context.Context, names []string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE control.worker_roles SET seen_at = now() WHERE name = ANY($1)`, names); err != nil {
		return fmt.Errorf("touch worker roles: %w", err)
	}
	const staleAfter = 5 * time.Minute
	rows, err := s.pool.Query(ctx, `SELECT name FROM control.worker_roles WHERE seen_at < now() - $1::interval`, staleAfter.String())
	if err != nil {
		return fmt.Errorf("list stale worker roles: %w", err)
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list stale worker roles: %w", err)
	}
	for _, name := range stale {
		if err := s.DropWorkerRole(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// ConnectionBudget derives the workers' connection budget from the
// server's limit: max_connections less the superuser reserve and reserved
// connections for others (the control plane's pool, an operator).
func (s *Store) ConnectionBudget(ctx context.Context, reserved int) (int, error) {
	var maxConns, superuser int
	err := s.pool.QueryRow(ctx, `SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int`).
		Scan(&maxConns, &superuser)
	if err != nil {
		return 0, fmt.Errorf("read max_connections: %w", err)
	}
	budget := maxConns - superuser - reserved
	if budget < 2 {
		return 0, fmt.Errorf("the database allows %d connections, too few for workers: set SCIMPLANE_DB_CONNECTIONS or raise max_connections", maxConns)
	}
	return budget, nil
}
