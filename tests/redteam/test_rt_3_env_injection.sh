#!/usr/bin/env bash
# Red-team attack 3 (issue 11): the launcher injects code into the enclave
# without changing its measurement, through the environment (LD_PRELOAD; the
# same channel carried OPENSSL_CONF). Countermeasure: the platform starts the
# enclave with a fixed environment of its own (nothing of the launcher's)
# and OpenSSL reads no configuration. Switch: enclave_env (the platform
# passes the launcher's environment on, as `secureai run` did before).
. "$(dirname "$0")/rt_common.sh"
rt_require_root_or_skip
RT_WEAKEN=enclave_env
. "$(dirname "$0")/rt_world.sh"
trap rt_world_stop EXIT
rt_world_start || { echo "FAIL - set-up"; exit 1; }
command -v cc >/dev/null || { echo "SKIP: no C compiler for the attacker's library"; exit 77; }
rt_attacker cc -shared -fPIC -o "$RT/atk/evil.so" "$SAI_SOURCE_DIR/tests/redteam/evil_preload.c" ||
    { echo "FAIL - cannot build the attacker's library"; exit 1; }
mkdir -m 1777 "$RT/marks"

attack() { # attack normal|weak: did host code run inside the enclave?
    local mode=$1 mark=$RT/marks/$1
    rt_run_as_attacker "$mode" "$RT/atk/out-$mode" LD_PRELOAD="$RT/atk/evil.so" RT_MARK="$mark" \
        >"$RT/atk/run-$mode.log" 2>&1
    echo "  (the run exited $?)"
    [ -s "$mark" ]
}

rt_expect_fail "shipped: LD_PRELOAD from the launcher does not reach the enclave" attack normal
rt_expect_ok "weakened (enclave_env): the launcher's LD_PRELOAD runs its code inside the enclave" attack weak
rt_done
