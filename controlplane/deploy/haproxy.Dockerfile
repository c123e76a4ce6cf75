# An HAProxy 2.6 image laid out like the public haproxy:2.6 image, so the same
# configuration and compose service run on either: the configuration is read
# from /usr/local/etc/haproxy/haproxy.cfg (mount it, as docker-compose.yml's
# scale profile does), HAProxy runs in the foreground in master-worker mode
# and SIGUSR1 stops it softly (the listeners close, running requests finish).
#
# `make images` passes BASE_IMAGE=scimplane/haproxy-base:2.6-bookworm, a root
# filesystem built from Debian packages that already holds Debian's haproxy;
# elsewhere the default base installs it with apt. The build context is
# controlplane/deploy/haproxy (the default configuration baked in).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN if [ ! -x /usr/sbin/haproxy ]; then \
      apt-get update && apt-get install -y --no-install-recommends haproxy && \
      rm -rf /var/lib/apt/lists/*; \
    fi
COPY . /usr/local/etc/haproxy/
# A fixed numeric non-root user, so Kubernetes' runAsNonRoot can verify it;
# HAProxy only reads its configuration and binds ports above 1024.
USER 65532:65532
STOPSIGNAL SIGUSR1
EXPOSE 8080
ENTRYPOINT ["/usr/sbin/haproxy", "-W", "-db"]
CMD ["-f", "/usr/local/etc/haproxy/haproxy.cfg"]
