#!/bin/sh
# Runs the whole test suite: embedded defaults, or the servers named by DATABASE_URL / REDIS_URL.
# When it fails, the failed tests are printed again at the end with their errors (scripts/failures.awk): a run prints
# thousands of lines, and a log cut to its tail otherwise keeps only their names.
set -e
. "$(dirname "$0")/ensure-bun.sh"
log=$(mktemp)
trap 'rm -f "$log" "$log.rc"' EXIT
{ rc=0; bun test --timeout 60000 "$@" 2>&1 || rc=$?; echo "$rc" > "$log.rc"; } | tee "$log"
rc=$(cat "$log.rc")
[ "$rc" = 0 ] || awk -f "$ROOT/scripts/failures.awk" "$log"
exit "$rc"
