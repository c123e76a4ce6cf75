-- +goose Up
-- Tenant roles get CONNECT on this database through one group role instead
-- of an ACL entry each: every GRANT CONNECT rewrites the database's row in
-- pg_database, and concurrent ones fail with "tuple concurrently updated".
-- Roles are cluster-wide, so the group's name is derived from the database
-- (control planes sharing a cluster keep separate groups); it is recorded
-- here so a renamed database keeps its group. The group holds CONNECT and
-- nothing else; members inherit only that.
CREATE TABLE control.tenant_login_group (
	name text PRIMARY KEY,
	one  boolean NOT NULL DEFAULT true UNIQUE CHECK (one)
);
-- +goose StatementBegin
DO $$
DECLARE
	grp text := 'scimplane_tenants_' || left(md5(current_database()), 16);
	r   text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = grp) THEN
		EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', grp);
	END IF;
	EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), grp);
	INSERT INTO control.tenant_login_group (name) VALUES (grp);
	FOR r IN SELECT t.id FROM control.tenants t JOIN pg_roles ON rolname = t.id LOOP
		EXECUTE format('GRANT %I TO %I', grp, r);
		EXECUTE format('ALTER ROLE %I INHERIT', r);
		EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM %I', current_database(), r);
	END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
	grp text := (SELECT name FROM control.tenant_login_group);
	r   text;
BEGIN
	FOR r IN SELECT t.id FROM control.tenants t JOIN pg_roles ON rolname = t.id LOOP
		EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
		EXECUTE format('ALTER ROLE %I NOINHERIT', r);
	END LOOP;
	EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), grp);
	EXECUTE format('DROP ROLE IF EXISTS %I', grp);
END
$$;
-- +goose StatementEnd
DROP TABLE control.tenant_login_group;
