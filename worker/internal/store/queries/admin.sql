-- The console's pages: keyset cursors, q an optional search string.

-- name: ListGroupsPage :many
SELECT g.id, g.display_name, coalesce(g.external_id, '')::text AS external_id,
    (SELECT count(*) FROM members m WHERE m.group_id = g.id)::bigint AS members
FROM groups g
WHERE (lower(g.display_name), g.id) > (sqlc.arg(after_name)::text, sqlc.arg(after_id)::text)
    AND (sqlc.arg(q)::text = '' OR strpos(lower(g.display_name), lower(sqlc.arg(q)::text)) > 0)
ORDER BY lower(g.display_name), g.id LIMIT sqlc.arg(max_rows);

-- name: GetGroupSummary :one
SELECT g.id, g.display_name, coalesce(g.external_id, '')::text AS external_id,
    (SELECT count(*) FROM members m WHERE m.group_id = g.id)::bigint AS members
FROM groups g WHERE g.id = $1;

-- name: ListUsersPage :many
SELECT u.id, u.user_name, coalesce(u.display_name, '')::text AS display_name, u.active,
    coalesce(p.permissions, '{}')::text[] AS permissions, coalesce(p.sets, '{}')::text[] AS sets,
    coalesce(p.error, '')::text AS error, u.seq::bigint AS seq
FROM users u LEFT JOIN permissions p ON p.user_id = u.id
WHERE u.seq > sqlc.arg(after_seq)::bigint
    AND (sqlc.arg(q)::text = '' OR starts_with(lower(u.user_name), lower(sqlc.arg(q)::text))
        OR starts_with(lower(u.display_name), lower(sqlc.arg(q)::text)))
ORDER BY u.seq LIMIT sqlc.arg(max_rows);

-- name: ListGroupMembersPage :many
SELECT u.id, u.user_name, coalesce(u.display_name, '')::text AS display_name, u.active,
    coalesce(p.permissions, '{}')::text[] AS permissions, coalesce(p.sets, '{}')::text[] AS sets,
    coalesce(p.error, '')::text AS error, u.seq::bigint AS seq
FROM members m JOIN users u ON u.id = m.user_id
LEFT JOIN permissions p ON p.user_id = u.id
WHERE m.group_id = sqlc.arg(group_id) AND u.seq > sqlc.arg(after_seq)::bigint
ORDER BY u.seq LIMIT sqlc.arg(max_rows);

-- ListChanges reads the change feed after the cursor, from transactions
-- older than every transaction still in flight.
-- name: ListChanges :many
SELECT seq, at, kind, coalesce(user_id, '')::text AS user_id, coalesce(group_id, '')::text AS group_id,
    detail, xid::text AS xid
FROM changes
WHERE (xid, seq) > (sqlc.arg(after_xid)::text::xid8, sqlc.arg(after_seq)::bigint)
    AND xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid, seq LIMIT sqlc.arg(max_rows);
