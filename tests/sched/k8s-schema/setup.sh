#!/usr/bin/env bash
# setup.sh — install the pinned npm packages (package-lock.json) that
# validate.mjs needs into ./node_modules (gitignored). Idempotent; the only
# network use is the npm registry. Called by tests/sched/test_k8s_schema.sh.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.secureai-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "setup.sh: npm not found (scripts/install-deps.sh check installs it)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error >&2
echo "$want" >"$stamp"
