-- name: GetUser :one
SELECT id, doc, created, last_modified, version FROM users WHERE id = $1;

-- name: GetGroup :one
SELECT id, doc, created, last_modified, version FROM groups WHERE id = $1;

-- name: ListMembers :many
SELECT m.group_id, m.user_id, coalesce(u.display_name, '')::text AS display_name
FROM members m JOIN users u ON u.id = m.user_id
WHERE m.group_id = ANY(sqlc.arg(group_ids)::text[]) ORDER BY m.group_id, u.seq;
