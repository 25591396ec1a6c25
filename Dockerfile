# qail-proxy container image: Debian bookworm build stage, slim non-root runtime stage.
#
#   docker build -t qail-proxy .
#   docker build --build-arg QAIL_IO_URING=ON -t qail-proxy:uring .
#   docker run --rm -p 6432:6432 -p 9187:9187 --stop-timeout 45 \
#     -v "$PWD/qail-proxy.yaml:/etc/qail-proxy/qail-proxy.yaml:ro" \
#     -e APP_DB_PASSWORD -e JWT_SECRET -e ADMIN_TOKEN qail-proxy
#
# The config is a mounted file (listeners on 0.0.0.0, admin on port 9187 for the
# HEALTHCHECK); secrets come from the environment through ${VAR} references in it.
# The build steps are those of scripts/setup (packages) and scripts/demo (cmake), which
# tests/deploy/check-deploy keeps in step.

############################################################################ build
FROM debian:bookworm AS build

# The build dependencies from scripts/setup's APT_PACKAGES (no test-only packages).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config g++ \
      libboost1.81-all-dev libssl-dev liburing-dev libspdlog-dev libyaml-cpp-dev \
      prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# RelWithDebInfo (-O2) is the build type scripts/ build and test (CMake's default here);
# strip drops the debug info. (Release, -O3, trips a GCC 12 -Werror=restrict false positive.)
ARG QAIL_IO_URING=OFF
RUN cmake -S . -B build -G Ninja -DQAIL_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DQAIL_IO_URING="${QAIL_IO_URING}" \
 && cmake --build build --target qail-proxy -j "$(nproc)" \
 && install -D -m 0755 build/daemon/qail-proxy /out/usr/bin/qail-proxy \
 && strip --strip-unneeded /out/usr/bin/qail-proxy \
 && /out/usr/bin/qail-proxy --version

########################################################################## runtime
FROM debian:bookworm-slim AS runtime

# Shared libraries of the binary (ldd: libssl3, libyaml-cpp0.7, libspdlog1.10, libfmt9,
# libprometheus-cpp-core1.0; liburing2 for the io_uring build), CA certificates for
# backend TLS, curl for the HEALTHCHECK.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libssl3 libyaml-cpp0.7 libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 liburing2 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 qail-proxy \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin qail-proxy \
 && mkdir -p /etc/qail-proxy /run/qail-proxy \
 && chown 10001:10001 /run/qail-proxy

COPY --from=build /out/usr/bin/qail-proxy /usr/bin/qail-proxy
COPY config/qail-proxy.yaml config/README.md /usr/share/doc/qail-proxy/

LABEL org.opencontainers.image.title="qail-proxy" \
      org.opencontainers.image.description="PostgreSQL connection-pooling proxy with a JSON AST API" \
      org.opencontainers.image.documentation="docs/deploy.md"

# Numeric, so Kubernetes can check runAsNonRoot.
USER 10001:10001

# PostgreSQL wire, HTTP API, admin (/metrics /healthz /readyz).
EXPOSE 6432 8080 9187

# SIGTERM drains for up to limits.shutdown_timeout_ms (30 s by default): give the container
# a longer stop timeout (docker run --stop-timeout 45, compose stop_grace_period: 45s).
STOPSIGNAL SIGTERM

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9187/healthz"]

ENTRYPOINT ["/usr/bin/qail-proxy"]
CMD ["--config", "/etc/qail-proxy/qail-proxy.yaml"]
