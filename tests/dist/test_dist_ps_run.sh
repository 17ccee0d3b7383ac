#!/usr/bin/env bash
# test_dist_ps_run.sh — the parameter-server mode end to end
# (docs/distributed.md, "Parameter-server mode" and "Running a job"):
# `secureai run SPEC --workers N` with dist.algorithm: ps, each worker its own
# host and sim enclave, the hosts forming the full TCP mesh and handing each
# enclave one stream per peer in DIST. Checks:
#   - the algorithm and the servers are measured (other launch measurements);
#   - 2 workers, ps: completes, both workers print the same weights hash,
#     `secureai verify` accepts the statement, and the weights equal the ring
#     job's bit for bit (for two workers the rank-order sum g0 + g1 is the
#     ring's sum: addition commutes);
#   - 3 workers, ps with servers: 2: completes, all three print the same
#     weights hash, verify accepts, and a repeat gives the same hash; a
#     3-worker ring job ends with other weights (another order: so the
#     enclaves did run the PS all-reduce);
#   - the same 2-worker ps job as two separate programs (--rank/--peers)
#     ends with the same weights;
#   - a ps spec with dist.transport mpi is refused before anything launches,
#     naming the algorithm and what to use instead.
. "${SAI_SOURCE_DIR:?}/tests/dist/dist_env.sh"
dist_env_start dist-ps-run

# one epoch of two steps each: the test is about the mesh, not the training
spec ring.yaml psjob "$T/out-ring" tcp 1
spec ps2.yaml psjob "$T/out-ps2" "tcp, algorithm: ps" 1
spec ps3.yaml psjob "$T/out-ps3" "tcp, algorithm: ps, servers: 2" 1
# 3 workers: the global batch must divide by 3
sed -i 's/^dist: {workers: 2,/dist: {workers: 3,/; s/^  batch: 32$/  batch: 30/' ps3.yaml
spec psmpi.yaml psjob "$T/out-mpi" "mpi, algorithm: ps"
grep -q "workers: 3, transport: tcp, algorithm: ps, servers: 2" ps3.yaml && grep -q "batch: 30" ps3.yaml \
    || { bad "ps3.yaml not as intended"; cat ps3.yaml; exit 1; }
meas() { "$CLI" run --measure "$1" | awk '/^measurement/ {print $2}'; }
MR=$(meas ring.yaml); M2=$(meas ps2.yaml); M3=$(meas ps3.yaml)
sed 's/servers: 2/servers: 3/' ps3.yaml > ps3s3.yaml
sed 's/, algorithm: ps, servers: 2//; s/out-ps3/out-ring3/' ps3.yaml > ring3.yaml
M33=$(meas ps3s3.yaml); MR3=$(meas ring3.yaml)
[ ${#MR} = 96 ] && [ "$M2" != "$MR" ] && ok "dist.algorithm is measured (ps and ring: other launch measurements)" \
    || bad "ps and ring measure alike ('$M2' '$MR')"
[ ${#M3} = 96 ] && [ "$M33" != "$M3" ] && ok "dist.servers is measured" || bad "servers 2 and 3 measure alike"
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s","%s","%s","%s"]}\n' "$MR" "$M2" "$M3" "$MR3" \
    > release.json
put e2e/dataset/fm data.key
put e2e/model/fm model.key
put psjob/dist/group group.key
w() { sed -n "s/.*\\[worker $2\\] done: weights sha256 \\([0-9a-f]\\{64\\}\\).*/\\1/p" "$1" | head -1; }
# the weights hash worker 0 signed (--quiet runs print no progress)
stmt_w() { python3 -c 'import json,base64,sys; e=json.load(open(sys.argv[1])); p=json.loads(base64.urlsafe_b64decode(e["payload"]+"==")); print(p["predicate"]["dist"]["weights_sha256"])' "$1"; }
verify() { # verify DIR MEASUREMENT DESC
    printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"att.yaml"}\n' \
        "$2" "$DSID" > verify.json
    expect 0 "$3" "$CLI" verify "$1/model.sealed" --provenance "$1/provenance.json" --policy verify.json
}

# ---- refused before anything launches ----------------------------------------
expect 1 "a ps spec with dist.transport mpi is refused" "$CLI" run --quiet psmpi.yaml
has "$T/.e" "dist.algorithm ps runs over TCP only" "the refusal names the algorithm and the transport"
has "$T/.e" "use dist.algorithm: ring" "the refusal says what to use instead"
[ ! -e out-mpi ] && ok "nothing written by the refusal" || bad "the refusal wrote out-mpi/"

# ---- 2 workers: ring, then ps: the same weights --------------------------------
expect 0 "the ring job (reference)" "$CLI" run --quiet --threads 1 --workers 2 ring.yaml
RW=$(stmt_w out-ring/provenance.json)
t0=$(date +%s.%N)
expect 0 "secureai run --workers 2 (dist.algorithm ps)" "$CLI" run --threads 1 --workers 2 ps2.yaml
cp "$T/.e" ps2.err
echo "  (the 2-worker ps run took $(echo "$(date +%s.%N) - $t0" | bc) s)"
P0=$(w ps2.err 0); P1=$(w ps2.err 1)
[ ${#P0} = 64 ] && [ "$P0" = "$P1" ] && ok "both ps workers end with the same weights ($P0)" \
    || { bad "ps weights differ or missing (worker 0 '$P0', worker 1 '$P1')"; tail -20 ps2.err; }
[ ${#RW} = 64 ] && [ "$P0" = "$RW" ] && ok "2 workers: ps weights equal the ring's bit for bit" \
    || bad "ps '$P0' vs ring '$RW'"
verify out-ps2 "$M2" "secureai verify accepts the 2-worker ps run"
has "$T/.o" "distributed job: 2 workers, each one's evidence verified" "verify checked worker 1's evidence"

# ---- 3 workers, 2 servers ---------------------------------------------------------
t0=$(date +%s.%N)
expect 0 "secureai run --workers 3 (ps, servers: 2)" "$CLI" run --threads 1 --workers 3 ps3.yaml
cp "$T/.e" ps3.err
echo "  (the 3-worker ps run took $(echo "$(date +%s.%N) - $t0" | bc) s)"
Q0=$(w ps3.err 0); Q1=$(w ps3.err 1); Q2=$(w ps3.err 2)
[ ${#Q0} = 64 ] && [ "$Q0" = "$Q1" ] && [ "$Q0" = "$Q2" ] && ok "all three ps workers end with the same weights ($Q0)" \
    || { bad "weights differ (0 '$Q0', 1 '$Q1', 2 '$Q2')"; tail -20 ps3.err; }
verify out-ps3 "$M3" "secureai verify accepts the 3-worker ps run"
has "$T/.o" "distributed job: 3 workers, each one's evidence verified" "verify checked workers 1 and 2"
mv out-ps3 out-ps3-first
expect 0 "the 3-worker ps job again" "$CLI" run --quiet --threads 1 --workers 3 ps3.yaml
Q0b=$(stmt_w out-ps3/provenance.json)
[ "$Q0b" = "$Q0" ] && ok "a repeat gives the identical weights hash" || bad "repeat '$Q0b' vs '$Q0'"
# The ring associates differently from 3 workers on, and its weights differ
# in the last bits: so the enclaves above did run the parameter-server
# all-reduce, not the ring.
expect 0 "the 3-worker ring job" "$CLI" run --quiet --threads 1 --workers 3 ring3.yaml
R3=$(stmt_w out-ring3/provenance.json)
[ ${#R3} = 64 ] && [ "$R3" != "$Q0" ] && ok "3 workers: the ring's weights differ from ps's in the last bits (another order)" \
    || bad "3-worker ring '$R3' vs ps '$Q0'"

# ---- the 2-worker ps job as two programs (--rank/--peers) ----------------------
run_peers ps2.yaml "$T/out-peers" && ok "two separate ps workers (--rank 0/1 --peers) finish" \
    || bad "separate ps workers failed"
S0=$PEER_W0 S1=$PEER_W1
[ "$S0" = "$P0" ] && [ "$S1" = "$P0" ] && ok "they end with the --workers ps run's weights" \
    || bad "weights differ: peers '$S0' '$S1', --workers '$P0'"

dist_env_done
