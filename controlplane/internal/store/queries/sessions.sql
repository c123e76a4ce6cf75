-- name: DeleteExpiredConsoleSessions :exec
DELETE FROM control.console_sessions_ended WHERE expires_at < now();

-- name: InsertConsoleSessionEnded :exec
INSERT INTO control.console_sessions_ended (id_hash, key_id, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (id_hash) DO NOTHING;

-- name: ConsoleSessionEnded :one
SELECT EXISTS (SELECT 1 FROM control.console_sessions_ended WHERE id_hash = $1 AND expires_at > now());
