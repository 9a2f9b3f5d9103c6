# tessera in a container: built with the Rust toolchain, run on distroless as a
# non-root user. Needs the base images rust:1.95-slim-bookworm and
# gcr.io/distroless/cc-debian12:nonroot.
#
#   docker build -t tessera .
#   docker run -p 50051:50051 -p 8080:8080 -v tessera-data:/var/lib/tessera tessera
#
# The data folder (SQLite database, master key) is the volume /var/lib/tessera; with
# PostgreSQL set TESSERA_DATABASE_URL and TESSERA_MASTER_KEY instead.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The sources cargo needs to build the binary (benches and examples are declared in
# Cargo.toml, so they come too); .dockerignore keeps target/ and data/ out.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY migrations migrations
COPY src src
COPY benches benches
COPY examples examples
RUN cargo build --release --locked --bin tessera \
    && install -d -m 0700 /rootfs/var/lib/tessera

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
# The data folder, owned by the non-root user (65532) and closed to others.
COPY --from=build --chown=65532:65532 /rootfs/var/lib/tessera /var/lib/tessera
ENV TESSERA_LISTEN=0.0.0.0:50051 \
    TESSERA_HTTP_LISTEN=0.0.0.0:8080 \
    TESSERA_DATA_DIR=/var/lib/tessera \
    TESSERA_LOG_FORMAT=json
VOLUME ["/var/lib/tessera"]
# gRPC: AuthService, AdminService, Envoy's ext_authz, health, reflection.
# HTTP: JWKS, OpenID discovery, /healthz, /readyz, /metrics, forward auth.
EXPOSE 50051 8080
USER 65532:65532
# Asks /readyz (serving, and the database reachable and writable): exit 0 only on
# 200. Over HTTP, so it works the same when the gRPC listener speaks TLS; without
# the HTTP listener, drop --url to ask the gRPC health service instead.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tessera", "healthcheck", "--url", "http://127.0.0.1:8080/readyz", "--timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/tessera"]
CMD ["serve"]
