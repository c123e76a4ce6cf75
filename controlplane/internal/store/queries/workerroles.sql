-- name: GetWorkerLoginGroup :one
SELECT name FROM control.worker_login_group;

-- name: TouchWorkerRoles :exec
UPDATE control.worker_roles SET seen_at = now() WHERE name = ANY(sqlc.arg(names)::text[]);

-- ListStaleWorkerRoles lists the roles nobody marked for five minutes:
-- their replica is gone.
-- name: ListStaleWorkerRoles :many
SELECT name FROM control.worker_roles WHERE seen_at < now() - interval '5 minutes';

-- name: GetConnectionLimits :one
SELECT current_setting('max_connections')::int AS max_connections,
	current_setting('superuser_reserved_connections')::int AS superuser_reserved;
