-- name: InsertRejections :copyfrom
INSERT INTO control.scim_rejections (at, tenant_id, request_id, method, path, status, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: ListRejections :many
SELECT at, tenant_id, request_id, method, path, status, reason
FROM control.scim_rejections WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2;

-- name: PruneRejections :exec
DELETE FROM control.scim_rejections WHERE at < $1;
