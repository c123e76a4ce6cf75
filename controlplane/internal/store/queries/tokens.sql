-- name: InsertToken :exec
INSERT INTO control.scim_tokens (id, tenant_id, name, token_hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- GetCredentials reads the tenant and its unrevoked tokens in one query; a
-- tenant without tokens comes back as one row with the token columns null.
-- name: GetCredentials :many
SELECT n.id, n.name, n.status, n.created_at,
	t.id AS token_id, t.token_hash, t.expires_at
FROM control.tenants n
LEFT JOIN control.scim_tokens t ON t.tenant_id = n.id AND t.revoked_at IS NULL
WHERE n.id = $1;

-- name: ListTokens :many
SELECT id, tenant_id, name, created_at, expires_at, last_used_at, revoked_at
FROM control.scim_tokens WHERE tenant_id = $1 ORDER BY created_at, id;

-- name: RevokeToken :execrows
UPDATE control.scim_tokens SET revoked_at = now()
WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL;

-- TouchToken writes last_used_at unless another replica did so within the
-- last minute.
-- name: TouchToken :exec
UPDATE control.scim_tokens SET last_used_at = now()
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
