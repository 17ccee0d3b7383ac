#!/usr/bin/env bash
# test_kbs_cli.sh — `secureai kbs` end to end through the program: serve (TLS,
# self-signed, fingerprint printed), put-resource / delete-resource /
# put-policy with the admin token from a file, get-resource with the sim TEE
# and a pinned fingerprint, audit show / verify, tamper detection by the
# verify verb, SIGTERM shutdown, and clear errors for a wrong pin and a down KBS.
set -euo pipefail
cli=${SAI_CLI:?}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# sql DB STATEMENT (Debian's python3 has sqlite3; the sqlite3 program is not a dependency)
sql() { /usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()' "$1" "$2"; }

export SECUREAI_PLATFORM_DIR=$tmp/platform
# The sim platform comes from `secureai platform init` (the attest module's
# command); where this build has none, the get-resource step is covered by
# test_kbs_server (library) only.
have_platform=0
"$cli" platform init >/dev/null 2>&1 && have_platform=1
printf 'allowed_tee: [sim]\nallow_simulated: true\n' > "$tmp/att.yaml"

# every sub-command has its own --help; the listing names only real ones
for sub in serve info get-resource put-resource delete-resource put-policy audit; do
  "$cli" kbs $sub --help > "$tmp/help.out" || fail "kbs $sub --help"
  grep -q "^usage: secureai kbs $sub " "$tmp/help.out" || fail "kbs $sub --help: $(head -1 "$tmp/help.out")"
  [ "$(grep -cE '^  [a-z][a-z-]* ' "$tmp/help.out")" -le 2 ] || fail "kbs $sub --help printed every sub-command"
done
"$cli" --help | grep -q 'kbs .*admin' && fail "secureai --help lists a kbs admin sub-command"
"$cli" kbs --help | grep -q '^  admin' && fail "kbs --help lists admin"
# --dry-run refuses what a real start refuses
if "$cli" kbs serve --data-dir "$tmp/dry" --listen 0.0.0.0 --insecure-http --dry-run 2>"$tmp/dry.err"; then
  fail "dry-run accepted --insecure-http on 0.0.0.0"
fi
grep -q "loopback" "$tmp/dry.err" || fail "dry-run message: $(cat "$tmp/dry.err")"
"$cli" kbs serve --data-dir "$tmp/dry" --listen 127.0.0.1 --insecure-http --dry-run >/dev/null || fail "dry-run loopback"

"$cli" kbs serve --data-dir "$tmp/kbs" --port 0 --port-file "$tmp/port" \
  --attestation-policy "$tmp/att.yaml" --quiet >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || fail "server did not start: $(cat "$tmp/serve.err")"
port=$(cat "$tmp/port")
sleep 0.1
fp=$(sed -n 's/^kbs: certificate sha256 //p' "$tmp/serve.out")
[ ${#fp} -eq 64 ] || fail "no fingerprint printed: $(cat "$tmp/serve.out")"
[ "$(stat -c %a "$tmp/kbs/master.key")" = 600 ] || fail "master key mode"
[ "$(stat -c %a "$tmp/kbs/admin.token")" = 600 ] || fail "admin token mode"
url=https://127.0.0.1:$port
tok=$tmp/kbs/admin.token

printf 'top-secret-dataset-key-0123456789' > "$tmp/secret"
"$cli" kbs put-resource --kbs "$url" --pin "$fp" --admin-token-file "$tok" \
  --resource demo/dataset/cifar --secret-file "$tmp/secret" \
  --policy '{"tee":["sim"],"allow_simulated":true}' >/dev/null
# without the token file -> usage error; with a wrong token -> 401
if "$cli" kbs put-resource --kbs "$url" --pin "$fp" --resource a/b/c --secret-file "$tmp/secret" \
     --policy '{"tee":["sim"]}' 2>/dev/null; then fail "put without token"; fi
echo wrong-token-wrong-token > "$tmp/bad.token"
out=$("$cli" kbs put-resource --kbs "$url" --pin "$fp" --admin-token-file "$tmp/bad.token" \
      --resource a/b/c --secret-file "$tmp/secret" --policy '{"tee":["sim"]}' 2>&1) && fail "bad token accepted"
grep -q 401 <<<"$out" || fail "bad token: $out"

if [ $have_platform = 1 ]; then
  "$cli" kbs get-resource --kbs "$url" --pin "$fp" --tee sim --resource demo/dataset/cifar \
    --out "$tmp/got" 2>"$tmp/get.err" || fail "get-resource: $(cat "$tmp/get.err")"
  cmp -s "$tmp/secret" "$tmp/got" || fail "released secret differs"
  [ "$(stat -c %a "$tmp/got")" = 600 ] || fail "released secret file mode"
fi
# wrong pin -> refused before any byte of the request leaves
out=$("$cli" kbs delete-resource --kbs "$url" --pin "$(printf '%064d' 0)" --admin-token-file "$tok" \
      --resource demo/dataset/cifar 2>&1) && fail "wrong pin accepted"
grep -qi "certificate" <<<"$out" || fail "wrong pin message: $out"

"$cli" kbs delete-resource --kbs "$url" --pin "$fp" --admin-token-file "$tok" \
  --resource demo/dataset/cifar >/dev/null
"$cli" kbs audit show --kbs "$url" --pin "$fp" --admin-token-file "$tok" --limit 50 > "$tmp/audit.json"
grep -q '"event":"admin.delete-resource"' "$tmp/audit.json" || fail "audit show"
grep -q '"event":"admin.denied"' "$tmp/audit.json" || fail "denied admin call not audited"

kill -TERM "$pid"; wait "$pid" || fail "SIGTERM exit status $?"; pid=

"$cli" kbs audit verify --data-dir "$tmp/kbs" > "$tmp/verify.out" || fail "audit verify"
head=$(sed -n 's/.*head \([0-9a-f]*\)$/\1/p' "$tmp/verify.out")
"$cli" kbs audit show --data-dir "$tmp/kbs" --limit 3 | grep -q '"event":"admin.delete-resource"' || fail "offline audit show"
"$cli" kbs audit verify --data-dir "$tmp/kbs" --expect-head "$head" >/dev/null || fail "expect-head"
# edit one entry -> detected
cp -r "$tmp/kbs" "$tmp/kbs2"
sql "$tmp/kbs2/kbs.db" "UPDATE audit SET verdict='allow' WHERE seq=2"
if "$cli" kbs audit verify --data-dir "$tmp/kbs2" 2>"$tmp/v2.err"; then fail "edit not detected"; fi
grep -q "audit chain broken at entry 2" "$tmp/v2.err" || fail "edit message: $(cat "$tmp/v2.err")"

# A head recorded earlier still verifies after the chain grew (issue 13):
# restart, one more admin change, stop.
serve() { "$cli" kbs serve --data-dir "$tmp/kbs" --port 0 --port-file "$tmp/port" --quiet "$@"; }
start_kbs() {
  rm -f "$tmp/port"
  "$cli" kbs serve --data-dir "$tmp/kbs" --port 0 --port-file "$tmp/port" --quiet "$@" \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
  [ -s "$tmp/port" ] || fail "server did not restart: $(cat "$tmp/serve.err")"
  url=https://127.0.0.1:$(cat "$tmp/port")
}
start_kbs
"$cli" kbs put-resource --kbs "$url" --pin "$fp" --admin-token-file "$tok" --resource demo/dataset/two \
  --secret-file "$tmp/secret" --policy '{"tee":["sim"]}' >/dev/null || fail "put after restart"
kill -TERM "$pid"; wait "$pid" || fail "SIGTERM exit status $?"; pid=
"$cli" kbs audit verify --data-dir "$tmp/kbs" --expect-head "$head" > "$tmp/verify2.out" || fail "expect-head of an older head"
grep -q "chain extends the anchor (entry [0-9]*) by 1 entries" "$tmp/verify2.out" || fail "extends: $(cat "$tmp/verify2.out")"
head2=$(sed -n 's/.*head \([0-9a-f]*\)$/\1/p' "$tmp/verify2.out")

# cut the newest entry: verify says so, distinctly; the server refuses to
# start on it, and starts only when told to accept it (audited)
sql "$tmp/kbs/kbs.db" "DELETE FROM audit WHERE seq=(SELECT max(seq) FROM audit)"
if "$cli" kbs audit verify --data-dir "$tmp/kbs" 2>"$tmp/v3.err"; then fail "cut not detected"; fi
grep -q "audit chain cut" "$tmp/v3.err" || fail "cut message: $(cat "$tmp/v3.err")"
if serve >/dev/null 2>"$tmp/serve.err"; then fail "the KBS started on a cut audit chain"; fi
grep -q "audit chain cut.*--accept-audit-cut" "$tmp/serve.err" || fail "refusal: $(cat "$tmp/serve.err")"
start_kbs --accept-audit-cut
kill -TERM "$pid"; wait "$pid" || fail "SIGTERM exit status $?"; pid=
"$cli" kbs audit verify --data-dir "$tmp/kbs" >/dev/null || fail "verify after the accepted cut"
"$cli" kbs audit show --data-dir "$tmp/kbs" --limit 1 | grep -q '"event":"audit.cut-accepted"' || fail "cut not audited"
if "$cli" kbs audit verify --data-dir "$tmp/kbs" --expect-head "$head2" 2>"$tmp/v4.err"; then
  fail "a head that was cut away verified"
fi
grep -q "is not in the chain" "$tmp/v4.err" || fail "cut head message: $(cat "$tmp/v4.err")"
# deleting every row, or the table, never verifies as intact
cp -r "$tmp/kbs" "$tmp/kbs3"
sql "$tmp/kbs/kbs.db" "DELETE FROM audit"
if "$cli" kbs audit verify --data-dir "$tmp/kbs" 2>/dev/null; then fail "empty audit table verified"; fi
sql "$tmp/kbs3/kbs.db" "DROP TABLE audit"
if "$cli" kbs audit verify --data-dir "$tmp/kbs3" 2>"$tmp/v5.err"; then fail "dropped audit table verified"; fi
grep -q "no audit table" "$tmp/v5.err" || fail "drop message: $(cat "$tmp/v5.err")"

# a KBS that is down: a bounded, clear error
start=$(date +%s)
out=$("$cli" kbs audit show --kbs "$url" --pin "$fp" --admin-token-file "$tok" 2>&1) && fail "down KBS"
[ $(( $(date +%s) - start )) -le 5 ] || fail "down KBS took too long"
grep -q "cannot reach the KBS" <<<"$out" || fail "down KBS message: $out"
echo "kbs cli: ok"
