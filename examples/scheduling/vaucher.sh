#!/usr/bin/env bash
# vaucher.sh — the Vaucher et al. (ICDCS 2018) sweep on vaucher-icdcs18.yaml:
# the paper's binpack vs spread (vaucher-binpack, vaucher-spread) for 0/25/50/75/100% SGX jobs (93.5 MiB EPC), then the
# EPC size 32/64/128/256 MiB with 100% SGX jobs, on ONE seed and slice.
# Prints Markdown tables. One slice is an anecdote: bench/sched_vaucher.c
# repeats this over 30 seeds and slices with intervals (docs/scheduling.md).
#   SAI_CLI=build/secureai examples/scheduling/vaucher.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=${SAI_CLI:-secureai}
spec="$here/vaucher-icdcs18.yaml"
row() { "$cli" sched compare --cluster "$spec" "$@" | awk 'NR>1 {printf " %s / %s |", $3, $7}'; }
echo "| SGX jobs | binpack: mean wait (s) / makespan | spread: mean wait (s) / makespan |"
echo "| --- | --- | --- |"
for f in 0 0.25 0.5 0.75 1; do
  printf "| %s%% |%s\n" "$(awk -v f="$f" 'BEGIN{print f*100}')" "$(row --confidential "$f:sgx")"
done
echo
echo "| EPC (MiB) | binpack: mean wait (s) / makespan | spread: mean wait (s) / makespan |"
echo "| --- | --- | --- |"
for e in 32 64 128 256; do
  printf "| %s |%s\n" "$e" "$(row --confidential 1:sgx --epc "$e")"
done
