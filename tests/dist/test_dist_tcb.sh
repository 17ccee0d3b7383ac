#!/usr/bin/env bash
# test_dist_tcb.sh — libmpi is outside the enclave's TCB (docs/distributed.md,
# "MPI stays on the host"): neither `secureai` (whose image the platform
# measures and launches as the enclave) nor libsecureai needs libmpi; only
# the host-side relay plugin libsecureai-mpi.so does, and the check below
# is shown able to fail on it.
set -euo pipefail
: "${SAI_CLI:?}" "${SAI_LIB:?}"
mpi_deps() { ldd "$1" | grep -Ei 'lib(mpi|open-pal|open-rte|pmix)' || true; }
bad=$(mpi_deps "$SAI_CLI")
[ -z "$bad" ] || { echo "FAIL: $SAI_CLI loads MPI: $bad"; exit 1; }
if nm -u "$SAI_LIB" 2>/dev/null | grep -E ' (P?MPI_|ompi_)' >/dev/null; then
    echo "FAIL: $SAI_LIB references MPI symbols:"; nm -u "$SAI_LIB" | grep -E ' (P?MPI_|ompi_)' | head; exit 1
fi
if [ -n "${SAI_MPI_RELAY:-}" ]; then
    [ -f "$SAI_MPI_RELAY" ] || { echo "FAIL: $SAI_MPI_RELAY was not built"; exit 1; }
    [ -n "$(mpi_deps "$SAI_MPI_RELAY")" ] || { echo "FAIL: self-check: no libmpi seen in the relay plugin"; exit 1; }
    # the plugin sits next to the program, where the host looks for it
    [ "$(dirname "$SAI_MPI_RELAY")" = "$(dirname "$SAI_CLI")" ] || { echo "FAIL: plugin not next to secureai"; exit 1; }
    echo "ok - secureai and libsecureai have no MPI; only $(basename "$SAI_MPI_RELAY") (host side) links it"
else
    echo "ok - secureai and libsecureai have no MPI (this build has no MPI relay)"
fi
