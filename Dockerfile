# syntax=docker/dockerfile:1
#
# ml-connector image: mlc-extractor, mlc-loader and mlc on Debian 12.
#
#   docker build -t ml-connector:0.1.0 .
#   (or let compose build it: docker compose -f compose/docker-compose.yml build)
#
# Two stages: "build" has the compiler and the -dev packages and builds the
# three programs with CMake (Release); "runtime" has only the shared libraries
# they load (checked with ldd), curl for the HEALTHCHECK and the sqlite3 shell
# for online backups (docs/operations.md). See docs/adr/0007-deployment.md.
#
# Base image pin: the exact Debian point-release tag (12.11 = the release the
# code is developed and tested on). A digest pin (debian:12.11-slim@sha256:...)
# is stronger but cannot be resolved on the offline development machines;
# release engineering adds it with
#   docker buildx imagetools inspect debian:12.11-slim
# and passes it as --build-arg DEBIAN_IMAGE=debian:12.11-slim@sha256:<digest>.
ARG DEBIAN_IMAGE=debian:12.11-slim

FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
# libcmocka-dev only because the top CMakeLists.txt requires it at configure
# time (unit tests are not built here; CI runs them).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc libc6-dev make cmake pkg-config \
      libcurl4-openssl-dev librdkafka-dev libcjson-dev libsqlite3-dev libssl-dev \
      libmicrohttpd-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target mlc-extractor mlc-loader mlc \
 && install -d /out/bin \
 && install -m 0755 -s /build/mlc-extractor /build/mlc-loader /build/mlc /out/bin/

FROM ${DEBIAN_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# Runtime libraries by soname (ldd build/mlc-loader; package names from
# apt-cache policy on Debian 12):
#   libcurl.so.4 libcurl4 | librdkafka.so.1 librdkafka1 | libcjson.so.1 libcjson1
#   libsqlite3.so.0 libsqlite3-0 | libssl.so.3 libcrypto.so.3 libssl3
#   libmicrohttpd.so.12 libmicrohttpd12
# plus ca-certificates (TLS to Sage and Pipedrive), curl (HEALTHCHECK: an
# HTTP status check of /healthz; libcurl4 is needed anyway so it costs only
# the curl binary) and sqlite3 (online .backup of the state databases).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcurl4 librdkafka1 libcjson1 libsqlite3-0 libssl3 libmicrohttpd12 \
      ca-certificates curl sqlite3 \
 && rm -rf /var/lib/apt/lists/*
# A fixed, unprivileged uid/gid so that volume and key-file ownership can be
# prepared on the host (chown 10001:10001 compose/secrets/mlc.key).
RUN groupadd --system --gid 10001 mlc \
 && useradd --system --uid 10001 --gid mlc --home-dir /var/lib/mlc --no-create-home \
      --shell /usr/sbin/nologin mlc \
 && install -d -o mlc -g mlc -m 0750 /var/lib/mlc
COPY --from=build /out/bin/ /usr/local/bin/
COPY compose/image/mlc-healthcheck compose/image/mlc-worker /usr/local/bin/
COPY schemas/ /usr/share/mlc/schemas/

LABEL org.opencontainers.image.title="ml-connector" \
      org.opencontainers.image.description="Sage 300 -> Kafka -> Pipedrive sync (mlc-extractor, mlc-loader, mlc)" \
      org.opencontainers.image.version="0.1.0"

# State (SQLite) lives in /var/lib/mlc: the default MLC_STATE_DB
# ./mlc-<program>.db is relative to this working directory.
WORKDIR /var/lib/mlc
VOLUME ["/var/lib/mlc"]
ENV MLC_LOG_FORMAT=json \
    MLC_METRICS_PORT=9464 \
    MLC_METRICS_BIND=0.0.0.0
EXPOSE 9464
USER 10001:10001

# /healthz on MLC_METRICS_PORT (200 healthy, 503 with a reason); see
# compose/image/mlc-healthcheck. start-period covers the first cycle.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/mlc-healthcheck"]

# The compose services choose the program: `mlc-extractor run` or
# `mlc-loader run`; `docker run IMAGE mlc secret keygen` runs the tool.
CMD ["mlc", "--help"]
