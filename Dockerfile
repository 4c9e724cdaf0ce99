# syntax=docker/dockerfile:1
#
# Codex-32 platform image: one image, three roles.
#   API (default):  node dist/bin/api.js
#   worker:         node dist/bin/worker.js
#   migrations:     node dist/bin/migrate.js latest     (also: up, down)
#
#   docker build -t codex32:dev .
#
# Install scripts: package.json's `allowScripts` denies every dependency install
# script in the lockfile (koffi, ffi-napi, ref-napi, @swc/core, core-js,
# protobufjs, @scarf/scarf), but only npm 11 reads that field. The npm bundled
# with node:20 is npm 10, which would run them all (and fail building ffi-napi
# without a compiler). `npm ci --ignore-scripts` does exactly what the policy
# does, with any npm: the native pieces come prebuilt in platform packages
# (@koromix/koffi-*, @swc/core-*, @node-rs/argon2-*, @temporalio/core-bridge).

ARG NODE_IMAGE=node:20-bookworm-slim

# --- npm settings shared by both install stages (no update check, fund or audit) -
FROM ${NODE_IMAGE} AS npm
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# --- build: all dependencies, TypeScript compile, pre-bundled workflows -------
FROM npm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts
COPY . .
# tsc into dist/ (migrations are compiled in: dist/migrations, imported by
# dist/registry/migrate.js), then dist/workflow-bundle.js for the worker.
RUN npm run build \
 && test -f dist/bin/api.js \
 && test -f dist/bin/worker.js \
 && test -f dist/bin/migrate.js \
 && test -f dist/workflow-bundle.js

# --- prod-deps: runtime dependencies only ------------------------------------
FROM npm AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts

# --- runtime -----------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ARG APP_UID=10001
ARG APP_GID=10001

# libpocketsphinx3 (+ libsphinxbase3) and pocketsphinx-en-us: speech-to-text for
# voice commands (conversation/stt/pocketsphinx.ts loads libpocketsphinx.so.3 and
# /usr/share/pocketsphinx/model/en-us). python3: Python bots such as
# bots/analytics_bot.py under BOT_RUNTIME=local. tini: PID 1 that forwards
# signals and reaps orphaned bot processes.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpocketsphinx3 pocketsphinx-en-us python3 tini \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid "${APP_GID}" codex32 \
 && useradd --system --uid "${APP_UID}" --gid "${APP_GID}" --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin codex32

WORKDIR /app

# Code and dependencies belong to root (read-only for the app user); only
# DATA_DIR and LOGS_DIR are the app's. package.json marks dist/ as ES modules
# and is how the code finds its root (lib/project-root.ts).
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json package-lock.json ./
COPY bots ./bots
# `codex32` (the CLI) on the PATH: a pipeline can run the image to deploy.
RUN mkdir -p /app/.data /app/logs/bots /app/.artifacts \
 && chown -R "${APP_UID}:${APP_GID}" /app/.data /app/logs /app/.artifacts \
 && printf '#!/bin/sh\nexec node /app/dist/bin/codex32.js "$@"\n' > /usr/local/bin/codex32 \
 && chmod 755 /usr/local/bin/codex32

# Container defaults (names from lib/config.ts); everything else comes from the
# environment at run time (DATABASE_URL, TEMPORAL_ADDRESS, API_SECRET_KEY, ...).
ENV NODE_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=8000 \
    BOTS_DIR=/app/bots \
    DATA_DIR=/app/.data \
    LOGS_DIR=/app/logs \
    ARTIFACTS_DIR=/app/.artifacts

USER ${APP_UID}:${APP_GID}
EXPOSE 8000

# No HEALTHCHECK here: the same image runs the worker and the migrations, which
# serve no API. docker-compose.yml and the Kubernetes probes check each role.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/bin/api.js"]
