#!/usr/bin/env bash
# demo.sh — `make demo`'s main job. Until the pipeline lands: seal the real
# Fashion-MNIST (Debian's dataset-fashion-mnist) into a sealed dataset,
# inspect it, unseal it and check the result is byte-identical.
#
#   scripts/demo.sh [WORKDIR]      (default: demo-out/ in the source tree)
#
# Safe to run again: the work directory is recreated each time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cli=${SAI_CLI:-$root/build/secureai}
src=${SAI_DEMO_DATA:-/usr/share/datasets/fashion-mnist}
work=${1:-$root/demo-out}

die() { echo "demo: $*" >&2; exit 1; }
[ -x "$cli" ] || die "$cli not built (run 'make build')"
[ -d "$src" ] || die "$src missing (Debian package dataset-fashion-mnist; scripts/install-deps.sh demo)"

t0=$(date +%s.%N)
rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"

echo "== 1. data owner: a fresh 256-bit data key"
"$cli" keygen --out "$work/data.key"

echo "== 2. seal $src -> $work/fashion-mnist.sealed"
"$cli" seal --key "$work/data.key" --key-id demo/fashion-mnist "$src" "$work/fashion-mnist.sealed" \
  | tee "$work/seal.txt"
id=$(sed -n 's/^dataset id: sha256://p' "$work/seal.txt")

echo "== 3. inspect (no key: what the untrusted host sees)"
"$cli" inspect "$work/fashion-mnist.sealed"

echo "== 4. inspect --key (manifest MAC verified)"
"$cli" inspect --key "$work/data.key" --json "$work/fashion-mnist.sealed" >"$work/inspect.json"
grep -q '"mac_verified":true' "$work/inspect.json" || die "manifest MAC not verified"

echo "== 5. unseal and compare"
"$cli" unseal --key "$work/data.key" "$work/fashion-mnist.sealed" "$work/fashion-mnist.out"
diff -r "$src" "$work/fashion-mnist.out" >/dev/null || die "unsealed data differs from the original"

echo "== 6. tamper with one byte of one shard: unseal must refuse"
cp -r "$work/fashion-mnist.sealed" "$work/tampered.sealed"
shard="$work/tampered.sealed/train-labels-idx1-ubyte.gz.sealed"
printf '\x00' | dd of="$shard" bs=1 seek=1000 conv=notrunc status=none
printf '\x01' | dd of="$shard" bs=1 seek=1001 conv=notrunc status=none
if "$cli" unseal --key "$work/data.key" "$work/tampered.sealed" "$work/tampered.out" 2>"$work/tamper.err"; then
  die "tampered dataset was accepted"
fi
[ ! -e "$work/tampered.out" ] || die "a failed unseal left output behind"
echo "refused as expected: $(cat "$work/tamper.err")"

t1=$(date +%s.%N)
bytes=$(find "$src" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
shards=$(ls "$work/fashion-mnist.sealed" | grep -c '\.sealed$')
echo
echo "demo: sealed Fashion-MNIST ($shards shards, $bytes bytes) under key id demo/fashion-mnist"
echo "demo: dataset id sha256:$id"
echo "demo: unsealed copy is byte-identical; a one-byte change was refused"
awk -v a="$t0" -v b="$t1" -v w="$work" 'BEGIN {printf "demo: done in %.1f s (work dir %s)\n", b - a, w}'
