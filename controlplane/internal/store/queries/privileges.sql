-- A setting, not the catalogs, which a role that is not a superuser may no
-- longer read once an operator ran restrict_public.
-- name: IsSuperuser :one
SELECT (current_setting('is_superuser') = 'on')::boolean;

-- name: AdvisoryXactLock :exec
SELECT pg_advisory_xact_lock(sqlc.arg(key)::bigint);

-- name: RestrictPublic :many
SELECT change::text FROM control.restrict_public() AS change;
