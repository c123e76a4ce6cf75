-- PgBouncer's user lookup for scimplane. The control plane creates database
-- roles as it goes (one per worker), so PgBouncer cannot list them in a file:
-- it asks PostgreSQL for a role's SCRAM secret with auth_query, logged in as
-- pgbouncer_auth, through this SECURITY DEFINER function, and then logs the
-- client in with SCRAM pass-through.
--
-- Run it once per database PgBouncer serves, as a superuser (reading
-- pg_authid needs one), with the password PgBouncer is given for
-- pgbouncer_auth (PGBOUNCER_AUTH_PASSWORD):
--
--	psql "$ADMIN_DATABASE_URL" -v auth_password="$PGBOUNCER_AUTH_PASSWORD" -f pgbouncer-auth.sql
--
-- It is idempotent: running it again resets the password and replaces the
-- function. The scale profile of docker-compose.yml runs it on first start
-- (controlplane/deploy/initdb/10-pgbouncer-auth.sh).
\set ON_ERROR_STOP on
SET client_min_messages = warning;

SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgbouncer_auth') AS create_role \gset
\if :create_role
CREATE ROLE pgbouncer_auth;
\endif
ALTER ROLE pgbouncer_auth WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'auth_password';
-- scimplane revokes CONNECT on its database from PUBLIC, so say it here.
SELECT format('GRANT CONNECT ON DATABASE %I TO pgbouncer_auth', current_database()) \gexec

CREATE SCHEMA IF NOT EXISTS pgbouncer;
REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC;
GRANT USAGE ON SCHEMA pgbouncer TO pgbouncer_auth;

-- Only unprivileged login roles with a valid SCRAM secret are answered: the
-- control plane's own role (CREATEROLE) and superusers never log in through
-- PgBouncer, and their secrets never leave the database.
CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text)
RETURNS TABLE (usename name, passwd text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT rolname, rolpassword
	FROM pg_authid
	WHERE rolname = p_usename
	  AND rolcanlogin
	  AND NOT rolsuper AND NOT rolcreaterole AND NOT rolreplication AND NOT rolbypassrls
	  AND (rolvaliduntil IS NULL OR rolvaliduntil > now())
	  AND rolpassword LIKE 'SCRAM-SHA-256$%'
$$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO pgbouncer_auth;
