#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS — run every libFuzzer target in BUILD_DIR for
# SECONDS each, seeded from fuzz/corpus/<target>/ when present. Fails on the
# first crash, leak or timeout (the reproducer is left in BUILD_DIR/fuzz-out).
set -euo pipefail
build=${1:?build dir}; secs=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$build/fuzz-out"; mkdir -p "$out"
shopt -s nullglob
targets=("$build"/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then echo "fuzz.sh: no fuzz targets built" >&2; exit 1; fi
for t in "${targets[@]}"; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  corpus="$out/corpus-$name"; mkdir -p "$corpus"
  seeds=()
  [ -d "$root/fuzz/corpus/$name" ] && seeds+=("$root/fuzz/corpus/$name")
  echo "fuzz: $name for ${secs}s"
  SAI_TEST_DATA_DIR="$root/tests/data" "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/$name-" -print_final_stats=0 "$corpus" "${seeds[@]}" \
    >"$out/$name.log" 2>&1 || { echo "fuzz: $name FAILED"; tail -40 "$out/$name.log"; exit 1; }
  grep -E "^#[0-9]+.*DONE" "$out/$name.log" | tail -1 || true
done
echo "fuzz: all targets ran clean"
