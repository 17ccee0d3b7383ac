#!/usr/bin/env bash
# test_dist_run.sh — a distributed job end to end (docs/distributed.md,
# "Running a job"): `secureai run SPEC --workers 2` on a tiny Fashion-MNIST
# slice, each worker its own host and sim enclave launched by the platform
# service, keys and the job's group secret from a KBS on loopback, the ring
# over loopback. Checks: both workers train (rank-prefixed progress), end
# with the same weights (each prints its weights' SHA-256; the enclaves'
# own final hash check passed too), worker 0 alone publishes, and
# `secureai verify` accepts the result. Then the failures: a spec run
# without --workers, or with another count, is refused before launching; a
# job whose group secret the KBS does not release fails on every worker,
# the error naming each rank, and leaves no output.
# Over MPI (when the build has OpenMPI): the same spec with dist.transport
# mpi under `mpirun --oversubscribe -np 2 secureai run SPEC` ends with the
# very same weights as the TCP run (same seed, same order; the spec hash
# differs, the transport being measured), rank 0 alone publishes and verify
# accepts it; without mpirun, or with --workers, that spec is refused.
set -u
CLI=${SAI_CLI:?}
SRC=${SAI_SOURCE_DIR:?}
FM=/usr/share/datasets/fashion-mnist
T=$(mktemp -d /tmp/sai-dist-run.XXXXXX)
KBS_PID=
. "$SRC/tests/helpers/platform.sh"
cleanup() {
    sai_platform_stop
    if [ -n "$KBS_PID" ]; then kill "$KBS_PID" 2>/dev/null; wait "$KBS_PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
ok()  { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
expect() { # expect CODE DESC cmd...
    local want=$1 desc=$2; shift 2
    "$@" >"$T/.o" 2>"$T/.e"; local got=$?
    if [ "$got" = "$want" ]; then ok "$desc"; else bad "$desc (exit $got, want $want)"; tail -8 "$T/.e"; fi
}
has() { grep -q -- "$2" "$1" && ok "$3" || { bad "$3"; echo "  no '$2' in:"; head -5 "$1"; }; }

if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then echo "skip: $FM missing"; exit 0; fi
if ! sai_platform_can_run; then echo "SKIP: enclaves are launched by the platform service, which needs root"; exit 77; fi
chmod 755 "$T"
export OMP_NUM_THREADS=1
cd "$T" || exit 1

/usr/bin/python3 "$SRC/tests/pipeline/mkidx.py" "$FM" plain 256 128 >/dev/null || { bad "mkidx"; exit 1; }
sai_platform_start "$CLI" "$T/plat" || { bad "platform service"; exit 1; }
for k in data model group; do "$CLI" keygen --out $k.key >/dev/null 2>&1 || { bad "keygen"; exit 1; }; done
"$CLI" seal --key data.key plain sealed >seal.out 2>&1 || { bad "seal"; cat seal.out; exit 1; }
DSID=$(sed -n 's/^dataset id: sha256:\([0-9a-f]\{64\}\)$/\1/p' seal.out)
printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$SAI_PLATFORM_FP" > att.yaml
"$CLI" kbs serve --data-dir kbsd --insecure-http --port 0 --port-file port \
    --attestation-policy att.yaml --quiet >kbs.log 2>&1 &
KBS_PID=$!
for _ in $(seq 50); do [ -s port ] && break; sleep 0.1; done
[ -s port ] || { bad "KBS did not start"; cat kbs.log; exit 1; }
KBS=http://127.0.0.1:$(cat port)

spec() { # spec FILE NAME OUTDIR [TRANSPORT]
    cat > "$1" <<EOS
version: 1
name: $2
stages: [ingest, preprocess, train, evaluate, infer]
dataset:
  sealed: $T/sealed
  resource: {repo: e2e, type: dataset, tag: fm}
model:
  arch: smallcnn
  key: {repo: e2e, type: model, tag: fm}
hyper:
  epochs: 2
  batch: 32
  train_limit: 64
  test_limit: 64
  lr: 0.05
dist: {workers: 2, transport: ${4:-tcp}}
kbs: {url: "$KBS", insecure_http: true, retries: 2}
outputs: {dir: $3}
EOS
}
spec job.yaml distjob "$T/out"
spec nogroup.yaml nogroup "$T/out-nogroup"   # its <name>/dist/group is never put
spec mpijob.yaml distjob "$T/out" mpi            # the same job but for the transport
M=$("$CLI" run --measure job.yaml | awk '/^measurement/ {print $2}')
MN=$("$CLI" run --measure nogroup.yaml | awk '/^measurement/ {print $2}')
MM=$("$CLI" run --measure mpijob.yaml | awk '/^measurement/ {print $2}')
[ "$MM" != "$M" ] && ok "the transport is measured (another launch measurement)" || bad "mpi and tcp specs measure alike"
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s","%s","%s"]}\n' "$M" "$MN" "$MM" > release.json
put() { "$CLI" kbs put-resource --insecure-http --kbs "$KBS" --admin-token-file kbsd/admin.token --resource "$1" \
            --secret-file "$2" --policy release.json >/dev/null 2>&1 || { bad "put-resource $1"; exit 1; }; }
put e2e/dataset/fm data.key
put e2e/model/fm model.key
put distjob/dist/group group.key

# ---- refused before anything runs -------------------------------------------
expect 1 "a distributed spec without --workers is refused" "$CLI" run --quiet job.yaml
has "$T/.e" "--workers 2" "the refusal names --workers 2"
expect 1 "--workers 3 on a 2-worker spec is refused" "$CLI" run --quiet --workers 3 job.yaml
expect 1 "a dist.transport mpi spec run without mpirun is refused" "$CLI" run --quiet mpijob.yaml
has "$T/.e" "start it with \`mpirun -np 2 secureai run SPEC\`" "the refusal says to start it under mpirun -np 2"
expect 1 "--workers on a dist.transport mpi spec is refused" "$CLI" run --quiet --workers 2 mpijob.yaml
has "$T/.e" "dist.transport is mpi" "the refusal names the transport"
[ ! -e out ] && ok "nothing written by the refusals" || bad "a refusal wrote out/"

# ---- the job ---------------------------------------------------------------------
t0=$(date +%s.%N)
expect 0 "secureai run --workers 2" "$CLI" run --threads 1 --workers 2 job.yaml
cp "$T/.e" run.err
echo "  (the 2-worker run took $(echo "$(date +%s.%N) - $t0" | bc) s)"
has run.err "\[worker 0\] epoch" "worker 0's progress, rank-prefixed"
has run.err "\[worker 1\] epoch" "worker 1's progress, rank-prefixed"
W0=$(sed -n 's/.*\[worker 0\] done: weights sha256 \([0-9a-f]\{64\}\).*/\1/p' run.err)
W1=$(sed -n 's/.*\[worker 1\] done: weights sha256 \([0-9a-f]\{64\}\).*/\1/p' run.err)
[ ${#W0} = 64 ] && [ "$W0" = "$W1" ] && ok "both workers end with the same weights ($W0)" \
    || bad "weights differ or missing (worker 0 '$W0', worker 1 '$W1')"
[ -s out/model.sealed ] && [ -s out/provenance.json ] && ok "worker 0 published the sealed model and provenance" \
    || bad "outputs missing"
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"att.yaml"}\n' \
    "$M" "$DSID" > verify.json
expect 0 "secureai verify accepts the distributed run" "$CLI" verify out/model.sealed --provenance out/provenance.json --policy verify.json
has "$T/.o" "verified: model.sealed" "verify says what it verified"
has "$T/.o" "distributed job: 2 workers, each one's evidence verified" "verify checked worker 1's evidence too"
N1=$(python3 -c 'import json,base64,sys; e=json.load(open("out/provenance.json")); p=json.loads(base64.urlsafe_b64decode(e["payload"]+"==")); d=p["predicate"]["dist"]; print(d["workers"], len(d["worker_evidence"]), d["weights_sha256"])')
[ "$N1" = "2 1 $W0" ] && ok "the statement lists worker 1's evidence and the weights hash both workers printed" \
    || bad "statement dist section: '$N1'"

# ---- the same job over MPI: the same weights -----------------------------------
if [ -n "${SAI_MPIRUN:-}" ] && [ -n "${SAI_MPI_RELAY:-}" ] && [ -f "$SAI_MPI_RELAY" ]; then
    mv out out-tcp
    export SECUREAI_MPI_RELAY=$SAI_MPI_RELAY
    # as root (containers, CI) mpirun refuses to start without the flag
    ROOTFLAG=; [ "$(id -u)" -eq 0 ] && ROOTFLAG=--allow-run-as-root
    t0=$(date +%s.%N)
    expect 0 "mpirun --oversubscribe -np 2 secureai run (dist.transport mpi)" \
        "$SAI_MPIRUN" $ROOTFLAG --oversubscribe -np 2 "$CLI" run --threads 1 mpijob.yaml
    cp "$T/.e" mpi.err; cp "$T/.o" mpi.out
    echo "  (the 2-rank MPI run took $(echo "$(date +%s.%N) - $t0" | bc) s)"
    P0=$(sed -n 's/.*\[worker 0\] done: weights sha256 \([0-9a-f]\{64\}\).*/\1/p' mpi.err)
    P1=$(sed -n 's/.*\[worker 1\] done: weights sha256 \([0-9a-f]\{64\}\).*/\1/p' mpi.err)
    [ ${#P0} = 64 ] && [ "$P0" = "$P1" ] && [ "$P0" = "$W0" ] \
        && ok "over MPI both ranks end with the TCP run's weights, bit for bit ($P0)" \
        || { bad "MPI weights (rank 0 '$P0', rank 1 '$P1') vs TCP '$W0'"; tail -20 mpi.err; }
    has mpi.out "worker 1 of 2 done (rank 0 writes the outputs)" "rank 1 publishes nothing and says so"
    [ -s out/model.sealed ] && [ -s out/provenance.json ] && ok "rank 0 published the sealed model and provenance" \
        || bad "MPI outputs missing"
    printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"att.yaml"}\n' \
        "$MM" "$DSID" > verify-mpi.json
    expect 0 "secureai verify accepts the MPI run" "$CLI" verify out/model.sealed --provenance out/provenance.json --policy verify-mpi.json
    has "$T/.o" "distributed job: 2 workers, each one's evidence verified" "verify checked rank 1's evidence too"
    expect 1 "mpirun -np 3 on a 2-worker spec is refused" \
        "$SAI_MPIRUN" $ROOTFLAG --oversubscribe -np 3 "$CLI" run --quiet mpijob.yaml
    has "$T/.e" "mpirun started 3 ranks; the spec's dist.workers is 2" "the refusal names both counts"
else
    echo "skip - MPI run (the build has no OpenMPI)"
fi

# ---- a failure on every worker, each rank named -------------------------------
expect 1 "a job whose group secret is not released fails" "$CLI" run --threads 1 --workers 2 nogroup.yaml
has "$T/.e" "secureai: worker 0: .*nogroup/dist/group" "worker 0's failure names the group secret"
# worker 1 names it too, unless a loaded machine made it slower than the
# parent's grace period after worker 0 failed: then it was stopped, and says so
grep -Eq "secureai: worker 1: (.*nogroup/dist/group|stopped: another worker had failed)" "$T/.e" \
    && ok "worker 1's failure is named" || { bad "worker 1's failure is named"; cat "$T/.e"; }
has "$T/.e" "failed on workers 0, 1 of 2" "the error names every failed rank"
[ ! -e out-nogroup/model.sealed ] && ok "the failed job wrote no model" || bad "the failed job wrote a model"

[ "$fails" -eq 0 ] && echo "all ok" || echo "$fails failure(s)"
[ "$fails" -eq 0 ]
