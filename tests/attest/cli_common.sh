# cli_common.sh — sourced by the attest CLI tests (test_*.sh): a temp dir
# removed on exit and the ok/bad/expect helpers. Not a test itself.
CLI=${SAI_CLI:?}
T=$(mktemp -d /tmp/sai-attest-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok   - $1"; }
bad()  { echo "FAIL - $1"; fails=$((fails + 1)); }
expect() { # expect CODE DESC cmd...
    local want=$1 desc=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; local got=$?
    if [ "$got" = "$want" ]; then ok "$desc"; else bad "$desc (exit $got, want $want)"; cat "$T/err"; fi
}
finish() { [ "$fails" = 0 ] && echo "all ok" || { echo "$fails failure(s)"; exit 1; }; }
