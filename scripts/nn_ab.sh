#!/bin/bash
# nn_ab.sh OLD NEW [MODEL BATCH STEPS ROUNDS] — A/B of two train_steps
# binaries (e.g. built from two commits), alternated ROUNDS times on this
# shared machine; prints every pair and the median ratio NEW/OLD.
# Not run by `make bench` (it needs two builds); see docs/engine.md.
# Wrap it in `flock /work/bench.lock` on the shared machine.
#   scripts/nn_ab.sh /tmp/old/train_steps build/bench/train_steps resnet8 128 10 8
set -euo pipefail
old=$1 new=$2 model=${3:-resnet8} batch=${4:-128} steps=${5:-10} rounds=${6:-8}
out=$(for _ in $(seq "$rounds"); do
    a=$("$old" "$model" "$batch" "$steps"); b=$("$new" "$model" "$batch" "$steps")
    echo "$a $b $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
done)
echo "$out"
echo "$out" | sort -n -k3 | awk '{ q[NR] = $3 } END {
    m = NR % 2 ? q[(NR + 1) / 2] : (q[NR / 2] + q[NR / 2 + 1]) / 2
    printf "median ratio new/old %.3f (min %.3f, max %.3f, %d rounds)\n", m, q[1], q[NR], NR }'
