#!/usr/bin/env bash
# test_dist_fault.sh — a worker killed mid-training (docs/distributed.md,
# "Fault handling"): `secureai run --workers 2` on a long job; once both
# workers are training, worker 1's enclave (named sai-encl-w1) is killed
# with SIGKILL. Worker 0 must fail the step on its own, at once (its ring
# stream closes; well inside the 60 s ring deadline and the parent's 10 s
# grace), with an error naming worker 1 and the training step; worker 1's
# host says its enclave was killed; the run exits non-zero, names both
# ranks, and writes no model.
. "${SAI_SOURCE_DIR:?}/tests/dist/dist_env.sh"
dist_env_start dist-fault

# 8 steps an epoch, 1000 epochs: far longer than the test waits
spec long.yaml longjob "$T/out" tcp 1000 256
M=$("$CLI" run --measure long.yaml | awk '/^measurement/ {print $2}')
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$M" > release.json
put e2e/dataset/fm data.key
put e2e/model/fm model.key
put longjob/dist/group group.key

"$CLI" run --threads 1 --workers 2 long.yaml >run.out 2>run.err &
RUN=$!
# both workers training: each has printed a progress line (every 50 steps)
for _ in $(seq 1200); do   # up to 120 s: a sanitizer build on a loaded machine is slow
    grep -q "\[worker 0\] epoch" run.err && grep -q "\[worker 1\] epoch" run.err && break
    kill -0 $RUN 2>/dev/null || break
    sleep 0.1
done
# this test's worker 1 enclave: named by rank, launched by this test's
# platform service (other tests may run jobs of their own meanwhile)
descends() { local p=$1; while [ -n "$p" ] && [ "$p" -gt 1 ]; do [ "$p" = "$2" ] && return 0
    p=$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' '); done; return 1; }
E1=
for p in $(pgrep -x sai-encl-w1); do descends "$p" "$SAI_PLATFORM_PID" && E1=$p; done
if [ -z "$E1" ] || ! grep -q "\[worker 1\] epoch" run.err; then
    bad "worker 1's enclave was not found training"; cat run.err; kill $RUN 2>/dev/null; wait $RUN; dist_env_done; exit 1
fi
ok "both workers are training; worker 1's enclave is pid $E1"
t0=$(date +%s.%N)
kill -9 "$E1"
wait $RUN; rc=$?
dt=$(echo "$(date +%s.%N) - $t0" | bc)
[ $rc -ne 0 ] && ok "the run fails (exit $rc)" || bad "the run exited 0 after a worker was killed"
echo "  (the run ended $dt s after the kill)"
[ "$(echo "$dt < 8" | bc)" = 1 ] && ok "it ended within 8 s of the kill (ring deadline 60 s, grace 10 s)" \
    || bad "it took $dt s to end"
has run.err "secureai: worker 0: .*training step [0-9]* of 8000 (epoch [0-9]*).*worker 1" \
    "worker 0 failed the step on its own, naming the training step and worker 1"
grep -q "secureai: worker 0: stopped" run.err && bad "worker 0 had to be stopped by the parent" \
    || ok "worker 0 was not stopped by the parent"
has run.err "secureai: worker 1: the enclave was killed (signal 9)" "worker 1's host says its enclave was killed"
has run.err "failed on workers 0, 1 of 2" "the error names both ranks"
[ ! -e out/model.sealed ] && [ ! -e out/provenance.json ] && ok "no model or provenance written" \
    || { bad "outputs written"; ls -la out; }
ls out 2>/dev/null | grep -q . && { bad "something left in out/"; ls -la out; } || ok "out/ holds nothing"
grep "secureai: worker" run.err | sed 's/^/  /'
dist_env_done
