#!/usr/bin/env bash
# test_dist_resume.sh — resuming a distributed job from worker 0's sealed
# checkpoint, held to the job's KBS counter (docs/distributed.md, "Resume").
# The counter moves once per attempt and once per checkpoint (the enclave
# moves it over a stream its host connects, after its no-network filter),
# so only the newest checkpoint resumes. A 2-worker job of 4 epochs with
# dist.checkpoint_every: 1 seals checkpoints after epochs 1-3 (the file
# keeps the last two) and leaves the counter at 1 + 3 = 4. An earlier
# checkpoint of that same attempt (epoch 2's, value 3), handed back by the
# host, is refused naming both values. Resumed from the newest it trains
# only epoch 4 and ends with the very same weights as the uninterrupted run
# (the counter moves to 5). The first attempt's file, put back, is then
# refused too, and nothing is published by a refused resume.
# The KBS speaks TLS (its certificate pinned in the spec): at each checkpoint
# the enclave runs TLS itself over the socket its host connected.
DIST_ENV_TLS=1
. "${SAI_SOURCE_DIR:?}/tests/dist/dist_env.sh"
dist_env_start dist-resume

spec ck.yaml ckjob "$T/out" tcp 4 64
sed -i 's/^dist: {workers: 2, transport: tcp}$/dist: {workers: 2, transport: tcp, checkpoint_every: 1}/' ck.yaml
M=$("$CLI" run --measure ck.yaml | awk '/^measurement/ {print $2}')
printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$M" > release.json
put e2e/dataset/fm data.key
put e2e/model/fm model.key
put ckjob/dist/group group.key
counter() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select value from counter where name=?", ("ckjob/dist/group",)).fetchone()[0])' kbsd/kbs.db 2>&1; }
# the test curve in the signed statement: one entry per epoch trained
curve() { python3 -c 'import json,base64; e=json.load(open("out/provenance.json")); p=json.loads(base64.urlsafe_b64decode(e["payload"]+"==")); print(",".join(str(x["epoch"]) for x in p["predicate"]["metrics"]["epochs"]))' 2>&1; }
w0() { sed -n 's/.*\[worker 0\] done: weights sha256 \([0-9a-f]\{64\}\).*/\1/p' "$1"; }

expect 1 "--resume before any checkpoint exists is refused" "$CLI" run --quiet --threads 1 --workers 2 --resume ck.yaml
has "$T/.e" "no checkpoint in" "the refusal says there is no checkpoint"

expect 0 "a checkpointing job runs" "$CLI" run --threads 1 --workers 2 ck.yaml
cp "$T/.e" a.err
WA=$(w0 a.err)
[ ${#WA} = 64 ] && ok "it ends with weights $WA" || { bad "no weights hash"; tail a.err; }
[ -s out/checkpoint.sealed ] && ok "worker 0 left a sealed checkpoint in out/" || bad "no checkpoint file"
grep -q '^kbs: {url: "https://' ck.yaml && ok "the KBS is reached over TLS, its certificate pinned in the spec" \
    || bad "the spec does not pin a TLS KBS"
[ "$(counter)" = 4 ] && ok "the job's KBS counter is 4: one move for the attempt, one per checkpoint (3)" \
    || bad "counter is '$(counter)', want 4"
cp out/checkpoint.sealed attempt1.sealed
EA=$(curve)
[ "$EA" = "1,2,3,4" ] && ok "the first attempt trained epochs 1-4" || bad "first attempt's curve '$EA'"

# An earlier checkpoint of the same attempt: the file's two slots hold
# epoch 3's checkpoint (value 4, slot 0, the one written last) and epoch
# 2's (value 3, slot 1; dist_ckpt.c). A host that kept the file as it was
# after epoch 2 hands back, as far as a resume can tell, slot 1 as the
# newest: slot 0 is blanked here.
cp attempt1.sealed out/checkpoint.sealed
printf 'XXXX' | dd of=out/checkpoint.sealed bs=1 count=4 conv=notrunc 2>/dev/null
cp out/model.sealed a.model
expect 1 "an earlier checkpoint of the same attempt is refused on resume" \
    "$CLI" run --threads 1 --workers 2 --resume ck.yaml
has "$T/.e" "checkpoint carries counter value 3 (epoch 2), but the job's counter on the KBS is 4: an older (rolled-back) checkpoint is refused" \
    "the refusal names both counter values"
cmp -s out/model.sealed a.model && ok "nothing was published" || bad "the model changed"
[ "$(counter)" = 4 ] && ok "the refused resume did not move the counter" || bad "counter is '$(counter)'"

cp attempt1.sealed out/checkpoint.sealed
expect 0 "--resume from the newest checkpoint resumes" "$CLI" run --threads 1 --workers 2 --resume ck.yaml
cp "$T/.e" b.err
WB=$(w0 b.err)
[ "$WB" = "$WA" ] && ok "the resumed job ends with the uninterrupted run's weights, bit for bit" \
    || bad "resumed weights '$WB' vs '$WA'"
EP=$(curve)
[ "$EP" = "4" ] && ok "the resumed job trained epoch 4 only (test curve: epoch $EP)" || bad "test curve epochs '$EP', want 4"
[ "$(counter)" = 5 ] && ok "the resume moved the counter to 5 (no checkpoint after the last epoch)" \
    || bad "counter is '$(counter)', want 5"
cmp -s out/checkpoint.sealed attempt1.sealed && bad "the checkpoint was not re-sealed for attempt 2" \
    || ok "the checkpoint was re-sealed for attempt 2"

# the host puts back attempt 1's checkpoint: refused
cp attempt1.sealed out/checkpoint.sealed
cp out/model.sealed b.model
expect 1 "a rolled-back checkpoint is refused on resume" "$CLI" run --threads 1 --workers 2 --resume ck.yaml
has "$T/.e" "checkpoint carries counter value 4 (epoch 3), but the job's counter on the KBS is 5: an older (rolled-back) checkpoint is refused" \
    "the refusal names both counter values"
cmp -s out/model.sealed b.model && ok "nothing was published" || bad "the model changed"
[ "$(counter)" = 5 ] && ok "the refused resume did not move the counter" || bad "counter is '$(counter)'"

dist_env_done
