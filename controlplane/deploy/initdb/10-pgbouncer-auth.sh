#!/bin/sh
# First start of the scale profile's PostgreSQL: creates PgBouncer's auth_query
# lookup (pgbouncer-auth.sql, mounted beside this folder) in POSTGRES_DB. Run
# from /docker-entrypoint-initdb.d by scimplane's PostgreSQL image and by the
# public postgres image alike, against the server they start for it.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v auth_password="${PGBOUNCER_AUTH_PASSWORD:?PGBOUNCER_AUTH_PASSWORD must be set}" \
	-f /usr/local/share/scimplane/pgbouncer-auth.sql
