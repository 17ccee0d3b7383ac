#!/usr/bin/env bash
# test_extender.sh — the kube-scheduler extender as a real HTTP server on
# loopback (port 0: the kernel picks a free port), driven by curl through the
# numbered declarative cases in tests/sched/cases/NNN-*.case:
#
#   # what the case checks
#   POST /filter                  method and path
#   --- request                   body sent (optional)
#   --- status                    expected HTTP status (default 200)
#   --- response                  expected JSON (compared canonically)
#
# Cases run in order against one server (case 002 relies on the node cache
# that case 001 filled). SAI_RECORD=1 appends the observed status/response
# to cases that have none (then review them by hand). The server starts with
# --nodes cases/nodes.json (a NodeList preloaded into the node cache).
set -euo pipefail
: "${SAI_CLI:?}" "${SAI_SOURCE_DIR:?}"
cases="$SAI_SOURCE_DIR/tests/sched/cases"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

"$SAI_CLI" sched extender --listen 127.0.0.1:0 --policy security-first --nodes "$cases/nodes.json" \
  >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do grep -q "listening on port" "$tmp/out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$port" ] || { echo "extender did not start"; cat "$tmp/err"; exit 1; }
base="http://127.0.0.1:$port"

# the unsafe baseline is refused
if "$SAI_CLI" sched extender --listen 127.0.0.1:0 --policy unsafe 2>/dev/null; then
  echo "FAIL: extender served the unsafe policy"; exit 1
fi

section() {  # section FILE NAME -> body of "--- NAME" up to the next "--- "
  awk -v want="--- $2" '$0 ~ /^--- / {on = ($0 == want); next} on {print}' "$1"
}
canon() { /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True, indent=1))'; }

pass=0; failn=0
for c in "$cases"/[0-9][0-9][0-9]-*.case; do
  name=$(basename "$c" .case)
  read -r method path < <(grep -v '^#' "$c" | head -1)
  section "$c" request >"$tmp/req"
  want_status=$(section "$c" status | tr -d ' \n'); want_status=${want_status:-200}
  args=(-s -o "$tmp/body" -w '%{http_code}' -X "$method")
  [ -s "$tmp/req" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$tmp/req")
  got_status=$(curl "${args[@]}" "$base$path")
  ok=1
  if [ "$got_status" != "$want_status" ]; then
    echo "FAIL $name: status $got_status, want $want_status"; ok=0
  fi
  if grep -q '^--- response$' "$c"; then
    if ! diff <(section "$c" response | canon) <(canon <"$tmp/body") >"$tmp/diff"; then
      echo "FAIL $name: response differs:"; cat "$tmp/diff"; ok=0
    fi
  elif [ "${SAI_RECORD:-0}" = 1 ] && [ "$ok" = 1 ]; then
    { grep -q '^--- status$' "$c" || printf -- '--- status\n%s\n' "$got_status"
      if canon <"$tmp/body" >/dev/null 2>&1; then printf -- '--- response\n'; canon <"$tmp/body"; fi
    } >>"$c"
  fi
  if [ "$ok" = 1 ]; then pass=$((pass + 1)); else failn=$((failn + 1)); fi
done
kill -0 "$pid" || { echo "FAIL: the extender died"; exit 1; }
# an oversized body is refused by the server's cap, and it survives
head -c $((65 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$tmp/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$tmp/big" "$base/filter" || true)
case "$code" in 413|400|000) ;; *) echo "FAIL: oversized body got $code"; failn=$((failn + 1)) ;; esac
[ "$(curl -s "$base/healthz")" = ok ] || { echo "FAIL: healthz after oversized body"; failn=$((failn + 1)); }
echo "extender cases: $pass passed, $failn failed"
[ "$failn" = 0 ]
