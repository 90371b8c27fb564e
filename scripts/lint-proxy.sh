#!/usr/bin/env bash
# `npm run lint:proxy`: deploy/Caddyfile (the reverse proxy of docker-compose.yml) is a valid Caddy configuration
# and formatted as `caddy fmt` writes it. Needs Debian's caddy (`apt-get install caddy`; .ci/run installs it).
# Validating loads every directive and adapts the whole file without starting a server or asking for a certificate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v caddy >/dev/null 2>&1; then
  echo "lint:proxy needs caddy on the PATH (Debian: apt-get install caddy)" >&2
  exit 1
fi
# The values .env gives it in production (see .env.example).
export SITE_ADDRESS=gateway.example.nl ACME_EMAIL=beheer@example.nl
caddy validate --config deploy/Caddyfile --adapter caddyfile
caddy fmt deploy/Caddyfile | diff -u deploy/Caddyfile - || {
  echo "deploy/Caddyfile is not formatted as caddy fmt writes it (caddy fmt --overwrite deploy/Caddyfile)" >&2
  exit 1
}
