# A PostgreSQL 15 image that behaves like the official postgres image for what
# scimplane uses (PGDATA, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# pg_isready, `postgres -c ...` arguments). Deployments elsewhere use the
# official image; `make images` builds this one on machines without a registry,
# with BASE_IMAGE=scimplane/postgres-base:15-bookworm, a root filesystem that
# already holds Debian's postgresql-15. The build context is this folder.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then \
      apt-get update && apt-get install -y --no-install-recommends postgresql-15 && \
      rm -rf /var/lib/apt/lists/*; \
    fi && \
    rm -rf /var/lib/postgresql/15 /etc/postgresql/15
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
