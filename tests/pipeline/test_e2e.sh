#!/usr/bin/env bash
# test_e2e.sh — the confidential pipeline end to end on a tiny slice of
# Fashion-MNIST: sim platform, a KBS on loopback, a sealed dataset whose key
# is released only to this pipeline's measurement, `secureai run`, `secureai
# verify`, `secureai report`; then the attacks of issue 6:
#   - a spec whose measurement differs gets no key and writes nothing;
#   - a flipped byte in one shard stops the run naming the shard, no model;
#   - a substituted dataset (same key, other content) is caught by identity;
#   - a tampered statement / model, or an unbound key, fails verify;
#   - the KBS being down gives a clear error after bounded retries.
set -u
CLI=${SAI_CLI:?}
SRC=${SAI_SOURCE_DIR:?}
FM=/usr/share/datasets/fashion-mnist
T=$(mktemp -d /tmp/sai-pipeline-e2e.XXXXXX)
KBS_PID=
TLS_PID=
. "$SRC/tests/helpers/platform.sh"
cleanup() {
    sai_platform_stop
    if [ -n "$KBS_PID" ]; then kill "$KBS_PID" 2>/dev/null; wait "$KBS_PID" 2>/dev/null; fi
    if [ -n "$TLS_PID" ]; then kill "$TLS_PID" 2>/dev/null; wait "$TLS_PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
ok()  { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
expect() { # expect CODE DESC cmd...
    local want=$1 desc=$2; shift 2
    "$@" >"$T/.o" 2>"$T/.e"; local got=$?
    if [ "$got" = "$want" ]; then ok "$desc"; else bad "$desc (exit $got, want $want)"; tail -5 "$T/.e"; fi
}
has() { grep -q -- "$2" "$1" && ok "$3" || { bad "$3"; echo "  no '$2' in:"; head -3 "$1"; }; }

if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then echo "skip: $FM missing"; exit 0; fi
if ! sai_platform_can_run; then echo "SKIP: enclaves are launched by the platform service, which needs root"; exit 77; fi
chmod 755 "$T"
export OMP_NUM_THREADS=1
cd "$T" || exit 1

# ---- data owner: tiny datasets, sealed under one key ------------------------
/usr/bin/python3 "$SRC/tests/pipeline/mkidx.py" "$FM" plain 256 128 || { bad "mkidx"; exit 1; }
/usr/bin/python3 "$SRC/tests/pipeline/mkidx.py" "$FM" other 300 128 || { bad "mkidx"; exit 1; }
sai_platform_start "$CLI" "$T/plat" || { bad "platform service"; exit 1; }
"$CLI" keygen --out data.key >/dev/null 2>&1 && "$CLI" keygen --out model.key >/dev/null 2>&1
"$CLI" seal --key data.key plain sealed >seal.out 2>&1 || { bad "seal"; cat seal.out; exit 1; }
"$CLI" seal --key data.key other sealed-other >/dev/null 2>&1 || { bad "seal other"; exit 1; }
DSID=$(sed -n 's/^dataset id: sha256:\([0-9a-f]\{64\}\)$/\1/p' seal.out)
[ ${#DSID} = 64 ] && ok "dataset identity printed by seal" || bad "dataset identity ($DSID)"

# ---- the KBS on loopback ------------------------------------------------------
FP=$SAI_PLATFORM_FP
printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$FP" > att.yaml
"$CLI" kbs serve --data-dir kbsd --insecure-http --port 0 --port-file port \
    --attestation-policy att.yaml --enclave-writable gen --quiet >kbs.log 2>&1 &
KBS_PID=$!
for _ in $(seq 50); do [ -s port ] && break; sleep 0.1; done
PORT=$(cat port 2>/dev/null)
[ -n "$PORT" ] && ok "KBS listening on 127.0.0.1:$PORT" || { bad "KBS did not start"; cat kbs.log; exit 1; }
KBS=http://127.0.0.1:$PORT

spec() { # spec FILE [extra hyper lines] [extra dataset lines] [resource tag] [kbs line] [model key lines]
    local tag=${4:-fm} kbsline=${5:-"kbs: {url: \"$KBS\", insecure_http: true, retries: 2}"}
    local keylines=${6:-"  key: {repo: e2e, type: model, tag: ${4:-fm}}"}
    cat > "$1" <<EOF
version: 1
name: e2e
stages: [ingest, preprocess, train, evaluate, infer]
dataset:
  sealed: $T/sealed
  resource: {repo: e2e, type: dataset, tag: $tag}
$3
model:
  arch: smallcnn
$keylines
hyper:
  epochs: 1
  batch: 32
  max_steps: 4
  lr: 0.05
$2
$kbsline
outputs: {dir: $T/out}
EOF
}
spec good.yaml "" ""
spec evil.yaml "  seed: 666" ""                           # different code path => different measurement
spec pinned.yaml "" "  identity: $DSID"
M=$("$CLI" run --measure good.yaml | awk '/^measurement/ {print $2}')
MP=$("$CLI" run --measure pinned.yaml | awk '/^measurement/ {print $2}')
ME=$("$CLI" run --measure evil.yaml | awk '/^measurement/ {print $2}')
[ ${#M} = 96 ] && [ "$M" != "$ME" ] && [ "$M" != "$MP" ] && ok "measurements differ per spec" || bad "measurements"
M2=$("$CLI" run --measure --dataset /elsewhere --out /elsewhere good.yaml | awk '/^measurement/ {print $2}')
[ "$M" = "$M2" ] && ok "host-side paths do not change the measurement" || bad "paths changed the measurement"
# What the platform measures besides the spec: its image and the enclave's
# environment (the platform's OpenBLAS kernel choice). A second service with
# another image, or another OPENBLAS_CORETYPE, gives another measurement for
# the same spec; one with the same image and environment, the same.
measure_with() { # measure_with NAME [env...] -- [serve options...]
    local name=$1 mt; shift
    local envs=() opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    opts=("$@")
    env "${envs[@]}" "$CLI" platform serve --dir "$T/$name/platform" --socket "$T/$name/p.sock" --quiet "${opts[@]}" \
        >"$T/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do "$CLI" platform info --socket "$T/$name/p.sock" >/dev/null 2>&1 && break; sleep 0.1; done
    mt=$("$CLI" run --measure --platform-socket "$T/$name/p.sock" good.yaml | awk '/^measurement/ {print $2}')
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    echo "$mt"
}
cp "$CLI" "$T/other-image" && printf 'x' >> "$T/other-image"
MS=$(measure_with same)
MI=$(measure_with img -- --enclave-image "$T/other-image")
OTHER_CORE=Prescott; [ "${OPENBLAS_CORETYPE:-}" = Prescott ] && OTHER_CORE=Nehalem
ME2=$(measure_with envb OPENBLAS_CORETYPE=$OTHER_CORE)
[ "$MS" = "$M" ] && ok "another platform with the same image and environment measures the same" || bad "measurement not reproducible ($MS)"
[ ${#MI} = 96 ] && [ "$MI" != "$M" ] && ok "the enclave image is measured" || bad "image change not measured ($MI)"
[ ${#ME2} = 96 ] && [ "$ME2" != "$M" ] && ok "the enclave environment is measured" || bad "environment change not measured ($ME2)"

# ---- register keys with a policy that admits exactly these measurements ------
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s","%s"]}\n' "$M" "$MP" > release.json
for r in dataset model; do
    k=data.key; [ $r = model ] && k=model.key
    expect 0 "put-resource e2e/$r/fm" "$CLI" kbs put-resource --insecure-http --kbs "$KBS" --admin-token-file kbsd/admin.token \
        --resource e2e/$r/fm --secret-file $k --policy release.json
done

# ---- the pipeline -------------------------------------------------------------------
expect 0 "secureai run" "$CLI" run --quiet --threads 1 good.yaml
for f in model.sealed provenance.json run.json report.html; do
    [ -s "out/$f" ] && ok "wrote out/$f" || bad "missing out/$f"
done
has out/run.json '"seccomp":	true' "run.json records the sandbox"
# The enclave sealed the model straight into a hidden temporary file the host
# opened; the host published it after DONE under the SHA-256 the enclave sent.
has out/run.json "\"model_sha256\":	\"$(sha256sum out/model.sealed | cut -c1-64)\"" \
    "run.json's model_sha256 is the published file's"
[ -z "$(ls -A out | grep '^\.')" ] && ok "no temporary model file left after a run" || bad "a temporary file was left"
has out/run.json "\"dataset_identity\":	\"$DSID\"" "run.json records the dataset identity"
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"att.yaml"}\n' "$M" "$DSID" > verify.json
expect 0 "secureai verify accepts the genuine run" "$CLI" verify out/model.sealed --provenance out/provenance.json --policy verify.json
has "$T/.o" "verified: model.sealed" "verify says what it verified"
has "$T/.o" "software isolation only" "verify states what sim protects"
# The model opens with the model owner's key and nothing else.
expect 0 "the model owner unseals the model" "$CLI" unseal --key model.key out/model.sealed ckpt.bin
head -c 8 ckpt.bin | grep -q SAINNCK && ok "the sealed model is an engine checkpoint" || bad "checkpoint magic"
expect 1 "the data key does not open the model" "$CLI" unseal --key data.key out/model.sealed ckpt2.bin
expect 0 "secureai verify (again)" "$CLI" verify out/model.sealed --provenance out/provenance.json --policy verify.json
has "$T/.o" "simulated TEE: software isolation by the platform service" "verify says what the sim boundary is"
has "$T/.o" "(evidence secureai-evidence/v1:sim)" "verify names the evidence's own format"
# The statement: evidence.format from the evidence, the protection line, the
# per-epoch test curve (1 epoch here) in the signed metrics.
/usr/bin/python3 - out/provenance.json >stmt.txt <<'EOF2'
import base64, json, sys
env = json.load(open(sys.argv[1]))
pl = env["payload"]; pl += "=" * (-len(pl) % 4)
st = json.loads(base64.urlsafe_b64decode(pl))
p = st["predicate"]
print("format", p["evidence"]["format"]); print("protection", p["protection"])
print("epochs", len(p["metrics"]["epochs"]), p["metrics"]["epochs"][-1]["test_accuracy"] == p["metrics"]["test_accuracy"])
EOF2
has stmt.txt "format secureai-evidence/v1:sim" "the statement's evidence.format is the evidence's"
has stmt.txt "protection simulated TEE: software isolation by the platform service" "the statement says what sim protects"
has stmt.txt "epochs 1 True" "the signed metrics carry the per-epoch test curve"
# verify: freshness (as of a later time), the policy's allow_simulated next
# to an attestation policy that allows sim (tests/redteam/test_rt_verify.sh
# runs these as an unprivileged attacker).
expect 1 "verify --max-age refuses an old statement" "$CLI" verify out/model.sealed --provenance out/provenance.json \
    --policy verify.json --max-age 7d --at "$(date -u -d '+8 days' +%Y-%m-%dT%H:%M:%SZ)"
has "$T/.e" "freshness: the statement is dated 20" "the refusal gives the statement's date"
expect 0 "verify --max-age accepts a fresh one" "$CLI" verify out/model.sealed --provenance out/provenance.json \
    --policy verify.json --max-age 1h
expect 1 "verify refuses a statement from the future" "$CLI" verify out/model.sealed --provenance out/provenance.json \
    --policy verify.json --at "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)"
has "$T/.e" "in the future" "the refusal says the statement is from the future"
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":false,"attestation_policy":"att.yaml"}\n' \
    "$M" "$DSID" > verify-nosim-att.json
expect 1 "allow_simulated: false holds next to an attestation_policy that allows sim" "$CLI" verify out/model.sealed \
    --provenance out/provenance.json --policy verify-nosim-att.json
has "$T/.e" "allow_simulated" "the refusal names allow_simulated"
# The report: verifies provenance.json and the model itself with the policy.
expect 0 "secureai report --policy" "$CLI" report out --policy verify.json
has "$T/.o" "verified: the provenance statement and the model file" "report says it verified"
has out/report.html "software isolation only" "report states what sim protects"
has out/report.html "simulated TEE: software isolation by the platform service" "report states the sim boundary"
has out/report.html "$DSID" "report shows the dataset identity"
has out/report.html "test accuracy per epoch (verified)" "report draws the verified per-epoch test curve"
grep -Eq 'https?://' out/report.html && bad "report has a URL" || ok "report has no URL"
expect 0 "secureai report without a policy" "$CLI" report out
has out/report.html "not verified: no policy given" "report without a policy says it verified nothing"
grep -q "(verified)" out/report.html && bad "report without a policy shows something as verified" \
    || ok "report without a policy shows nothing as verified"
# Running twice works.
expect 0 "secureai run again" "$CLI" run --quiet --threads 1 good.yaml

# ---- verify: tampering ---------------------------------------------------------------
cp out/provenance.json prov.json
/usr/bin/python3 - prov.json <<'EOF'
import base64, json, sys
p = sys.argv[1]
env = json.load(open(p))
pl = env["payload"]; pl += "=" * (-len(pl) % 4)
st = json.loads(base64.urlsafe_b64decode(pl))
for name, edit in [("metrics", lambda s: s["predicate"]["metrics"].update(test_accuracy=0.99)),
                   ("dataset", lambda s: s["predicate"]["dataset"].update(identity="0" * 64)),
                   ("time", lambda s: s["predicate"].update(time="2030-01-01T00:00:00Z"))]:
    s = json.loads(json.dumps(st)); edit(s)
    e = dict(env); e["payload"] = base64.urlsafe_b64encode(json.dumps(s).encode()).decode().rstrip("=")
    json.dump(e, open(p.replace(".json", "-" + name + ".json"), "w"))
EOF
for f in metrics dataset time; do
    expect 1 "verify rejects a statement with $f changed" "$CLI" verify out/model.sealed --provenance prov-$f.json --policy verify.json
    [ "$(wc -l < "$T/.e")" = 1 ] && ok "one-line reason ($f)" || bad "reason is not one line ($f)"
done
cp out/model.sealed model2.sealed
/usr/bin/python3 "$SAI_SOURCE_DIR/tests/helpers/flip_byte.py" model2.sealed 200
expect 1 "verify rejects a different model file" "$CLI" verify model2.sealed --provenance out/provenance.json --policy verify.json
has "$T/.e" "model:" "the reason names the model"
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"att.yaml"}\n' "$ME" "$DSID" > verify-evil.json
expect 1 "verify rejects an unexpected measurement" "$CLI" verify out/model.sealed --provenance out/provenance.json --policy verify-evil.json
printf '{"measurement":"%s","dataset_identity":"%s"}\n' "$M" "$DSID" > verify-nosim.json
expect 1 "verify refuses sim evidence unless the policy allows it" "$CLI" verify out/model.sealed --provenance out/provenance.json --policy verify-nosim.json
# A statement re-signed by a key that is not the one bound in the evidence:
# the attacker keeps the genuine evidence, swaps in its own key and signature.
/usr/bin/python3 - out/provenance.json prov-rekeyed.json <<'EOF'
import base64, json, subprocess, sys, tempfile, os
env = json.load(open(sys.argv[1]))
pl = env["payload"]; pl += "=" * (-len(pl) % 4)
st = json.loads(base64.urlsafe_b64decode(pl))
d = tempfile.mkdtemp()
k = os.path.join(d, "k.pem")
subprocess.run(["openssl", "ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", k], check=True)
der = subprocess.run(["openssl", "ec", "-in", k, "-pubout", "-outform", "DER"], capture_output=True, check=True).stdout
point = der[-97:]
st["predicate"]["signing_key"]["public"] = base64.urlsafe_b64encode(point).decode().rstrip("=")
body = json.dumps(st).encode()
t = "application/vnd.in-toto+json"
pae = b"DSSEv1 %d %s %d " % (len(t), t.encode(), len(body)) + body
open(os.path.join(d, "m"), "wb").write(pae)
sig = subprocess.run(["openssl", "dgst", "-sha384", "-sign", k, os.path.join(d, "m")], capture_output=True, check=True).stdout
# DER ECDSA-Sig-Value -> raw r||s
def ints(b):
    i = 2 if b[1] < 0x80 else 3
    out = []
    for _ in range(2):
        assert b[i] == 2; n = b[i + 1]; v = b[i + 2:i + 2 + n]; i += 2 + n
        out.append(int.from_bytes(v, "big").to_bytes(48, "big"))
    return out[0] + out[1]
env["payload"] = base64.urlsafe_b64encode(body).decode().rstrip("=")
env["signatures"][0]["sig"] = base64.urlsafe_b64encode(ints(sig)).decode().rstrip("=")
json.dump(env, open(sys.argv[2], "w"))
EOF
expect 1 "verify rejects a statement signed by a key not bound in the evidence" "$CLI" verify out/model.sealed --provenance prov-rekeyed.json --policy verify.json
has "$T/.e" "binding:" "the reason names the key binding"

# ---- run: attacks --------------------------------------------------------------------------
rm -rf out-evil
expect 1 "a spec with another measurement gets no key" "$CLI" run --quiet --out "$T/out-evil" evil.yaml
has "$T/.e" "key broker" "the refusal comes from the key broker"
[ ! -e out-evil ] && ok "the refused run wrote nothing" || bad "the refused run wrote files"

cp -r sealed sealed-flip
SH=sealed-flip/train-labels-idx1-ubyte.gz.sealed
/usr/bin/python3 "$SAI_SOURCE_DIR/tests/helpers/flip_byte.py" "$SH" 100
expect 1 "a flipped byte in one shard stops the run" "$CLI" run --quiet --dataset "$T/sealed-flip" --out "$T/out-flip" good.yaml
has "$T/.e" "shard train-labels-idx1-ubyte.gz" "the error names the shard"
[ ! -e out-flip/model.sealed ] && ok "no model after a flipped byte" || bad "a model was written"
[ ! -e out-flip ] && ok "the failed run left nothing behind (its temporary model file removed)" \
    || bad "the failed run left $(ls -A out-flip)"

expect 1 "a substituted dataset is refused when the spec pins the identity" \
    "$CLI" run --quiet --dataset "$T/sealed-other" --out "$T/out-sub" pinned.yaml
has "$T/.e" "identity" "the error names the dataset identity"
[ ! -e out-sub/model.sealed ] && ok "no model from a substituted dataset" || bad "a model was written"
expect 0 "without a pinned identity the run completes on the substitute" \
    "$CLI" run --quiet --dataset "$T/sealed-other" --out "$T/out-sub2" good.yaml
expect 1 "... and verify catches the substituted dataset" \
    "$CLI" verify out-sub2/model.sealed --provenance out-sub2/provenance.json --policy verify.json
has "$T/.e" "dataset:" "the reason names the dataset"

# ---- HOST_DATA: the launcher binds the spec hash; the KBS's pipeline_spec_hash rule applies ----
# Two specs, each with its own resources, admitted by measurement; the one
# whose release policy names another spec hash is refused, the other served.
spec hd.yaml "" "" hd
spec hx.yaml "" "" hx
MH=$("$CLI" run --measure hd.yaml | awk '/^measurement/ {print $2}')
SH=$("$CLI" run --measure hd.yaml | awk '/^spec_sha256/ {print $2}')
MX=$("$CLI" run --measure hx.yaml | awk '/^measurement/ {print $2}')
SX=$("$CLI" run --measure hx.yaml | awk '/^spec_sha256/ {print $2}')
[ ${#SH} = 64 ] && [ "$SH" != "$SX" ] && ok "spec hashes differ per spec" || bad "spec hashes ($SH $SX)"
for t in hd hx; do
    m=$MH; [ $t = hx ] && m=$MX
    printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"],"pipeline_spec_hash":"%s"}\n' "$m" "$SH" > rel-$t.json
    for r in dataset model; do
        k=data.key; [ $r = model ] && k=model.key
        expect 0 "put-resource e2e/$r/$t (pipeline_spec_hash of hd.yaml)" "$CLI" kbs put-resource --insecure-http --kbs "$KBS" \
            --admin-token-file kbsd/admin.token --resource e2e/$r/$t --secret-file $k --policy rel-$t.json
    done
done
expect 0 "a run whose spec hash is the policy's pipeline_spec_hash gets its keys (HOST_DATA = spec hash)" \
    "$CLI" run --quiet --threads 1 --out "$T/out-hd" hd.yaml
expect 1 "a genuine run is refused a resource whose policy names another spec hash" \
    "$CLI" run --quiet --threads 1 --out "$T/out-hx" hx.yaml
has "$T/.e" "another pipeline spec" "the refusal names the pipeline spec"
[ ! -e out-hx ] && ok "the spec-refused run wrote nothing" || bad "the spec-refused run wrote files"

# ---- a model key generated inside the enclave and registered with the KBS ----
WK=$("$CLI" kbs info --data-dir kbsd | awk '/^wrap_key_sha256/ {print $2}')
spec gen.yaml "" "" gen "kbs: {url: \"$KBS\", insecure_http: true, wrap_key_sha256: \"sha256:$WK\", retries: 2}" \
    "  key: {repo: gen, type: model, tag: run1}
  generate_key: true
  key_policy: '{\"tee\": [\"sim\"], \"allow_simulated\": true}'"
MG=$("$CLI" run --measure gen.yaml | awk '/^measurement/ {print $2}')
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$MG" > rel-gen.json
expect 0 "put-resource e2e/dataset/gen" "$CLI" kbs put-resource --insecure-http --kbs "$KBS" --admin-token-file kbsd/admin.token \
    --resource e2e/dataset/gen --secret-file data.key --policy rel-gen.json
expect 1 "no model key under gen/model/run1 before the run" env SECUREAI_PLATFORM_DIR="$T/plat/platform" "$CLI" kbs get-resource --insecure-http --kbs "$KBS" --tee sim \
    --resource gen/model/run1 --out gen-before.key
expect 0 "a run that generates its model key inside the enclave and registers it" \
    "$CLI" run --quiet --threads 1 --out "$T/out-gen" gen.yaml
expect 0 "the registered key is released under its policy (kbs get-resource from a sim TEE)" \
    env SECUREAI_PLATFORM_DIR="$T/plat/platform" "$CLI" kbs get-resource --insecure-http --kbs "$KBS" --tee sim \
    --resource gen/model/run1 --out gen.key
expect 0 "the generated key opens the model" "$CLI" unseal --key gen.key out-gen/model.sealed gen-ckpt.bin
head -c 8 gen-ckpt.bin | grep -q SAINNCK && ok "the generated-key model is an engine checkpoint" || bad "checkpoint magic (gen)"
expect 1 "the model owner's registered key does not open it" "$CLI" unseal --key model.key out-gen/model.sealed x.bin
expect 1 "a second run cannot overwrite the registered key" "$CLI" run --quiet --threads 1 --out "$T/out-gen2" gen.yaml
has "$T/.e" "never overwrites" "the refusal says registration never overwrites"
[ ! -e out-gen2 ] && ok "the refused registration wrote nothing" || bad "the refused registration wrote files"
"$CLI" kbs audit show --insecure-http --kbs "$KBS" --admin-token-file kbsd/admin.token --limit 200 >audit.txt 2>&1
grep -q 'register' audit.txt && grep -q "$MG" audit.txt && ok "the registration is audited with the enclave's measurement" \
    || { bad "registration audit"; head -5 audit.txt; }

# ---- kbs.ca: the enclave verifies a TLS KBS with the measured CA (no pin) ----
"$CLI" kbs serve --data-dir kbsd-tls --port 0 --port-file port-tls \
    --attestation-policy att.yaml --quiet >kbs-tls.log 2>&1 &
TLS_PID=$!
for _ in $(seq 50); do [ -s port-tls ] && break; sleep 0.1; done
TPORT=$(cat port-tls 2>/dev/null)
if [ -n "$TPORT" ] && [ -s kbsd-tls/tls.crt ]; then
    ok "TLS KBS listening on 127.0.0.1:$TPORT"
    TKBS=https://127.0.0.1:$TPORT
    # a wrong CA: a self-signed certificate of another key, same names
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout wrong.key \
        -out wrong-ca.crt -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
    spec ca.yaml "" "" ca "kbs: {url: \"$TKBS\", ca: $T/kbsd-tls/tls.crt, retries: 2}"
    spec wrongca.yaml "" "" ca "kbs: {url: \"$TKBS\", ca: $T/wrong-ca.crt, retries: 2}"
    MC=$("$CLI" run --measure ca.yaml | awk '/^measurement/ {print $2}')
    MW=$("$CLI" run --measure wrongca.yaml | awk '/^measurement/ {print $2}')
    [ "$MC" != "$MW" ] && ok "the CA is measured" || bad "the CA did not change the measurement"
    printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s","%s"]}\n' "$MC" "$MW" > rel-ca.json
    for r in dataset model; do
        k=data.key; [ $r = model ] && k=model.key
        expect 0 "put-resource e2e/$r/ca over TLS (--ca)" "$CLI" kbs put-resource --kbs "$TKBS" --ca kbsd-tls/tls.crt \
            --admin-token-file kbsd-tls/admin.token --resource e2e/$r/ca --secret-file $k --policy rel-ca.json
    done
    expect 0 "a run with kbs.ca (no pin) verifies the KBS's self-signed certificate" \
        "$CLI" run --quiet --threads 1 --out "$T/out-ca" ca.yaml
    [ -s out-ca/model.sealed ] && ok "the kbs.ca run wrote its model" || bad "no model from the kbs.ca run"
    python3 -c 'import json,base64,sys; e=json.load(open(sys.argv[1])); p=e["payload"]; \
        s=json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4))); sys.exit(s["predicate"]["kbs_channel"]!="tls-ca")' \
        out-ca/provenance.json && ok "the provenance says the keys came over TLS with the CA (kbs_channel)" \
        || bad "kbs_channel in the kbs.ca run's provenance"
    expect 1 "a CA-anchored spec handed an http:// KBS URL by the host is refused (no downgrade)" \
        "$CLI" run --quiet --threads 1 --kbs "$KBS" --out "$T/out-downgrade" ca.yaml
    has "$T/.e" "kbs.insecure_http" "the downgrade refusal names kbs.insecure_http"
    expect 1 "a run with a wrong kbs.ca fails" "$CLI" run --quiet --threads 1 --out "$T/out-wrongca" wrongca.yaml
    has "$T/.e" "does not match the pin or CA" "the wrong-CA error says the KBS certificate was refused"
    [ ! -e out-wrongca ] && ok "the wrong-CA run wrote nothing" || bad "the wrong-CA run wrote files"
else
    bad "TLS KBS did not start"; cat kbs-tls.log
fi
kill "$TLS_PID" 2>/dev/null; wait "$TLS_PID" 2>/dev/null; TLS_PID=

# ---- the host dies mid-run: the enclave dies at once and nothing is left ------------
spec long.yaml "  max_steps: 100000
  epochs: 100" "" long
sed -i '/^  max_steps: 4$/d; /^  epochs: 1$/d' long.yaml
ML=$("$CLI" run --measure long.yaml | awk '/^measurement/ {print $2}')
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$ML" > rel-long.json
for r in dataset model; do
    k=data.key; [ $r = model ] && k=model.key
    "$CLI" kbs put-resource --insecure-http --kbs "$KBS" --admin-token-file kbsd/admin.token --resource e2e/$r/long \
        --secret-file $k --policy rel-long.json >/dev/null 2>&1
done
"$CLI" run --quiet --threads 1 --out "$T/out-killed" long.yaml >/dev/null 2>&1 &
HOST=$!
EPID=
for _ in $(seq 300); do
    # this test's platform service -> the launch monitor -> the enclave
    for mon in $(pgrep -P "$SAI_PLATFORM_PID"); do EPID=$(pgrep -P "$mon" | head -1); done
    [ -n "$EPID" ] && break
    sleep 0.05
done
sleep 0.5
kill -9 "$HOST" 2>/dev/null; wait "$HOST" 2>/dev/null
gone=
for _ in $(seq 40); do
    kill -0 "$EPID" 2>/dev/null || { gone=1; break; }
    sleep 0.05
done
[ -n "$EPID" ] && [ -n "$gone" ] && ok "killing the host stops its enclave within 2 s" || bad "the enclave outlived its host (pid $EPID)"
[ -z "$(ls -A out-killed 2>/dev/null)" ] && ok "a killed host leaves no file behind" || { bad "a killed host left files"; ls -la out-killed; }

# ---- KBS down -----------------------------------------------------------------------
kill "$KBS_PID"; wait "$KBS_PID" 2>/dev/null; KBS_PID=
start=$(date +%s)
expect 1 "KBS down fails the run" timeout 60 "$CLI" run --quiet --out "$T/out-down" good.yaml
took=$(( $(date +%s) - start ))
[ "$took" -lt 30 ] && ok "KBS down fails in ${took}s (bounded retries, no hang)" || bad "KBS down took ${took}s"
has "$T/.e" "key broker" "the error names the key broker"
[ ! -e out-down/model.sealed ] && ok "no model when the KBS is down" || bad "a model was written"

echo "# $fails failure(s)"
[ "$fails" = 0 ]
