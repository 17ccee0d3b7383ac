#!/usr/bin/env bash
# demo.sh — `make demo`: the confidential pipeline end to end on the real
# Fashion-MNIST (Debian's dataset-fashion-mnist), on the simulated TEE.
#
#   scripts/demo.sh [WORKDIR]      (default: build/demo in the source tree)
#
#   1. the platform service (scripts/platform-service.sh): its own system
#      user holds the simulated AMD-style key hierarchy and launches enclaves
#      under another user; stopped again at the end if this script started it
#   2. data owner: data key + model key, seal the dataset
#   3. key broker on loopback over TLS 1.3, attestation policy for this
#      platform; a copy of the spec with the KBS's certificate pin (measured:
#      the host cannot point the enclave at another KBS)
#   4. register both keys with a release policy that admits exactly the
#      launch measurement of that spec
#   5. secureai run (enclave: attest, key, decrypt, train, seal, sign)
#   6. secureai verify (offline: evidence, key binding, signature, model,
#      dataset identity, measurement); then a tampered shard is refused
#   7. overhead probe: the same model for SAI_DEMO_BASELINE_STEPS steps,
#      plain (plaintext files, one process) and in the enclave (sealed data,
#      attestation, isolation, sealing), back to back so both see the same
#      machine load
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
platform_started=
insecure=()

die() { echo "demo: $*" >&2; exit 1; }
stop_kbs() {
  if [ -n "$kbs_pid" ]; then kill "$kbs_pid" 2>/dev/null || true; wait "$kbs_pid" 2>/dev/null || true; kbs_pid=; fi
}
stop_all() {
  stop_kbs
  if [ -n "$platform_started" ]; then "$root/scripts/platform-service.sh" stop "$cli" || true; platform_started=; fi
}
trap stop_all EXIT
[ -x "$cli" ] || die "$cli not built (run 'make build')"
[ -d "$src" ] || die "$src missing (Debian package dataset-fashion-mnist; scripts/install-deps.sh demo)"

t0=$(date +%s.%N)
rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"
export OPENBLAS_NUM_THREADS=1
export SECUREAI_PLATFORM_SOCKET=${SECUREAI_PLATFORM_SOCKET:-/run/secureai/platform.sock}

echo "== 1. the platform service (simulated TEE)"
if [ "$(id -u)" -eq 0 ] || "$cli" platform info >/dev/null 2>&1; then
  state=$("$root/scripts/platform-service.sh" start "$cli")
  [ "$state" = started ] && platform_started=1
  "$cli" platform info | tee "$work/platform.txt"
  fp=$(awk '/^sim_ark_sha256/ {print $2}' "$work/platform.txt")
  owner=$(awk '/^platform_key_owner/ {print $2}' "$work/platform.txt")
  echo "the platform key belongs to $owner alone; enclaves run as $(awk '/^enclave_user/ {print $2}' "$work/platform.txt")"
else
  echo "demo: not root and no platform service: running with --insecure-dev (you hold the platform key;" \
       "nothing this demo produces is proven)" >&2
  export SECUREAI_PLATFORM_DIR="$work/platform"
  "$cli" platform init >/dev/null
  fp=$("$cli" platform info | awk '/^sim_ark_sha256/ {print $2}')
  owner="$(id -un) (INSECURE-DEV)"
  insecure=(--insecure-dev)
fi
echo "sim ARK sha256:$fp (SIMULATED: software isolation only)"

echo "== 2. data owner: keys, seal $src"
"$cli" keygen --out "$work/data.key" >/dev/null
"$cli" keygen --out "$work/model.key" >/dev/null
"$cli" seal --key "$work/data.key" --key-id demo/dataset/fashion-mnist "$src" "$work/fashion-mnist.sealed" \
  | tee "$work/seal.txt"
dsid=$(sed -n 's/^dataset id: sha256://p' "$work/seal.txt")
[ ${#dsid} = 64 ] || die "no dataset identity from seal"

echo "== 3. key broker on loopback (TLS 1.3, pinned in the measured spec)"
printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$fp" > "$work/attestation.yaml"
"$cli" kbs serve --data-dir "$work/kbs" --port 0 --port-file "$work/kbs.port" \
  --attestation-policy "$work/attestation.yaml" --quiet >"$work/kbs.log" 2>&1 &
kbs_pid=$!
for _ in $(seq 100); do [ -s "$work/kbs.port" ] && break; sleep 0.1; done
[ -s "$work/kbs.port" ] || { cat "$work/kbs.log" >&2; die "the KBS did not start"; }
kbs=https://127.0.0.1:$(cat "$work/kbs.port")
pin=$("$cli" kbs info --data-dir "$work/kbs" | awk '/^certificate_sha256/ {print $2}')
[ ${#pin} = 64 ] || die "no certificate pin from kbs info"
echo "KBS at $kbs (pid $kbs_pid), certificate sha256:$pin"
# The pin goes into the spec the enclave runs (it is measured), not onto a
# command line: the run's spec is a copy of $spec with this KBS's pin.
run_spec=$work/$(basename "$spec")
if grep -q '^  pin: ' "$spec"; then
  sed "s|^  pin: .*|  pin: sha256:$pin|" "$spec" > "$run_spec"
else
  sed "s|^kbs:.*|&\n  pin: sha256:$pin|" "$spec" > "$run_spec"
fi
grep -q "pin: sha256:$pin" "$run_spec" || die "could not put the pin into $run_spec"
spec=$run_spec
kbs_admin=(--kbs "$kbs" --pin "$pin" --admin-token-file "$work/kbs/admin.token")

echo "== 4. register the keys for exactly this pipeline's measurement"
run_opts=("${insecure[@]}" --dataset "$work/fashion-mnist.sealed" --out "$work/run" --kbs "$kbs")
meas=$("$cli" run --measure "${run_opts[@]}" "$spec" | awk '/^measurement/ {print $2}')
echo "launch measurement $meas ($spec)"
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$meas" > "$work/release.json"
"$cli" kbs put-resource "${kbs_admin[@]}" \
  --resource demo/dataset/fashion-mnist --secret-file "$work/data.key" --policy "$work/release.json" >/dev/null
"$cli" kbs put-resource "${kbs_admin[@]}" \
  --resource demo/model/fashion-mnist --secret-file "$work/model.key" --policy "$work/release.json" >/dev/null
# The overhead probe (step 7): same model and batch, a few steps, its own
# measurement and keys.
arch=$(awk '$1 == "arch:" {print $2; exit}' "$spec")
batch=$(awk '$1 == "batch:" {print $2; exit}' "$spec")
cat > "$work/probe.yaml" <<EOF
version: 1
name: overhead-probe
stages: [ingest, preprocess, train]
dataset: {sealed: $work/fashion-mnist.sealed, resource: {repo: demo, type: dataset, tag: fashion-mnist-probe}}
model: {arch: $arch, key: {repo: demo, type: model, tag: probe}}
hyper: {epochs: 1, batch: $batch, max_steps: $base_steps, lr: 0.1, seed: 1}
kbs: {url: "$kbs", pin: "sha256:$pin"}
outputs: {dir: $work/probe}
EOF
pmeas=$("$cli" run "${insecure[@]}" --measure "$work/probe.yaml" | awk '/^measurement/ {print $2}')
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$pmeas" > "$work/probe-release.json"
for r in dataset/fashion-mnist-probe:data.key model/probe:model.key; do
  "$cli" kbs put-resource "${kbs_admin[@]}" --resource "demo/${r%%:*}" \
    --secret-file "$work/${r#*:}" --policy "$work/probe-release.json" >/dev/null
done

echo "== 5. secureai run $spec"
t_run0=$(date +%s.%N)
"$cli" run "${run_opts[@]}" "$spec" | tee "$work/run.txt"
t_run1=$(date +%s.%N)

echo "== 6. secureai verify"
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"attestation.yaml"}\n' \
  "$meas" "$dsid" > "$work/verify.json"
if "$cli" verify "$work/run/model.sealed" --provenance "$work/run/provenance.json" --policy "$work/verify.json" \
     >"$work/verify.txt" 2>&1; then
  verdict="VERIFIED"
else
  verdict="FAILED"
fi
cat "$work/verify.txt"

echo "== 6b. the host flips one byte of one shard: the enclave refuses, nothing is written"
cp -r "$work/fashion-mnist.sealed" "$work/tampered.sealed"
printf '\x01' | dd of="$work/tampered.sealed/train-labels-idx1-ubyte.gz.sealed" bs=1 seek=4096 conv=notrunc status=none
if "$cli" run "${insecure[@]}" --quiet --dataset "$work/tampered.sealed" --out "$work/tampered-run" --kbs "$kbs" "$spec" \
     >/dev/null 2>"$work/tampered.err"; then
  die "a tampered dataset was accepted"
fi
[ ! -e "$work/tampered-run/model.sealed" ] || die "a refused run left a model behind"
echo "refused: $(cat "$work/tampered.err")"

echo "== 7. overhead probe: $base_steps steps plain, then the same in the enclave, twice, alternating"
# The machine is shared and noisy: alternate the two modes and keep the best
# time of each, so one slow moment does not read as a security cost.
field() { echo "$1" | awk -v k="$2" '{for (i = 2; i < NF; i++) if ($i == k) print $(i + 1)}'; }
json_field() { sed -n "s/.*\"$2\":[[:space:]]*\([0-9.]*\).*/\1/p" "$1"; }
min() { awk -v a="$1" -v b="$2" 'BEGIN {print (a == "" || (b != "" && b < a)) ? b : a}'; }
pwall= ptrain= swall= strain=
for round in 1 2; do
  plain=$("$cli" run --plain "$src" "$work/probe.yaml")
  pwall=$(min "$pwall" "$(field "$plain" wall_s)")
  ptrain=$(min "$ptrain" "$(field "$plain" train_s)")
  "$cli" run "${insecure[@]}" --quiet --out "$work/probe-$round" "$work/probe.yaml" >/dev/null
  swall=$(min "$swall" "$(json_field "$work/probe-$round/run.json" total_s)")
  strain=$(min "$strain" "$(json_field "$work/probe-$round/run.json" train_s)")
done
LC_ALL=C printf 'best of 2: plain %.3fs (training %.3fs), enclave %.3fs (training %.3fs)\n' \
  "$pwall" "$ptrain" "$swall" "$strain"
stop_kbs

acc=$(awk '/^test_accuracy/ {print $2}' "$work/run.txt")
ips=$(awk '/^test_accuracy/ {print $4}' "$work/run.txt")
t1=$(date +%s.%N)
echo
echo "================ SecureAI demo summary ================"
echo "TEE              sim (software isolation only; NO hardware memory protection)"
if [ ${#insecure[@]} -eq 0 ]; then
  echo "platform key     owned by $owner; the enclave ran as another user with a fixed environment"
else
  echo "platform key     held by you ($owner): INSECURE-DEV, nothing is proven"
fi
echo "dataset          Fashion-MNIST, identity sha256:$dsid"
echo "measurement      $meas"
echo "key broker       TLS 1.3, certificate sha256:${pin:0:16}... pinned in the measured spec"
awk -v a="$acc" 'BEGIN {printf "test accuracy    %.2f%%\n", a * 100}'
awk -v e="$ips" 'BEGIN {printf "training         %.1f images/s in the enclave\n", e}'
awk -v pw="$pwall" -v sw="$swall" -v pt="$ptrain" -v st="$strain" -v n="$base_steps" 'BEGIN {
  if (pw > 0 && pt > 0) printf "overhead         %+.1f%% end to end, %+.1f%% training alone (%s steps, best of 2 alternating runs each)\n",
    (sw / pw - 1) * 100, (st / pt - 1) * 100, n}'
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
