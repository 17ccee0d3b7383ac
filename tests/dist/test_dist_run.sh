#!/usr/bin/env bash
# test_dist_run.sh — a distributed job end to end (docs/distributed.md,
# "Running a job"): `secureai run SPEC --workers 2` on a tiny Fashion-MNIST
# slice, each worker its own host and sim enclave launched by the platform
# service, keys and the job's group secret from a KBS on loopback, the ring
# over loopback. Checks: both workers train (rank-prefixed progress), end
# with the same weights (each prints its weights' SHA-256; the enclaves'
# own final hash check passed too), worker 0 alone publishes, and
# `secureai verify` accepts the result; the same job as two separate
# `secureai run --rank R --peers TEMPLATE` programs (the Kubernetes Job's
# form) gives the same weights. Then the failures: a spec run
# without --workers, or with another count, is refused before launching; a
# job whose group secret the KBS does not release fails on every worker,
# the error naming each rank, and leaves no output.
# Over MPI (when the build has OpenMPI): the same spec with dist.transport
# mpi under `mpirun --oversubscribe -np 2 secureai run SPEC` ends with the
# very same weights as the TCP run (same seed, same order; the spec hash
# differs, the transport being measured), rank 0 alone publishes and verify
# accepts it; without mpirun, or with --workers, that spec is refused.
. "${SAI_SOURCE_DIR:?}/tests/dist/dist_env.sh"
dist_env_start dist-run

spec job.yaml distjob "$T/out"
spec nogroup.yaml nogroup "$T/out-nogroup"   # its <name>/dist/group is never put
spec mpijob.yaml distjob "$T/out" mpi            # the same job but for the transport
M=$("$CLI" run --measure job.yaml | awk '/^measurement/ {print $2}')
MN=$("$CLI" run --measure nogroup.yaml | awk '/^measurement/ {print $2}')
MM=$("$CLI" run --measure mpijob.yaml | awk '/^measurement/ {print $2}')
[ "$MM" != "$M" ] && ok "the transport is measured (another launch measurement)" || bad "mpi and tcp specs measure alike"
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s","%s","%s"]}\n' "$M" "$MN" "$MM" > release.json
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

# ---- the same job with its workers as separate programs (--rank/--peers) ----
# What an Indexed Job's pods run (secureai deploy k8s): each worker its own
# `secureai run`, finding the next one by a name template. Here the names
# are two loopback addresses, 127.0.0.10 and .11, so both can listen on the
# template's one port. Same spec, same seed: the same weights as above.
run_peers job.yaml "$T/out-peers" && ok "two separate workers (--rank 0/1 --peers) finish" \
    || bad "separate workers failed"
P0=$PEER_W0 P1=$PEER_W1
[ "$P0" = "$W0" ] && [ "$P1" = "$W0" ] && ok "they end with the weights of the --workers run" \
    || bad "weights differ: peers '$P0' '$P1', --workers '$W0'"
[ -s out-peers/model.sealed ] && ok "rank 0 published the model" || bad "no model from the separate workers"
expect 0 "verify accepts the separate workers' run" "$CLI" verify out-peers/model.sealed \
    --provenance out-peers/provenance.json --policy verify.json
expect 2 "--rank without --peers is a usage error" "$CLI" run --rank 0 job.yaml
expect 1 "--rank 2 of a 2-worker job is refused" "$CLI" run --rank 2 --peers "127.0.0.1{rank}:$PEER_PORT" job.yaml
has "$T/.e" "the job has 2 workers" "the refusal names the job's size"

# ---- the same job over MPI: the same weights -----------------------------------
if [ -n "${SAI_MPIRUN:-}" ] && [ -n "${SAI_MPI_RELAY:-}" ] && [ -f "$SAI_MPI_RELAY" ]; then
    mv out out-tcp
    export SECUREAI_MPI_RELAY=$SAI_MPI_RELAY
    # as root (containers, CI) mpirun refuses to start without the flag
    ROOTFLAG=; [ "$(id -u)" -eq 0 ] && ROOTFLAG=--allow-run-as-root
    # OpenMPI itself leaks from MPI_Init (every frame of the report is in
    # libmpi / libopen-pal): under `make asan` the ranks' hosts run without
    # leak detection, as in test_dist_mpi; the TCP runs above keep it
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0"
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

dist_env_done
