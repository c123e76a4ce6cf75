-- name: UpsertWakeup :exec
INSERT INTO control.tenant_wakeups (tenant_id, due_at) SELECT id, sqlc.arg(due_at)::timestamptz FROM control.tenants WHERE id = sqlc.arg(tenant_id)
ON CONFLICT (tenant_id) DO UPDATE SET due_at = excluded.due_at;

-- name: DeleteWakeup :exec
DELETE FROM control.tenant_wakeups WHERE tenant_id = $1;

-- name: TakeDueWakeups :many
DELETE FROM control.tenant_wakeups w USING control.tenants t
WHERE t.id = w.tenant_id AND w.due_at <= $1
RETURNING w.tenant_id, t.status = 'active' AS active;
