#!/bin/sh
# Runs the whole test suite: embedded defaults, or the servers named by DATABASE_URL / REDIS_URL.
set -e
. "$(dirname "$0")/ensure-bun.sh"
exec bun test --timeout 60000 "$@"
