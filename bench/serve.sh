#!/usr/bin/env bash
# bench/serve.sh — `secureai serve` in its sim enclave against the same
# server without a TEE (`serve --plain-checkpoint`: same model, batcher,
# TLS 1.3 and HTTP in one process, no enclave, no descriptor passing, no
# sandbox) and against PyTorch inference on the same weights (in process,
# no TLS/HTTP). docs/serving.md has the numbers.
#
#   sudo bench/serve.sh [BUILD]        (root: the platform service launches
#                                       the enclave, as in the tests)
#
# The model: a ResNet-8 built in PyTorch (bench/serve_torch.py), exported
# with torch.onnx.export, imported with `secureai import-onnx` and sealed
# under the model key of a real sim-enclave training run's KBS (the tiny run
# of tests/pipeline/e2e_common.sh provides KBS, keys and platform). Load:
# bench/serve_load (C), 1 client sequential (batch 1) and 16 clients at once,
# single-image requests. Every measurement holds /work/bench.lock (or
# $BENCH_LOCK); the variants alternate within each of REPS (3) rounds and
# the ratios are printed per round.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd) || exit 1   # absolute: the runs below change directory
export SAI_CLI=$BUILD/secureai SAI_SOURCE_DIR=$SRC
CLI=$SAI_CLI LOAD=$BUILD/bench/serve_load
LOCK=${BENCH_LOCK:-/work/bench.lock}
REPS=${REPS:-3} THREADS=${THREADS:-1} SEQ=${SEQ:-300} CONC=${CONC:-16} PER=${PER:-60}
[ -x "$LOAD" ] || { echo "build bench/serve_load first (cmake --build $BUILD --target bench_serve_load)"; exit 1; }
. "$SRC/tests/pipeline/e2e_common.sh"
T=$(mktemp -d /tmp/sai-bench-serve.XXXXXX)
P1= P2=
cleanup() {
    for p in $P1 $P2; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    e2e_cleanup
    rm -rf "$T"
}
trap cleanup EXIT
e2e_tiny_run "$T/e2e" >"$T/e2e.log" 2>&1 || { cat "$T/e2e.log"; false; } || { echo "the training run for the KBS and keys failed"; exit 1; }
D=$T/e2e
cd "$T" || exit 1
/usr/bin/python3 "$SRC/bench/serve_torch.py" export "$T" 2>/dev/null || exit 1
"$CLI" import-onnx r8.onnx --out r8.ckpt --dataset fashion-mnist >/dev/null || exit 1
"$CLI" seal --key "$D/model.key" --key-id e2e/model/fm r8.ckpt r8.sealed >/dev/null || exit 1
/usr/bin/python3 -c "
import gzip; r = gzip.open('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz').read()
open('imgs.raw', 'wb').write(r[16:16 + 2000 * 784])" || exit 1
sed 's/^stages: .*/stages: [serve]/' "$D/spec.yaml" > serve.yaml
MS=$("$CLI" run --measure serve.yaml | awk '/^measurement/ {print $2}')
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$MS" > release.json
"$CLI" kbs put-resource --kbs "https://127.0.0.1:$(cat "$D/port")" --ca "$D/kbs-ca.crt" \
    --admin-token-file "$D/kbsd/admin.token" --resource e2e/model/fm --secret-file "$D/model.key" \
    --policy release.json >/dev/null 2>&1 || { echo "put-resource"; exit 1; }
"$CLI" serve --listen 127.0.0.1:0 --port-file tport --threads "$THREADS" --model r8.sealed --quiet serve.yaml \
    2>tee.log & P1=$!
# the environment the platform gives the enclave (OpenBLAS on one thread, C locale)
OPENBLAS_NUM_THREADS=1 LC_ALL=C "$CLI" serve --plain-checkpoint r8.ckpt --listen 127.0.0.1:0 --port-file pport --threads "$THREADS" --quiet \
    2>plain.log & P2=$!
for _ in $(seq 200); do [ -s tport ] && [ -s pport ] && break; sleep 0.1; done
[ -s tport ] && [ -s pport ] || { echo "servers did not start"; cat tee.log plain.log; exit 1; }
# the enclave's server really is the attested one: a verifying client accepts it
printf '{"measurement":"%s","model_sha256":"%s","allow_simulated":true,"attestation_policy":"%s"}\n' \
    "$MS" "$(sha256sum r8.sealed | cut -c1-64)" "$D/att.yaml" > pol.json
"$CLI" infer --endpoint "https://127.0.0.1:$(cat tport)" --policy pol.json --get /healthz >/dev/null 2>&1 ||
    { echo "the enclave server does not verify"; exit 1; }

run() { # run VARIANT MODE -> "rps p50 p99"
    local out
    case $1 in
    tee)   out=$(flock "$LOCK" "$LOAD" "$(cat tport)" imgs.raw 784 $2) ;;
    plain) out=$(flock "$LOCK" "$LOAD" "$(cat pport)" imgs.raw 784 $2) ;;
    esac
    echo "$out" | awk '{for (i = 1; i < NF; i++) v[$i] = $(i + 1); print v["rps"], v["p50_ms"], v["p99_ms"]}'
}
echo "# secureai serve: sim enclave vs plain (same server, no TEE) vs PyTorch in process; ResNet-8 1x28x28,"
echo "# single-image requests, --threads $THREADS, $(nproc) CPUs; rps, p50/p99 latency in ms"
printf '%-5s %-24s %10s %9s %9s\n' round variant rps p50 p99
for r in $(seq "$REPS"); do
    order="tee plain"; [ $((r % 2)) = 0 ] && order="plain tee"
    declare -A R=()
    for v in $order; do
        R[$v,1]=$(run $v "1 $SEQ")
        R[$v,c]=$(run $v "$CONC $PER")
    done
    tr=$(flock "$LOCK" /usr/bin/python3 "$SRC/bench/serve_torch.py" bench "$T" imgs.raw "$SEQ" "$THREADS")
    R[torch,1]=$(echo "$tr" | awk '/^clients 1/ {for (i = 1; i < NF; i++) v[$i] = $(i + 1); print v["rps"], v["p50_ms"], v["p99_ms"]}')
    R[torch,c]=$(echo "$tr" | awk '/^batch 16/ {for (i = 1; i < NF; i++) v[$i] = $(i + 1); print v["rps"] * 16, v["p50_ms"], v["p99_ms"]}')
    for k in "tee,1:enclave batch 1" "plain,1:plain batch 1" "torch,1:pytorch batch 1" \
             "tee,c:enclave $CONC clients" "plain,c:plain $CONC clients" "torch,c:pytorch batch 16 (img/s)"; do
        set -- ${R[${k%%:*}]}
        printf '%-5s %-24s %10s %9s %9s\n' "$r" "${k#*:}" "$1" "$2" "$3"
    done
    set -- ${R[tee,1]}; t1=$1; set -- ${R[plain,1]}; p1=$1; set -- ${R[tee,c]}; tc=$1; set -- ${R[plain,c]}; pc=$1
    set -- ${R[torch,1]}; o1=$1; set -- ${R[torch,c]}; oc=$1
    awk -v c="$CONC" -v r="$r" -v t1="$t1" -v p1="$p1" -v tc="$tc" -v pc="$pc" -v o1="$o1" -v oc="$oc" 'BEGIN {
        printf "%-5s ratio enclave/plain rps: batch 1 %.3f, %s clients %.3f (TEE overhead at saturation %.1f%%); enclave/pytorch: batch 1 %.2f, loaded %.2f\n",
            r, t1 / p1, c, tc / pc, 100 * (1 - tc / pc), t1 / o1, tc / oc }'
done
