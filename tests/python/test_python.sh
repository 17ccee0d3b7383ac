#!/usr/bin/env bash
# test_python.sh — the secureai Python package (python/) over the freshly
# built libsecureai.so, with Debian's /usr/bin/python3 and python3-torch
# (scripts/install-deps.sh check installs both).
set -euo pipefail
: "${SAI_BINARY_DIR:?}" "${SAI_SOURCE_DIR:?}" "${SAI_CLI:?}"
export SECUREAI_LIB="$SAI_BINARY_DIR/libsecureai.so"
[ -f "$SECUREAI_LIB" ] || { echo "FAIL: $SECUREAI_LIB not built"; exit 1; }
export OMP_NUM_THREADS=1
exec /usr/bin/python3 "$SAI_SOURCE_DIR/python/tests/test_secureai.py"
