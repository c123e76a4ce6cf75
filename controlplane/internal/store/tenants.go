package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/store/dbsqlc"
	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

// CreateTenant inserts the tenant and its first token, creates its role
// and a schema it may use, in one transaction.
func (s *Store) CreateTenant(ctx context.Context, nt tenant.NewTenant, a tenant.AuditEntry) error {
	if !tenant.ValidTenantID(nt.Tenant.ID) {
		return fmt.Errorf("create tenant: invalid id %q", nt.Tenant.ID)
	}
	role := pgx.Identifier{nt.Tenant.ID}.Sanitize()
	return s.inTx(ctx, func(tx pgx.Tx, q *dbsqlc.Queries) error {
		t := nt.Tenant
		if err := q.InsertTenant(ctx, dbsqlc.InsertTenantParams{
			ID: t.ID, Name: t.Name, Status: string(t.Status), CreatedAt: t.CreatedAt,
		}); err != nil {
			return conflict(err)
		}
		if err := insertToken(ctx, q, nt.Token, nt.TokenHash); err != nil {
			return err
		}
		// The tenant's role never logs in: workers log in with roles of
		// their own and are granted it when bound. It may use and create in
		// its schema and owns what it creates there, but the schema is the
		// control plane's: a session acting as the tenant cannot drop,
		// rename or hand it over, nor grant USAGE on it to anyone.
		for _, stmt := range []string{
			"CREATE ROLE " + role + " NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS",
			"CREATE SCHEMA " + role,
			"GRANT USAGE, CREATE ON SCHEMA " + role + " TO " + role,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("provision role and schema: %w", err)
			}
		}
		return audit(ctx, q, a)
	})
}

func tenantFromRow(r dbsqlc.ControlTenant) tenant.Tenant {
	return tenant.Tenant{ID: r.ID, Name: r.Name, Status: tenant.Status(r.Status), CreatedAt: r.CreatedAt}
}

func (s *Store) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	r, err := s.q.GetTenant(ctx, id)
	if err != nil {
		return tenant.Tenant{}, notFound(err)
	}
	return tenantFromRow(r), nil
}

func (s *Store) ListTenants(ctx context.Context) ([]tenant.Tenant, error) {
	rs, err := s.q.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	ts := make([]tenant.Tenant, len(rs))
	for i, r := range rs {
		ts[i] = tenantFromRow(r)
	}
	return ts, nil
}

func (s *Store) SetTenantStatus(ctx context.Context, id string, st tenant.Status, a tenant.AuditEntry) error {
	return s.inTx(ctx, func(_ pgx.Tx, q *dbsqlc.Queries) error {
		if err := mustAffect(q.UpdateTenantStatus(ctx, dbsqlc.UpdateTenantStatusParams{ID: id, Status: string(st)})); err != nil {
			return err
		}
		return audit(ctx, q, a)
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
	return s.inTx(ctx, func(tx pgx.Tx, q *dbsqlc.Queries) error {
		if err := mustAffect(q.DeleteTenant(ctx, id)); err != nil {
			return err
		}
		if err := q.DeleteTenantRejections(ctx, id); err != nil {
			return err
		}
		// End the sessions of workers acting as the tenant, on any replica.
		// Catalog views are not in sqlc's catalog: hand-written.
		if _, err := tx.Exec(ctx, `SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
			JOIN pg_roles w ON w.rolname = a.usename JOIN pg_auth_members m ON m.member = w.oid
			JOIN pg_roles t ON t.oid = m.roleid WHERE t.rolname = $1`, id); err != nil {
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
		return audit(ctx, q, a)
	})
}
