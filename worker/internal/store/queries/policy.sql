-- name: GetPolicy :one
SELECT version, bundle, activated_at FROM policy;

-- name: GetPolicyVersion :one
SELECT coalesce((SELECT version FROM policy), 0)::bigint AS version;

-- name: SavePolicy :exec
INSERT INTO policy (version, bundle, activated_at) VALUES ($1, $2, now())
ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, bundle = excluded.bundle, activated_at = excluded.activated_at;
