#!/usr/bin/env bash
# test_kbs_trustee.sh — Trustee's KBS protocol 0.4.0 against `secureai kbs
# serve`: a client written from Trustee's protocol document in Python
# (tests/kbs/trustee_client.py: stdlib + python3-cryptography) and
# `secureai kbs get-resource --protocol trustee` (the C client) each complete
# auth, attest (Trustee's "sample" TEE = the sim platform's evidence) and
# resource retrieval for every TEE key type Trustee clients generate (EC
# P-256, EC P-521, RSA with RSA-OAEP-256), by cookie and by bearer token;
# SecureAI's own flow keeps working on the same server; refusals come in
# Trustee's ErrorInformation shape (wrong version, runtime-data hash
# mismatch, missing cookie, a policy without allow_simulated).
set -euo pipefail
cli=${SAI_CLI:?}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 -c 'import cryptography' 2>/dev/null || { echo "SKIP: python3-cryptography missing (scripts/install-deps.sh check)"; exit 77; }
export SECUREAI_PLATFORM_DIR=$tmp/platform
"$cli" platform init >/dev/null 2>"$tmp/init.err" || fail "platform init: $(cat "$tmp/init.err")"
printf 'allowed_tee: [sim]\nallow_simulated: true\n' > "$tmp/att.yaml"
"$cli" kbs serve --data-dir "$tmp/kbs" --port 0 --port-file "$tmp/port" \
  --attestation-policy "$tmp/att.yaml" --quiet >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || fail "server did not start: $(cat "$tmp/serve.err")"
sleep 0.1
url=https://127.0.0.1:$(cat "$tmp/port")
fp=$(sed -n 's/^kbs: certificate sha256 //p' "$tmp/serve.out")
put() {
  "$cli" kbs put-resource --kbs "$url" --pin "$fp" --admin-token-file "$tmp/kbs/admin.token" \
    --resource "$1" --secret-file "$tmp/secret" --policy "$2" >/dev/null
}
head -c 48 /dev/urandom > "$tmp/secret"
put demo/dataset/trustee '{"tee":["sim"],"allow_simulated":true}'
put demo/dataset/nosim '{"tee":["sim"]}'

# the Python client once per key type (each start costs a second on a
# loaded machine), the C client for every key type and both credentials
for kh in p256:cookie p521:bearer rsa:cookie; do
  key=${kh%:*} how=${kh#*:}
  python3 "$here/trustee_client.py" get "$url" "$fp" demo/dataset/trustee $key $how "$tmp/py.$key.$how" \
    2>"$tmp/py.err" || fail "python Trustee client ($key, $how): $(cat "$tmp/py.err")"
  cmp -s "$tmp/secret" "$tmp/py.$key.$how" || fail "python Trustee client ($key, $how): secret differs"
done
for key in p256 p521 rsa; do
  for how in cookie bearer; do
    "$cli" kbs get-resource --kbs "$url" --pin "$fp" --tee sim --resource demo/dataset/trustee \
      --protocol trustee --tee-key $key --auth $how --out "$tmp/c.$key.$how" 2>"$tmp/c.err" \
      || fail "kbs get-resource --protocol trustee ($key, $how): $(cat "$tmp/c.err")"
    cmp -s "$tmp/secret" "$tmp/c.$key.$how" || fail "C Trustee client ($key, $how): secret differs"
  done
done
# SecureAI's own flow on the same server
"$cli" kbs get-resource --kbs "$url" --pin "$fp" --tee sim --resource demo/dataset/trustee \
  --out "$tmp/sai" 2>/dev/null || fail "SecureAI flow"
cmp -s "$tmp/secret" "$tmp/sai" || fail "SecureAI flow: secret differs"
# the C client is refused too where a policy does not allow simulated TEEs
out=$("$cli" kbs get-resource --kbs "$url" --pin "$fp" --tee sim --resource demo/dataset/nosim \
      --protocol trustee --out "$tmp/no" 2>&1) && fail "nosim released to a sample TEE"
grep -q "403.*PolicyDeny" <<<"$out" || fail "nosim refusal: $out"
[ ! -e "$tmp/no" ] || fail "nosim: a file was written"

python3 "$here/trustee_client.py" negative "$url" "$fp" demo/dataset/trustee demo/dataset/nosim \
  2>"$tmp/neg.err" >/dev/null || fail "negative cases: $(grep -v SIMULATED "$tmp/neg.err")"

# every decision is on the record, with its protocol
"$cli" kbs audit show --kbs "$url" --pin "$fp" --admin-token-file "$tmp/kbs/admin.token" --limit 200 > "$tmp/audit.json"
grep -q '"event":"attest".*"verdict":"allow".*protocol=trustee' "$tmp/audit.json" || fail "no Trustee attest allow audited"
grep -q '"event":"attest".*"verdict":"deny".*protocol=trustee' "$tmp/audit.json" || fail "no Trustee attest deny audited"
grep -q '"event":"release".*"verdict":"allow".*protocol=trustee' "$tmp/audit.json" || fail "no Trustee release audited"
echo "test_kbs_trustee: ok"
