#!/usr/bin/env bash
# test_tfrecord_run.sh — `dataset.format: tfrecord` through `secureai run`:
# TensorFlow's own MNIST TFRecord file (tests/data/tfrecord, 784 floats in
# [-0.5, 0.5] + an int64 class per tf.train.Example) split into train-/test-
# shards, sealed (records stay addressable), and a small CNN trained in the
# sim enclave from the sealed shards by the spec's feature mapping; the
# statement verifies. A mapping naming a feature the records lack stops
# the run naming the shard and the record, and publishes nothing.
set -u
CLI=${SAI_CLI:?}
SRC=${SAI_SOURCE_DIR:?}
. "$SRC/tests/pipeline/run_common.sh"
rc_begin tfrun
export OMP_NUM_THREADS=1

/usr/bin/python3 "$SRC/tests/pipeline/tfsplit.py" "$SRC/tests/data/tfrecord/tfx_mnist.tfrecord" plain 800 200 mnist ||
    { bad "split"; exit 1; }
"$CLI" keygen --out data.key >/dev/null 2>&1 && "$CLI" keygen --out model.key >/dev/null 2>&1 || { bad "keygen"; exit 1; }
"$CLI" seal --key data.key plain sealed >seal.out 2>&1 || { bad "seal"; cat seal.out; exit 1; }
DSID=$(sed -n 's/^dataset id: sha256:\([0-9a-f]\{64\}\)$/\1/p' seal.out)
rc_start "$T" || { bad "platform/KBS"; exit 1; }

spec() { # spec FILE IMAGE_FEATURE
    cat > "$1" <<EOS
version: 1
name: tfmnist
stages: [ingest, preprocess, train, evaluate]
dataset:
  sealed: $T/sealed
  format: tfrecord
  features: {image: $2, label: image_class}
  shape: [1, 28, 28]
  image_offset: 0.5
  resource: {repo: tf, type: dataset, tag: t}
model:
  arch: smallcnn
  key: {repo: tf, type: model, tag: t}
hyper: {epochs: 3, batch: 32, lr: 0.05}
kbs: {url: "$RC_KBS", ca: $RC_CA, retries: 2}
outputs: {dir: $T/out-$2}
EOS
}
spec good.yaml image_floats
"$CLI" run --measure good.yaml --canonical-out canon.json >/dev/null 2>&1 &&
    grep -q '"tfrecord":{"image":"image_floats","label":"image_class","shape":\[1,28,28\],"scale":"1","offset":"0.5","train":"train","test":"test"}' canon.json &&
    ok "the feature mapping is in the measured (canonical) spec" || { bad "canonical spec"; cat canon.json; }
rc_release "$T" good.yaml tf || { bad "release"; exit 1; }
if "$CLI" run --quiet --threads 1 good.yaml >run.log 2>&1; then ok "secureai run trains from the sealed TFRecord shards"
else bad "run"; cat run.log; fi
acc=$(/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]; print(m["test_accuracy"], m["train_records"], m["test_records"])' out-image_floats/run.json 2>/dev/null)
set -- $acc
[ "${2:-}" = 800 ] && [ "${3:-}" = 200 ] && ok "800 train and 200 test records decoded" || bad "record counts: $acc"
/usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.6 else 1)' "${1:-0}" &&
    ok "the model learnt (test accuracy ${1:-?} >= 0.6; chance is 0.1)" || bad "test accuracy ${1:-?}"
rc_verify_policy "$T" "$DSID"
"$CLI" verify out-image_floats/model.sealed --provenance out-image_floats/provenance.json --policy verify.json >verify.out 2>&1 &&
    ok "secureai verify accepts the statement" || { bad "verify"; cat verify.out; }

# A mapping the records do not satisfy: named shard and record, nothing published.
spec bad.yaml image_pixels
rc_release "$T" bad.yaml tf || { bad "release bad"; exit 1; }
if "$CLI" run --quiet --threads 1 bad.yaml >bad.log 2>&1; then bad "a run with a missing feature succeeded"
else
    grep -q "train-mnist.tfrecord: record 0" bad.log && ok "a missing feature is refused naming the shard and record" ||
        { bad "error text"; cat bad.log; }
fi
[ ! -e out-image_pixels/model.sealed ] && ok "no model published by the failed run" || bad "a model was published"
exit $((fails > 0))
