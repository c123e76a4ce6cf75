#!/usr/bin/env bash
# Builds scimplane's images where no container registry can be reached: four
# Debian root filesystems made from Debian packages with mmdebstrap and
# imported once (reused while their tags exist), then on top of them, side by
# side, the control-plane image (from bin/, so run `make build` first), the
# PostgreSQL image, and the HAProxy and PgBouncer images of docker-compose.yml's
# scale profile. A second run rebuilds nothing that has not changed.
#
#	CONTROLPLANE_IMAGE  default scimplane/controlplane:dev
#	PG_IMAGE            default scimplane/postgres:dev
#	HAPROXY_IMAGE       default scimplane/haproxy:dev
#	PGBOUNCER_IMAGE     default scimplane/pgbouncer:dev
#	DEBIAN_BASE         default scimplane/debian:bookworm
#	PG_BASE             default scimplane/postgres-base:15-bookworm
#	HAPROXY_BASE        default scimplane/haproxy-base:2.6-bookworm
#	PGBOUNCER_BASE      default scimplane/pgbouncer-base:1.18-bookworm
set -euo pipefail
cd "$(dirname "$0")/../.."

CONTROLPLANE_IMAGE=${CONTROLPLANE_IMAGE:-scimplane/controlplane:dev}
PG_IMAGE=${PG_IMAGE:-scimplane/postgres:dev}
DEBIAN_BASE=${DEBIAN_BASE:-scimplane/debian:bookworm}
PG_BASE=${PG_BASE:-scimplane/postgres-base:15-bookworm}
HAPROXY_IMAGE=${HAPROXY_IMAGE:-scimplane/haproxy:dev}
PGBOUNCER_IMAGE=${PGBOUNCER_IMAGE:-scimplane/pgbouncer:dev}
HAPROXY_BASE=${HAPROXY_BASE:-scimplane/haproxy-base:2.6-bookworm}
PGBOUNCER_BASE=${PGBOUNCER_BASE:-scimplane/pgbouncer-base:1.18-bookworm}

# rootfs TAG PACKAGES imports a minbase bookworm with PACKAGES as TAG.
rootfs() {
	local sources=/etc/apt/sources.list.d/debian.sources
	[ -f "$sources" ] || sources=/etc/apt/sources.list
	local tarball
	tarball=$(mktemp /tmp/scimplane-rootfs.XXXXXX.tar)
	trap 'rm -f "$tarball"' RETURN
	echo "images: building $1 from Debian packages ($2)"
	mmdebstrap --quiet --variant=minbase --include="$2" bookworm "$tarball" "$sources" </dev/null
	docker import "$tarball" "$1" >/dev/null
}

# Build the missing root filesystems side by side.
declare -A packages=(
	[$DEBIAN_BASE]=ca-certificates,procps,tzdata
	[$PG_BASE]=ca-certificates,postgresql-15
	[$HAPROXY_BASE]=ca-certificates,haproxy
	[$PGBOUNCER_BASE]=ca-certificates,pgbouncer
)
pids=()
for tag in "${!packages[@]}"; do
	if docker image inspect "$tag" >/dev/null 2>&1; then
		echo "images: reusing $tag"
		continue
	fi
	if ! command -v mmdebstrap >/dev/null; then
		apt-get update -qq && apt-get install -y -qq mmdebstrap >/dev/null
	fi
	rootfs "$tag" "${packages[$tag]}" &
	pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do
	wait "$pid" || failed=1
done
[ "$failed" = 0 ] || { echo "images: building a root filesystem failed" >&2; exit 1; }

# build BASE TAG DOCKERFILE CONTEXT; the layer cache makes a repeat a no-op.
build() {
	docker build --quiet --build-arg BASE_IMAGE="$1" -t "$2" -f "controlplane/deploy/$3" "$4" >/dev/null
	echo "images: built $2"
}
# bin/ also holds tools (make chart's helm): send docker only the binaries.
printf '*\n!controlplane\n!worker\n' >bin/.dockerignore
pids=()
build "$DEBIAN_BASE" "$CONTROLPLANE_IMAGE" controlplane.Dockerfile bin &
pids+=($!)
build "$PG_BASE" "$PG_IMAGE" postgres.Dockerfile controlplane/deploy &
pids+=($!)
build "$HAPROXY_BASE" "$HAPROXY_IMAGE" haproxy.Dockerfile controlplane/deploy/haproxy &
pids+=($!)
build "$PGBOUNCER_BASE" "$PGBOUNCER_IMAGE" pgbouncer.Dockerfile controlplane/deploy &
pids+=($!)
for pid in "${pids[@]}"; do
	wait "$pid" || failed=1
done
[ "$failed" = 0 ] || { echo "images: building an image failed" >&2; exit 1; }
