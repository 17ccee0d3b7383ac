#!/usr/bin/env bash
# test_framework_run.sh — framework mode of `secureai run`: a PyTorch script
# (tests/pipeline/fw_train.py) runs in the sim enclave's interpreter child,
# under the enclave's sandbox, on a sealed Fashion-MNIST slice
# (tests/data/fashion-mnist-slice) handed over by the package; its model is
# sealed under the model key and the statement verifies. The script itself
# fails the run if it can open the plaintext dataset or the sealed shard,
# create a plaintext model file, list a directory, make a socket or fork.
# The measurement covers the script: one changed byte is another
# measurement and gets no key. docs/frameworks.md, "Framework mode".
set -u
CLI=${SAI_CLI:?}
SRC=${SAI_SOURCE_DIR:?}
BIN=${SAI_BINARY_DIR:?}
. "$SRC/tests/pipeline/run_common.sh"
rc_begin fwrun
# An ASan build's library cannot be loaded by an uninstrumented python3 (as tests/python).
if nm -D "$BIN/libsecureai.so" 2>/dev/null | grep ' __asan_init' >/dev/null; then
    echo "SKIP: libsecureai.so is an AddressSanitizer build"; exit 77
fi
# (found, not imported: importing torch takes seconds, and the one check
# below that imports it does so once for everything)
/usr/bin/python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' 2>/dev/null ||
    { echo "FAIL: /usr/bin/python3 has no torch (scripts/install-deps.sh check)"; exit 1; }
export OMP_NUM_THREADS=1

cp -r "$SRC/tests/data/fashion-mnist-slice" plain
"$CLI" keygen --out data.key >/dev/null 2>&1 && "$CLI" keygen --out model.key >/dev/null 2>&1 || { bad "keygen"; exit 1; }
"$CLI" seal --key data.key plain sealed >seal.out 2>&1 || { bad "seal"; cat seal.out; exit 1; }
DSID=$(sed -n 's/^dataset id: sha256:\([0-9a-f]\{64\}\)$/\1/p' seal.out)
rc_start "$T" || { bad "platform/KBS"; exit 1; }
cp "$SRC/tests/pipeline/fw_train.py" train.py
shard=$(ls sealed | grep -v manifest | head -1)

spec() { # spec FILE SCRIPT OUTDIR
    cat > "$1" <<EOS
version: 1
name: fwtiny
stages: [ingest, train, evaluate]
dataset:
  sealed: $T/sealed
  resource: {repo: fw, type: dataset, tag: t}
model:
  arch: tinycnn
  key: {repo: fw, type: model, tag: t}
hyper: {epochs: 2, batch: 64, lr: 0.05, seed: 7}
train:
  framework: pytorch
  script: $2
  args: ["$T/plain/train-images-idx3-ubyte.gz", "$T/sealed/$shard", "$T/plain-model.pt"]
kbs: {url: "$RC_KBS", ca: $RC_CA, retries: 2}
outputs: {dir: $3}
EOS
}
spec fw.yaml train.py "$T/out"
"$CLI" run --measure fw.yaml --canonical-out canon.json >measure.out 2>&1 || { bad "measure"; cat measure.out; exit 1; }
rc_release "$T" fw.yaml fw || { bad "release"; exit 1; }
start=$(date +%s.%N)
if "$CLI" run --threads 2 fw.yaml >run.log 2>&1; then ok "secureai run (framework mode) trains the script's model"
else bad "framework run"; cat run.log; tail -20 "$T/plat/platform.log"; fi
echo "  (framework run: $(echo "$(date +%s.%N) - $start" | bc) s)"
for w in "read the plaintext dataset" "read the sealed shard" "write a plaintext model" "torch.save to a path" \
         "list /" "make an AF_INET socket" "make an AF_UNIX socket" "fork"; do
    grep -q "\"denied\":[[:space:]]*\"$w\"" out/run.json && ok "the sandbox denies the script: $w" || bad "no denial logged for: $w"
done
[ ! -e plain-model.pt ] && ok "no plaintext model file exists" || bad "a plaintext model file was written"
/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
assert m["train_records"] == 512 and m["test_records"] == 256, m
assert m["steps"] == 16, m                     # 2 epochs x 8 batches of 64
assert 0.4 <= m["test_accuracy"] <= 1.0, m     # chance is 0.1
print("  test accuracy", m["test_accuracy"])' out/run.json && ok "the script's metrics are the run's (512/256 records, 16 steps, learnt)" || bad "metrics"
rc_verify_policy "$T" "$DSID"
"$CLI" verify out/model.sealed --provenance out/provenance.json --policy verify.json >verify.out 2>&1 &&
    ok "secureai verify accepts the framework run's statement" || { bad "verify"; cat verify.out; }
# The same statement through the Python package (secureai.provenance, the C
# verifier via ctypes): the script's sp.report() metrics are the signed ones;
# a statement whose metrics were edited, or a policy of another
# measurement, is refused with the verifier's sentence.
SECUREAI_LIB="$BIN/libsecureai.so" PYTHONPATH="$SRC/python" /usr/bin/python3 - >prov.out 2>&1 <<'PY'
import base64, json, secureai, secureai.provenance as prov
v = prov.verify("out/model.sealed", "out/provenance.json", "verify.json")
run = json.load(open("out/run.json"))["metrics"]
assert v.tee == "sim" and v.simulated, v
assert v.metrics["test_accuracy"] == run["test_accuracy"] and v.metrics["steps"] == 16, (v.metrics, run)
env = json.load(open("out/provenance.json"))
b = env["payload"]; p = json.loads(base64.urlsafe_b64decode(b + "=" * (-len(b) % 4)))
p["predicate"]["metrics"]["test_accuracy"] = 0.99
env["payload"] = base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
try:
    prov.verify("out/model.sealed", json.dumps(env).encode(), "verify.json"); raise SystemExit("edited metrics verified")
except secureai.SecureAIError as e:
    assert "signature" in str(e), e
pol = json.load(open("verify.json")); pol["measurement"] = "ab" * 48
json.dump(pol, open("verify-other.json", "w"))
try:
    prov.verify("out/model.sealed", "out/provenance.json", "verify-other.json"); raise SystemExit("other measurement verified")
except secureai.SecureAIError as e:
    assert "measurement" in str(e), e
print("provenance ok")
PY
grep -qx "provenance ok" prov.out && ok "secureai.provenance verifies the statement (the script's metrics signed), refuses edited metrics and another measurement" || { bad "secureai.provenance"; cat prov.out; }
"$CLI" unseal --key model.key out/model.sealed model.pt >/dev/null 2>&1 || bad "secureai unseal of the model"
# One interpreter (torch imported once) checks the measured spec's train
# section against the files and loads the unsealed model.
/usr/bin/python3 - canon.json "$(sha256sum train.py | cut -c1-64)" model.pt >canon.out 2>&1 <<'PY'
import base64, json, sys, hashlib, torch
t = json.load(open(sys.argv[1]))["train"]
ok = True
try:
    assert t["framework"] == "pytorch" and t["script"]["name"] == "train.py"
    assert t["script"]["sha256"] == sys.argv[2]
    b = t["script"]["bytes"]; assert hashlib.sha256(base64.urlsafe_b64decode(b + "=" * (-len(b) % 4))).hexdigest() == sys.argv[2]
    assert t["python"]["sha256"] == hashlib.sha256(open("/usr/bin/python3", "rb").read()).hexdigest()
    assert t["python"]["version"] == sys.version.split()[0], (t["python"], sys.version)
    assert t["torch"]["version"] == torch.__version__, (t["torch"], torch.__version__)
    assert len(t["runtime_sha256"]) == 64 and len(t["args"]) == 3
    print("canon ok")
except AssertionError as e:
    print("canon FAIL", repr(e)); ok = False
try:
    sd = torch.load(sys.argv[3]); assert sd["fc.weight"].shape == (10, 1568)
    print("model ok")
except Exception as e:
    print("model FAIL", repr(e))
PY
grep -qx "canon ok" canon.out && ok "the script's bytes and hash, the interpreter's hash and version, torch's version and the runtime hash are in the measured spec" || { bad "canonical train section"; cat canon.out; }
grep -qx "model ok" canon.out && ok "the sealed model is the script's torch.save under the model key" || { bad "unseal + torch.load"; cat canon.out; }

# One byte more in the script: another measurement, no key, nothing published.
{ cat train.py; echo "# changed"; } > train2.py
spec fw2.yaml train2.py "$T/out2"
if "$CLI" run --threads 2 fw2.yaml >run2.log 2>&1; then bad "a changed script got the keys"
else grep -q "key broker" run2.log && ok "a changed script is another measurement: the KBS refuses it" || { bad "changed script error"; cat run2.log; }; fi
[ ! -e out2/model.sealed ] && ok "nothing published for the changed script" || bad "published"

exit $((fails > 0))
