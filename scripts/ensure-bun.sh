# Sourced by the start and test scripts: puts Bun 1.4.x on PATH, installing it from npm into ./.tools when the
# machine has none (a fresh machine needs only Node and npm), then installs the locked dependencies.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v bun >/dev/null 2>&1 || ! bun --version | grep -q '^1\.4\.'; then
  if [ ! -x "$ROOT/.tools/node_modules/.bin/bun" ]; then
    echo "enclava: installing Bun 1.4.4 from npm into .tools/" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$ROOT/.tools" bun@1.4.4 >&2
  fi
  PATH="$ROOT/.tools/node_modules/.bin:$PATH"
  export PATH
fi
cd "$ROOT"
bun install --frozen-lockfile >&2
