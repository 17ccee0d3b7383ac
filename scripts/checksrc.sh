#!/usr/bin/env bash
# checksrc.sh — refuse calls that have no place in code that parses untrusted
# input or handles secrets (in the spirit of curl's checksrc), and includes
# that break the module map's layering. Prints each hit as file:line and
# exits 1 when there is any.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok|tmpnam|mktemp|rand|srand)[[:space:]]*\('
hits=$(grep -rnE "$banned" "$root/src" "$root/include" --include='*.c' --include='*.h' \
       | grep -vE '//.*checksrc:allow|/\*.*checksrc:allow' || true)
status=0
if [ -n "$hits" ]; then
  echo "checksrc: banned calls (use snprintf, strtol with checks, sai_random_bytes, mkstemp...):"
  echo "$hits"
  status=1
fi

# Layering: a module includes only the modules ARCHITECTURE.md's module map
# lists to its right (plus util and common.h, which everything may use), so no
# module includes a header of a module above it and the map has no cycle.
# Three edges the map does not list yet, both downward:
#   kbs -> tee: the KBS client's attester (attest_glue.c) asks a TEE backend
#               for evidence, as the pipeline does;
#   nn -> crypto: the checkpoint format's SHA-256 trailer (checkpoint.c).
#   pipeline -> dist: the enclave runtime of a distributed job joins the
#               ring and checks its peers' evidence (dist_glue.c).
#   pipeline -> serve: `secureai serve` launches an enclave like a run, and
#               that enclave runs the model server (serve_enclave.c); serve
#               itself knows nothing of the pipeline (it serves descriptors).
# onnx (src/onnx/, ONNX import/export) sits on nn: it reads the engine's
# graph view (secureai/nn_graph.h, part of nn) and builds nn models.
declare -A allowed=(
  [util]="" [crypto]="" [seal]="crypto" [tee]="crypto" [attest]="crypto"
  [kbs]="attest crypto seal tee" [nn]="crypto" [onnx]="nn"
  [pipeline]="crypto seal tee attest kbs nn dist serve" [dist]="crypto attest nn"
  [serve]="crypto attest kbs nn onnx seal" [sched]=""
  [cli]="crypto seal tee attest kbs nn onnx pipeline dist serve sched"
)
owner() {   # owner HEADER: the module a project header belongs to ("" = base)
  case "$1" in
    secureai/common.h|secureai/util.h|util/*) echo "" ;;
    secureai/dcap.h) echo attest ;;
    secureai/nn_graph.h) echo nn ;;
    secureai/tfrecord.h) echo nn ;;
    secureai/*) basename "$1" .h ;;
    */*) echo "${1%%/*}" ;;
    *) echo "$2" ;;   # a bare name is the including module's own
  esac
}
layer_hits=""
for dir in "$root"/src/*/; do
  mod=$(basename "$dir")
  if [ -z "${allowed[$mod]+set}" ]; then
    layer_hits+="src/$mod: not in the module map (add it to scripts/checksrc.sh)"$'\n'; continue
  fi
  while IFS=: read -r file line text; do
    hdr=$(sed -n 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$text")
    [ -n "$hdr" ] || continue
    dep=$(owner "$hdr" "$mod")
    [ -z "$dep" ] || [ "$dep" = "$mod" ] && continue
    case " ${allowed[$mod]} " in *" $dep "*) continue ;; esac
    layer_hits+="${file#"$root"/}:$line: $mod includes $hdr ($dep is not below $mod in the module map)"$'\n'
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$dir" --include='*.c' --include='*.h' || true)
done
if [ -n "$layer_hits" ]; then
  echo "checksrc: includes against the module map (ARCHITECTURE.md):"
  printf '%s' "$layer_hits"
  status=1
fi
[ $status = 0 ] && echo "checksrc: clean"
exit $status
