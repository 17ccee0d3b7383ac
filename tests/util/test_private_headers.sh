#!/usr/bin/env bash
# test_private_headers.sh — a module's private header (src/<m>/*_int.h,
# *_internal.h) is included only by that module's own files; every other
# module goes through include/secureai/<m>.h. Fails naming each offender.
set -u
: "${SAI_SOURCE_DIR:?}"
cd "$SAI_SOURCE_DIR" || exit 1
bad=0
while IFS=: read -r file _ text; do
    mod=$(cut -d/ -f2 <<<"$file")
    hdr=$(sed -n 's/.*#include *"\([^"]*\)".*/\1/p' <<<"$text")
    case "$hdr" in
        */*) owner=${hdr%%/*} ;;
        *) owner=$mod ;;   # a bare name resolves next to the including file
    esac
    if [ "$owner" != "$mod" ]; then
        echo "FAIL: $file includes $hdr, private to src/$owner"; bad=1
    fi
done < <(grep -rn '#include *"[^"]*\(_int\|_internal\)\.h"' src/ include/)
grep -rn '#include *"[^"]*\(_int\|_internal\)\.h"' include/ && { echo "FAIL: a public header includes a private one"; bad=1; }
[ $bad = 0 ] && echo "ok - private headers stay inside their module"
exit $bad
