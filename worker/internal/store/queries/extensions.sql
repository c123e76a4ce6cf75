-- name: ListExtensionAttributes :many
SELECT schema_urn, resource_type, name, type, multi_valued, case_exact, description
FROM extension_attributes ORDER BY schema_urn, created, name;

-- name: InsertExtensionAttribute :exec
INSERT INTO extension_attributes (schema_urn, resource_type, name, type, multi_valued, case_exact, description)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: FindExtensionAttribute :one
SELECT schema_urn, name, resource_type FROM extension_attributes
WHERE lower(schema_urn) = lower(sqlc.arg(schema_urn)) AND lower(name) = lower(sqlc.arg(name));

-- The key test (?) matches the name exactly, as writes store it.
-- name: CountUsersWithExtension :one
SELECT count(*) FROM users WHERE doc->sqlc.arg(schema_urn)::text ? sqlc.arg(name)::text;

-- name: CountGroupsWithExtension :one
SELECT count(*) FROM groups WHERE doc->sqlc.arg(schema_urn)::text ? sqlc.arg(name)::text;

-- name: DeleteExtensionAttribute :exec
DELETE FROM extension_attributes WHERE schema_urn = $1 AND name = $2;
