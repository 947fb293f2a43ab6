#!/bin/sh
# Starts Enclava on its embedded defaults (or whatever the environment configures).
set -e
. "$(dirname "$0")/ensure-bun.sh"
exec bun src/index.ts
