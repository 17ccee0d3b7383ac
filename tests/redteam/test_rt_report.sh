#!/usr/bin/env bash
# test_rt_report.sh — attack 7 of issue 11, "make the report lie": the
# unprivileged launcher edits run.json of a sim run (TEE kind sev-snp, an
# "ok" offline verification, a higher accuracy) and renders the report.
# `secureai report RUN_DIR --policy POLICY` verifies provenance.json and the
# model itself and takes what it shows as verified from the statement only;
# run.json's values are marked host-written (unverified). Countermeasure
# name: report_verify (SAI_WEAKEN=report_verify renders run.json as before).
. "${SAI_SOURCE_DIR:?}/tests/redteam/rt_pipeline.sh"

as_attacker cp -r "$T/out" "$A/run"
as_attacker /usr/bin/python3 -c '
import json, sys
p = sys.argv[1] + "/run/run.json"
r = json.load(open(p))
r["tee"] = "sev-snp"
r["metrics"]["test_accuracy"] = 0.9991
r["verify"] = {"verdict": "ok", "reason": "all checks passed"}
r.setdefault("attestation", {})["evidence_format"] = "sev-snp"
json.dump(r, open(p, "w"))' "$A" && ok "the attacker edited run.json" || bad "editing run.json"

lies() { # lies HTML: how many of the lies the page shows
    local n=0
    grep -q "TEE kind: sev-snp" "$1" && n=$((n + 1))
    grep -q "0.9991" "$1" && n=$((n + 1))
    grep -q "Offline verification" "$1" && n=$((n + 1))
    echo $n
}
# Shipped binary: the report verifies, shows the statement's facts, no lie.
if as_attacker "$CLI" report "$A/run" --policy "$T/verify.json"; then ok "report --policy verifies the genuine statement"
else bad "report --policy (exit $?)"; cat "$A/.e"; fi
[ "$(lies "$A/run/report.html")" = 0 ] && ok "the report shows none of the host's lies" || bad "the report lies"
grep -q "TEE kind: sim</strong> <span class='ok'>verified" "$A/run/report.html" && ok "TEE kind sim, verified" \
    || bad "the verified TEE kind is missing"
grep -q "simulated TEE: software isolation by the platform service" "$A/run/report.html" \
    && ok "the report says what sim protects" || bad "no sim boundary statement"
# The attacker also edits the signed statement's accuracy: not verified.
as_attacker /usr/bin/python3 -c '
import base64, json, sys
p = sys.argv[1] + "/run/provenance.json"
env = json.load(open(p)); pl = env["payload"] + "=" * (-len(env["payload"]) % 4)
st = json.loads(base64.urlsafe_b64decode(pl)); st["predicate"]["metrics"]["test_accuracy"] = 0.9991
env["payload"] = base64.urlsafe_b64encode(json.dumps(st).encode()).decode().rstrip("=")
json.dump(env, open(p, "w"))' "$A"
if as_attacker "$CLI" report "$A/run" --policy "$T/verify.json"; then bad "a re-written statement verified"
else ok "report --policy refuses a re-written statement"; fi
grep -q "NOT VERIFIED</span>: signature:" "$A/run/report.html" && ok "the page says NOT VERIFIED and why" \
    || bad "the page does not say NOT VERIFIED"
grep -q "(verified)" "$A/run/report.html" && bad "something is shown as verified" || ok "nothing is shown as verified"
grep -q "TEE kind: sev-snp" "$A/run/report.html" && bad "the lie shows" || ok "no TEE-kind lie"
# Without a policy: says so, nothing verified.
as_attacker "$CLI" report "$A/run"
grep -q "not verified: no policy given" "$A/run/report.html" && ! grep -q "(verified)" "$A/run/report.html" \
    && ok "without a policy: 'not verified: no policy given'" || bad "report without a policy"

# The same attack against the weakened build succeeds: the countermeasure is what stops it.
as_attacker cp "$T/out/provenance.json" "$A/run/provenance.json"
as_attacker env SAI_WEAKEN=report_verify "$WEAK" report "$A/run" --policy "$T/verify.json"
[ "$(lies "$A/run/report.html")" = 2 ] && ok "without report_verify the report shows sev-snp and 0.9991 (attack works)" \
    || bad "the weakened build did not show the lie ($(lies "$A/run/report.html") lies)"
echo "# $fails failure(s)"
[ "$fails" = 0 ]
