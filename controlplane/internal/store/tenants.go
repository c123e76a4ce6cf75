package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

// CreateTenant inserts the tenant and its first token, creates its login
// role and a schema owned by it, in one transaction.
func (s *Store) CreateTenant(ctx context.Context, nt tenant.NewTenant, a tenant.AuditEntry) error {
	if !tenant.ValidTenantID(nt.Tenant.ID) {
		return fmt.Errorf("create tenant: invalid id %q", nt.Tenant.ID)
	}
	role := pgx.Identifier{nt.Tenant.ID}.Sanitize()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		t := nt.Tenant
		if _, err := tx.Exec(ctx, `INSERT INTO control.tenants (id, name, status, created_at) VALUES ($1, $2, $3, $4)`,
			t.ID, t.Name, t.Status, t.CreatedAt); err != nil {
			return conflict(err)
		}
		if err := insertToken(ctx, tx, nt.Token, nt.TokenHash); err != nil {
			return err
		}
		// CONNECT comes from the login group (migration 000004): granting
		// it per role would update pg_database's row, which concurrent
		// creations (here or on another replica) fail on.
		var group string
		if err := tx.QueryRow(ctx, "SELECT name FROM control.tenant_login_group").Scan(&group); err != nil {
			return fmt.Errorf("tenant login group: %w", err)
		}
		// DDL takes no bind parameters: the identifiers are sanitised and
		// the password is a quoted literal of hex digits.
		var password string
		if err := tx.QueryRow(ctx, "SELECT quote_literal($1)", nt.RolePassword).Scan(&password); err != nil {
			return err
		}
		for _, stmt := range []string{
			// INHERIT so that the group's CONNECT applies; the group has
			// no other privilege.
			"CREATE ROLE " + role + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS IN ROLE " +
				pgx.Identifier{group}.Sanitize() + " PASSWORD " + password,
			"CREATE SCHEMA " + role + " AUTHORIZATION " + role,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("provision role and schema: %w", err)
			}
		}
		return audit(ctx, tx, a)
	})
}

func (s *Store) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	var t tenant.Tenant
	err := s.pool.QueryRow(ctx, `SELECT id, name, status, created_at FROM control.tenants WHERE id = $1`, id).
		Scan(&t.ID, &t.Name, &t.Status, &t.CreatedAt)
	return t, notFound(err)
}

func (s *Store) ListTenants(ctx context.Context) ([]tenant.Tenant, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, name, status, created_at FROM control.tenants ORDER BY created_at, id`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tenant.Tenant, error) {
		var t tenant.Tenant
		err := r.Scan(&t.ID, &t.Name, &t.Status, &t.CreatedAt)
		return t, err
	})
}

func (s *Store) SetTenantStatus(ctx context.Context, id string, st tenant.Status, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := mustAffect(tx.Exec(ctx, `UPDATE control.tenants SET status = $2 WHERE id = $1`, id, st)); err != nil {
			return err
		}
		return audit(ctx, tx, a)
	})
}

// DeleteTenant ends the role's sessions (workers on any replica), drops its
// schema with everything in it, the role, and the control rows. It leaves
// the database's ACL alone (see CreateTenant) unless the role still has an
// entry there from before the login group.
func (s *Store) DeleteTenant(ctx context.Context, id string, a tenant.AuditEntry) error {
	if !tenant.ValidTenantID(id) {
		return tenant.ErrNotFound
	}
	role := pgx.Identifier{id}.Sanitize()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := mustAffect(tx.Exec(ctx, `DELETE FROM control.tenants WHERE id = $1`, id)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM control.scim_rejections WHERE tenant_id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, id); err != nil {
			return fmt.Errorf("end tenant sessions: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, id).Scan(&exists); err != nil {
			return err
		}
		stmts := []string{"DROP SCHEMA IF EXISTS " + role + " CASCADE"}
		if exists {
			// DROP OWNED revokes what the role was granted in this
			// database, which touches pg_database only if it has an entry
			// there.
			stmts = append(stmts, "DROP OWNED BY "+role, "DROP ROLE "+role)
		}
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("drop role and schema: %w", err)
			}
		}
		return audit(ctx, tx, a)
	})
}
