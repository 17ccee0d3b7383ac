# cli_common.sh — sourced by the attest CLI tests (test_*.sh): a temp dir
# removed on exit and the ok/bad/expect helpers. Not a test itself.
CLI=${SAI_CLI:?}
T=$(mktemp -d /tmp/sai-attest-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok()   { echo "ok   - $1"; }
bad()  { echo "FAIL - $1"; fails=$((fails + 1)); }
# Every refusal's message closes what it opens: a message cut short by a
# fixed-size buffer shows as an unclosed parenthesis (a TCB message did).
balanced() { # balanced FILE: as many ')' as '(' on every line
    awk '{ o = gsub(/\(/, "("); c = gsub(/\)/, ")"); if (o != c) { print; bad = 1 } } END { exit bad }' "$1"
}
expect() { # expect CODE DESC cmd...
    local want=$1 desc=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; local got=$?
    if [ "$got" = "$want" ]; then ok "$desc"; else bad "$desc (exit $got, want $want)"; cat "$T/err"; fi
    if [ "$want" != 0 ] && ! balanced "$T/err" >"$T/unbalanced"; then
        bad "$desc: unbalanced parentheses in the message"; cat "$T/unbalanced"
    fi
}
finish() { [ "$fails" = 0 ] && echo "all ok" || { echo "$fails failure(s)"; exit 1; }; }
