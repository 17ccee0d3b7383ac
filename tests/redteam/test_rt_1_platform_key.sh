#!/usr/bin/env bash
# Red-team attack 1 (issue 11): the user who launches runs takes the platform
# signing key and forges evidence for the pipeline's measurement.
# Countermeasure: the platform service owns the key (its own user, 0700
# directory); the launcher only talks to its socket. Switch: platform_custody
# (the service leaves its directory and key files readable).
. "$(dirname "$0")/rt_common.sh"
rt_require_root_or_skip
RT_WEAKEN=platform_custody
. "$(dirname "$0")/rt_world.sh"
trap rt_world_stop EXIT
rt_world_start || { echo "FAIL - set-up"; exit 1; }
HD=$("$SAI_CLI" run --measure --platform-socket "$RT/normal/run/platform.sock" "$RT/spec.yaml" | awk '/^spec_sha256/ {print $2}')
ZERO=$(printf '%0128d' 0)

attack() { # attack normal|weak CLI MEASUREMENT: steal the key, forge, verify
    local mode=$1 cli=$2 m=$3 a=$RT/atk/$1
    rt_attacker mkdir -p "$a" || return 1
    # 1. read the signing key
    rt_attacker cp "$RT/$mode/platform/vcek.key" "$a/stolen.pem" 2>/dev/null || return 1
    # 2. genuine-looking evidence signed by the platform (self-launch from its directory)
    rt_attacker "$cli" attest --tee sim --platform-dir "$RT/$mode/platform" --report-data "$ZERO" \
        --out "$a/ev.json" >/dev/null 2>&1 || return 1
    # 3. re-sign it for the pipeline's measurement and spec
    rt_attacker /usr/bin/python3 "$SAI_SOURCE_DIR/tests/redteam/forge_report.py" "$a/stolen.pem" \
        "$a/ev.json" "$a/forged.json" "$m" "$HD" || return 1
    # 4. would a verifier that trusts this platform accept it?
    printf 'allowed_tee: [sim]\nallow_simulated: true\nmeasurements: [%s]\n' "$m" > "$RT/owner/p-$mode.yaml"
    "$SAI_CLI" verify-evidence "$a/forged.json" --platform-dir "$RT/$mode/platform" \
        --policy "$RT/owner/p-$mode.yaml" >/dev/null 2>&1
}

rt_expect_fail "the launcher cannot list the platform directory" rt_attacker ls "$RT/normal/platform"
rt_expect_fail "the launcher cannot read the platform signing key" rt_attacker cat "$RT/normal/platform/vcek.key"
rt_expect_fail "the launcher cannot read the sealing root" rt_attacker cat "$RT/normal/platform/seal.key"
rt_expect_fail "shipped: no forged evidence for the pipeline's measurement" attack normal "$SAI_CLI" "$RT_M_NORMAL"
rt_expect_ok "weakened (platform_custody): the stolen key forges evidence a verifier accepts" \
    attack weak "$SAI_CLI_WEAK" "$RT_M_WEAK"
rt_done
