# rt_pipeline.sh — shared by tests/redteam/test_rt_report.sh and
# test_rt_verify.sh: the red-team framework (rt_common.sh), the binaries
# (SAI_CLI shipped, SAI_CLI_WEAK the -DSAI_REDTEAM_WEAKEN build), a real
# tiny run made by the test harness (tests/pipeline/e2e_common.sh), and a
# directory the unprivileged attacker can write.
set -u
CLI=${SAI_CLI:?}
SRC=${SAI_SOURCE_DIR:?}
. "$SRC/tests/redteam/rt_common.sh"
. "$SRC/tests/pipeline/e2e_common.sh"
rt_require_root_or_skip
rt_weak_available || { echo "SKIP: no weakened build (secureai-weak) in this configuration"; exit 77; }
WEAK=$SAI_CLI_WEAK
T=$(mktemp -d /tmp/sai-rt-pipe.XXXXXX)
trap 'e2e_cleanup; rm -rf "$T"' EXIT
fails=0
ok()  { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
e2e_tiny_run "$T" || exit $?
chmod -R a+rX "$T"
A=$T/atk                      # the attacker's own directory
mkdir -m 1777 "$A"
# as_attacker CMD...: run as the unprivileged user; output in $A/.o / $A/.e
as_attacker() { rt_attacker "$@" >"$A/.o" 2>"$A/.e"; }
