package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/controlplane/internal/store/dbsqlc"
)

// EndConsoleSession records a signed-out console session and forgets
// those past their expiry.
func (s *Store) EndConsoleSession(ctx context.Context, idHash []byte, keyID string, expires time.Time) error {
	return s.inTx(ctx, func(_ pgx.Tx, q *dbsqlc.Queries) error {
		if err := q.DeleteExpiredConsoleSessions(ctx); err != nil {
			return err
		}
		return q.InsertConsoleSessionEnded(ctx, dbsqlc.InsertConsoleSessionEndedParams{IDHash: idHash, KeyID: keyID, ExpiresAt: expires})
	})
}

func (s *Store) ConsoleSessionEnded(ctx context.Context, idHash []byte) (bool, error) {
	return s.q.ConsoleSessionEnded(ctx, idHash)
}
