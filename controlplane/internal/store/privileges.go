package store

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/store/dbsqlc"
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
	super, err := s.q.IsSuperuser(ctx)
	if err != nil {
		return fmt.Errorf("read own role: %w", err)
	}
	if !super {
		log.WarnContext(ctx, "the database role is not a superuser, so workers can still read the catalogs (every tenant's schema and role name) and connect to template1: "+
			"run SELECT control.restrict_public() once as a superuser in this database (docs/security-operations.md)")
		return nil
	}
	var changed []string
	err = s.inTx(ctx, func(_ pgx.Tx, q *dbsqlc.Queries) error {
		if err := q.AdvisoryXactLock(ctx, restrictLockID); err != nil {
			return err
		}
		var err error
		changed, err = q.RestrictPublic(ctx)
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
