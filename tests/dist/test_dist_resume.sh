#!/usr/bin/env bash
# test_dist_resume.sh — resuming a distributed job from worker 0's sealed
# checkpoint, held to the job's KBS counter (docs/distributed.md, "Resume").
# A 2-worker job of 4 epochs with dist.checkpoint_every: 1 leaves sealed
# checkpoints in out/ (the last after epoch 3) and moves the job's counter
# to 1. Resumed with --resume it trains only epoch 4 and ends with the very
# same weights as the uninterrupted run (the counter moves to 2). The
# checkpoint of the first attempt, put back by the host, is refused on
# resume, naming both counter values, and nothing is published.
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
[ "$(counter)" = 1 ] && ok "the job's KBS counter is 1" || bad "counter is '$(counter)', want 1"
cp out/checkpoint.sealed attempt1.sealed
EA=$(curve)
[ "$EA" = "1,2,3,4" ] && ok "the first attempt trained epochs 1-4" || bad "first attempt's curve '$EA'"

expect 0 "--resume resumes" "$CLI" run --threads 1 --workers 2 --resume ck.yaml
cp "$T/.e" b.err
WB=$(w0 b.err)
[ "$WB" = "$WA" ] && ok "the resumed job ends with the uninterrupted run's weights, bit for bit" \
    || bad "resumed weights '$WB' vs '$WA'"
EP=$(curve)
[ "$EP" = "4" ] && ok "the resumed job trained epoch 4 only (test curve: epoch $EP)" || bad "test curve epochs '$EP', want 4"
[ "$(counter)" = 2 ] && ok "the resume moved the counter to 2" || bad "counter is '$(counter)', want 2"
cmp -s out/checkpoint.sealed attempt1.sealed && bad "the checkpoint was not re-sealed for attempt 2" \
    || ok "the checkpoint was re-sealed for attempt 2"

# the host puts back attempt 1's checkpoint: refused
cp attempt1.sealed out/checkpoint.sealed
cp out/model.sealed b.model
expect 1 "a rolled-back checkpoint is refused on resume" "$CLI" run --threads 1 --workers 2 --resume ck.yaml
has "$T/.e" "checkpoint is of attempt 1 (epoch 3), but the job's counter on the KBS is 2: an older (rolled-back) checkpoint is refused" \
    "the refusal names both counter values"
cmp -s out/model.sealed b.model && ok "nothing was published" || bad "the model changed"
[ "$(counter)" = 2 ] && ok "the refused resume did not move the counter" || bad "counter is '$(counter)'"

dist_env_done
