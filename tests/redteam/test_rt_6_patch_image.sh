#!/usr/bin/env bash
# Red-team attack 6 (issue 11): the enclave image is a file the launching
# user can write; after the platform measured it, the attacker patches it,
# so the patched code would run under the genuine measurement and get the
# keys. Countermeasure: the platform copies the image into a sealed memfd
# (F_SEAL_WRITE|SHRINK|GROW) when it measures it and only ever executes that
# copy. Switch: image_seal (the platform executes the file it measured).
. "$(dirname "$0")/rt_common.sh"
rt_require_root_or_skip
RT_WEAKEN=image_seal
RT_ATTACKER_OWNS_IMAGE=1
RT_EPOCHS=10 RT_STEPS=60          # at least one progress line (every 50 steps)
. "$(dirname "$0")/rt_world.sh"
trap rt_world_stop EXIT
rt_world_start || { echo "FAIL - set-up"; exit 1; }
# The patch: a JSON key of the enclave's progress lines (run.json keeps them
# in its history) becomes a marker of the same length, so a run shows which
# code ran.
for img in "$RT/atk/img/secureai" "$RT/atk/img/secureai-weak"; do
    grep -c '"seconds":%.3f' "$img" >/dev/null || { echo "FAIL - nothing to patch in $img"; exit 1; }
    rt_attacker /usr/bin/python3 -c '
import sys
p = sys.argv[1]
b = open(p, "rb").read()
assert b.count(b"\"seconds\":%.3f") >= 1
open(p, "r+b").write(b.replace(b"\"seconds\":%.3f", b"\"PATCHED\":%.3f"))' "$img" ||
        { echo "FAIL - the attacker could not patch $img"; exit 1; }
done

attack() { # attack normal|weak: did the patched code run, with the keys?
    rt_run_as_attacker "$1" "$RT/atk/out-$1" >"$RT/atk/run-$1.log" 2>&1 || { tail -2 "$RT/atk/run-$1.log"; return 1; }
    grep -q '"PATCHED"' "$RT/atk/out-$1/run.json"
}

rt_expect_fail "shipped: a patch written after measuring never runs" attack normal
[ -s "$RT/atk/out-normal/model.sealed" ] && rt_ok "shipped: the genuine code ran and finished" ||
    rt_bad "shipped: the genuine run did not finish"
rt_expect_ok "weakened (image_seal): the patched code runs under the genuine measurement and gets the keys" attack weak
rt_done
