#!/bin/sh
# Starts Enclava on its embedded defaults (or whatever the environment configures).
set -e
. "$(dirname "$0")/ensure-bun.sh"
# The dashboard (web/, SolidJS) is built to web/dist, which the server serves at /; it takes well under a second.
NODE_ENV=production bunx vite build --config web/vite.config.ts --logLevel warn >&2
exec bun src/index.ts
