#!/usr/bin/env bash
# Red-team attack 2 (issue 11): a process of the launching user opens
# /proc/PID/mem of the enclave before it hardens itself and reads the
# dataset key out of it. Countermeasure: the platform runs the enclave under
# its own user from an execute-only image, so the kernel makes it
# non-dumpable from its first instruction and no other user may open its
# memory. Switch: enclave_isolation (the enclave runs as the launcher, from
# a readable image).
. "$(dirname "$0")/rt_common.sh"
rt_require_root_or_skip
RT_WEAKEN=enclave_isolation
RT_EPOCHS=1000 RT_STEPS=100000     # the run is stopped once the scan is over
. "$(dirname "$0")/rt_world.sh"
trap rt_world_stop EXIT
rt_world_start || { echo "FAIL - set-up"; exit 1; }
# The launcher owns its host process: it holds HELLO back for a few seconds,
# so the enclave waits in whatever state the platform started it in.
command -v cc >/dev/null || { echo "SKIP: no C compiler for the attacker's library"; exit 77; }
rt_attacker cc -shared -fPIC -o "$RT/atk/delay.so" "$SAI_SOURCE_DIR/tests/redteam/delay_hello.c" -ldl ||
    { echo "FAIL - cannot build the attacker's library"; exit 1; }

attack() { # attack normal|weak: run and scan concurrently, as the attacker
    local mode=$1 rc before
    before=$(pgrep -f -- "--enclave-fd" | paste -sd, -)
    rt_run_as_attacker "$mode" "$RT/atk/out-$mode" LD_PRELOAD="$RT/atk/delay.so" RT_DELAY_MS=3000 \
        >"$RT/atk/run-$mode.log" 2>&1 &
    local run=$!
    rt_attacker /usr/bin/python3 "$SAI_SOURCE_DIR/tests/redteam/scan_memory.py" "$RT_DATA_KEY" 60 "$before" | tee "$RT/atk/scan-$mode.txt"
    rc=${PIPESTATUS[0]}
    pkill -KILL -u "$RT_USER" -f -- "run --quiet --threads 1 --platform-socket $RT/$mode/" 2>/dev/null
    wait "$run" 2>/dev/null             # the launcher is gone; its enclave dies with it
    local epid
    epid=$(sed -n 's/^scan: enclave \([0-9]*\).*/\1/p; s/^scan: opened \/proc\/\([0-9]*\)\/mem/\1/p' "$RT/atk/scan-$mode.txt" | head -1)
    for _ in $(seq 100); do [ -n "$epid" ] && [ -d "/proc/$epid" ] || break; sleep 0.05; done
    [ "$rc" -eq 2 ] && { echo "  no enclave appeared:"; tail -3 "$RT/atk/run-$mode.log"; }
    return "$rc"
}

rt_expect_fail "shipped: the launcher cannot read the enclave's memory" attack normal
rt_expect_ok "weakened (enclave_isolation): the launcher reads the dataset key out of the enclave" attack weak
rt_done
