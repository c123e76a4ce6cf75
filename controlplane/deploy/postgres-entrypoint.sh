#!/bin/sh
# Entry point of scimplane's PostgreSQL image. On an empty PGDATA it runs
# initdb (superuser POSTGRES_USER with POSTGRES_PASSWORD, password auth for
# TCP clients, listening on all interfaces), creates POSTGRES_DB and runs the
# scripts in /docker-entrypoint-initdb.d (*.sh executed, *.sql through psql,
# against a server reachable only on its Unix socket) as the public postgres
# image does; then it runs postgres as the postgres user (PostgreSQL refuses
# to run as root).
set -eu

if [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"

# run_initdb_scripts runs /docker-entrypoint-initdb.d/* in name order as the
# postgres user, with PGHOST, PGUSER and PGDATABASE pointing at POSTGRES_DB.
run_initdb_scripts() {
	scripts=$(find /docker-entrypoint-initdb.d -maxdepth 1 -type f \( -name '*.sh' -o -name '*.sql' \) 2>/dev/null | sort)
	[ -n "$scripts" ] || return 0
	$as_postgres pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" start
	for f in $scripts; do
		echo "running $f"
		case "$f" in
		*.sh) PGHOST=/run/postgresql PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB \
			POSTGRES_USER=$POSTGRES_USER POSTGRES_DB=$POSTGRES_DB $as_postgres sh "$f" ;;
		*.sql) $as_postgres psql -v ON_ERROR_STOP=1 --no-psqlrc -q -h /run/postgresql \
			-U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$f" ;;
		esac
	done
	$as_postgres pg_ctl -D "$PGDATA" -w -s -m fast stop
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	chown postgres "$pwfile"
	$as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
		-E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	if [ "$POSTGRES_DB" != postgres ]; then
		echo "CREATE DATABASE \"$POSTGRES_DB\"" |
			$as_postgres postgres --single -D "$PGDATA" -c listen_addresses= postgres >/dev/null
	fi
	run_initdb_scripts
	echo "initialised $PGDATA"
fi

shift
exec $as_postgres postgres "$@"
