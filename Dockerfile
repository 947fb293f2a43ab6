# Enclava on its embedded defaults; set DATABASE_URL / REDIS_URL to scale out.
FROM oven/bun:1.4.4-slim
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile --production
COPY src ./src
COPY migrations ./migrations
ENV HOST=0.0.0.0 PORT=3000 DATA_DIR=/data NODE_ENV=production
RUN mkdir -p /data && chown bun:bun /data
VOLUME /data
USER bun
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD ["bun", "-e", "const r = await fetch('http://127.0.0.1:3000/health/ready'); process.exit(r.ok ? 0 : 1)"]
CMD ["bun", "src/index.ts"]
