#!/usr/bin/env bash
# The tree has no banned calls and no include against the module map's
# layering, and the checker does catch each kind.
set -euo pipefail
"$SAI_SOURCE_DIR/scripts/checksrc.sh" "$SAI_SOURCE_DIR"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/util" "$tmp/include"
printf 'void f(char *d){ strcpy(d, "x"); }\n' > "$tmp/src/util/bad.c"
if out=$("$SAI_SOURCE_DIR/scripts/checksrc.sh" "$tmp"); then
  echo "checksrc missed a strcpy"; exit 1
fi
grep -q "src/util/bad.c:1:" <<<"$out" || { echo "checksrc: no strcpy hit: $out"; exit 1; }
rm "$tmp/src/util/bad.c"
"$SAI_SOURCE_DIR/scripts/checksrc.sh" "$tmp" >/dev/null || { echo "checksrc: an empty tree fails"; exit 1; }
# upward (nn -> pipeline), sideways against the map (tee -> attest: the cycle
# that was broken), and a private header named by path (sched -> kbs/)
n=0
for case in "nn:secureai/pipeline.h" "tee:secureai/attest.h" "sched:kbs/kbs_internal.h" "crypto:secureai/dcap.h"; do
  mod=${case%%:*} hdr=${case#*:}
  mkdir -p "$tmp/src/$mod"
  printf '#include "%s"\n' "$hdr" > "$tmp/src/$mod/up.c"
  if out=$("$SAI_SOURCE_DIR/scripts/checksrc.sh" "$tmp"); then
    echo "checksrc missed $mod including $hdr"; exit 1
  fi
  grep -q "src/$mod/up.c:1: $mod includes $hdr" <<<"$out" || { echo "checksrc: $out"; exit 1; }
  rm "$tmp/src/$mod/up.c"; n=$((n + 1))
done
# allowed: downward along the map, the module's own private header, util
mkdir -p "$tmp/src/pipeline"
printf '#include "secureai/nn.h"\n#include "pipeline/pipeline_internal.h"\n#include "util/weaken.h"\n' \
  > "$tmp/src/pipeline/ok.c"
"$SAI_SOURCE_DIR/scripts/checksrc.sh" "$tmp" >/dev/null || { echo "checksrc refused a downward include"; exit 1; }
echo "$((n + 3)) passed, 0 failed"
