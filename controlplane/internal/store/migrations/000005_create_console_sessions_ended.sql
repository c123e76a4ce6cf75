-- +goose Up
-- Console sessions live in sealed cookies; signing out records the
-- session here (its id's SHA-256) so that every replica refuses the cookie
-- from then on. A row is only needed until the session would have expired.
CREATE TABLE control.console_sessions_ended (
	id_hash    bytea PRIMARY KEY,
	key_id     text NOT NULL,
	ended_at   timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_ended_expires ON control.console_sessions_ended (expires_at);

-- +goose Down
DROP TABLE control.console_sessions_ended;
