-- +goose Up
-- Tenant schemas belong to the control plane's role; the tenant's role may
-- use them and create in them, and owns what it creates. A session acting
-- as the tenant (its worker) can therefore no longer drop, rename or hand
-- over its schema, nor grant USAGE on it to other roles: PostgreSQL lets
-- only an object's owner grant privileges on it, and a table granted
-- onward stays out of reach without USAGE on its schema.
-- +goose StatementBegin
DO $$
DECLARE
	t text;
BEGIN
	FOR t IN SELECT n.nspname FROM control.tenants JOIN pg_namespace n ON n.nspname = id
		JOIN pg_roles r ON r.rolname = id LOOP
		EXECUTE format('ALTER SCHEMA %I OWNER TO %I', t, current_user);
		EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', t);
		EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', t, t);
	END LOOP;
END
$$;
-- +goose StatementEnd

-- restrict_public takes from PUBLIC what would let a worker's session look
-- beyond its own schema. It needs a superuser (the catalogs belong to the
-- bootstrap superuser, template1 and postgres to the cluster's owner): the
-- control plane calls it at every start when its role is one, and an
-- operator whose control plane is not runs it once as a superuser in the
-- scimplane database, and again after a PostgreSQL major upgrade
-- (docs/security-operations.md). It is idempotent and returns what it
-- changed.
--
-- - SELECT on every relation of pg_catalog and information_schema that
--   PUBLIC may read, in this database: the catalogs name every schema and
--   role (tenant ids), table, session and database, and PostgreSQL has no
--   way to deny a privilege to one role that PUBLIC holds, so PUBLIC loses
--   it. Workers read no catalog; superusers are not subject to privileges,
--   and monitoring roles (members of pg_monitor) are granted what PUBLIC
--   loses.
-- - CONNECT and TEMPORARY on template1 and postgres, the databases every
--   cluster has, from PUBLIC: a worker's login role could otherwise
--   connect there and read the cluster-wide catalogs (roles, databases,
--   sessions) that are not restricted in them; pg_monitor keeps CONNECT on
--   postgres. Other databases of a shared cluster are the operator's: see
--   docs/security-operations.md.
-- +goose StatementBegin
CREATE FUNCTION control.restrict_public() RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rels text;
	n    int;
	db   name;
BEGIN
	-- One statement for all: one per relation costs several times as long.
	SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.oid), count(*) INTO rels, n FROM pg_class c
		WHERE c.relnamespace IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
		  AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
		  AND has_table_privilege('public', c.oid, 'SELECT');
	IF rels IS NOT NULL THEN
		EXECUTE 'REVOKE SELECT ON ' || rels || ' FROM PUBLIC';
		EXECUTE 'GRANT SELECT ON ' || rels || ' TO pg_monitor';
		RETURN NEXT format('revoked SELECT on %s catalog relations from PUBLIC', n);
	END IF;
	FOR db IN SELECT datname FROM pg_database
		WHERE datname IN ('template1', 'postgres') AND datname <> current_database()
		  AND (has_database_privilege('public', oid, 'CONNECT') OR has_database_privilege('public', oid, 'TEMPORARY'))
		ORDER BY 1 LOOP
		BEGIN
			EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', db);
			IF db = 'postgres' THEN
				-- Where monitoring agents usually connect.
				EXECUTE 'GRANT CONNECT ON DATABASE postgres TO pg_monitor';
			END IF;
			RETURN NEXT 'revoked CONNECT on database ' || db || ' from PUBLIC';
		EXCEPTION WHEN internal_error THEN
			-- "tuple concurrently updated": another database of the
			-- cluster (a control plane sharing it) revoked it just now.
			NULL;
		END;
	END LOOP;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION control.restrict_public() FROM PUBLIC;

-- +goose Down
DROP FUNCTION control.restrict_public();
-- +goose StatementBegin
DO $$
DECLARE
	t text;
BEGIN
	FOR t IN SELECT n.nspname FROM control.tenants JOIN pg_namespace n ON n.nspname = id
		JOIN pg_roles r ON r.rolname = id LOOP
		EXECUTE format('ALTER SCHEMA %I OWNER TO %I', t, t);
	END LOOP;
END
$$;
-- +goose StatementEnd
