#!/usr/bin/env bash
# demo.sh — `make demo`: the confidential pipeline end to end on the real
# Fashion-MNIST (Debian's dataset-fashion-mnist), on the simulated TEE.
#
#   scripts/demo.sh [WORKDIR]      (default: build/demo in the source tree)
#
#   1. sim platform (a fresh simulated AMD-style key hierarchy)
#   2. data owner: data key + model key, seal the dataset
#   3. key broker on loopback, attestation policy for this platform
#   4. register both keys with a release policy that admits exactly the
#      launch measurement of examples/fashion-mnist.yaml
#   5. secureai run (enclave: attest, key, decrypt, train, seal, sign)
#   6. secureai verify (offline: evidence, key binding, signature, model,
#      dataset identity, measurement)
#   7. plain baseline: the same model on the plaintext files, same batch,
#      for SAI_DEMO_BASELINE_STEPS steps (images/s for the overhead figure)
#   8. stop the KBS, print a summary
#
# Environment: SAI_CLI (default build/secureai), SAI_DEMO_DATA (default
# /usr/share/datasets/fashion-mnist), SAI_DEMO_SPEC (default
# examples/fashion-mnist.yaml), SAI_DEMO_BASELINE_STEPS (default 50).
# Safe to run again: the work directory is recreated each time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cli=${SAI_CLI:-$root/build/secureai}
src=${SAI_DEMO_DATA:-/usr/share/datasets/fashion-mnist}
spec=${SAI_DEMO_SPEC:-$root/examples/fashion-mnist.yaml}
base_steps=${SAI_DEMO_BASELINE_STEPS:-50}
work=${1:-$root/build/demo}
kbs_pid=

die() { echo "demo: $*" >&2; exit 1; }
stop_kbs() {
  if [ -n "$kbs_pid" ]; then kill "$kbs_pid" 2>/dev/null || true; wait "$kbs_pid" 2>/dev/null || true; kbs_pid=; fi
}
trap stop_kbs EXIT
[ -x "$cli" ] || die "$cli not built (run 'make build')"
[ -d "$src" ] || die "$src missing (Debian package dataset-fashion-mnist; scripts/install-deps.sh demo)"

t0=$(date +%s.%N)
rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"
export SECUREAI_PLATFORM_DIR="$work/platform"
export OPENBLAS_NUM_THREADS=1

echo "== 1. simulated TEE platform"
"$cli" platform init >/dev/null
fp=$("$cli" platform info | awk '/^sim_ark_sha256/ {print $2}')
echo "sim ARK sha256:$fp (SIMULATED: software isolation only)"

echo "== 2. data owner: keys, seal $src"
"$cli" keygen --out "$work/data.key" >/dev/null
"$cli" keygen --out "$work/model.key" >/dev/null
"$cli" seal --key "$work/data.key" --key-id demo/dataset/fashion-mnist "$src" "$work/fashion-mnist.sealed" \
  | tee "$work/seal.txt"
dsid=$(sed -n 's/^dataset id: sha256://p' "$work/seal.txt")
[ ${#dsid} = 64 ] || die "no dataset identity from seal"

echo "== 3. key broker on loopback"
printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$fp" > "$work/attestation.yaml"
"$cli" kbs serve --data-dir "$work/kbs" --insecure-http --port 0 --port-file "$work/kbs.port" \
  --attestation-policy "$work/attestation.yaml" --quiet >"$work/kbs.log" 2>&1 &
kbs_pid=$!
for _ in $(seq 100); do [ -s "$work/kbs.port" ] && break; sleep 0.1; done
[ -s "$work/kbs.port" ] || { cat "$work/kbs.log" >&2; die "the KBS did not start"; }
kbs=http://127.0.0.1:$(cat "$work/kbs.port")
echo "KBS at $kbs (pid $kbs_pid)"

echo "== 4. register the keys for exactly this pipeline's measurement"
run_opts=(--dataset "$work/fashion-mnist.sealed" --out "$work/run" --kbs "$kbs")
meas=$("$cli" run --measure "${run_opts[@]}" "$spec" | awk '/^measurement/ {print $2}')
echo "launch measurement $meas"
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$meas" > "$work/release.json"
"$cli" kbs put-resource --kbs "$kbs" --admin-token-file "$work/kbs/admin.token" \
  --resource demo/dataset/fashion-mnist --secret-file "$work/data.key" --policy "$work/release.json" >/dev/null
"$cli" kbs put-resource --kbs "$kbs" --admin-token-file "$work/kbs/admin.token" \
  --resource demo/model/fashion-mnist --secret-file "$work/model.key" --policy "$work/release.json" >/dev/null

echo "== 5. secureai run $spec"
t_run0=$(date +%s.%N)
"$cli" run "${run_opts[@]}" "$spec" | tee "$work/run.txt"
t_run1=$(date +%s.%N)

echo "== 6. secureai verify"
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true}\n' "$meas" "$dsid" > "$work/verify.json"
if "$cli" verify "$work/run/model.sealed" --provenance "$work/run/provenance.json" --policy "$work/verify.json" \
     >"$work/verify.txt" 2>&1; then
  verdict="VERIFIED"
else
  verdict="FAILED"
fi
cat "$work/verify.txt"

echo "== 7. plain baseline (no enclave, plaintext files, $base_steps steps)"
plain=$("$cli" run --plain "$src" --max-steps "$base_steps" "$spec")
echo "$plain"
stop_kbs

acc=$(awk '/^test_accuracy/ {print $2}' "$work/run.txt")
ips=$(awk '/^test_accuracy/ {print $4}' "$work/run.txt")
pips=$(echo "$plain" | awk '{print $5}')
t1=$(date +%s.%N)
echo
echo "================ SecureAI demo summary ================"
echo "TEE              sim (software isolation only; NO hardware memory protection)"
echo "dataset          Fashion-MNIST, identity sha256:$dsid"
echo "measurement      $meas"
awk -v a="$acc" 'BEGIN {printf "test accuracy    %.2f%%\n", a * 100}'
awk -v e="$ips" -v p="$pips" 'BEGIN {printf "training         %.1f images/s in the enclave, %.1f images/s plain\n", e, p;
  if (p > 0) printf "overhead         %+.1f%% training throughput (isolation + sealed ingest), see run.json timing\n", (p / e - 1) * 100}'
python3 - "$work/run/run.json" <<'EOF' 2>/dev/null || true
import json, sys
t = json.load(open(sys.argv[1]))["timing"]
print("security costs   attestation+key release %.3fs, ingest (decrypt+decode) %.3fs, sealing %.3fs, provenance %.3fs"
      % (t["attest_s"], t["ingest_s"], t["seal_s"], t["provenance_s"]))
EOF
echo "verdict          $verdict"
echo "model            $work/run/model.sealed (opens only with the model owner's key)"
echo "provenance       $work/run/provenance.json"
echo "report           $work/run/report.html"
awk -v a="$t0" -v b="$t1" -v r0="$t_run0" -v r1="$t_run1" \
  'BEGIN {printf "time             %.1f s total, %.1f s in secureai run\n", b - a, r1 - r0}'
[ "$verdict" = VERIFIED ] || exit 1
