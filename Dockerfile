# syntax=docker/dockerfile:1
# Multi-stage: build with the Rust toolchain, run on a slim Debian with only the binary.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY tests tests
# Cache mounts keep the registry and compiled dependencies between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin taskdash \
    && cp target/release/taskdash /usr/local/bin/taskdash

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin taskdash
COPY --from=build /usr/local/bin/taskdash /usr/local/bin/taskdash
USER taskdash
ENV TASKDASH_BIND=0.0.0.0:8080 \
    TASKDASH_LOG_FORMAT=json
# 9090: /metrics, when TASKDASH_METRICS_BIND is set to it (as in docker-compose.yml).
EXPOSE 8080 9090
HEALTHCHECK --interval=5s --timeout=2s --retries=3 \
    CMD curl -fs http://127.0.0.1:8080/health/ready >/dev/null || exit 1
# Without DATABASE_URL the binary would start a private PostgreSQL, which this image does not
# ship: set DATABASE_URL (docker-compose.yml does).
ENTRYPOINT ["taskdash"]
CMD ["serve"]
