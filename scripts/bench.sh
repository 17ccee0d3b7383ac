#!/usr/bin/env bash
# bench.sh BUILD_DIR — run every benchmark: bench/<name> programs built by
# CMake, and bench/<name>.sh scripts. Each prints its own ratio against a
# baseline measured in the same run (see docs/benchmarks.md).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
export SAI_CLI="$root/$build/secureai" SAI_BINARY_DIR="$root/$build" SAI_SOURCE_DIR="$root"
only=${BENCH_ONLY:-}
for b in "$build"/bench/* "$root"/bench/*.sh; do
  name=$(basename "$b"); name=${name%.sh}
  [ -n "$only" ] && [[ "$name" != $only ]] && continue
  echo "== bench: $name"
  case "$b" in *.sh) bash "$b" ;; *) "$b" ;; esac
done
