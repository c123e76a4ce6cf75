package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// EndConsoleSession records a signed-out console session and forgets
// those past their expiry.
func (s *Store) EndConsoleSession(ctx context.Context, idHash []byte, keyID string, expires time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM control.console_sessions_ended WHERE expires_at < now()`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO control.console_sessions_ended (id_hash, key_id, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (id_hash) DO NOTHING`, idHash, keyID, expires)
		return err
	})
}

func (s *Store) ConsoleSessionEnded(ctx context.Context, idHash []byte) (bool, error) {
	var ended bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM control.console_sessions_ended
		WHERE id_hash = $1 AND expires_at > now())`, idHash).Scan(&ended)
	return ended, err
}
