#!/usr/bin/env bash
# test_plugin_exports.sh — the plugin libraries export their entry points and
# nothing else (no sai_ symbol, no OpenSSL or libc name that could interpose
# on the host program's): libsecureai-tf.so exactly TF_InitPlugin,
# libsecureai-preload.so exactly the libc names it interposes (the list in
# plugins/preload/exports.map). A self-check shows the comparison does catch
# an extra export.
set -euo pipefail
: "${SAI_BINARY_DIR:?}" "${SAI_SOURCE_DIR:?}"
SAI_TF_PLUGIN=$SAI_BINARY_DIR/libsecureai-tf.so
SAI_PRELOAD_LIB=$SAI_BINARY_DIR/libsecureai-preload.so
[ -f "$SAI_TF_PLUGIN" ] || { echo "FAIL: $SAI_TF_PLUGIN not built"; exit 1; }
defined() { nm -D --defined-only "$1" | awk 'NF == 3 && $2 ~ /^[TtWwDdBbVviI]$/ { sub(/@.*/, "", $3); print $3 }' | sort -u; }
check() {   # check LIB EXPECTED-LIST
    local got want
    got=$(defined "$1"); want=$(sort -u <<<"$2")
    if [ "$got" != "$want" ]; then
        echo "FAIL: $1 exports differ from the expected list:"
        diff <(echo "$want") <(echo "$got") | sed 's/^/  /'
        return 1
    fi
    echo "$(basename "$1"): $(wc -l <<<"$got") exports, as expected"
}
check "$SAI_TF_PLUGIN" "TF_InitPlugin"
if [ -f "$SAI_SOURCE_DIR/plugins/preload/exports.map" ]; then
    map=$SAI_SOURCE_DIR/plugins/preload/exports.map
    want=$(sed -n '/global:/,/local:/p' "$map" | tr ' ;' '\n\n' | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | grep -v -E '^(global|local)$')
    [ "$(wc -l <<<"$want")" -gt 20 ] || { echo "FAIL: could not read the list from $map"; exit 1; }
    check "$SAI_PRELOAD_LIB" "$want"
fi
# Self-check: an extra export is caught.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'void TF_InitPlugin(void *p) { (void)p; }\nint stray(void) { return 1; }\n' >"$tmp/x.c"
"${CC:-cc}" -shared -fPIC -o "$tmp/libx.so" "$tmp/x.c"
if check "$tmp/libx.so" "TF_InitPlugin" >/dev/null; then
    echo "FAIL: self-check: an extra export went unnoticed"; exit 1
fi
echo "plugin exports: ok"
