#!/usr/bin/env bash
# npm_ci.sh DIR [NPM-CI-OPTION...] — install the npm packages pinned by
# DIR/package-lock.json into DIR/node_modules (gitignored), once per lock
# file (a stamp holds its SHA-256). The only network use is the npm
# registry. Exits 1 when npm is missing or `npm ci` fails.
set -euo pipefail
cd "$1"
shift
stamp=node_modules/.secureai-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm_ci.sh: npm not found (scripts/install-deps.sh check installs it)" >&2; exit 1; }
npm ci "$@" --no-audit --no-fund --loglevel=error >&2 || { echo "npm_ci.sh: npm ci failed in $PWD" >&2; exit 1; }
echo "$want" >"$stamp"
