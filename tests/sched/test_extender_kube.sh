#!/usr/bin/env bash
# test_extender_kube.sh — the extender's node cache fed from the API server
# (--kube-api; docs/scheduling.md, nodeCacheCapable), against a stub API
# server on loopback (helpers/kube_api_stub.py: paginated NodeList, bearer
# token, continue tokens, 410 Gone) over TLS with a CA made here:
#  1. NodeNames-only requests are answered from a list of 3 pages (page size
#     2, continue tokens that need URL encoding); /healthz is ready;
#  2. a node whose labels change on the server is seen after a refresh;
#  3. 410 Gone on a continue token restarts the list from the first page;
#  4. a wrong token (401) is reported and the old list kept; the token file
#     is re-read, so writing the right one recovers; the token is never logged;
#  5. a node the cache lacks triggers a list long before the periodic
#     refresh (extender b lists every 3600 s);
#  6. a server certificate from another CA is refused: the TLS error is
#     logged, names stay unknown (FailedNodes, with the reason), not ready;
#  7. plain http:// to a non-loopback host and https without --kube-ca are
#     refused at start.
set -euo pipefail
: "${SAI_CLI:?}" "${SAI_SOURCE_DIR:?}"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail=0; pass=0
ok()  { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# --- a CA, the API server's certificate (IP SAN 127.0.0.1), another CA
cd "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 1 -subj /CN=stub-kube-ca 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other-ca.pem \
  -days 1 -subj /CN=other-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
  -subj /CN=kube-apiserver 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile srv.ext \
  -out srv.pem 2>/dev/null

/usr/bin/python3 "$SAI_SOURCE_DIR/tests/sched/helpers/kube_api_stub.py" "$tmp/api.log" srv.pem srv.key >port &
pids+=($!)
for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
aport=$(head -1 port); [ -n "$aport" ] || { echo "FAIL: stub did not start"; exit 1; }
api="https://127.0.0.1:$aport"

# nodes: SGX with EPC, two standard, SNP, TDX (NFD labels, allocatable)
node() {  # name sgx(true|false) tee-label
  /usr/bin/python3 -c '
import json, sys
name, sgx, tee = sys.argv[1:4]
labels = {"kubernetes.io/hostname": name}
alloc = {"cpu": "16", "memory": "64Gi"}
if sgx == "true":
    labels["feature.node.kubernetes.io/cpu-security.sgx.enabled"] = "true"; alloc["sgx.intel.com/epc"] = "128Mi"
if tee != "-":
    labels[tee] = "true"
print(json.dumps({"metadata": {"name": name, "labels": labels}, "status": {"allocatable": alloc}}))' "$@"
}
state() {  # JSON merged into the stub's state
  curl -sf --cacert ca.pem -X POST --data-binary "$1" "$api/_stub/state" >/dev/null
}
nodes="[$(node sgx-1 true -),$(node std-1 false -),$(node std-2 false -),$(node snp-1 false amd.feature.node.kubernetes.io/snp),$(node tdx-1 false intel.feature.node.kubernetes.io/tdx)]"
state "{\"token\": \"tok-ONE-secret\", \"page_size\": 2, \"nodes\": $nodes}"
printf 'tok-ONE-secret\n' >token

start_ext() {  # name args... -> $port_<name>, stderr in <name>.err
  local name=$1; shift
  "$SAI_CLI" sched extender --listen 127.0.0.1:0 --policy security-first "$@" >"$name.out" 2>"$name.err" &
  pids+=($!)
  for _ in $(seq 100); do grep -q "listening on port" "$name.out" 2>/dev/null && break; sleep 0.05; done
  local p; p=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$name.out")
  [ -n "$p" ] || { echo "FAIL: extender $name did not start"; cat "$name.err"; exit 1; }
  printf -v "port_$name" %s "$p"
}
wait_log() {  # file regex [seconds]
  local i; for i in $(seq $((${3:-10} * 20))); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1
}
sgx_pod='{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"limits":{"sgx.intel.com/epc":"8Mi"},"requests":{"cpu":"1","memory":"1Gi"}}}]}}'
filter() {  # port names-json -> the reply
  curl -s -X POST -H 'Content-Type: application/json' \
    --data-binary "{\"Pod\": $sgx_pod, \"NodeNames\": $2}" "http://127.0.0.1:$1/filter"
}
field() {  # reply python-expr-on-r
  /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# the wrong-CA extender (step 6) and b (step 5, its first list long past
# when the test reaches it) run alongside
start_ext b --kube-api "$api" --kube-token token --kube-ca ca.pem --node-refresh 3600
start_ext wrongca --kube-api "$api" --kube-token token --kube-ca other-ca.pem --node-refresh 1
start_ext a --kube-api "$api" --kube-token token --kube-ca ca.pem --node-refresh 1

# 1. names resolved from a paginated list
if wait_log a.err '5 nodes listed from https://127.0.0.1:[0-9]+ \(3 pages'; then ok "5 nodes listed in 3 pages"
else bad "no complete list: $(cat a.err)"; fi
grep -q 'GET /api/v1/nodes?limit=500 200' api.log && grep -q 'GET /api/v1/nodes?limit=500&continue=%2B%2B%2B%2B' api.log \
  && ok "limit=500, then the continue token, URL-encoded" || bad "pagination requests: $(head -5 api.log)"
[ "$(curl -s "http://127.0.0.1:$port_a/healthz")" = ok ] && ok "ready after the first list" || bad "healthz not ok"
r=$(filter "$port_a" '["sgx-1","std-1","snp-1","ghost"]')
[ "$(field "r['NodeNames']" <<<"$r")" = "['sgx-1']" ] && ok "SGX pod passes sgx-1 only" || bad "names: $r"
field "sorted(r['FailedAndUnresolvableNodes'])" <<<"$r" | grep -q "\['snp-1', 'std-1'\]" \
  && ok "std-1, snp-1 unresolvable" || bad "unresolvable: $r"
field "r['FailedNodes'].get('ghost', '')" <<<"$r" | grep -q 'not in the last node list from the API server' \
  && ok "an unknown name is a FailedNode with the reason" || bad "ghost: $r"

# 2. a label change on the server is seen after a refresh
nodes2="[$(node sgx-1 true -),$(node std-1 true -),$(node std-2 false -),$(node snp-1 false amd.feature.node.kubernetes.io/snp),$(node tdx-1 false intel.feature.node.kubernetes.io/tdx)]"
state "{\"nodes\": $nodes2}"
seen=0
for _ in $(seq 60); do
  r=$(filter "$port_a" '["sgx-1","std-1"]')
  [ "$(field "r['NodeNames']" <<<"$r")" = "['sgx-1', 'std-1']" ] && { seen=1; break; }
  sleep 0.1
done
[ $seen = 1 ] && ok "std-1 relabelled SGX: seen after a refresh" || bad "label change not seen: $r"

# 3. 410 Gone restarts the list
state '{"expire_continue": 1}'
if wait_log a.err 'continue token expired \(410 Gone\) on page 2: restarting'; then ok "410 logged, list restarted"
else bad "no 410 restart: $(tail -3 a.err)"; fi
# the restarted list is complete when a "nodes listed" line follows the 410 one
for _ in $(seq 100); do
  awk '/410 Gone/ {g = 1} g && /nodes listed/ {f = 1} END {exit !f}' a.err && break; sleep 0.05
done
/usr/bin/python3 - api.log <<'PY' && ok "after the 410 a complete list: first page again, then every page" || bad "no complete list after 410"
import sys
lines = [l.split() for l in open(sys.argv[1])]
i = max(k for k, l in enumerate(lines) if l[2] == "410")
rest = [l for l in lines[i + 1:] if l[1].startswith("/api/v1/nodes")]
assert rest and "continue" not in rest[0][1] and rest[0][2] == "200", rest[:1]
assert sum(1 for l in rest[:3] if l[2] == "200") == 3, rest[:3]
PY

# 4. a wrong token: 401 reported, old list kept; the file is re-read
state '{"token": "tok-TWO-secret"}'
if wait_log a.err '401 Unauthorized: expired, revoked or wrong; it is re-read from token'; then ok "401 reported"
else bad "401 not reported: $(tail -3 a.err)"; fi
r=$(filter "$port_a" '["sgx-1"]')
[ "$(field "r['NodeNames']" <<<"$r")" = "['sgx-1']" ] && ok "the last complete list is kept while the API refuses" || bad "cache lost: $r"
printf 'tok-TWO-secret\n' >token.new && mv token.new token
if wait_log a.err 'nodes listed .*: recovered'; then ok "the rotated token is read: recovered"
else bad "no recovery after the token rotated: $(tail -3 a.err)"; fi
if grep -q 'tok-' a.err wrongca.err; then bad "a token appears in the log"; else ok "no token in the log"; fi

# 5. an unknown name triggers a list long before the periodic refresh (3600 s)
wait_log b.err '5 nodes listed' || bad "b: no first list"
nodes3="${nodes2%]},$(node sgx-new true -)]"
state "{\"nodes\": $nodes3}"
r=$(filter "$port_b" '["sgx-new"]')
field "r['FailedNodes'].get('sgx-new', '')" <<<"$r" | grep -q 'a new list is requested' \
  && ok "sgx-new unknown at first" || bad "sgx-new: $r"
seen=0
for _ in $(seq 160); do
  r=$(filter "$port_b" '["sgx-new"]')
  [ "$(field "r['NodeNames']" <<<"$r")" = "['sgx-new']" ] && { seen=1; break; }
  sleep 0.05
done
[ $seen = 1 ] && ok "sgx-new known after the requested list (refresh 3600 s)" || bad "sgx-new never listed: $r"

# 6. the wrong CA: TLS refused, logged, names unknown with the reason, not ready
if wait_log wrongca.err 'TLS with 127.0.0.1:[0-9]+ failed: certificate verify failed'; then ok "TLS error logged: $(grep -m1 -o 'certificate verify failed[^(]*' wrongca.err)"
else bad "no TLS error: $(cat wrongca.err)"; fi
r=$(filter "$port_wrongca" '["sgx-1"]')
field "r['FailedNodes'].get('sgx-1', '')" <<<"$r" | grep -q 'no complete node list from the API server yet' \
  && ok "names unknown with the reason (FailedNodes)" || bad "wrong CA: $r"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port_wrongca/healthz")
[ "$code" = 503 ] && ok "not ready (503) without a list" || bad "healthz $code with the wrong CA"

# 7. refused at start
"$SAI_CLI" sched extender --listen 127.0.0.1:0 --kube-api http://10.0.0.1:8080 >/dev/null 2>c7.err \
  && bad "plain http to a remote API server accepted" || { grep -q 'not loopback: refused' c7.err && ok "http:// to a remote host refused"; }
"$SAI_CLI" sched extender --listen 127.0.0.1:0 --kube-api "$api" >/dev/null 2>c8.err \
  && bad "https without --kube-ca accepted" || { grep -q 'no unverified mode' c8.err && ok "https without --kube-ca refused"; }

echo "extender kube-api checks: $pass passed, $fail failed"
[ "$fail" = 0 ]
