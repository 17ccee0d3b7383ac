#!/usr/bin/env bash
# fw_resnet8_fmnist.sh — issue 16's acceptance in framework mode: the PyTorch
# ResNet-8 script bench/fw_resnet8.py trains on the sealed Fashion-MNIST
# (Debian dataset-fashion-mnist) in the framework mode of `secureai run`
# (sim enclave, keys from a KBS on loopback, statement verified with
# `secureai verify` and secureai.provenance), then the same script runs as a
# plain python3 program on the plaintext files (secureai.pipeline.plaintext)
# with the same seed. Reports both test accuracies (target: within 0.3 points),
# the training-epoch time ratio framework/plain (target <= 3%) and the whole
# run's wall-time ratio. A benchmark, not a test (minutes on 2 cores); needs
# root (the platform service). Serialise timing runs:
#   flock /work/bench.lock bench/fw_resnet8_fmnist.sh [EPOCHS [TRAIN_LIMIT]]
# TRAIN_LIMIT 0 (default) is all 60,000 training images; the 10,000 test
# images are always all used. SAI_CLI / SAI_BINARY_DIR default to build/.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
export SAI_SOURCE_DIR=$SRC
export SAI_CLI=${SAI_CLI:-$SRC/build/secureai}
BIN=${SAI_BINARY_DIR:-$(dirname "$SAI_CLI")}
EPOCHS=${1:-1}
LIMIT=${2:-0}
THREADS=${THREADS:-2}
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
# (skips, as fmnist_accuracy.sh, so that `make bench` goes on to the next one)
[ -r "$DATA/train-images-idx3-ubyte.gz" ] || { echo "fw_resnet8_fmnist: SKIP: no Fashion-MNIST in $DATA (apt install dataset-fashion-mnist)"; exit 0; }
. "$SRC/tests/pipeline/run_common.sh"
sai_platform_can_run || { echo "fw_resnet8_fmnist: SKIP: needs root (the platform service launches the enclave)"; exit 0; }
T=$(mktemp -d /tmp/sai-fwbench.XXXXXX)
trap 'rc_stop; rm -rf "$T"' EXIT
chmod 755 "$T"
cd "$T" || exit 1
CLI=$SAI_CLI
mkdir plain && cp "$DATA"/*-ubyte.gz plain/
"$CLI" keygen --out data.key >/dev/null && "$CLI" keygen --out model.key >/dev/null || exit 1
"$CLI" seal --key data.key plain sealed >seal.out 2>&1 || { cat seal.out; exit 1; }
DSID=$(sed -n 's/^dataset id: sha256:\([0-9a-f]\{64\}\)$/\1/p' seal.out)
rc_start "$T" || exit 1
cp "$SRC/bench/fw_resnet8.py" fw_resnet8.py
cat > fw.yaml <<EOS
version: 1
name: fwresnet8
stages: [ingest, train, evaluate]
dataset:
  sealed: $T/sealed
  resource: {repo: fwb, type: dataset, tag: t}
model:
  arch: resnet8
  key: {repo: fwb, type: model, tag: t}
hyper: {epochs: $EPOCHS, batch: 128, lr: 0.05, seed: 1, train_limit: $LIMIT}
train: {framework: pytorch, script: fw_resnet8.py}
kbs: {url: "$RC_KBS", ca: $RC_CA, retries: 2}
outputs: {dir: $T/out}
EOS
"$CLI" run --measure fw.yaml --canonical-out canon.json >/dev/null || exit 1
rc_release "$T" fw.yaml fwb || exit 1
rc_verify_policy "$T" "$DSID"

t0=$(date +%s.%N)
"$CLI" run --threads "$THREADS" fw.yaml >run.log 2>&1 || { echo "framework run failed"; tail -30 run.log; exit 1; }
t1=$(date +%s.%N)
"$CLI" verify out/model.sealed --provenance out/provenance.json --policy verify.json >verify.out 2>&1 ||
    { echo "secureai verify refused the statement"; cat verify.out; exit 1; }
SECUREAI_LIB="$BIN/libsecureai.so" PYTHONPATH="$SRC/python" OMP_NUM_THREADS=$THREADS \
    /usr/bin/python3 fw_resnet8.py --plain canon.json plain >plain.json 2>plain.log || { cat plain.log; exit 1; }
t2=$(date +%s.%N)
SECUREAI_LIB="$BIN/libsecureai.so" PYTHONPATH="$SRC/python" /usr/bin/python3 - "$t0" "$t1" "$t2" "$EPOCHS" "$LIMIT" <<'PY'
import json, sys, secureai.provenance as prov
t0, t1, t2 = map(float, sys.argv[1:4])
v = prov.verify("out/model.sealed", "out/provenance.json", "verify.json")   # raises unless it verifies
run = json.load(open("out/run.json"))
fw_ep = [e["epoch_s"] for e in run.get("history", []) if isinstance(e, dict) and "epoch_s" in e]
pl = json.loads(open("plain.json").read().splitlines()[-1])
acc_f, acc_p = v.metrics["test_accuracy"], pl["test_accuracy"]
res = {"epochs": int(sys.argv[4]), "train_limit": int(sys.argv[5]), "train_records": pl["train_records"],
       "test_records": pl["test_records"], "acc_framework": acc_f, "acc_plain": acc_p,
       "acc_diff_points": 100 * (acc_f - acc_p), "epoch_s_framework": fw_ep, "epoch_s_plain": pl["epoch_s"],
       "epoch_ratio": sum(fw_ep) / sum(pl["epoch_s"]) if fw_ep else None,
       "run_s_framework": t1 - t0, "run_s_plain": t2 - t1, "run_ratio": (t1 - t0) / (t2 - t1),
       "statement": {"tee": v.tee, "simulated": v.simulated, "metrics": v.metrics}}
print(json.dumps(res))
er = res["epoch_ratio"]
print("resnet8 fashion-mnist, framework mode vs plain python3, %d epoch(s) on %d images: test accuracy %.2f%% vs "
      "%.2f%% (diff %.2f points, target <= 0.3: %s); training epoch time ratio %s (target <= 1.03: %s); whole run "
      "%.1f s vs %.1f s (ratio %.3f); statement verified (tee %s)" % (
          res["epochs"], res["train_records"], 100 * acc_f, 100 * acc_p, res["acc_diff_points"],
          "MET" if abs(res["acc_diff_points"]) <= 0.3 else "NOT MET",
          "%.3f" % er if er else "?", "MET" if er and er <= 1.03 else "NOT MET",
          res["run_s_framework"], res["run_s_plain"], res["run_ratio"], v.tee))
PY
