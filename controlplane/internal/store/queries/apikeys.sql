-- name: GetAPIKeyByHash :one
SELECT id, name, role, COALESCE(tenant_id, '')::text AS tenant_id, created_at, revoked_at
FROM control.api_keys WHERE key_hash = $1;

-- name: InsertBootstrapKey :execrows
INSERT INTO control.api_keys (id, name, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING;

-- ReplaceBootstrapKey writes the key unless it is already there, unrevoked,
-- with this hash.
-- name: ReplaceBootstrapKey :execrows
INSERT INTO control.api_keys (id, name, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET key_hash = EXCLUDED.key_hash, revoked_at = NULL
WHERE control.api_keys.key_hash <> EXCLUDED.key_hash OR control.api_keys.revoked_at IS NOT NULL;

-- name: InsertAPIKey :exec
INSERT INTO control.api_keys (id, name, role, tenant_id, key_hash, created_at)
VALUES (sqlc.arg(id), sqlc.arg(name), sqlc.arg(role), NULLIF(sqlc.arg(tenant_id)::text, ''), sqlc.arg(key_hash), sqlc.arg(created_at));

-- name: ListAPIKeys :many
SELECT id, name, role, COALESCE(tenant_id, '')::text AS tenant_id, created_at, revoked_at
FROM control.api_keys ORDER BY created_at, id;

-- name: RevokeAPIKey :execrows
UPDATE control.api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL;
