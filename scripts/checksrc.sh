#!/usr/bin/env bash
# checksrc.sh — refuse calls that have no place in code that parses untrusted
# input or handles secrets (in the spirit of curl's checksrc). Prints each hit
# as file:line and exits 1 when there is any.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok|tmpnam|mktemp|rand|srand)[[:space:]]*\('
hits=$(grep -rnE "$banned" "$root/src" "$root/include" --include='*.c' --include='*.h' \
       | grep -vE '//.*checksrc:allow|/\*.*checksrc:allow' || true)
if [ -n "$hits" ]; then
  echo "checksrc: banned calls (use snprintf, strtol with checks, sai_random_bytes, mkstemp...):"
  echo "$hits"
  exit 1
fi
echo "checksrc: clean"
