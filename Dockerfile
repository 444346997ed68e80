# syntax=docker/dockerfile:1
#
# The Cocoon agent image for a confidential VM (an Intel TDX guest): the agent bundle and the
# llama.cpp engine, nothing of the coordinator or the requester.
#
#   docker build -t cocoon-agent .
#   docker run --rm cocoon-agent --help
#   docker run -d --name cocoon-agent --gpus all --ulimit core=0 -v cocoon:/var/lib/cocoon-agent \
#     -v /sys/kernel/config:/sys/kernel/config -v /models:/models:ro cocoon-agent start
#
# --ulimit core=0: no core dumps. A crashed engine child's core holds every running job's prompt
# and answer, written to disk (the agent warns at start on tdx while they are on).
#
# Reproducible where it matters: the agent bundle (/opt/cocoon/cocoon-agent.cjs) is built by
# scripts/build-agent.ts from the committed sources and package-lock.json, with no timestamps
# or paths in it, so two builds of one commit give the same SHA-256 (test/agent-bundle.test.ts
# builds twice and compares). The build prints it and writes /opt/cocoon/manifest.json; that
# digest is what the image's allow-list entry names. For a bit-identical image too, pin the
# base by digest (--build-arg NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:…) and build with
# SOURCE_DATE_EPOCH set (BuildKit rewrites layer timestamps from it).
#
# Docker is not available on the machine this was written on: the image itself was not built
# there; the bundle it contains was (npm run build:agent).

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: the agent bundle ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
ARG SOURCE_DATE_EPOCH=0
ENV SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH} \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
    npm_config_update_notifier=false
WORKDIR /src
# Dependencies first (cached while only sources change): exactly the lockfile, no install scripts.
COPY package.json package-lock.json ./
COPY bin/ bin/
COPY stubs/ stubs/
RUN npm ci --ignore-scripts --no-audit --no-fund
# Only the sources the agent is built from.
COPY tsconfig.json ./
COPY scripts/build-agent.ts scripts/
COPY agent/ agent/
COPY api-client/ api-client/
COPY events/ events/
COPY core/ core/
# the agent reads the policy registry and signs vouchers with the vault's hashes (agent/attest.ts, agent/cli.ts)
COPY ton/ ton/
COPY contracts/ contracts/
RUN npm run build:agent && cat dist/agent/SHA256SUMS

# ---- engine: node-llama-cpp with its prebuilt llama.cpp binaries (CPU, CUDA, Vulkan) -----------
# For NVIDIA GPUs build the final stage FROM a CUDA runtime base with Node 20 on it
# (--build-arg NODE_IMAGE=<your CUDA + node 20 image>): the CUDA build of llama.cpp loads the
# CUDA runtime libraries from the system. Without them the engine falls back to CPU.
FROM ${NODE_IMAGE} AS engine
ENV NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm_config_update_notifier=false
WORKDIR /opt/cocoon
RUN npm init -y >/dev/null \
 && npm install --no-audit --no-fund --save-exact node-llama-cpp@3.21.1 \
 && rm -rf /root/.npm

# ---- the image ------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="cocoon-agent" \
      org.opencontainers.image.description="Cocoon worker agent: confidential AI inference paid in TON" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    COCOON_HOME=/var/lib/cocoon-agent \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY --from=engine /opt/cocoon/node_modules /opt/cocoon/node_modules
COPY --from=build /src/dist/agent/cocoon-agent.cjs /src/dist/agent/llama-worker.mjs /src/dist/agent/manifest.json /src/dist/agent/SHA256SUMS /opt/cocoon/
RUN groupadd --system cocoon-agent \
 && useradd --system --gid cocoon-agent --home-dir /var/lib/cocoon-agent --shell /usr/sbin/nologin cocoon-agent \
 && install -d -m 0700 -o cocoon-agent -g cocoon-agent /var/lib/cocoon-agent
USER cocoon-agent
WORKDIR /var/lib/cocoon-agent
VOLUME ["/var/lib/cocoon-agent"]
# No inbound port: the agent long-polls the coordinator. Metrics stay on the container's loopback.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/cocoon/cocoon-agent.cjs"]
CMD ["start"]
