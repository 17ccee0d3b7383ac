#!/usr/bin/env bash
# test_python.sh — the secureai Python package (python/) over the freshly
# built libsecureai.so, with Debian's /usr/bin/python3 and python3-torch
# (scripts/install-deps.sh check installs both).
set -euo pipefail
: "${SAI_BINARY_DIR:?}" "${SAI_SOURCE_DIR:?}" "${SAI_CLI:?}"
export SECUREAI_LIB="$SAI_BINARY_DIR/libsecureai.so"
[ -f "$SECUREAI_LIB" ] || { echo "FAIL: $SECUREAI_LIB not built"; exit 1; }
# An ASan build's library cannot be dlopen'ed by an uninstrumented python3
# (the sanitizer runtime must come first): the package is tested in the
# normal build only.
# (grep reads all of nm's output: with pipefail, grep -q would let nm die of SIGPIPE)
if nm -D "$SECUREAI_LIB" 2>/dev/null | grep ' __asan_init' >/dev/null; then
    echo "SKIP: $SECUREAI_LIB is an AddressSanitizer build"; exit 77
fi
/usr/bin/python3 -c 'import torch' 2>/dev/null || {
    echo "FAIL: /usr/bin/python3 cannot import torch (scripts/install-deps.sh check)"; exit 1; }
export OMP_NUM_THREADS=1
exec /usr/bin/python3 "$SAI_SOURCE_DIR/python/tests/test_secureai.py"
