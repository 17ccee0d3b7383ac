#!/usr/bin/env bash
# platform.sh — sourced by shell tests that run enclaves: a platform service
# of the test's own (its own socket and platform directory under DIR), as
# `make demo` runs one for the machine. Needs root (the service runs as
# secureai-platform and launches enclaves as secureai-enclave); without root
# the caller skips with the reason.
#
#   sai_platform_start CLI DIR   start it; sets SAI_PLATFORM_FP (the sim ARK
#                                fingerprint) and exports SECUREAI_PLATFORM_SOCKET
#   sai_platform_stop            stop it (also from an EXIT trap)
SAI_PLATFORM_PID=
sai_platform_can_run() { [ "$(id -u)" -eq 0 ]; }

sai_platform_start() {
    local cli=$1 dir=$2 u
    for u in secureai-platform secureai-enclave; do
        id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$u" || return 1
    done
    mkdir -p "$dir" && chmod 755 "$dir" || return 1
    "$cli" platform serve --dir "$dir/platform" --socket "$dir/run/platform.sock" \
        ${SAI_PLATFORM_IMAGE:+--enclave-image "$SAI_PLATFORM_IMAGE"} >"$dir/platform.log" 2>&1 &
    SAI_PLATFORM_PID=$!
    export SECUREAI_PLATFORM_SOCKET=$dir/run/platform.sock
    for _ in $(seq 100); do
        SAI_PLATFORM_FP=$("$cli" platform info 2>/dev/null | awk '/^sim_ark_sha256/ {print $2}')
        [ -n "$SAI_PLATFORM_FP" ] && return 0
        kill -0 "$SAI_PLATFORM_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "platform service did not start:" >&2
    cat "$dir/platform.log" >&2
    return 1
}

sai_platform_stop() {
    if [ -n "$SAI_PLATFORM_PID" ]; then
        kill "$SAI_PLATFORM_PID" 2>/dev/null
        wait "$SAI_PLATFORM_PID" 2>/dev/null
        SAI_PLATFORM_PID=
    fi
}
