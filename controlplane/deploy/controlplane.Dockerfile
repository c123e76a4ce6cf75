# The control-plane image: bin/controlplane and the bin/worker it starts for
# each tenant, both static (CGO_ENABLED=0, from `make build`), on a Debian base.
# The build context is bin/:
#
#	docker build -f controlplane/deploy/controlplane.Dockerfile bin
#
# `make images` passes BASE_IMAGE=scimplane/debian:bookworm, a root
# filesystem built from Debian packages on machines without a registry.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY controlplane worker /usr/local/bin/
RUN mkdir -p /var/lib/scimplane && chown 65532:65532 /var/lib/scimplane
ENV SCIMPLANE_ADDR=0.0.0.0:8080 \
    SCIMPLANE_DATA_DIR=/var/lib/scimplane \
    SCIMPLANE_WORKER_BIN=/usr/local/bin/worker
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/controlplane"]
