-- InsertPolicyVersion numbers the version after the tenant's last; the
-- caller holds the tenant's row lock (LockTenant).
-- name: InsertPolicyVersion :one
INSERT INTO control.policy_versions (tenant_id, version, author, comment, modules, mapping, created_at)
SELECT sqlc.arg(tenant_id), COALESCE(max(version), 0) + 1, sqlc.arg(author), sqlc.arg(comment),
	sqlc.arg(modules), sqlc.arg(mapping), sqlc.arg(created_at)
FROM control.policy_versions WHERE tenant_id = sqlc.arg(tenant_id)
RETURNING version;

-- The active version is the most recently activated one.
-- name: ListPolicyVersions :many
SELECT version, author, comment, created_at,
	(activated_at IS NOT NULL AND activated_at = max(activated_at) OVER ())::boolean AS active,
	modules, mapping
FROM control.policy_versions WHERE tenant_id = $1 ORDER BY version DESC;

-- name: GetPolicyVersion :one
SELECT version, author, comment, created_at,
	(activated_at IS NOT NULL AND activated_at = (SELECT max(activated_at) FROM control.policy_versions a
		WHERE a.tenant_id = sqlc.arg(tenant_id)))::boolean AS active,
	modules, mapping
FROM control.policy_versions p WHERE p.tenant_id = sqlc.arg(tenant_id) AND p.version = sqlc.arg(version);

-- name: MarkPolicyActivated :execrows
UPDATE control.policy_versions SET activated_at = clock_timestamp() WHERE tenant_id = $1 AND version = $2;
