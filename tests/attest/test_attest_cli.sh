#!/usr/bin/env bash
# test_attest_cli.sh — the attestation sub-commands end to end: platform
# init, attest --tee sim, verify-evidence (exit codes, --json, --policy,
# --at, tokens), raw SNP vectors, inspect-evidence. TDX/SGX: test_dcap_cli.sh.
set -u
. "$(dirname "$0")/cli_common.sh"
V=${SAI_TEST_DATA_DIR:?}/vectors/sev-snp

export SECUREAI_PLATFORM_DIR="$T/plat"
expect 0 "platform init" "$CLI" platform init
expect 1 "platform init refuses to overwrite" "$CLI" platform init
grep -q "already exists" "$T/err" || bad "overwrite message"
expect 0 "platform info" "$CLI" platform info
grep -q "^sim_ark_sha256 [0-9a-f]\{64\}$" "$T/out" || bad "info prints the ARK fingerprint"
FP=$(awk '/^sim_ark_sha256/ {print $2}' "$T/out")
[ "$(stat -c %a "$T/plat/vcek.key")" = 600 ] && ok "private keys are 0600" || bad "vcek.key mode"

RD=$(printf 'ab%.0s' $(seq 64))
expect 0 "attest --tee sim" "$CLI" attest --tee sim --report-data "$RD" --out "$T/ev.json"
grep -q SIMULATED "$T/err" && ok "attest says SIMULATED" || bad "attest notice"
expect 1 "default policy refuses sim evidence" "$CLI" verify-evidence "$T/ev.json"
grep -q "allow_simulated" "$T/err" && ok "refusal names the rule" || bad "rule named"
printf 'allow_simulated: true\nsim_roots: [%s]\n' "$FP" > "$T/sim.yaml"
expect 0 "allow_simulated policy affirms" "$CLI" verify-evidence "$T/ev.json" --policy "$T/sim.yaml" --report-data "$RD"
grep -q "SIMULATED TEE" "$T/out" && ok "verdict says SIMULATED" || bad "verdict wording"
expect 1 "wrong expected report data refused" "$CLI" verify-evidence "$T/ev.json" --policy "$T/sim.yaml" --report-data "$(printf 'cd%.0s' $(seq 64))"
expect 0 "--json output" "$CLI" verify-evidence "$T/ev.json" --policy "$T/sim.yaml" --json
grep -q '"verdict":[[:space:]]*"affirming"' "$T/out" && ok "json verdict" || bad "json verdict"

# another platform's evidence is refused by a policy pinning this one
SECUREAI_PLATFORM_DIR="$T/plat2" "$CLI" platform init >/dev/null
expect 0 "attest on platform 2" env SECUREAI_PLATFORM_DIR="$T/plat2" "$CLI" attest --tee sim --report-data 01 --out "$T/ev2.json"
expect 1 "platform 2 evidence refused under platform 1 pin" "$CLI" verify-evidence "$T/ev2.json" --policy "$T/sim.yaml"

# token
openssl ecparam -name secp384r1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$T/k.pem" 2>/dev/null
expect 0 "token signed" "$CLI" verify-evidence "$T/ev.json" --policy "$T/sim.yaml" --sign-key "$T/k.pem" --token-out "$T/tok.jwt"
IFS=. read -r h c s < "$T/tok.jwt"
echo "$h" | tr '_-' '/+' | base64 -d 2>/dev/null | grep -q ES384 && ok "token header ES384" || bad "token header"

# raw vectors
echo 'allow_debug: true' > "$T/debug.yaml"
expect 0 "raw S1 verifies with allow_debug" "$CLI" verify-evidence --tee sev-snp --report "$V/gosevguest_attestation.bin" \
    --vcek "$V/gosevguest_vcek.der" --chain "$V/amd_ask_ark_milan.pem" --at 2022-09-24T01:00:00Z --policy "$T/debug.yaml"
expect 1 "raw S1 refused by default (DEBUG)" "$CLI" verify-evidence --tee sev-snp --report "$V/gosevguest_attestation.bin" \
    --vcek "$V/gosevguest_vcek.der" --chain "$V/amd_ask_ark_milan.pem" --at 2022-09-24T01:00:00Z
grep -q "debug" "$T/err" && ok "debug rule named" || bad "debug rule"
expect 1 "raw S4 VLEK refused after expiry" "$CLI" verify-evidence --tee sev-snp --report "$V/trustee_test-vlek-report.bin" \
    --vcek "$V/trustee_test-vlek.der" --chain "$V/amd_ask_ark_milan_vlek.pem" --at 2026-01-01T00:00:00Z
grep -q "expired" "$T/err" && ok "expiry named" || bad "expiry message"
grep -q "VLEK is expired at 2026-01-01T00:00:00Z (valid 2024-12-10T22:14:21Z .. 2025-12-10T22:14:21Z)" "$T/err" \
    && ok "validity as RFC 3339 dates" || { bad "validity dates"; cat "$T/err"; }
expect 1 "raw S4 VLEK refused before its validity" "$CLI" verify-evidence --tee sev-snp --report "$V/trustee_test-vlek-report.bin" \
    --vcek "$V/trustee_test-vlek.der" --chain "$V/amd_ask_ark_milan_vlek.pem" --at 2024-06-01T12:30:00Z
grep -q "VLEK is not yet valid at 2024-06-01T12:30:00Z (valid 2024-12-10T22:14:21Z .. 2025-12-10T22:14:21Z)" "$T/err" \
    && ok "not-yet-valid as RFC 3339 dates" || { bad "not-yet-valid dates"; cat "$T/err"; }
expect 0 "raw S4 VLEK verifies inside validity" "$CLI" verify-evidence --tee sev-snp --report "$V/trustee_test-vlek-report.bin" \
    --vcek "$V/trustee_test-vlek.der" --chain "$V/amd_ask_ark_milan_vlek.pem" --at 2025-06-01T00:00:00Z
expect 0 "inspect raw report" "$CLI" inspect-evidence --report "$V/derived_oak_genoa_oc_report.bin"
grep -q '"cpuid_product":[[:space:]]*"Genoa"' "$T/out" && ok "inspect shows product" || bad "inspect product"
expect 0 "inspect envelope" "$CLI" inspect-evidence "$T/ev.json"
expect 0 "inspect --tee sev-snp --report" "$CLI" inspect-evidence --tee sev-snp --report "$V/derived_oak_genoa_oc_report.bin"
grep -q '"cpuid_product":[[:space:]]*"Genoa"' "$T/out" && ok "inspect --tee shows product" || bad "inspect --tee product"
expect 2 "inspect --tee tdx --report is a usage error" "$CLI" inspect-evidence --tee tdx --report "$V/derived_oak_genoa_oc_report.bin"

# TDX/SGX/RA-TLS through the same verifier: tests/attest/test_dcap_cli.sh

# usage
expect 2 "usage error" "$CLI" verify-evidence
expect 0 "--help" "$CLI" verify-evidence --help
expect 1 "missing SNP device" "$CLI" attest --tee sev-snp --root "$T/none" --report-data 00 --out "$T/x.json"
grep -q "no SEV-SNP guest interface found (looked at" "$T/err" && ok "missing device message" || bad "missing device message"

finish
