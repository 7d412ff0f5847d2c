# syntax=docker/dockerfile:1
# fleetsynth: `fleetsynth synth|diff|publish|validate|argocd`, and `serve` (the default command),
# the live service that src/constructs/platform.ts deploys. Pin the base images by digest in
# production (docker buildx imagetools inspect node:20-bookworm-slim).

# ---- build: compile TypeScript, then drop dev dependencies -------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY imports ./imports
COPY src ./src
RUN npm run build && npm prune --omit=dev

# ---- runtime -----------------------------------------------------------------------------------
FROM node:20-bookworm-slim
# serve commits and pushes with the git CLI (https or ssh remotes).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 fleetsynth \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin fleetsynth
WORKDIR /app
ENV NODE_ENV=production HOME=/tmp
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/lib ./lib
COPY bin ./bin
# The embedded default fleet (used when neither --source nor MONGO_URI is given).
COPY examples/fleet.yaml ./examples/fleet.yaml
# Non-root; the platform Deployment runs the pod as the same uid/gid with a read-only root
# filesystem, /tmp and the git work dir (/var/lib/fleetsynth) on emptyDir volumes.
USER 10001:10001
# 9477: query API; 8080: /healthz, /readyz, /metrics.
EXPOSE 9477 8080
ENTRYPOINT ["node","/app/bin/fleetsynth"]
CMD ["serve"]
