#!/bin/sh
# `npm run build`: the single binary dist/enclava (scripts/build.ts); `npm run build -- --all-targets` also builds
# for Linux arm64 and macOS arm64. Needs only Node and npm, like `npm start`.
set -e
. "$(dirname "$0")/ensure-bun.sh"
exec bun scripts/build.ts "$@"
