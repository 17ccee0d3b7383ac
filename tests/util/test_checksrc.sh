#!/usr/bin/env bash
# The tree has no banned calls, and the checker does catch one.
set -euo pipefail
"$SAI_SOURCE_DIR/scripts/checksrc.sh" "$SAI_SOURCE_DIR"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/x" "$tmp/include"
printf 'void f(char *d){ strcpy(d, "x"); }\n' > "$tmp/src/x/bad.c"
if "$SAI_SOURCE_DIR/scripts/checksrc.sh" "$tmp" >/dev/null; then
  echo "checksrc missed a strcpy"; exit 1
fi
echo "1 passed, 0 failed"
