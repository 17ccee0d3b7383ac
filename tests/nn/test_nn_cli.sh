#!/usr/bin/env bash
# test_nn_cli.sh — the nn sub-commands end to end: gen-data writes exact
# CIFAR-10 record sizes; train --json emits progress objects and a summary
# with images_per_s/loss/accuracy/seconds; eval --json reports accuracy as a
# fraction with per-class figures and a confusion matrix summing to the test
# set; predict prints top-k; bad checkpoints and arguments fail with
# "secureai: ..." and a non-zero status; every command has --help.
set -euo pipefail
cli=${SAI_CLI:?}
d=$(mktemp -d /tmp/sai_nn_cli.XXXXXX)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for c in train eval predict gen-data; do
  "$cli" "$c" --help | grep -q "usage: secureai $c" || fail "$c --help"
done

"$cli" gen-data cifar10 --out "$d/c10" --n 250 --seed 4 >/dev/null
for b in 1 2 3 4 5; do
  [ "$(stat -c %s "$d/c10/data_batch_$b.bin")" -eq $((50 * 3073)) ] || fail "batch $b size"
done
[ "$(stat -c %s "$d/c10/test_batch.bin")" -eq $((50 * 3073)) ] || fail "test batch size"

"$cli" train --model resnet8 --dataset cifar10 --data "$d/c10" --epochs 2 --batch 25 \
  --threads 2 --seed 3 --lr 0.05 --interval 5 --out "$d/r8.ckpt" --json > "$d/train.jsonl"
n=$(wc -l < "$d/train.jsonl")
[ "$n" -ge 3 ] || fail "expected progress lines, got $n"
tail -n1 "$d/train.jsonl" | /usr/bin/python3 -c '
import json, sys
s = json.loads(sys.stdin.read())
assert s["summary"] is True
for k in ("images_per_s", "loss", "accuracy", "seconds"):
    assert isinstance(s[k], (int, float)) and s[k] >= 0, k
assert s["steps"] == 20, s["steps"]
assert 0 <= s["accuracy"] <= 1
# CIFAR-10 defaults (docs/engine.md, "Training defaults"), --lr overriding
assert (s["sched"], s["lr"], s["nesterov"], s["crop_pad"], s["hflip"],
        s["label_smoothing"]) == ("cosine", 0.05, False, 4, True, 0), s
' || fail "train summary"
head -n1 "$d/train.jsonl" | grep -q '"epoch":1' || fail "progress line"

"$cli" eval --checkpoint "$d/r8.ckpt" --data "$d/c10" --json > "$d/eval.json"
/usr/bin/python3 - "$d/eval.json" <<'PY' || fail "eval json"
import json, sys
e = json.load(open(sys.argv[1]))
assert 0.0 <= e["accuracy"] <= 1.0 and e["n"] == 50
assert len(e["per_class"]) == 10 and len(e["confusion"]) == 10
assert sum(map(sum, e["confusion"])) == 50
assert sum(e["confusion"][i][i] for i in range(10)) == e["correct"]
assert e["accuracy"] > 0.5, e["accuracy"]
PY
"$cli" eval --checkpoint "$d/r8.ckpt" --data "$d/c10" | grep -q "confusion matrix" || fail "eval text"

head -c $((3 * 3073)) "$d/c10/test_batch.bin" > "$d/three.bin"
out=$("$cli" predict --checkpoint "$d/r8.ckpt" --input "$d/three.bin" --top 2)
[ "$(echo "$out" | grep -c '^image')" -eq 3 ] || fail "predict lines: $out"
tail -c 3072 "$d/three.bin" > "$d/raw.bin"
"$cli" predict --checkpoint "$d/r8.ckpt" --input "$d/raw.bin" --json | grep -q '"top":\[{"class"' \
  || fail "predict raw"

# failures: truncated checkpoint, wrong data, bad arguments
head -c 5000 "$d/r8.ckpt" > "$d/trunc.ckpt"
if "$cli" eval --checkpoint "$d/trunc.ckpt" --data "$d/c10" 2> "$d/err"; then fail "truncated accepted"; fi
grep -q "^secureai: .*truncated" "$d/err" || fail "truncated message: $(cat "$d/err")"
if "$cli" train --model nosuch --data "$d/c10" --out "$d/x" 2>/dev/null; then fail "bad model"; fi
if "$cli" train --data "$d/nonexistent" --out "$d/x" 2> "$d/err"; then fail "missing data"; fi
grep -q "^secureai: train" "$d/err" || fail "missing data message"
for bad in "--augment bogus" "--augment crop99" "--warmup 100%" "--label-smoothing 1" "--sched x"; do
  # shellcheck disable=SC2086
  if "$cli" train --data "$d/c10" --out "$d/x" $bad 2> "$d/err"; then fail "train $bad accepted"; fi
  grep -q "^secureai: train" "$d/err" || fail "train $bad message: $(cat "$d/err")"
done
if "$cli" gen-data cifar10 --n 3 --out "$d/x" 2>/dev/null; then fail "gen-data n"; fi

# --threads: one parser and one limit (0..SAI_NN_THREADS_MAX = 64) for every command
"$cli" predict --checkpoint "$d/r8.ckpt" --input "$d/raw.bin" --threads 1 | grep -q '^image' \
  || fail "predict --threads 1"
"$cli" eval --checkpoint "$d/r8.ckpt" --data "$d/c10" --threads 0 --json | grep -q '"accuracy"' \
  || fail "eval --threads 0"
for t in 65 -1 2K x ""; do
  for cmd in "train --data $d/c10 --out $d/x" "eval --checkpoint $d/r8.ckpt --data $d/c10" \
             "predict --checkpoint $d/r8.ckpt --input $d/raw.bin" "run --dry-run" \
             "kbs serve --insecure-http --dry-run"; do
    rc=0
    # shellcheck disable=SC2086
    "$cli" $cmd --threads "$t" >/dev/null 2> "$d/err" || rc=$?
    [ "$rc" -eq 2 ] || fail "$cmd --threads '$t': exit $rc"
    grep -q -- "--threads takes 0..64" "$d/err" || fail "$cmd --threads '$t': $(cat "$d/err")"
  done
done
echo "nn cli ok"
