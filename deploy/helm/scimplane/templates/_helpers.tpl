{{/* Chart name, overridable. */}}
{{- define "scimplane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: release-chart unless the release already holds it. */}}
{{- define "scimplane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "scimplane.pgbouncer.fullname" -}}
{{- printf "%s-pgbouncer" (include "scimplane.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "scimplane.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object, beside its selector labels. */}}
{{- define "scimplane.commonLabels" -}}
helm.sh/chart: {{ include "scimplane.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scimplane
{{- end }}

{{- define "scimplane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scimplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controlplane
{{- end }}

{{- define "scimplane.labels" -}}
{{ include "scimplane.commonLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
{{ include "scimplane.selectorLabels" . }}
{{- end }}

{{- define "scimplane.pgbouncer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scimplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: pgbouncer
{{- end }}

{{- define "scimplane.pgbouncer.labels" -}}
{{ include "scimplane.commonLabels" . }}
app.kubernetes.io/version: {{ .Values.pgbouncer.image.tag | quote }}
{{ include "scimplane.pgbouncer.selectorLabels" . }}
{{- end }}

{{- define "scimplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scimplane.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The most control-plane pods there can be: the connection budget is
     shared by that many. */}}
{{- define "scimplane.maxReplicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- max (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas) }}
{{- else }}
{{- int .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* SCIMPLANE_DB_CONNECTIONS: this pod's share of the cluster cap. */}}
{{- define "scimplane.dbConnections" -}}
{{- if gt (int .Values.dbConnections.perReplica) 0 }}
{{- int .Values.dbConnections.perReplica }}
{{- else }}
{{- $reserved := int .Values.dbConnections.reserved }}
{{- if .Values.pgbouncer.enabled }}
{{- $reserved = mul $reserved (int .Values.pgbouncer.replicaCount) }}
{{- end }}
{{- $share := div (sub (int .Values.dbConnections.clusterCap) $reserved) (int (include "scimplane.maxReplicas" .)) }}
{{- if lt (int $share) (int .Values.config.workerConns) }}
{{- fail (printf "dbConnections: clusterCap %d less %d reserved, shared by up to %s pods, leaves %d connections per pod, fewer than one worker's %d (config.workerConns): raise clusterCap or lower the pod count" (int .Values.dbConnections.clusterCap) $reserved (include "scimplane.maxReplicas" .) (int $share) (int .Values.config.workerConns)) }}
{{- end }}
{{- $share }}
{{- end }}
{{- end }}

{{/* PgBouncer's max_db_connections per pod. */}}
{{- define "scimplane.pgbouncer.maxDbConnections" -}}
{{- div (int .Values.dbConnections.clusterCap) (max 1 (int .Values.pgbouncer.replicaCount)) }}
{{- end }}

{{/* SCIMPLANE_WORKER_DATABASE_URL, or empty. */}}
{{- define "scimplane.workerDatabaseURL" -}}
{{- if .Values.config.workerDatabaseURL }}
{{- .Values.config.workerDatabaseURL }}
{{- else if .Values.pgbouncer.enabled }}
{{- /* In-cluster and limited to the control-plane pods by the NetworkPolicy;
       PgBouncer's client side has no TLS configured. */ -}}
{{- printf "postgres://%s:6432/%s?sslmode=disable" (include "scimplane.pgbouncer.fullname" .) .Values.pgbouncer.databaseName }}
{{- end }}
{{- end }}

{{- /* The control plane refuses to start with a delay past half the grace:
       the rest finishes requests and stops workers. */ -}}
{{- define "scimplane.shutdownDelaySeconds" -}}
{{- $delay := int .Values.config.shutdownDelaySeconds }}
{{- if or (lt $delay 0) (gt (mul $delay 2) (int .Values.config.shutdownGraceSeconds)) }}
{{- fail (printf "config.shutdownDelaySeconds (%d) must be between 0 and half of config.shutdownGraceSeconds (%d)" $delay (int .Values.config.shutdownGraceSeconds)) }}
{{- end }}
{{- $delay }}
{{- end }}

{{- define "scimplane.terminationGracePeriodSeconds" -}}
{{- $min := add (int .Values.config.shutdownGraceSeconds) (int .Values.lifecycle.preStopSleepSeconds) }}
{{- if .Values.terminationGracePeriodSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) $min }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed config.shutdownGraceSeconds + lifecycle.preStopSleepSeconds (%d), or pods are killed while draining" (int .Values.terminationGracePeriodSeconds) $min) }}
{{- end }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- add $min 15 }}
{{- end }}
{{- end }}

{{- define "scimplane.publicURL" -}}
{{- if .Values.config.publicURL }}
{{- .Values.config.publicURL | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "https://%s" (first .Values.ingress.hosts) }}
{{- else }}
{{- fail "config.publicURL is required when the ingress is disabled: it is the base of the Tenant URLs given to Entra" }}
{{- end }}
{{- end }}

{{/* pgbouncer.ini for the chart's PgBouncer. */}}
{{- define "scimplane.pgbouncer.ini" -}}
{{- $pgb := .Values.pgbouncer -}}
[databases]
; Every database name a client asks for, on the one PostgreSQL.
* = host={{ $pgb.postgres.host }} port={{ $pgb.postgres.port }}

[pgbouncer]
listen_addr = *
listen_port = 6432
unix_socket_dir =

; Workers log in with per-worker roles the control plane creates as it goes:
; PgBouncer looks each up with auth_query (pgbouncer.get_auth, a SECURITY
; DEFINER function created once by pgbouncer-auth.sql) and logs it in to
; PostgreSQL with SCRAM pass-through. auth_file holds only auth_user.
auth_type = scram-sha-256
auth_file = /tmp/pgbouncer/userlist.txt
auth_user = {{ $pgb.authUser }}
auth_query = SELECT usename, passwd FROM pgbouncer.get_auth($1)
stats_users = {{ $pgb.authUser }}

; Session pooling: each worker keeps its connections for its life and sets
; its role and search_path on the session, so a server connection stays with
; one client. max_db_connections is this pod's part of the cluster-wide cap
; (dbConnections.clusterCap); the control plane's per-pod budget
; (SCIMPLANE_DB_CONNECTIONS) keeps the workers within it.
pool_mode = session
max_db_connections = {{ include "scimplane.pgbouncer.maxDbConnections" . }}
max_client_conn = {{ $pgb.maxClientConn }}
default_pool_size = {{ $pgb.defaultPoolSize }}
server_idle_timeout = {{ $pgb.serverIdleTimeout }}
query_wait_timeout = {{ $pgb.queryWaitTimeout }}
server_login_retry = 3
server_tls_sslmode = {{ $pgb.postgres.sslmode }}
; The worker sets jit=off as a startup parameter, which PgBouncer cannot
; pass on.
ignore_startup_parameters = extra_float_digits,jit

log_connections = 0
log_disconnections = 0
{{- end }}
