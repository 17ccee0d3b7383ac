#!/usr/bin/env bash
# test_exports.sh — libsecureai defines no global symbol outside the sai_
# namespace (public API sai_<module>_*, module-private sai_<module>__*), so
# linking it into a program cannot collide with the program's own names.
# Names starting with __ are the compiler's and the sanitizers' (reserved to
# the implementation). Fails listing each offender with its object file; a
# self-check shows the filter does catch a stray global.
set -euo pipefail
: "${SAI_LIB:?}"
strays() {   # strays FILE: "object: symbol" for every offending global
    nm -A -g --defined-only "$1" |
        awk 'NF == 3 && $3 !~ /^sai_/ && $3 !~ /^__/ {
                 sub(/:[0-9a-fA-F]*$/, "", $1); sub(/^.*\.a:/, "", $1); print $1 ": " $3 }'
}
[ -s "$SAI_LIB" ] || { echo "FAIL: $SAI_LIB missing"; exit 1; }
n=$(nm -g --defined-only "$SAI_LIB" | awk 'NF == 3 && $3 ~ /^sai_/' | wc -l)
[ "$n" -gt 100 ] || { echo "FAIL: only $n sai_ symbols in $SAI_LIB: not the library?"; exit 1; }
out=$(strays "$SAI_LIB")
if [ -n "$out" ]; then
    echo "FAIL: $(wc -l <<<"$out") globals of $SAI_LIB outside the sai_ namespace:"
    echo "$out"
    exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'int sai_ok(void);\nint sai_ok(void) { return 0; }\nint stray_helper(void);\nint stray_helper(void) { return 1; }\nstatic int quiet(void) { return 2; }\nint sai_uses(void);\nint sai_uses(void) { return quiet(); }\n' >"$tmp/x.c"
"${CC:-cc}" -c -o "$tmp/x.o" "$tmp/x.c"
ar rcs "$tmp/libx.a" "$tmp/x.o"
[ "$(strays "$tmp/libx.a")" = "x.o: stray_helper" ] || { echo "FAIL: self-check: $(strays "$tmp/libx.a")"; exit 1; }
echo "exports: $n sai_ globals, no others"
