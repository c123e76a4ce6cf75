#!/bin/sh
# Entry point of scimplane's PgBouncer image. Writes the auth_file holding
# only the auth_user's password, then runs PgBouncer in the foreground with
# either a mounted configuration (PGBOUNCER_CONFIG) or one written here from
# the environment. Everything it writes goes under PGBOUNCER_RUN_DIR, mode
# 0600, so the root filesystem can stay read-only.
#
# Every other user (the control plane's per-worker roles) is looked up with
# auth_query through pgbouncer.get_auth, a SECURITY DEFINER function created
# once in the database by controlplane/deploy/pgbouncer-auth.sql, and logs in
# to PostgreSQL with SCRAM pass-through: PgBouncer never holds their passwords.
#
#	PGBOUNCER_DB_HOST            PostgreSQL host (required without PGBOUNCER_CONFIG)
#	PGBOUNCER_DB_PORT            5432
#	PGBOUNCER_AUTH_USER          pgbouncer_auth
#	PGBOUNCER_AUTH_PASSWORD      that role's password (required)
#	PGBOUNCER_PORT               6432
#	PGBOUNCER_MAX_DB_CONNECTIONS 100: server connections per database, all users
#	                             together (the cluster-wide cap)
#	PGBOUNCER_MAX_CLIENT_CONN    5000: client connections (cheap: a few kB each)
#	PGBOUNCER_DEFAULT_POOL_SIZE  20: server connections per user and database
#	PGBOUNCER_SERVER_IDLE_TIMEOUT 10: seconds an unused server connection is kept
#	PGBOUNCER_SERVER_TLS_SSLMODE prefer
#	PGBOUNCER_LOG_CONNECTIONS    0: 1 logs every login and logout
#	PGBOUNCER_RUN_DIR            /tmp/pgbouncer
#	PGBOUNCER_CONFIG             a complete pgbouncer.ini to use instead; its
#	                             auth_file must be $PGBOUNCER_RUN_DIR/userlist.txt
set -eu

run=${PGBOUNCER_RUN_DIR:-/tmp/pgbouncer}
auth_user=${PGBOUNCER_AUTH_USER:-pgbouncer_auth}
: "${PGBOUNCER_AUTH_PASSWORD:?PGBOUNCER_AUTH_PASSWORD must be set (password of $auth_user)}"

umask 077
mkdir -p "$run"
# auth_file format: "user" "password", a double quote doubled.
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
printf '%s %s\n' "$(quote "$auth_user")" "$(quote "$PGBOUNCER_AUTH_PASSWORD")" >"$run/userlist.txt"

if [ -n "${PGBOUNCER_CONFIG:-}" ]; then
	exec /usr/sbin/pgbouncer "$PGBOUNCER_CONFIG"
fi

: "${PGBOUNCER_DB_HOST:?PGBOUNCER_DB_HOST must be set (the PostgreSQL host)}"
cat >"$run/pgbouncer.ini" <<EOF
[databases]
; Every database name the client asks for, on the one PostgreSQL.
* = host=$PGBOUNCER_DB_HOST port=${PGBOUNCER_DB_PORT:-5432}

[pgbouncer]
listen_addr = *
listen_port = ${PGBOUNCER_PORT:-6432}
unix_socket_dir =

auth_type = scram-sha-256
auth_file = $run/userlist.txt
auth_user = $auth_user
auth_query = SELECT usename, passwd FROM pgbouncer.get_auth(\$1)
stats_users = $auth_user

; Session pooling: each scimplane worker logs in with its own role, keeps
; its connection for the worker's life and sets its role and search_path on
; that session, so a server connection must stay with one client. The cap
; that matters is max_db_connections (all roles together); the control plane
; keeps its own per-replica budget within it.
pool_mode = session
max_db_connections = ${PGBOUNCER_MAX_DB_CONNECTIONS:-100}
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN:-5000}
default_pool_size = ${PGBOUNCER_DEFAULT_POOL_SIZE:-20}
; Per-worker roles come and go: a server connection left behind by a stopped
; worker is closed soon, so its slot under the cap is free again.
server_idle_timeout = ${PGBOUNCER_SERVER_IDLE_TIMEOUT:-10}
server_login_retry = 3
; A client waits this long for a free server connection under the cap, then
; gets an error (the control plane's budget keeps workers within the cap).
query_wait_timeout = 30
server_tls_sslmode = ${PGBOUNCER_SERVER_TLS_SSLMODE:-prefer}
; The worker sets jit=off as a startup parameter, which PgBouncer cannot
; pass on.
ignore_startup_parameters = extra_float_digits,jit

log_connections = ${PGBOUNCER_LOG_CONNECTIONS:-0}
log_disconnections = ${PGBOUNCER_LOG_CONNECTIONS:-0}
EOF
exec /usr/sbin/pgbouncer "$run/pgbouncer.ini"
