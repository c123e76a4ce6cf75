-- QueryLog's filters are built by hand (scimlog.go); these are the log's
-- static statements.

-- InsertLog writes one SCIM log row; it is queued in pipelined batches
-- (a change's transaction, WriteLog), never run alone.
-- name: InsertLog :exec
INSERT INTO scim_requests (at, request_id, method, path, query, filter, resource_type, resource_id,
    external_id, user_name, display_name, summary, status, scim_type, detail, latency_us, request_body, response_body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18);

-- name: GetLog :one
SELECT id, at, request_id, method, path, query, coalesce(filter, '')::text AS filter,
    coalesce(resource_type, '')::text AS resource_type, coalesce(resource_id, '')::text AS resource_id,
    coalesce(external_id, '')::text AS external_id, coalesce(user_name, '')::text AS user_name,
    coalesce(display_name, '')::text AS display_name, coalesce(summary, '')::text AS summary, status,
    coalesce(scim_type, '')::text AS scim_type, coalesce(detail, '')::text AS detail, latency_us,
    request_body, response_body
FROM scim_requests WHERE id = $1;

-- name: LogCounts :one
SELECT
    (SELECT count(*) FROM scim_requests r WHERE r.at >= sqlc.arg(hour)::timestamptz)::bigint AS hour_requests,
    (SELECT count(*) FROM scim_requests r WHERE r.at >= sqlc.arg(hour)::timestamptz AND r.status >= 400)::bigint AS hour_failures,
    (SELECT count(*) FROM scim_requests r WHERE r.at >= sqlc.arg(day)::timestamptz)::bigint AS day_requests,
    (SELECT count(*) FROM scim_requests r WHERE r.at >= sqlc.arg(day)::timestamptz AND r.status >= 400)::bigint AS day_failures,
    (SELECT max(r.at) FROM scim_requests r WHERE r.at >= sqlc.arg(month)::timestamptz AND r.status < 400) AS last_success;

-- name: LogTopErrors :many
SELECT status, coalesce(scim_type, '')::text AS scim_type, left(coalesce(detail, ''), 200)::text AS d, count(*) AS n
FROM scim_requests
WHERE at >= $1 AND status >= 400 GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1 LIMIT 5;

-- pg_partition_tree, not the catalogs, which workers may not read.
-- name: ListLogPartitions :many
SELECT relid::text AS name FROM pg_partition_tree('scim_requests')
WHERE level = 1 AND relid::text LIKE 'scim\_requests\_p%';

-- name: ExpireDefaultPartition :exec
DELETE FROM scim_requests_default WHERE at < $1;

-- name: GetRetentionDays :one
SELECT log_retention_days FROM settings;

-- name: SetRetentionDays :exec
UPDATE settings SET log_retention_days = $1;
