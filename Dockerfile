# The handover gateway. Node 24 runs the TypeScript sources directly (type stripping): no build step.
#   docker build -t handover-gateway .
#   docker run -p 127.0.0.1:8080:8080 handover-gateway             embedded PGlite demo, data in /data (this machine only:
#                                                                  its demo clients share a published secret)
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://... -e PUBLIC_URL=https://... handover-gateway
# docker-compose.yml is the production shape (TLS proxy, two instances, PostgreSQL, secrets from .env).
# Every environment variable is described in the README.

# Stage 1: production dependencies only, from the lockfile.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the runtime image: node, the production node_modules and the files the gateway reads.
FROM node:24-slim
# HOST: the gateway listens on loopback unless told otherwise; in a container that is the container's own, so
# it listens on every interface of the container and the port is published (or not) by whoever runs it.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
# .dockerignore lets in only package.json, package-lock.json, src, mappings, profiles and openapi
# (those that exist): the files the gateway reads at run time. Owned by root, so read-only to the app.
COPY --chown=root:root . .
# The embedded store (used when DATABASE_URL is not set) writes here; the app files stay read-only.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
# Liveness: /health/live answers 200 while the process serves requests. Slim images have no curl: node's fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node's options and environment as in `npm start` (see the README, "Memory"): at most two glibc malloc arenas, for V8's
# compiler threads allocate in arenas of their own that stayed resident (some 130 MB of a 430 MB peak under load).
ENV MALLOC_ARENA_MAX=2
CMD ["node", "--max-old-space-size=384", "--max-semi-space-size=32", "--liftoff-only", "src/main.ts"]
