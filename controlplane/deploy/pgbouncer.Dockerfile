# A PgBouncer 1.18 image (Debian bookworm's pgbouncer package) configured from
# the environment by pgbouncer-entrypoint.sh; see that script for the
# variables, or mount a complete pgbouncer.ini and point PGBOUNCER_CONFIG at
# it. Runs as a fixed numeric non-root user and writes only under /tmp, so it
# runs with a read-only root filesystem and an emptyDir on /tmp.
#
# `make images` passes BASE_IMAGE=scimplane/pgbouncer-base:1.18-bookworm, a
# root filesystem built from Debian packages that already holds pgbouncer;
# elsewhere the default base installs it with apt. The build context is this
# folder.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN if [ ! -x /usr/sbin/pgbouncer ]; then \
      apt-get update && apt-get install -y --no-install-recommends pgbouncer && \
      rm -rf /var/lib/apt/lists/*; \
    fi
COPY pgbouncer-entrypoint.sh /usr/local/bin/pgbouncer-entrypoint.sh
USER 65532:65532
EXPOSE 6432
ENTRYPOINT ["/usr/local/bin/pgbouncer-entrypoint.sh"]
