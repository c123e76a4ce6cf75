#!/usr/bin/env bash
# Builds scimplane's images where no container registry can be reached: two
# Debian root filesystems made from Debian packages with mmdebstrap and
# imported once (reused while their tags exist), then the control-plane image
# (from bin/, so run `make build` first) and the PostgreSQL image on top.
#
#	CONTROLPLANE_IMAGE  default scimplane/controlplane:dev
#	PG_IMAGE            default scimplane/postgres:dev
#	DEBIAN_BASE         default scimplane/debian:bookworm
#	PG_BASE             default scimplane/postgres-base:15-bookworm
set -euo pipefail
cd "$(dirname "$0")/../.."

CONTROLPLANE_IMAGE=${CONTROLPLANE_IMAGE:-scimplane/controlplane:dev}
PG_IMAGE=${PG_IMAGE:-scimplane/postgres:dev}
DEBIAN_BASE=${DEBIAN_BASE:-scimplane/debian:bookworm}
PG_BASE=${PG_BASE:-scimplane/postgres-base:15-bookworm}

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
declare -A packages=([$DEBIAN_BASE]=ca-certificates,procps,tzdata [$PG_BASE]=ca-certificates,postgresql-15)
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

docker build --quiet --build-arg BASE_IMAGE="$DEBIAN_BASE" -t "$CONTROLPLANE_IMAGE" \
	-f controlplane/deploy/controlplane.Dockerfile bin
docker build --quiet --build-arg BASE_IMAGE="$PG_BASE" -t "$PG_IMAGE" \
	-f controlplane/deploy/postgres.Dockerfile controlplane/deploy
echo "images: built $CONTROLPLANE_IMAGE and $PG_IMAGE"
