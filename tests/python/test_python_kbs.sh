#!/usr/bin/env bash
# test_python_kbs.sh — secureai.kbs.get_resource (python/secureai/kbs.py) over
# the freshly built libsecureai.so against `secureai kbs serve` on loopback,
# attesting with the simulated TEE of a platform made by the test (no root).
# docs/frameworks.md, "Keys from the KBS in Python".
set -euo pipefail
: "${SAI_BINARY_DIR:?}" "${SAI_SOURCE_DIR:?}" "${SAI_CLI:?}"
export SECUREAI_LIB="$SAI_BINARY_DIR/libsecureai.so"
[ -f "$SECUREAI_LIB" ] || { echo "FAIL: $SECUREAI_LIB not built"; exit 1; }
# (as test_python.sh: python3 cannot dlopen an ASan build's library)
if nm -D "$SECUREAI_LIB" 2>/dev/null | grep ' __asan_init' >/dev/null; then
    echo "SKIP: $SECUREAI_LIB is an AddressSanitizer build"; exit 77
fi
exec /usr/bin/python3 "$SAI_SOURCE_DIR/python/tests/test_kbs.py"
