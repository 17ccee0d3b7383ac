#!/usr/bin/env bash
# rt_common.sh — sourced by every tests/redteam/test_rt_*.sh.
#
# A red-team test performs one attack of docs/threat-model.md as an
# unprivileged user against the built binaries and asserts that it fails
# ($SAI_CLI, the shipped program), then performs the same attack against
# $SAI_CLI_WEAK (the test-only build, src/util/weaken.h) with
# SAI_WEAKEN=<countermeasure> and asserts that it succeeds, so the test
# cannot pass vacuously. Without root (no way to create the attacker's
# account or the platform service's) the test is skipped with the reason.
#
#   rt_require_root_or_skip     exit 77 (CTest: skipped) unless root
#   rt_attacker CMD...          run CMD as the unprivileged sai-rt-attacker
#   rt_expect_fail DESC CMD...  CMD must exit non-zero
#   rt_expect_ok DESC CMD...    CMD must exit 0
#   rt_weak_available           0 when the weakened build exists
#   rt_done                     print the tally; exit 1 on any failure
set -u
RT_USER=sai-rt-attacker
RT_FAILS=0
RT_PASSES=0
rt_ok()  { echo "ok   - $1"; RT_PASSES=$((RT_PASSES + 1)); }
rt_bad() { echo "FAIL - $1"; RT_FAILS=$((RT_FAILS + 1)); }

rt_require_root_or_skip() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: red-team tests create an unprivileged attacker account and run the platform service;" \
             "run them as root (make check does)"
        exit 77
    fi
    if ! id "$RT_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RT_USER" 2>/dev/null ||
            { echo "FAIL - cannot create $RT_USER"; exit 1; }
    fi
}

# The attacker: an ordinary account, no supplementary groups, no capabilities.
rt_attacker() {
    setpriv --reuid="$RT_USER" --regid="$RT_USER" --clear-groups --inh-caps=-all --bounding-set=-all \
        --no-new-privs -- "$@"
}

rt_expect_fail() {
    local desc=$1; shift
    if "$@"; then rt_bad "$desc (the attack succeeded)"; else rt_ok "$desc"; fi
}

rt_expect_ok() {
    local desc=$1; shift
    if "$@"; then rt_ok "$desc"; else rt_bad "$desc (exit $?)"; fi
}

rt_weak_available() {
    [ -n "${SAI_CLI_WEAK:-}" ] && [ -x "$SAI_CLI_WEAK" ]
}

rt_done() {
    echo "$RT_PASSES passed, $RT_FAILS failed"
    [ "$RT_FAILS" -eq 0 ]
}
