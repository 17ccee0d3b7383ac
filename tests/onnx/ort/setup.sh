#!/usr/bin/env bash
# setup.sh — install the pinned onnxruntime-node (package-lock.json) into
# ./node_modules (gitignored) with its install script skipped: the script
# only fetches GPU execution providers (which cannot download here); the CPU
# runtime (bin/napi-v6/linux/x64/libonnxruntime.so.1) ships in the npm
# tarball. Idempotent; the only network use is the npm registry. Exits 77
# (skip) when npm is missing or the registry cannot be reached.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.secureai-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "setup.sh: npm not found (scripts/install-deps.sh check installs it)" >&2; exit 77; }
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2 || {
  echo "setup.sh: npm ci failed (offline?)" >&2; exit 77; }
echo "$want" >"$stamp"
