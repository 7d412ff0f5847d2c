# syntax=docker/dockerfile:1
# fleetsynth: `fleetsynth synth|diff|publish|validate|argocd`, and `serve` (the default command),
# the live service that src/constructs/platform.ts deploys. Pin the base images by digest in
# production (docker buildx imagetools inspect node:20-bookworm-slim).

# ---- build: the npm package (prepack: a clean build), installed with the lock, without dev dependencies
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json README.md CHANGELOG.md fleetsynth.config.schema.json ./
COPY bin ./bin
COPY imports ./imports
COPY src ./src
COPY examples/fleet.yaml ./examples/fleet.yaml
# The image holds exactly what `npm pack` puts in the package (the tarball users install), and the
# dependencies the lock pins (its root lists the same dependencies as the packed package.json).
RUN npm pack --silent --pack-destination /tmp \
 && mkdir /app \
 && tar -xzf /tmp/fleetsynth-*.tgz -C /app --strip-components=1 \
 && cp package-lock.json /app/ \
 && cd /app \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && node bin/fleetsynth validate >/dev/null

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
# The package (bin/, lib/, the embedded example fleet) and its production dependencies, root-owned
# and read-only to the service user.
COPY --from=build /app ./
# Non-root; the platform Deployment runs the pod as the same uid/gid with a read-only root
# filesystem, /tmp and the git work dir (/var/lib/fleetsynth) on emptyDir volumes.
USER 10001:10001
# 9477: query API; 8080: /healthz, /readyz, /metrics.
EXPOSE 9477 8080
ENTRYPOINT ["node","/app/bin/fleetsynth"]
CMD ["serve"]
