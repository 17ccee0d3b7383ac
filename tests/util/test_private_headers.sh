#!/usr/bin/env bash
# test_private_headers.sh — a module's private header (src/<m>/*_int.h,
# *_internal.h) is included only by that module's own files; every other
# module goes through include/secureai/<m>.h. Fails naming each offender.
# Also: private headers and the functions they declare follow one naming
# dialect (below).
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
# One dialect (README.md, "Layout"): a private header is
# src/<m>/<name>_internal.h, and a function it declares for other files of
# the module is sai_<m>__<name> (dcap, a part of attest: sai_dcap__).
for h in src/*/*_int.h; do
    [ -e "$h" ] || continue
    mod=$(cut -d/ -f2 <<<"$h")
    echo "FAIL: $h: private headers are named *_internal.h"; bad=1
done
for h in src/*/*_internal.h; do
    mod=$(cut -d/ -f2 <<<"$h")
    base=$(basename "$h" _internal.h)
    prefix="sai_${mod}__"
    [ "$base" = dcap ] && prefix="sai_dcap__"
    for f in $(grep -hoE '^[a-z][a-zA-Z0-9_ *]*[ *]sai_[a-z0-9_]+\(' "$h" | grep -v '^static' |
               grep -oE 'sai_[a-z0-9_]+\($' | tr -d '('); do
        case "$f" in "$prefix"*) ;; *) echo "FAIL: $h declares $f: module-private functions are $prefix*"; bad=1 ;; esac
    done
done
[ $bad = 0 ] && echo "ok - private headers stay inside their module and follow one naming dialect"
exit $bad
