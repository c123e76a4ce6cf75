// Package store keeps the control plane's state in PostgreSQL schema
// "control" and provisions each tenant's login role and schema.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements tenant.Store on a pgx pool. Its errors wrap
// tenant.ErrUnavailable when the database cannot be reached.
type Store struct {
	pool       db
	loginGroup atomic.Pointer[string]
}

var _ tenant.Store = (*Store)(nil)

// New returns a Store on pool. Call Migrate before use.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: db{pool}} }

// Migrate creates schema control, applies the embedded migrations and
// takes from PUBLIC what workers must not have. PostgreSQL advisory locks
// keep concurrent replicas from racing.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	if _, err := s.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS control"); err != nil {
		return fmt.Errorf("create schema control: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName("control.goose_db_version"),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migration provider: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate control: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "migration applied", "source", r.Source.Path, "duration", r.Duration)
	}
	return s.restrictPublic(ctx, log)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// inTx runs fn in a transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return unavailable(pgx.BeginFunc(ctx, s.pool, fn))
}

func audit(ctx context.Context, tx pgx.Tx, a tenant.AuditEntry) error {
	_, err := tx.Exec(ctx, `INSERT INTO control.audit_log (key_id, action, tenant_id, detail)
		VALUES ($1, $2, NULLIF($3, ''), $4)`, a.KeyID, a.Action, a.TenantID, a.Detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", a.Action, err)
	}
	return nil
}

// mustAffect turns "no row changed" into tenant.ErrNotFound.
func mustAffect(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return tenant.ErrNotFound
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return tenant.ErrNotFound
	}
	return err
}

func conflict(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", tenant.ErrConflict, pgErr.ConstraintName)
	}
	return err
}
