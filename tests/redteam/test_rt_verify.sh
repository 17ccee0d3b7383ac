#!/usr/bin/env bash
# test_rt_verify.sh — attack 8 of issue 11 against `secureai verify`, each
# run by the unprivileged attacker against the shipped binary (refused) and
# against the weakened build with that one countermeasure off (accepted):
#   dsse_dupkeys     a second "payload" key: verify (cJSON) read the first,
#                    other JSON parsers the last (the attacker's accuracy);
#   allow_simulated  "allow_simulated": false was ignored next to an
#                    attestation_policy that allows sim;
#   evidence_format  a statement whose evidence.format is not its evidence's
#                    (the host used to choose it; the statement is made here
#                    as the old enclave signed it, with a host-chosen format);
#   freshness        an old statement replayed under a policy max_age.
. "${SAI_SOURCE_DIR:?}/tests/redteam/rt_pipeline.sh"
V() { # V BIN POLICY [STATEMENT [extra args]]: verify as the attacker
    local bin=$1 pol=$2 st=${3:-$T/out/provenance.json}; shift 2; [ $# -gt 0 ] && shift
    as_attacker "$bin" verify "$T/out/model.sealed" --provenance "$st" --policy "$pol" "$@"
}
Vw() { # Vw COUNTERMEASURE POLICY [STATEMENT [extra args]]: the same with the weakened build
    local w=$1 pol=$2 st=${3:-$T/out/provenance.json}; shift 2; [ $# -gt 0 ] && shift
    as_attacker env SAI_WEAKEN="$w" "$WEAK" verify "$T/out/model.sealed" --provenance "$st" --policy "$pol" "$@"
}
expect_refused() { # DESC NEEDLE cmd...
    local desc=$1 needle=$2; shift 2
    if "$@"; then bad "$desc: accepted"; elif grep -q -- "$needle" "$A/.e"; then ok "$desc: refused ($needle)"
    else bad "$desc: refused without '$needle'"; cat "$A/.e"; fi
}
expect_accepted() { # DESC cmd...
    local desc=$1; shift
    if "$@"; then ok "$desc"; else bad "$desc"; cat "$A/.e"; fi
}
expect_accepted "the genuine statement verifies" V "$CLI" "$T/verify.json"

# ---- dsse_dupkeys: a second payload --------------------------------------------
as_attacker /usr/bin/python3 -c '
import base64, json, sys
env = json.load(open(sys.argv[1])); pl = env["payload"] + "=" * (-len(env["payload"]) % 4)
st = json.loads(base64.urlsafe_b64decode(pl)); st["predicate"]["metrics"]["test_accuracy"] = 0.9991
forged = base64.urlsafe_b64encode(json.dumps(st).encode()).decode().rstrip("=")
txt = json.dumps(env).replace("\"signatures\"", "\"payload\": \"%s\", \"signatures\"" % forged, 1)
open(sys.argv[2], "w").write(txt)' "$T/out/provenance.json" "$A/dup.json"
as_attacker /usr/bin/python3 -c '
import base64, json, sys
e = json.load(open(sys.argv[1])); pl = e["payload"] + "=" * (-len(e["payload"]) % 4)
print(json.loads(base64.urlsafe_b64decode(pl))["predicate"]["metrics"]["test_accuracy"])' "$A/dup.json"
grep -q 0.9991 "$A/.o" && ok "a last-wins parser reads the attacker's payload" || bad "the forged payload is not the last"
expect_refused "duplicate payload" "the envelope has the key \"payload\" twice" V "$CLI" "$T/verify.json" "$A/dup.json"
expect_accepted "duplicate payload, dsse_dupkeys off: accepted (attack works)" \
    Vw dsse_dupkeys "$T/verify.json" "$A/dup.json"

# ---- allow_simulated: false next to an attestation_policy ------------------------
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":false,"attestation_policy":"att.yaml"}\n' \
    "$E2E_M" "$E2E_DSID" > "$T/nosim.json"
chmod a+r "$T/nosim.json"
expect_refused "allow_simulated: false with attestation_policy" "allow_simulated" V "$CLI" "$T/nosim.json"
expect_accepted "allow_simulated off: the sim statement is accepted (attack works)" \
    Vw allow_simulated "$T/nosim.json"

# ---- evidence_format: a statement whose format is not its evidence's -------------
# Made by the harness (root: it reads this sim platform's key) exactly as the
# enclave signed statements before the fix: real sim evidence binding a fresh
# key, evidence.format chosen by the host ("sev-snp").
/usr/bin/python3 - "$T" "$CLI" <<'PY' >"$T/fmt.log" 2>&1 || bad "making the host-format statement: $(tail -3 "$T/fmt.log")"
import base64, hashlib, json, os, subprocess, sys
d, cli = sys.argv[1], sys.argv[2]
k = d + "/fmt.pem"
subprocess.run(["openssl", "ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", k], check=True)
der = subprocess.run(["openssl", "ec", "-in", k, "-pubout", "-outform", "DER"], capture_output=True, check=True).stdout
point = der[-97:]
rd = hashlib.sha512(b"secureai/v1/provenance\0" + point).hexdigest()
subprocess.run([cli, "attest", "--tee", "sim", "--report-data", rd, "--platform-dir", d + "/plat/platform",
                "--spec", d + "/spec.yaml", "--out", d + "/fmt-ev.json"], check=True)
ev = open(d + "/fmt-ev.json", "rb").read()
rep = base64.urlsafe_b64decode(json.loads(ev)["report"] + "==")
meas, host_data = rep[0x90:0xC0].hex(), rep[0xC0:0xE0].hex()
env = json.load(open(d + "/out/provenance.json")); pl = env["payload"] + "=" * (-len(env["payload"]) % 4)
st = json.loads(base64.urlsafe_b64decode(pl)); p = st["predicate"]
p["launch_measurement"] = meas; p["spec_sha256"] = host_data
p["signing_key"]["public"] = base64.urlsafe_b64encode(point).decode().rstrip("=")
p["evidence"]["data"] = base64.urlsafe_b64encode(ev).decode().rstrip("=")
p["evidence"]["format"] = "sev-snp"
body = json.dumps(st).encode(); t = b"application/vnd.in-toto+json"
open(d + "/fmt.msg", "wb").write(b"DSSEv1 %d %s %d " % (len(t), t, len(body)) + body)
sig = subprocess.run(["openssl", "dgst", "-sha384", "-sign", k, d + "/fmt.msg"], capture_output=True, check=True).stdout
i = 2 if sig[1] < 0x80 else 3; raw = b""
for _ in range(2):
    n = sig[i + 1]; raw += int.from_bytes(sig[i + 2:i + 2 + n], "big").to_bytes(48, "big"); i += 2 + n
env["payload"] = base64.urlsafe_b64encode(body).decode().rstrip("=")
env["signatures"][0]["sig"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
json.dump(env, open(d + "/fmt-stmt.json", "w"))
ds = json.load(open(d + "/verify.json"))["dataset_identity"]
# `secureai attest` straight from the platform directory is an insecure-dev
# launch (the sim PSP marks its FAMILY_ID), so the policy must admit that.
json.dump({"measurement": meas, "dataset_identity": ds, "allow_simulated": True, "allow_insecure_dev": True,
           "attestation_policy": "att.yaml"}, open(d + "/fmt-policy.json", "w"))
json.dump({"measurement": meas, "dataset_identity": ds, "allow_simulated": True, "attestation_policy": "att.yaml"},
          open(d + "/fmt-policy-strict.json", "w"))
PY
chmod a+r "$T"/fmt-*.json 2>/dev/null
expect_refused "evidence.format chosen by the host" "the statement says format 'sev-snp' but the evidence is 'secureai-evidence/v1:sim'" \
    V "$CLI" "$T/fmt-policy.json" "$T/fmt-stmt.json"
expect_accepted "evidence_format off: the host-chosen format is accepted (attack works)" \
    Vw evidence_format "$T/fmt-policy.json" "$T/fmt-stmt.json"
as_attacker env SAI_WEAKEN=evidence_format "$WEAK" verify "$T/out/model.sealed" --provenance "$T/fmt-stmt.json" \
    --policy "$T/fmt-policy.json"
grep -q "INSECURE-DEV: the launcher held the platform key; nothing is proven" "$A/.o" \
    && ok "verify of insecure-dev evidence prints the INSECURE-DEV line" || bad "no INSECURE-DEV line"
expect_refused "insecure-dev evidence without allow_insecure_dev" "insecure-dev: INSECURE-DEV" \
    Vw evidence_format "$T/fmt-policy-strict.json" "$T/fmt-stmt.json"

# ---- freshness: an old statement replayed ---------------------------------------------
later=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"att.yaml","max_age":"7d"}\n' \
    "$E2E_M" "$E2E_DSID" > "$T/fresh.json"
chmod a+r "$T/fresh.json"
expect_accepted "a fresh statement passes max_age 7d" V "$CLI" "$T/fresh.json"
expect_refused "a 30-day-old statement under max_age 7d" "older than max_age 7d" \
    V "$CLI" "$T/fresh.json" "$T/out/provenance.json" --at "$later"
expect_accepted "freshness off: the old statement is accepted (attack works)" \
    Vw freshness "$T/fresh.json" "$T/out/provenance.json" --at "$later"
echo "# $fails failure(s)"
[ "$fails" = 0 ]
