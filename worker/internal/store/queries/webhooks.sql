-- The deliverer's and the admin API's webhook statements. A webhook row is
-- read with its pending deliveries counted; "head" deliveries are the
-- oldest pending one of their webhook and order key.

-- name: GetWebhookCursor :one
SELECT xid::text AS xid, seq FROM webhook_cursor;

-- PendingChanges: committed changes after the cursor, with the change
-- feed's visibility rule (only transactions older than every one in flight).
-- name: ListPendingChanges :many
SELECT xid::text AS xid, seq, at, kind, coalesce(user_id, '')::text AS user_id, coalesce(group_id, '')::text AS group_id,
    coalesce(detail, 'null')::jsonb AS detail
FROM changes
WHERE (xid, seq) > (sqlc.arg(after_xid)::text::xid8, sqlc.arg(after_seq)::bigint)
    AND xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid, seq LIMIT sqlc.arg(max_rows);

-- name: ChangesAfter :one
SELECT EXISTS (SELECT 1 FROM changes WHERE (xid, seq) > (sqlc.arg(after_xid)::text::xid8, sqlc.arg(after_seq)::bigint));

-- ClaimDeliveries leases due head deliveries, at most per_webhook of each
-- webhook not busy, for one attempt each.
-- name: ClaimDeliveries :many
WITH heads AS (
    SELECT d.id, row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.id) AS rn
    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
    WHERE d.status = 'pending' AND d.next_attempt_at <= sqlc.arg(now)::timestamptz
        AND NOT (d.webhook_id = ANY(coalesce(sqlc.arg(busy)::text[], '{}')))
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id
            AND e.order_key = d.order_key AND e.status = 'pending' AND e.id < d.id))
UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = sqlc.arg(now)::timestamptz,
    next_attempt_at = sqlc.arg(now)::timestamptz + sqlc.arg(lease)::interval
FROM heads h, webhooks w WHERE d.id = h.id AND h.rn <= sqlc.arg(per_webhook)::bigint AND w.id = d.webhook_id
    -- Rechecked on the locked row: a delivery another worker of the
    -- tenant (a replica's, briefly) claimed meanwhile is skipped.
    AND d.status = 'pending' AND d.next_attempt_at <= sqlc.arg(now)::timestamptz
RETURNING d.id, d.webhook_id, w.url, w.secret_generation, d.message_id, d.payload, d.attempts;

-- FinishDelivery and DisableWebhook are queued in one batch by Finish.
-- name: FinishDelivery :exec
UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, delivered_at = $4, last_status = $5,
    last_latency_ms = $6, last_error = $7, response_excerpt = $8 WHERE id = $1;

-- name: DisableWebhook :exec
UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1;

-- name: NextDue :one
SELECT min(d.next_attempt_at) FILTER (WHERE NOT (d.webhook_id = ANY(coalesce(sqlc.arg(busy)::text[], '{}')))) AS local,
    min(d.next_attempt_at) AS any
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
WHERE d.status = 'pending' AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id
    AND e.order_key = d.order_key AND e.status = 'pending' AND e.id < d.id);

-- name: HasWebhooks :one
SELECT EXISTS (SELECT 1 FROM webhooks);

-- The tenant's first webhook moves the cursor to the end of the feed;
-- InsertWebhook queues it before InsertWebhook, in one batch.
-- name: MoveCursorToEnd :exec
UPDATE webhook_cursor SET (xid, seq) = (SELECT xid, seq FROM changes ORDER BY xid DESC, seq DESC LIMIT 1)
WHERE NOT EXISTS (SELECT 1 FROM webhooks) AND EXISTS (SELECT 1 FROM changes);

-- name: InsertWebhook :one
WITH w AS (INSERT INTO webhooks (id, url, events) VALUES (sqlc.arg(id), sqlc.arg(url), coalesce(sqlc.arg(events)::text[], '{}')) RETURNING *)
SELECT w.id, w.url, w.events, w.enabled, coalesce(w.disabled_reason, '')::text AS disabled_reason, w.created_at, w.updated_at,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending')::bigint AS pending, w.secret_generation
FROM w;

-- name: ListWebhooks :many
SELECT w.id, w.url, w.events, w.enabled, coalesce(w.disabled_reason, '')::text AS disabled_reason, w.created_at, w.updated_at,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending')::bigint AS pending, w.secret_generation
FROM webhooks w ORDER BY w.created_at, w.id;

-- name: GetWebhook :one
SELECT w.id, w.url, w.events, w.enabled, coalesce(w.disabled_reason, '')::text AS disabled_reason, w.created_at, w.updated_at,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending')::bigint AS pending, w.secret_generation
FROM webhooks w WHERE w.id = $1;

-- Enabling a webhook makes its pending deliveries due now, attempts
-- counted afresh; UpdateWebhook queues it before UpdateWebhook.
-- name: RearmDeliveries :exec
UPDATE webhook_deliveries SET next_attempt_at = now(), attempts = 0
WHERE webhook_id = $1 AND status = 'pending' AND EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND NOT enabled);

-- name: UpdateWebhook :one
WITH w AS (UPDATE webhooks SET url = coalesce(sqlc.narg(url)::text, url), events = coalesce(sqlc.narg(events)::text[], events),
        enabled = coalesce(sqlc.narg(enabled)::boolean, enabled),
        disabled_reason = CASE WHEN sqlc.narg(enabled)::boolean THEN NULL ELSE disabled_reason END, updated_at = now()
    WHERE id = sqlc.arg(id)::text RETURNING *)
SELECT w.id, w.url, w.events, w.enabled, coalesce(w.disabled_reason, '')::text AS disabled_reason, w.created_at, w.updated_at,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending')::bigint AS pending, w.secret_generation
FROM w;

-- name: RotateWebhookSecret :one
WITH w AS (UPDATE webhooks SET secret_generation = secret_generation + 1, updated_at = now() WHERE id = sqlc.arg(id)::text RETURNING *)
SELECT w.id, w.url, w.events, w.enabled, coalesce(w.disabled_reason, '')::text AS disabled_reason, w.created_at, w.updated_at,
    (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending')::bigint AS pending, w.secret_generation
FROM w;

-- name: PruneDeliveries :exec
DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1
    AND coalesce(delivered_at, last_attempt_at, created_at) < $1;

-- name: DeleteWebhook :execrows
DELETE FROM webhooks WHERE id = $1;

-- name: InsertDelivery :one
WITH d AS (
    INSERT INTO webhook_deliveries (webhook_id, message_id, type, order_key, payload, next_attempt_at)
    SELECT o.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), sqlc.arg(type)::text, sqlc.arg(order_key)::text,
        sqlc.arg(payload)::bytea, now()
    FROM webhooks o WHERE o.id = sqlc.arg(webhook_id)::text RETURNING *)
SELECT d.id, d.webhook_id, d.message_id, d.type, d.status, d.attempts, d.created_at, coalesce(d.last_status, 0)::integer AS last_status,
    coalesce(d.last_latency_ms, 0)::bigint AS last_latency_ms, coalesce(d.last_error, '')::text AS last_error, d.last_attempt_at,
    coalesce(d.response_excerpt, '')::text AS response_excerpt,
    d.next_attempt_at, d.delivered_at, d.payload
FROM d;

-- ReplayDelivery queues a delivery's message again, with its message id
-- and body, behind the webhook's pending deliveries of the same key.
-- name: ReplayDelivery :one
WITH d AS (
    INSERT INTO webhook_deliveries (webhook_id, message_id, type, order_key, payload, next_attempt_at)
    SELECT o.webhook_id, o.message_id, o.type, o.order_key, o.payload, now() FROM webhook_deliveries o
    WHERE o.webhook_id = sqlc.arg(webhook_id)::text AND o.id = sqlc.arg(delivery_id)::bigint
    RETURNING *)
SELECT d.id, d.webhook_id, d.message_id, d.type, d.status, d.attempts, d.created_at, coalesce(d.last_status, 0)::integer AS last_status,
    coalesce(d.last_latency_ms, 0)::bigint AS last_latency_ms, coalesce(d.last_error, '')::text AS last_error, d.last_attempt_at,
    coalesce(d.response_excerpt, '')::text AS response_excerpt,
    d.next_attempt_at, d.delivered_at, d.payload
FROM d;

-- ListDeliveries is a page of a webhook's deliveries, newest first, before
-- the id cursor.
-- name: ListDeliveries :many
SELECT d.id, d.webhook_id, d.message_id, d.type, d.status, d.attempts, d.created_at, coalesce(d.last_status, 0)::integer AS last_status,
    coalesce(d.last_latency_ms, 0)::bigint AS last_latency_ms, coalesce(d.last_error, '')::text AS last_error, d.last_attempt_at,
    coalesce(d.response_excerpt, '')::text AS response_excerpt,
    d.next_attempt_at, d.delivered_at, d.payload
FROM webhook_deliveries d WHERE d.webhook_id = sqlc.arg(webhook_id) AND d.id < sqlc.arg(before_id)
ORDER BY d.id DESC LIMIT sqlc.arg(max_rows);
