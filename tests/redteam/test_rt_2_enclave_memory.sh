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
RT_EPOCHS=15 RT_STEPS=120           # a few seconds of training: the key lives that long
. "$(dirname "$0")/rt_world.sh"
trap rt_world_stop EXIT
rt_world_start || { echo "FAIL - set-up"; exit 1; }

attack() { # attack normal|weak: run and scan concurrently, as the attacker
    local mode=$1 rc
    rt_run_as_attacker "$mode" "$RT/atk/out-$mode" >"$RT/atk/run-$mode.log" 2>&1 &
    local run=$!
    rt_attacker /usr/bin/python3 "$SAI_SOURCE_DIR/tests/redteam/scan_memory.py" "$RT_DATA_KEY" 60
    rc=$?
    wait "$run"
    echo "  (the run itself exited $?)"
    [ "$rc" -eq 2 ] && { echo "  no enclave appeared:"; tail -3 "$RT/atk/run-$mode.log"; }
    return "$rc"
}

rt_expect_fail "shipped: the launcher cannot read the enclave's memory" attack normal
rt_expect_ok "weakened (enclave_isolation): the launcher reads the dataset key out of the enclave" attack weak
rt_done
