-- +goose Up
-- Workers log in with roles of their own, created by the control plane for
-- each worker process and dropped when it ends: such a role can connect and
-- nothing else until the control plane grants it one tenant's role, when the
-- worker is bound to that tenant. Tenant roles own their schemas and no
-- longer log in.
--
-- Worker roles get CONNECT from one group role instead of an ACL entry each
-- (every GRANT CONNECT rewrites the database's row in pg_database, and
-- concurrent ones fail with "tuple concurrently updated"). Roles are
-- cluster-wide, so the group's name is derived from the database (control
-- planes sharing a cluster keep separate groups) and recorded here, so that
-- a renamed database keeps its group. The group holds CONNECT and nothing
-- else.
CREATE TABLE control.worker_login_group (
	name text PRIMARY KEY,
	one  boolean NOT NULL DEFAULT true UNIQUE CHECK (one)
);
-- +goose StatementBegin
DO $$
DECLARE
	grp text := 'scimplane_workers_' || left(md5(current_database()), 16);
	t   text;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = grp) THEN
		EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', grp);
	END IF;
	EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), grp);
	INSERT INTO control.worker_login_group (name) VALUES (grp);
	FOR t IN SELECT id FROM control.tenants JOIN pg_roles ON rolname = id LOOP
		EXECUTE format('ALTER ROLE %I NOLOGIN PASSWORD NULL', t);
		EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM %I', current_database(), t);
	END LOOP;
END
$$;
-- +goose StatementEnd

-- The login roles of live workers. Every replica touches its own workers'
-- rows; a row nobody touched for a while belongs to a replica that died, and
-- any replica drops that role.
CREATE TABLE control.worker_roles (
	name       text PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	seen_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE control.worker_roles;
-- +goose StatementBegin
DO $$
DECLARE
	grp text := (SELECT name FROM control.worker_login_group);
BEGIN
	EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), grp);
	EXECUTE format('DROP ROLE IF EXISTS %I', grp);
END
$$;
-- +goose StatementEnd
DROP TABLE control.worker_login_group;
