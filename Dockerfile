# syntax=docker/dockerfile:1
#
# Container image for ado-temporal-bridge.
#
#   docker build -t ado-temporal-bridge:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#
# The image runs as the numeric non-root user 65532, works with a read-only
# root filesystem and writes only to /var/lib/ado-temporal-bridge (dataDir,
# the durable spool). It ships the example mapping rules from mappings/ as
# the default rule set in /etc/ado-temporal-bridge/rules; the configuration
# file /etc/ado-temporal-bridge/config.yaml is NOT in the image: mount it
# (the Helm chart renders it into a ConfigMap).
#
# There is deliberately no HEALTHCHECK: the bridge runs on Kubernetes, whose
# liveness (/healthz), readiness (/readyz) and startup probes take its place
# (see helm/ado-temporal-bridge).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# ---------------------------------------------------------------- builder ---
FROM ${RUST_IMAGE} AS builder

ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_TARGET_DIR=/build/target
WORKDIR /build

# 1) Dependencies only: this layer is reused until Cargo.toml or Cargo.lock
#    (or the build script) changes.
COPY Cargo.toml Cargo.lock ./
# Build settings for the bundled SQLite (it syncs with fdatasync).
COPY .cargo/config.toml .cargo/config.toml
COPY scripts/build-release scripts/build-release
RUN scripts/build-release --deps-only

# 2) The crate itself.
COPY src/ src/
COPY handlers/ handlers/
RUN scripts/build-release /out/ado-temporal-bridge \
    && mkdir -p /out/data

# ---------------------------------------------------------------- runtime ---
FROM ${RUNTIME_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
ARG RUNTIME_IMAGE
LABEL org.opencontainers.image.title="ado-temporal-bridge" \
      org.opencontainers.image.description="Azure DevOps service hooks in, Temporal workflow starts and signals out." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

COPY --from=builder /out/ado-temporal-bridge /usr/local/bin/ado-temporal-bridge
# Default mapping rules (config: mappings: [/etc/ado-temporal-bridge/rules]).
COPY mappings/ /etc/ado-temporal-bridge/rules/
# dataDir, owned by the runtime user so a fresh volume inherits the owner.
COPY --from=builder --chown=65532:65532 /out/data /var/lib/ado-temporal-bridge

USER 65532:65532
VOLUME ["/var/lib/ado-temporal-bridge"]
# 8080: webhooks, /healthz, /readyz.  9090: admin API, /healthz, /readyz (adminListen).
EXPOSE 8080 9090

ENTRYPOINT ["/usr/local/bin/ado-temporal-bridge"]
CMD ["serve", "--config", "/etc/ado-temporal-bridge/config.yaml"]
