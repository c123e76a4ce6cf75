package store

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// restrictLockID keeps replicas starting together from revoking at once
// (concurrent GRANTs and REVOKEs on one object fail with "tuple
// concurrently updated").
const restrictLockID = 0x73636d70_72737472 // "scmprstr"

// restrictPublic takes from PUBLIC what would let a worker look beyond its
// own schema (control.restrict_public, migration 000006), when the control
// plane's role may: it needs a superuser. Otherwise it says so once per
// start and leaves it to the operator (docs/security-operations.md).
func (s *Store) restrictPublic(ctx context.Context, log *slog.Logger) error {
	var super bool
	// A setting, not the catalogs, which a role that is not a superuser
	// may no longer read once an operator ran restrict_public.
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('is_superuser') = 'on'`).Scan(&super); err != nil {
		return fmt.Errorf("read own role: %w", err)
	}
	if !super {
		log.WarnContext(ctx, "the database role is not a superuser, so workers can still read the catalogs (every tenant's schema and role name) and connect to template1: "+
			"run SELECT control.restrict_public() once as a superuser in this database (docs/security-operations.md)")
		return nil
	}
	var changed []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(restrictLockID)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT * FROM control.restrict_public()`)
		if err != nil {
			return err
		}
		changed, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return fmt.Errorf("restrict public privileges: %w", err)
	}
	for _, c := range changed {
		log.InfoContext(ctx, "took a privilege workers must not have from PUBLIC", "change", c)
	}
	return nil
}
