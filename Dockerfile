# Enclava as one self-contained binary (npm run build -> dist/enclava) in a small image. The binary carries the
# server, the dashboard, the shipped plugins, the embedded PostgreSQL and the plugin sandbox's Node; it unpacks
# what it needs into DATA_DIR on first start. Embedded defaults out of the box; DATABASE_URL / REDIS_URL /
# QDRANT_URL scale it out (deploy/compose.yaml).

# ---- build: Node and npm only, as on a developer's machine (the build installs Bun from npm)
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY migrations ./migrations
COPY sandbox ./sandbox
COPY plugins ./plugins
COPY web ./web
RUN npm run build

# ---- run: glibc and libstdc++ (for the unpacked Node of the plugin sandbox), nothing else
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin enclava \
  && mkdir -p /data && chown enclava:enclava /data
COPY --from=build /src/dist/enclava /usr/local/bin/enclava
ENV HOST=0.0.0.0 PORT=3000 DATA_DIR=/data
VOLUME /data
USER enclava
WORKDIR /data
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD ["/usr/local/bin/enclava", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/enclava"]
