#!/usr/bin/env bash
# test_cvm_e2e.sh — the confidential-VM mode of issue 18 end to end, against
# an SEV-SNP emulation that signs fresh reports with a TEST root
# (tests/tee/emu/tee_emu.c, SAI_EMU_SNP_SIGN; docs/hardware.md):
#   - `secureai run` with tee: sev-snp in "the guest": the VMM's HOST_DATA =
#     the spec hash, checked by the guest against its own report; the KBS
#     releases the keys to evidence that chains to the test root because its
#     attestation policy trusts that root explicitly (emulated_roots);
#     `secureai verify` affirms the statement with the same explicit trust;
#   - every output labels the evidence EMULATED (run log, run.json, the
#     statement's protection, verify, the KBS audit: simulated=1 EMULATED);
#   - a policy that pins only AMD's roots refuses it; a changed byte of the
#     emulated report is refused (by the KBS in a run, by verify-evidence);
#     a guest launched with another HOST_DATA refuses the spec; a TDX guest
#     whose MRCONFIGID does not bind the spec refuses it.
# No root needed: there is no platform service in a confidential VM.
set -u
. "$(dirname "$0")/../attest/cli_common.sh"
EMU=${SAI_TEE_EMU:?}
FM=/usr/share/datasets/fashion-mnist
[ -f "$FM/train-images-idx3-ubyte.gz" ] || { echo "SKIP: $FM missing"; exit 77; }
has() { grep -q -- "$2" "$3" && ok "$1" || { bad "$1 (no /$2/ in $3)"; head -c 800 "$3"; echo; }; }
hasnt() { grep -q -- "$2" "$3" && { bad "$1 (/$2/ in $3)"; head -c 800 "$3"; echo; } || ok "$1"; }
KBS_PID=
cleanup() { [ -n "$KBS_PID" ] && kill "$KBS_PID" 2>/dev/null && wait "$KBS_PID" 2>/dev/null; }
trap 'cleanup; rm -rf "$T"' EXIT
# No sim platform is trusted implicitly anywhere in this test.
export SECUREAI_PLATFORM_DIR=$T/no-sim-platform

cd "$T" || exit 1
/usr/bin/python3 "$SAI_SOURCE_DIR/tests/pipeline/mkidx.py" "$FM" plain 256 128 >/dev/null || { bad "mkidx"; finish; }
"$CLI" keygen --out data.key >/dev/null 2>&1 && "$CLI" keygen --out model.key >/dev/null 2>&1 &&
    "$CLI" seal --key data.key plain sealed >seal.out 2>&1 || { bad "seal"; finish; }
DSID=$(sed -n 's/^dataset id: sha256:\([0-9a-f]\{64\}\)$/\1/p' seal.out)

# The test root: an ECDSA P-384 ARK -> ASK -> VCEK chain made now.
"$CLI" platform init --dir "$T/testroot" >/dev/null 2>&1 || { bad "test root"; finish; }
FP=$(/usr/bin/python3 -c 'import base64,hashlib,sys
t=open(sys.argv[1]).read().split("-----")[2]
print(hashlib.sha256(base64.b64decode("".join(t.split()))).hexdigest())' "$T/testroot/ark.pem")
printf 'allowed_tee: [sev-snp]\nallow_simulated: true\nemulated_roots: [%s]\n' "$FP" > att-emu.yaml
printf 'allowed_tee: [sev-snp]\nallow_simulated: true\n' > att-amd.yaml          # AMD's pinned roots only
printf 'allowed_tee: [sev-snp, sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$FP" > att-simroot.yaml

"$CLI" kbs serve --data-dir kbsd --port 0 --port-file port --attestation-policy att-emu.yaml --quiet >kbs.log 2>&1 &
KBS_PID=$!
for _ in $(seq 100); do [ -s port ] && [ -s kbsd/tls.crt ] && break; sleep 0.1; done
[ -s port ] || { bad "KBS did not start"; cat kbs.log; finish; }
cp kbsd/tls.crt kbs-ca.crt
KBS=https://127.0.0.1:$(cat port)
spec() {   # spec FILE TEE TAG
    cat > "$1" <<EOS
version: 1
name: cvm
tee: $2
stages: [ingest, preprocess, train, evaluate]
dataset:
  sealed: $T/sealed
  resource: {repo: cvm, type: dataset, tag: fm}
model:
  arch: smallcnn
  key: {repo: cvm, type: model, tag: fm}
hyper: {epochs: 1, batch: 32, train_limit: 64, test_limit: 64, lr: 0.05}
kbs: {url: "$KBS", ca: $T/kbs-ca.crt, retries: 2}
outputs: {dir: $T/$3}
EOS
}
spec spec.yaml sev-snp runout
expect 0 "run --measure prints what the VMM binds" "$CLI" run --measure spec.yaml
H=$(awk '/^spec_sha256/ {print $2}' "$T/out")
has "HOST_DATA = the spec hash" "^host_data $H" "$T/out"
# The guest's launch measurement, as the (emulated) PSP measured the image.
M=$(printf 'emulated guest image' | sha384sum | cut -c1-96)
printf '{"tee":["sev-snp"],"allow_simulated":true,"measurements":["%s"],"pipeline_spec_hash":"%s"}\n' "$M" "$H" > release.json
for r in dataset:data model:model; do
    "$CLI" kbs put-resource --kbs "$KBS" --ca kbs-ca.crt --admin-token-file kbsd/admin.token --resource "cvm/${r%%:*}/fm" \
        --secret-file "${r#*:}.key" --policy release.json >/dev/null 2>&1 || bad "put-resource $r"
done

VCEK=63da758d-e664-4564-adc5-f4b93be8accd ASK=4ab7b379-bbac-4fe4-a02f-05aef327c782 ARK=c0b406a4-a803-4952-9743-3fb6014cd0ae
CERTS="$VCEK=$T/testroot/vcek.pem;$ASK=$T/testroot/ask.pem;$ARK=$T/testroot/ark.pem"
guest() {   # the SEV-SNP guest: configfs-tsm emulated, reports signed by the test root
    env LD_PRELOAD="$EMU" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        SAI_EMU_ROOT="$T/guest" SAI_EMU_TSM_PROVIDER=sev_guest SAI_EMU_SNP_SIGN="$T/testroot" \
        SAI_EMU_MEASUREMENT="$M" SAI_EMU_CERTS="$CERTS" "$@"
}

# ---- refusals that cost no training: each stops before the KBS --------------------------
OTHER=$(printf 'another spec' | sha256sum | cut -c1-64)
expect 1 "a guest launched with another HOST_DATA refuses the spec" guest SAI_EMU_HOST_DATA="$OTHER" \
    "$CLI" run --tee-root "$T/guest" --quiet --threads 1 spec.yaml
has "... naming HOST_DATA" "not the one this guest was launched with.*HOST_DATA" "$T/err"
[ ! -e runout ] && ok "... and leaves nothing" || bad "output left after a refused spec"
expect 1 "a changed byte of the emulated report: the KBS refuses it" guest SAI_EMU_HOST_DATA="$H" SAI_EMU_CORRUPT=144 \
    "$CLI" run --tee-root "$T/guest" --quiet --threads 1 spec.yaml
has "... on its signature" "signature" "$T/err"
[ ! -e runout ] && ok "... and the run leaves nothing" || bad "output left after a refused attestation"
spec tdx.yaml tdx runout-tdx
expect 1 "a TDX guest whose MRCONFIGID does not bind the spec refuses it" env LD_PRELOAD="$EMU" \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" SAI_EMU_ROOT="$T/tdxg" SAI_EMU_TSM_PROVIDER=tdx_guest \
    SAI_EMU_OUTBLOB="$SAI_TEST_DATA_DIR/vectors/tdx/dcapqvl_tdx_quote.dat" SAI_EMU_BIND=1 \
    "$CLI" run --tee-root "$T/tdxg" --quiet --threads 1 tdx.yaml
has "... naming MRCONFIGID" "MRCONFIGID" "$T/err"

# ---- the run -----------------------------------------------------------------------------
expect 0 "the pipeline runs in confidential-VM mode on the emulation" guest SAI_EMU_HOST_DATA="$H" \
    "$CLI" run --tee-root "$T/guest" --threads 1 spec.yaml
cp "$T/err" run.log; cp "$T/out" run.out
has "the run log says EMULATED" "EMULATED SEV-SNP platform" run.log
has "the run's summary says EMULATED" "EMULATED SEV-SNP platform" run.out
hasnt "... and never that it is hardware-protected" "encrypted and integrity-protected" run.out
has "run.json: launched_by confidential-vm" '"launched_by":.*"confidential-vm"' runout/run.json
has "run.json: emulated" '"emulated":.*true' runout/run.json
has "run.json: protection EMULATED" '"protection":.*"EMULATED SEV-SNP' runout/run.json
has "run.json: the emulated launch measurement" "\"measurement\":.*\"$M\"" runout/run.json
/usr/bin/python3 -c 'import json,base64,sys
e=json.load(open(sys.argv[1])); p=e["payload"]; p+="="*(-len(p)%4)
print(json.dumps(json.loads(base64.urlsafe_b64decode(p))["predicate"]))' runout/provenance.json > predicate.json
has "the signed statement says EMULATED" '"protection": "EMULATED SEV-SNP' predicate.json
has "the signed statement says sev-snp" '"tee": "sev-snp"' predicate.json
"$CLI" kbs audit show --kbs "$KBS" --ca kbs-ca.crt --admin-token-file kbsd/admin.token --limit 50 >audit.txt 2>&1
has "the KBS audit records sev-snp evidence as EMULATED" "tee=sev-snp measurement=$M.*simulated=1 EMULATED" audit.txt

# ---- verify ------------------------------------------------------------------------------
vpol() { printf '{"measurement":"%s","dataset_identity":"%s","spec_sha256":"%s","allow_simulated":true,"attestation_policy":"%s"}\n' \
    "$M" "$DSID" "$H" "$1" > "$2"; }
vpol att-emu.yaml v-emu.json; vpol att-amd.yaml v-amd.json; vpol att-simroot.yaml v-simroot.json
expect 0 "verify affirms it with the test root trusted explicitly" "$CLI" verify runout/model.sealed \
    --provenance runout/provenance.json --policy v-emu.json
has "verify says EMULATED" "EMULATED SEV-SNP platform" "$T/out"
expect 1 "a policy pinning AMD's roots refuses it" "$CLI" verify runout/model.sealed --provenance runout/provenance.json \
    --policy v-amd.json
has "... at the chain" "chain" "$T/err"
expect 1 "the test root trusted as a sim root is not SEV-SNP evidence" "$CLI" verify runout/model.sealed \
    --provenance runout/provenance.json --policy v-simroot.json
has "... (the evidence is then sim, the statement sev-snp)" "tee" "$T/err"
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":false,"attestation_policy":"att-emu.yaml"}\n' \
    "$M" "$DSID" > v-nosim.json
expect 1 "allow_simulated: false refuses it even with the root trusted" "$CLI" verify runout/model.sealed \
    --provenance runout/provenance.json --policy v-nosim.json
expect 0 "report --policy verifies the run" "$CLI" report runout --policy v-emu.json
has "the verified report says EMULATED" "EMULATED SEV-SNP platform" runout/report.html
hasnt "... and never calls it hardware-protected" "encrypted and integrity-protected" runout/report.html

# ---- the evidence itself -------------------------------------------------------------------
RD=$(printf '5a%.0s' $(seq 64))
expect 0 "attest in the emulated guest" guest SAI_EMU_HOST_DATA="$H" "$CLI" attest --tee sev-snp --root "$T/guest" \
    --report-data "$RD" --require-certs --out ev.json
expect 0 "verify-evidence affirms it with the test root (and our report data)" "$CLI" verify-evidence ev.json \
    --policy att-emu.yaml --report-data "$RD"
has "... labelled EMULATED" "EMULATED platform" "$T/out"
expect 1 "verify-evidence with AMD's roots only refuses it" "$CLI" verify-evidence ev.json --policy att-amd.yaml
/usr/bin/python3 -c 'import json,base64,sys
e=json.load(open(sys.argv[1])); r=e["report"]; b=bytearray(base64.urlsafe_b64decode(r+"="*(-len(r)%4)))
b[0x90]^=1; e["report"]=base64.urlsafe_b64encode(bytes(b)).decode().rstrip("=")
json.dump(e,open(sys.argv[2],"w"))' ev.json ev-flip.json
expect 1 "a changed byte of the emulated report is refused" "$CLI" verify-evidence ev-flip.json --policy att-emu.yaml
has "... on its signature" "signature" "$T/err"
finish
