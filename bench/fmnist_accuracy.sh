#!/usr/bin/env bash
# fmnist_accuracy.sh — real-data check of the engine: train MODEL (default
# smallcnn) on the real Fashion-MNIST installed by Debian's
# dataset-fashion-mnist for 3 epochs with 2 threads, evaluate on the 10k
# test split, and report test accuracy and wall time against the goals
# (>= 91% within 3 epochs, < 600 s on 2 cores). Not part of the timed test
# suite: `make bench` (BENCH_ONLY=fmnist_accuracy) runs it.
set -euo pipefail
cli=${SAI_CLI:-build/secureai}
data=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
model=${FMNIST_MODEL:-smallcnn}
[ -r "$data/train-images-idx3-ubyte.gz" ] || [ -r "$data/train-images-idx3-ubyte" ] || {
  echo "fmnist_accuracy: $data has no Fashion-MNIST (apt install dataset-fashion-mnist)"; exit 0; }
out=$(mktemp -d /tmp/sai_fmnist.XXXXXX)
trap 'rm -rf "$out"' EXIT
start=$(date +%s.%N)
"$cli" train --model "$model" --dataset fashion-mnist --data "$data" --epochs 3 --batch 128 \
  --lr 0.1 --wd 5e-4 --sched cosine --no-nesterov --threads 2 --seed 1 --interval 100 --out "$out/fm.ckpt" \
  --json > "$out/train.jsonl"
end=$(date +%s.%N)
tail -n1 "$out/train.jsonl"
/usr/bin/python3 - "$out/train.jsonl" "$start" "$end" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
wall = float(sys.argv[3]) - float(sys.argv[2])
acc = s["test_accuracy"]
print(f"fashion-mnist {s['model']}: test accuracy {100*acc:.2f}% after {s['epochs']} epochs, "
      f"{wall:.0f} s wall ({s['images_per_s']:.0f} train images/s, 2 threads) -- "
      f"goal >= 91% in < 600 s: {'MET' if acc >= 0.91 and wall < 600 else 'NOT MET'}")
PY
