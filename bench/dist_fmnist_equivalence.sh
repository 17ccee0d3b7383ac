#!/usr/bin/env bash
# dist_fmnist_equivalence.sh — issue 15's accuracy equivalence: Fashion-MNIST
# (the real 60k/10k splits unless FM_TRAIN / FM_TEST say fewer) trained with
# the engine's MODEL (default smallcnn) by N attested sim workers
# (`secureai run --workers N`, global batch B, each worker B/N) and by one
# enclave with the same global batch B (N x the per-worker batch), same
# seed, same schedule, for each seed in FM_SEEDS; the mean test accuracy
# over the seeds must agree within 0.5 percentage points. Needs root (the
# platform service), like the e2e tests:
#   sudo SAI_CLI=build/secureai SAI_SOURCE_DIR=$PWD bench/dist_fmnist_equivalence.sh
# Knobs: FM_MODEL (smallcnn), FM_EPOCHS (3), FM_BATCH (global, 128),
# FM_TRAIN (60000), FM_TEST (10000), FM_LR (0.1), FM_SEEDS ("1"),
# FM_WORKERS ("2 4"). Not part of ctest. Each run prints a line as it ends.
set -u
export SAI_CLI=${SAI_CLI:-build/secureai} SAI_SOURCE_DIR=${SAI_SOURCE_DIR:-$PWD}
SAI_CLI=$(readlink -f "$SAI_CLI")
export DIST_ENV_NTRAIN=${FM_TRAIN:-60000} DIST_ENV_NTEST=${FM_TEST:-10000}
. "$SAI_SOURCE_DIR/tests/dist/dist_env.sh"
dist_env_start dist-fmnist-eq
MODEL=${FM_MODEL:-smallcnn} EPOCHS=${FM_EPOCHS:-3} B=${FM_BATCH:-128} LR=${FM_LR:-0.1}
SEEDS=${FM_SEEDS:-1} WORKERS=${FM_WORKERS:-"2 4"}

mk() { # mk FILE NAME WORKERS SEED
    cat > "$1" <<EOS
version: 1
name: $2
stages: [ingest, preprocess, train, evaluate]
dataset:
  sealed: $T/sealed
  resource: {repo: e2e, type: dataset, tag: fm}
model:
  arch: $MODEL
  key: {repo: e2e, type: model, tag: fm}
hyper:
  epochs: $EPOCHS
  batch: $B
  lr: $LR
  weight_decay: 0.0005
  seed: $4
$( [ "$3" -ge 2 ] && echo "dist: {workers: $3}" )
kbs: {url: "$KBS", insecure_http: true, retries: 2}
outputs: {dir: $T/out-$2}
EOS
}
for n in $WORKERS; do
    [ $((B % n)) -eq 0 ] || { echo "global batch $B is not a multiple of $n workers"; exit 2; }
done
# the spec names (and so the job ids and group keys) are per worker count;
# the seed is measured too, so every seed's measurement is released
meas=
for s in $SEEDS; do
    for n in 1 $WORKERS; do
        mk w$n-s$s.yaml w$n $n "$s"
        meas="$meas\"$("$CLI" run --measure w$n-s$s.yaml | awk '/^measurement/ {print $2}')\","
    done
done
printf '{"tee":["sim"],"allow_simulated":true,"measurements":[%s]}\n' "${meas%,}" > release.json
put e2e/dataset/fm data.key
put e2e/model/fm model.key
for n in $WORKERS; do put w$n/dist/group group.key; done

acc() { sed -n 's/^test_accuracy \([0-9.]*\) .*/\1/p' "$1"; }
echo "fashion-mnist $MODEL, $EPOCHS epochs, global batch $B, lr $LR, train $DIST_ENV_NTRAIN / test $DIST_ENV_NTEST, seeds $SEEDS:"
: > results.txt
for s in $SEEDS; do
    for n in 1 $WORKERS; do
        t0=$(date +%s)
        if [ "$n" -eq 1 ]; then args=(); else args=(--workers "$n"); fi
        "$CLI" run --quiet --threads 1 "${args[@]}" w$n-s$s.yaml > w$n-s$s.out 2> w$n-s$s.err ||
            { bad "seed $s, $n worker(s)"; tail w$n-s$s.err; continue; }
        a=$(acc w$n-s$s.out)
        echo "$n $s $a" >> results.txt
        printf '  seed %s, %s: test accuracy %s (%s s)\n' "$s" \
            "$([ "$n" -eq 1 ] && echo "1 enclave, batch $B" || echo "$n workers, batch $((B / n)) each")" \
            "$a" "$(($(date +%s) - t0))"
    done
done
python3 - "$WORKERS" results.txt <<'PY'
import statistics, sys
workers = [int(w) for w in sys.argv[1].split()]
acc = {}
for line in open(sys.argv[2]):
    n, seed, a = line.split()
    acc.setdefault(int(n), {})[seed] = float(a)
def show(n):
    v = list(acc.get(n, {}).values())
    sd = statistics.stdev(v) if len(v) > 1 else float("nan")
    return v, f"mean {100 * statistics.mean(v):.2f} % (sd {100 * sd:.2f} pp, {len(v)} seeds)"
if 1 not in acc:
    sys.exit("no single-enclave result")
print("  1 enclave:", show(1)[1])
for n in workers:
    if n not in acc:
        print(f"  {n} workers: no result"); continue
    seeds = sorted(set(acc[1]) & set(acc[n]))
    d = 100 * (statistics.mean(acc[n][s] for s in seeds) - statistics.mean(acc[1][s] for s in seeds))
    print(f"  {n} workers:", show(n)[1])
    print(f"    difference of the means over seeds {' '.join(seeds)}: {d:+.2f} pp: "
          f"{'MET' if abs(d) <= 0.5 else 'NOT MET'} (goal <= 0.5 pp)")
PY
dist_env_done
