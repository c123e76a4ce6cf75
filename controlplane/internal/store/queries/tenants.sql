-- name: InsertTenant :exec
INSERT INTO control.tenants (id, name, status, created_at) VALUES ($1, $2, $3, $4);

-- name: GetTenant :one
SELECT id, name, status, created_at FROM control.tenants WHERE id = $1;

-- name: ListTenants :many
SELECT id, name, status, created_at FROM control.tenants ORDER BY created_at, id;

-- name: UpdateTenantStatus :execrows
UPDATE control.tenants SET status = $2 WHERE id = $1;

-- LockTenant serialises writes that depend on the tenant row (token
-- creation, policy version numbering); no row means no tenant.
-- name: LockTenant :execrows
SELECT 1 FROM control.tenants WHERE id = $1 FOR UPDATE;

-- name: DeleteTenant :execrows
DELETE FROM control.tenants WHERE id = $1;

-- name: DeleteTenantRejections :exec
DELETE FROM control.scim_rejections WHERE tenant_id = $1;

-- name: InsertAudit :exec
INSERT INTO control.audit_log (key_id, action, tenant_id, detail)
VALUES (sqlc.arg(key_id), sqlc.arg(action), NULLIF(sqlc.arg(tenant_id)::text, ''), sqlc.arg(detail));

-- name: ListAudit :many
SELECT id, at, key_id, action, COALESCE(tenant_id, '')::text AS tenant_id, detail
FROM control.audit_log WHERE sqlc.arg(tenant_id)::text = '' OR tenant_id = sqlc.arg(tenant_id)::text
ORDER BY id DESC LIMIT sqlc.arg(max_rows);
