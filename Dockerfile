# syntax=docker/dockerfile:1
#
# The scaffolder image: one binary, every role (DESIGN.md §2). The command picks the role:
#
#   docker run IMAGE serve              API + worker pool + janitor in one process (the default)
#   docker run IMAGE api                HTTP API only, claims nothing
#   docker run IMAGE worker             claim loop; /healthcheck and /metrics on backend.listen
#   docker run IMAGE janitor --once     one sweep, then exit (a cron or scheduled task)
#   docker run IMAGE migrate            apply migrations, then exit (the release step)
#
# Configuration: /etc/scaffolder/app-config.yaml (deploy/app-config.container.yaml) listens on
# 0.0.0.0:7007, uses PostgreSQL at ${DATABASE_URL} and keeps workspaces in
# /var/lib/scaffolder/work. The working directory is /etc/scaffolder, so without --config the
# binary reads that file and, when present, /etc/scaffolder/app-config.local.yaml merged on top:
# mount your own configuration there, or pass --config FILE (repeatable), or set
# APP_CONFIG_<path> environment overrides (docs/configuration.md).
#
# Stopping: SIGTERM makes a worker stop claiming; running tasks get
# scaffolder.shutdownGracePeriod (25 s by default) to finish and are then handed back to the
# queue for another worker. The orchestrator's stop timeout must be longer than that grace period:
# `docker stop` waits only 10 s by default (use `docker stop -t 30`, `docker run --stop-timeout 30`,
# or `stop_grace_period: 30s` in Compose); ECS's stopTimeout defaults to 30 s.
#
# Build: `docker build -t scaffolder .` A clean release build (fat LTO, one codegen unit) takes
# about 20-25 minutes on 2 cores; the cache mounts below make rebuilds incremental.

# ---- build -------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# git2 builds libgit2 and OpenSSL from source (vendored), so no -dev packages are needed here and
# no libgit2 or libssl at run time: the binary needs only base-system libraries (glibc and
# friends). target/ lives in a cache mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin scaffolder -p cli \
    && install -m 0755 target/release/scaffolder /usr/local/bin/scaffolder

# ---- run ---------------------------------------------------------------------------------------
# debian:bookworm-slim rather than distroless: the binary needs glibc (same Debian release as the
# builder, so the same glibc), and the image must have git for actions that need it, which
# distroless images do not ship. No built-in action runs the git CLI today (pushes go through
# libgit2 inside the binary), but git stays available for actions that do.
# ca-certificates: the vendored OpenSSL used by libgit2 finds the system CA bundle at start-up;
# without it, pushes over HTTPS fail certificate verification.
# curl: the HEALTHCHECK below.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl git \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid/gid (10001), so volume permissions and runAsUser settings can name it.
RUN groupadd --gid 10001 scaffolder \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/scaffolder \
        --shell /usr/sbin/nologin scaffolder \
    && mkdir -p /var/lib/scaffolder/work /etc/scaffolder \
    && chown -R 10001:10001 /var/lib/scaffolder

COPY --from=builder /usr/local/bin/scaffolder /usr/local/bin/scaffolder
COPY deploy/app-config.container.yaml /etc/scaffolder/app-config.yaml

USER 10001:10001
WORKDIR /etc/scaffolder
EXPOSE 7007
STOPSIGNAL SIGTERM

# For `serve`, `api` and `worker`, which answer /healthcheck on backend.listen (port 7007 here;
# change it too if you move the port). `migrate` and `janitor` serve no HTTP: run them with
# --no-healthcheck (Compose: `healthcheck: {disable: true}`). ECS ignores this instruction and
# uses the task definition's healthCheck instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "http://127.0.0.1:7007/healthcheck"]

ENTRYPOINT ["/usr/local/bin/scaffolder"]
CMD ["serve"]
