#!/usr/bin/env bash
# test_dcap_cli.sh — TDX, SGX and RA-TLS evidence through the one verifier
# (`secureai verify-evidence`, the same YAML policy as SEV-SNP): every
# verifying Intel vector of tests/data/vectors verifies at a time inside its
# validity with the README's field values; the negative vectors are refused
# for the stated reason; one passing and one failing case per policy rule on
# real TDX/SGX results; attest --tee tdx|sgx envelopes (the configfs-tsm /
# Gramine emulator, tests/tee/emu, serving real quotes) verify with and
# without --collateral;
# inspect-evidence prints the quote fields.
set -u
. "$(dirname "$0")/cli_common.sh"
V=${SAI_TEST_DATA_DIR:?}/vectors
has()  { # has DESC REGEX FILE
    grep -q -- "$2" "$3" && ok "$1" || { bad "$1 (no /$2/ in $3)"; head -c 600 "$3"; echo; }
}
field() { # field DESC NAME VALUE: in the --json output
    has "$1: $2" "\"$2\":[[:space:]]*\"\\?$3\"\\?[,]\\?$" "$T/out"
}
pol() { printf '%b' "$1" > "$T/p.yaml"; echo "$T/p.yaml"; }

TDX=$V/tdx SGX=$V/sgx
T8_AT=2025-07-19T10:00:34Z G1_AT=2025-07-19T10:01:17Z
T8_MRTD=91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7
G1_MRENCLAVE=33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb
G1_MRSIGNER=815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6
OTHER48=$(printf '11%.0s' $(seq 48)) OTHER32=$(printf '22%.0s' $(seq 32))
UNKNOWN_OK="tcb_statuses: [UpToDate, Unknown]\n"
G1_OK="tcb_statuses: [UpToDate, ConfigurationAndSWHardeningNeeded]\n"

# ---- 1. every verifying TDX quote (no collateral: TCB status Unknown) -------
# file | at | mrtd | report_data prefix | debug
while IFS='|' read -r f at mrtd rd dbg; do
    [ -n "$f" ] || continue
    p=$(pol "$UNKNOWN_OK${dbg:+allow_debug: true\n}")
    expect 0 "tdx $f verifies at $at" "$CLI" verify-evidence --tee tdx --quote "$TDX/$f" --at "$at" --policy "$p" --json
    field "$f" verdict affirming
    field "$f" tee tdx
    field "$f" mrtd "$mrtd"
    has "$f: report_data" "\"report_data\":[[:space:]]*\"$rd" "$T/out"
    field "$f" tcb_status Unknown
    field "$f" debug "${dbg:-false}"
done <<'EOF'
gotdxguest_tdx_prod_quote_SPR_E4.dat|2023-07-01T01:00:00Z|6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb|6c62dec1b8191749a31dab490be532a3|
gotdxguest_quote_v5_sample.dat|2026-02-03T01:00:00Z|7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876|945eaacf5abc1f719d8666a942fda03d|
gotdxguest_cos-113-tdx-quote.dat|2025-01-01T00:00:00Z|dae67181d3d65e073ad8f95b7907d5e927bfe9761c9ff3e9b89734a45d8954dba41394c7717cb2735396c1d04231f94a|00000000000000000000000000000000|
trustee_tdx_quote_4.dat|2024-01-01T00:00:00Z|705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031|7c71fe2c86eff65a7cf8dbc22b327568|true
trustee_tdx_quote_6.dat|2025-06-01T00:00:00Z|21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88|26cae1c77185617fb6a03fc29bf1f924|
trustee_az-tdx-vtpm_td-quote.bin|2024-01-01T00:00:00Z|024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b|9734504f161d104c74e3165c15f779b0|
derived_oak_tdx_oc_quote.bin|2025-09-01T00:00:00Z|7b5ee9a304d036f963dbd194c329cb2524817ee91bcf1cff23efe88a25af827c11e04cbf264ae401e5b17fc2e18736be|00000000000000000000000000000000|
EOF
expect 0 "T2 is a TDX 1.5 quote" "$CLI" verify-evidence --tee tdx --quote "$TDX/gotdxguest_quote_v5_sample.dat" --at 2026-02-03T01:00:00Z --policy "$(pol "$UNKNOWN_OK")" --json
field "T2" product "TDX 1.5"
expect 0 "T4 rtmr0/rtmr1 carried" "$CLI" verify-evidence --tee tdx --quote "$TDX/trustee_tdx_quote_4.dat" --at 2024-01-01T00:00:00Z --policy "$(pol "${UNKNOWN_OK}allow_debug: true\n")" --json
field "T4" rtmr0 e940da7c2712d2790e2961e00484f4fa8e6f9eed71361655ae22699476b14f9e63867eb41edd4b480fef0c59f496b288
field "T4" rtmr1 559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf52315fcdca3a596

# T8 with its collateral: UpToDate, affirming under the DEFAULT policy.
expect 0 "T8 + collateral: UpToDate under the default policy" "$CLI" verify-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote.dat" \
    --collateral "$TDX/dcapqvl_tdx_quote_collateral.json" --at "$T8_AT" --json
field "T8" tcb_status UpToDate
field "T8" mrtd "$T8_MRTD"
has "T8: no advisories" '"advisory_ids":[[:space:]]*\[\]' "$T/out"

# ---- 2. every verifying SGX quote --------------------------------------------
expect 0 "G1 + collateral verifies when its status is accepted" "$CLI" verify-evidence --tee sgx --quote "$SGX/dcapqvl_sgx_quote.dat" \
    --collateral "$SGX/dcapqvl_sgx_quote_collateral.json" --at "$G1_AT" --policy "$(pol "$G1_OK")" --json
field "G1" tcb_status ConfigurationAndSWHardeningNeeded
field "G1" mrenclave "$G1_MRENCLAVE"
field "G1" mrsigner "$G1_MRSIGNER"
field "G1" isv_prodid 0
field "G1" debug false
has "G1: advisories" 'INTEL-SA-00289' "$T/out"
has "G1: advisories" 'INTEL-SA-00615' "$T/out"
has "G1: report data 'Hello, world!'" '"report_data":[[:space:]]*"48656c6c6f2c20776f726c6421000000' "$T/out"
expect 0 "G1 without collateral (Unknown accepted)" "$CLI" verify-evidence --tee sgx --quote "$SGX/dcapqvl_sgx_quote.dat" --at "$G1_AT" --policy "$(pol "$UNKNOWN_OK")"
expect 0 "G2 (Occlum, debug) verifies with allow_debug" "$CLI" verify-evidence --tee sgx --quote "$SGX/trustee_occlum_quote.dat" \
    --at 2024-01-01T00:00:00Z --policy "$(pol "${UNKNOWN_OK}allow_debug: true\n")" --json
field "G2" mrenclave 8f173e4613ff05c52aaf04162d234edae8c9977eae47eb2299ae16a553011c68
field "G2" mrsigner 83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e
has "G2: report data 'test'" '"report_data":[[:space:]]*"74657374000000' "$T/out"
for f in gramine_rawext gramine_dice intel-sgxsdk_rawext intel-sgxsdk_dice rats-tls_dice; do
    expect 0 "RA-TLS quote $f verifies as a raw SGX quote" "$CLI" verify-evidence --tee sgx \
        --quote "$SGX/derived_ccc_ratls_${f}_quote.bin" --at 2024-01-01T00:00:00Z --policy "$(pol "${UNKNOWN_OK}allow_debug: true\n")"
done

# ---- 3. RA-TLS certificates ----------------------------------------------------
while IFS='|' read -r c rd; do
    [ -n "$c" ] || continue
    expect 0 "RA-TLS $c verifies" "$CLI" verify-evidence --ratls "$SGX/ccc_ratls_$c.pem" --at 2024-01-01T00:00:00Z \
        --policy "$(pol "${UNKNOWN_OK}allow_debug: true\n")" --json
    field "$c" verdict affirming
    field "$c" tee sgx
    has "$c: DICE report data binds the claims" "\"report_data\":[[:space:]]*\"$rd" "$T/out"
    expect 1 "RA-TLS $c refused by default (debug enclave)" "$CLI" verify-evidence --ratls "$SGX/ccc_ratls_$c.pem" --at 2024-01-01T00:00:00Z \
        --policy "$(pol "$UNKNOWN_OK")"
    has "$c: debug named" "debug" "$T/err"
    expect 1 "RA-TLS $c refused in 2051" "$CLI" verify-evidence --ratls "$SGX/ccc_ratls_$c.pem" --at 2051-01-01T00:00:00Z \
        --policy "$(pol "${UNKNOWN_OK}allow_debug: true\n")"
    has "$c 2051: times as RFC 3339" "ratls_validity: the certificate is valid [0-9-]*T[0-9:]*Z .. [0-9-]*T[0-9:]*Z, not at 2051-01-01T00:00:00Z" "$T/err"
done <<'EOF'
gramine-cert|d8673446fe0f6842d4af0d182c8751d7e967039116deff5f85a43b2ca90c2831
intel-sgxsdk-cert|e551b081
rats-tls-cert|3ef61b93
EOF
# a certificate whose signed bytes were altered (one base64 character in the body)
awk 'NR==12 { c = substr($0, 20, 1); r = (c == "A") ? "B" : "A"; $0 = substr($0, 1, 19) r substr($0, 21) } { print }' \
    "$SGX/ccc_ratls_rats-tls-cert.pem" > "$T/tampered.pem"
expect 1 "RA-TLS certificate with a flipped byte refused" "$CLI" verify-evidence --ratls "$T/tampered.pem" --at 2024-01-01T00:00:00Z \
    --policy "$(pol "${UNKNOWN_OK}allow_debug: true\n")"

# ---- 4. negative vectors, refused for the stated reason ---------------------------
expect 1 "T1 refused in 2053 (PCK expired)" "$CLI" verify-evidence --tee tdx --quote "$TDX/gotdxguest_tdx_prod_quote_SPR_E4.dat" \
    --at 2053-07-01T01:00:00Z --policy "$(pol "$UNKNOWN_OK")"
has "T1 2053: pck_chain / expired" "pck_chain.*expired" "$T/err"
cp "$TDX/gotdxguest_tdx_prod_quote_SPR_E4.dat" "$T/v3.dat"; printf '\x03' | dd of="$T/v3.dat" bs=1 seek=0 conv=notrunc 2>/dev/null
expect 1 "T1 byte 0 := 3 refused" "$CLI" verify-evidence --tee tdx --quote "$T/v3.dat" --at 2023-07-01T01:00:00Z --policy "$(pol "$UNKNOWN_OK")"
has "T1 version 3: format named" "quote_format\|header" "$T/err"
cp "$TDX/gotdxguest_tdx_prod_quote_SPR_E4.dat" "$T/sig.dat"; printf '\x32' | dd of="$T/sig.dat" bs=1 seek=$((0x3c)) conv=notrunc 2>/dev/null
expect 1 "T1 byte 0x3C := 0x32 refused" "$CLI" verify-evidence --tee tdx --quote "$T/sig.dat" --at 2023-07-01T01:00:00Z --policy "$(pol "$UNKNOWN_OK")"
has "T1 flipped: quote_signature named" "quote_signature" "$T/err"
expect 1 "T9 + collateral refused: no TCB level matches" "$CLI" verify-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote_outdated.dat" \
    --collateral "$TDX/dcapqvl_tdx_quote_outdated_collateral.json" --at 2026-03-20T10:41:14Z --policy "$(pol "tcb_statuses: [UpToDate, OutOfDate]\n")"
has "T9: tcb_level named" "tcb_level: TCB not supported" "$T/err"
has "T9: message complete (lowest level's tdx vector and closing parenthesis)" \
    "pcesvn 5 tdx 05000200000000000000000000000000) (hint:" "$T/err"
expect 1 "T8 collateral 2 days stale refused" "$CLI" verify-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote.dat" \
    --collateral "$TDX/dcapqvl_tdx_quote_collateral.json" --at 2025-07-21T10:00:34Z
has "T8 stale: expiry named" "expired.*outside its validity" "$T/err"
expect 1 "SGX collateral on a TDX quote refused" "$CLI" verify-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote.dat" \
    --collateral "$SGX/dcapqvl_sgx_quote_collateral.json" --at "$T8_AT"
expect 1 "--tee sgx with a TDX quote refused" "$CLI" verify-evidence --tee sgx --quote "$TDX/dcapqvl_tdx_quote.dat" --at "$T8_AT" --policy "$(pol "$UNKNOWN_OK")"
has "kind mismatch named" "tee: evidence says sgx but the quote is a tdx quote" "$T/err"
# an empty or white-space --collateral is an error naming the file, never "no
# collateral": not with a policy that accepts Unknown, not under the default
: > "$T/empty.json"; printf ' \n\t\r\n' > "$T/blank.json"
for f in empty blank; do
    expect 1 "$f --collateral refused although Unknown is accepted" "$CLI" verify-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote.dat" \
        --collateral "$T/$f.json" --at "$T8_AT" --policy "$(pol "$UNKNOWN_OK")"
    has "$f collateral: the file is named" "collateral file $T/$f.json is empty" "$T/err"
    expect 1 "$f --collateral refused by the default policy" "$CLI" verify-evidence --tee sgx --quote "$SGX/dcapqvl_sgx_quote.dat" \
        --collateral "$T/$f.json" --at "$G1_AT"
    has "$f collateral: the file is named" "collateral file $T/$f.json is empty" "$T/err"
    grep -q "no collateral" "$T/err" && bad "$f collateral: refusal says no collateral was given" || ok "$f collateral: not called no collateral"
    expect 1 "$f --collateral with --ratls refused" "$CLI" verify-evidence --ratls "$SGX/ccc_ratls_gramine-cert.pem" \
        --collateral "$T/$f.json" --at 2024-01-01T00:00:00Z --policy "$(pol "${UNKNOWN_OK}allow_debug: true\n")"
    has "$f collateral (ratls): the file is named" "collateral file $T/$f.json is empty" "$T/err"
done
echo '{"tcb_info": 1}' > "$T/badcoll.json"
expect 1 "unreadable collateral refused" "$CLI" verify-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote.dat" --collateral "$T/badcoll.json" --at "$T8_AT"
has "collateral rule named" "collateral" "$T/err"
expect 1 "contraindicated --json names the check" "$CLI" verify-evidence --tee tdx --quote "$T/sig.dat" --at 2023-07-01T01:00:00Z --json
field "refusal json" verdict contraindicated
field "refusal json" rule quote_signature

# ---- 5. policy rules on real TDX/SGX results: one pass, one fail each --------------
t8() { "$CLI" verify-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote.dat" --collateral "$TDX/dcapqvl_tdx_quote_collateral.json" --at "$T8_AT" "$@"; }
g1() { "$CLI" verify-evidence --tee sgx --quote "$SGX/dcapqvl_sgx_quote.dat" --collateral "$SGX/dcapqvl_sgx_quote_collateral.json" --at "$G1_AT" "$@"; }
rule() { # rule NAME POLICY-PASS POLICY-FAIL RUNNER [extra args]
    local name=$1 pass=$2 failp=$3 run=$4; shift 4
    expect 0 "policy $name: pass" $run --policy "$(pol "$pass")" "$@"
    expect 1 "policy $name: fail" $run --policy "$(pol "$failp")" "$@"
    has "policy $name: rule named" "refused: $name:" "$T/err"
}
rule allowed_tee   "allowed_tee: [tdx]\n"            "allowed_tee: [sev-snp, sgx]\n"  t8
rule mrtd          "mrtd: [$T8_MRTD]\n"               "mrtd: [$OTHER48]\n"             t8
rule measurements  "measurements: [$T8_MRTD]\n"       "measurements: [$OTHER48]\n"     t8
t1() { "$CLI" verify-evidence --tee tdx --quote "$TDX/gotdxguest_tdx_prod_quote_SPR_E4.dat" --at 2023-07-01T01:00:00Z "$@"; }
T1_RTMR0=2927da70461cd63266f43230cc1849c03ef25ebe490062a801d8fcc80af42976823adf08f833c1e50b51779c6593f32a
rule rtmr0         "${UNKNOWN_OK}rtmr0: [$T1_RTMR0]\n" "${UNKNOWN_OK}rtmr0: [$OTHER48]\n" t1
rule mrenclave     "${G1_OK}mrenclave: [$G1_MRENCLAVE]\n" "${G1_OK}mrenclave: [$OTHER32]\n" g1
rule mrsigner      "${G1_OK}mrsigner: [$G1_MRSIGNER]\n"   "${G1_OK}mrsigner: [$OTHER32]\n"   g1
rule isv_prodid    "${G1_OK}isv_prodid: [0]\n"            "${G1_OK}isv_prodid: [1, 2]\n"     g1
rule tcb_statuses  "$G1_OK"                                "tcb_statuses: [UpToDate, SWHardeningNeeded]\n" g1
expect 1 "G1 refused by the default policy (ConfigurationAndSWHardeningNeeded)" g1
has "default refusal names the status and advisories" "tcb_statuses: TCB status ConfigurationAndSWHardeningNeeded is not acceptable (acceptable: UpToDate; advisories INTEL-SA-00289, INTEL-SA-00615)" "$T/err"
expect 1 "no collateral: Unknown refused by the default policy" t1
has "Unknown refusal says why" "TCB status Unknown.*no collateral" "$T/err"
rule min_tcb       "min_tcb: {pce: 11, qe: 6, tdx_module: 0}\n" "min_tcb: {pce: 12}\n" t8
rule min_tcb       "${G1_OK}min_tcb: {isv_svn: 0, qe: 10}\n"      "${G1_OK}min_tcb: {isv_svn: 1}\n" g1
g2() { "$CLI" verify-evidence --tee sgx --quote "$SGX/trustee_occlum_quote.dat" --at 2024-01-01T00:00:00Z "$@"; }
t4() { "$CLI" verify-evidence --tee tdx --quote "$TDX/trustee_tdx_quote_4.dat" --at 2024-01-01T00:00:00Z "$@"; }
rule debug         "${UNKNOWN_OK}allow_debug: true\n" "$UNKNOWN_OK" t4
rule debug         "${UNKNOWN_OK}allow_debug: true\n" "${UNKNOWN_OK}allow_debug: false\n" g2
T8_RD=$("$CLI" inspect-evidence --quote "$TDX/dcapqvl_tdx_quote.dat" | sed -n 's/^[[:space:]]*"report_data":[[:space:]]*"\([0-9a-f]*\)".*/\1/p' | head -1)
rule report_data   "report_data: $T8_RD\n" "report_data: $(printf '00%.0s' $(seq 64))\n" t8
expect 0 "expected report data (--report-data) matches" t8 --report-data "$T8_RD"
expect 1 "expected report data (--report-data) differs" t8 --report-data "$(printf 'ab%.0s' $(seq 64))"
has "report_data named" "report_data" "$T/err"

# ---- 6. envelopes: attest --tee tdx|sgx on the emulator, then verify ------------------
# tests/tee/emu/tee_emu.c (LD_PRELOAD) gives configfs-tsm and Gramine's
# /dev/attestation their real semantics (docs/hardware.md) and serves the
# real quotes; ASan, when built in, must not insist on coming first.
EMU=${SAI_TEE_EMU:?}
emu() { env LD_PRELOAD="$EMU" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" SAI_EMU_QUIET=1 "$@"; }
tdxemu() { emu SAI_EMU_ROOT="$T/tdxroot" SAI_EMU_TSM_PROVIDER=tdx_guest SAI_EMU_OUTBLOB="$TDX/dcapqvl_tdx_quote.dat" "$@"; }
gremu() { emu SAI_EMU_ROOT="$T/gr" SAI_EMU_GRAMINE=dcap SAI_EMU_OUTBLOB="$SGX/dcapqvl_sgx_quote.dat" "$@"; }
expect 0 "attest --tee tdx (configfs-tsm) with --collateral" tdxemu "$CLI" attest --tee tdx --root "$T/tdxroot" --tsm-entry q \
    --report-data 00 --collateral "$TDX/dcapqvl_tdx_quote_collateral.json" --out "$T/tdx.json"
expect 0 "tdx envelope + embedded collateral: affirming (default policy)" "$CLI" verify-evidence "$T/tdx.json" --at "$T8_AT" --json
field "tdx envelope" tcb_status UpToDate
field "tdx envelope" mrtd "$T8_MRTD"
expect 0 "attest --tee tdx without collateral" tdxemu "$CLI" attest --tee tdx --root "$T/tdxroot" --tsm-entry q --report-data 00 --out "$T/tdx0.json"
expect 1 "tdx envelope without collateral refused by default (Unknown)" "$CLI" verify-evidence "$T/tdx0.json" --at "$T8_AT"
expect 0 "tdx envelope + --collateral C.json: affirming" "$CLI" verify-evidence "$T/tdx0.json" --collateral "$TDX/dcapqvl_tdx_quote_collateral.json" --at "$T8_AT"
expect 1 "--collateral replaces the envelope's (SGX collateral refused)" "$CLI" verify-evidence "$T/tdx.json" --collateral "$SGX/dcapqvl_sgx_quote_collateral.json" --at "$T8_AT"
expect 1 "an empty --collateral does not drop the envelope's (Unknown accepted)" "$CLI" verify-evidence "$T/tdx.json" \
    --collateral "$T/empty.json" --at "$T8_AT" --policy "$(pol "$UNKNOWN_OK")"
has "envelope + empty collateral: the file is named" "collateral file $T/empty.json is empty" "$T/err"
python3 - "$T/tdx.json" "$T/tdx-emptycoll.json" <<'PY' || bad "python empty collateral"
import json, sys
e = json.load(open(sys.argv[1])); e["collateral"] = {}
json.dump(e, open(sys.argv[2], "w"))
PY
expect 1 "an envelope with an empty collateral object refused (Unknown accepted)" "$CLI" verify-evidence "$T/tdx-emptycoll.json" \
    --at "$T8_AT" --policy "$(pol "$UNKNOWN_OK")"
has "envelope empty collateral: collateral named" "refused: collateral:" "$T/err"
expect 1 "attest --collateral refuses an empty file" tdxemu "$CLI" attest --tee tdx --root "$T/tdxroot" --tsm-entry q --report-data 00 \
    --collateral "$T/blank.json" --out "$T/x.json"
has "attest empty collateral: the file is named" "$T/blank.json: the collateral is empty (5 bytes, all white space)" "$T/err"
expect 0 "inspect tdx envelope" "$CLI" inspect-evidence "$T/tdx.json"
field "inspect tdx" mrtd "$T8_MRTD"
field "inspect tdx" td_attributes 0000001000000000
has "inspect tdx: collateral present" '"collateral":[[:space:]]*true' "$T/out"
# an envelope relabelled sgx is refused (the quote decides, the label must match)
sed 's/"tee":[[:space:]]*"tdx"/"tee": "sgx"/' "$T/tdx.json" > "$T/relabel.json"
expect 1 "tdx quote in an envelope labelled sgx refused" "$CLI" verify-evidence "$T/relabel.json" --at "$T8_AT"
# a tampered quote in the envelope is refused
python3 - "$T/tdx.json" "$T/tamper.json" <<'PY' || bad "python tamper"
import base64, json, sys
e = json.load(open(sys.argv[1]))
q = bytearray(base64.urlsafe_b64decode(e["quote"] + "=" * (-len(e["quote"]) % 4)))
q[48 + 136] ^= 1          # one bit of MRTD
e["quote"] = base64.urlsafe_b64encode(bytes(q)).decode().rstrip("=")
json.dump(e, open(sys.argv[2], "w"))
PY
expect 1 "tampered quote in an envelope refused" "$CLI" verify-evidence "$T/tamper.json" --at "$T8_AT"
has "tampered: quote_signature" "quote_signature" "$T/err"

expect 0 "attest --tee sgx (Gramine) with --collateral" gremu "$CLI" attest --tee sgx --root "$T/gr" --report-data 00 \
    --collateral "$SGX/dcapqvl_sgx_quote_collateral.json" --out "$T/sgx.json"
expect 1 "sgx envelope refused by default (ConfigurationAndSWHardeningNeeded)" "$CLI" verify-evidence "$T/sgx.json" --at "$G1_AT"
expect 0 "sgx envelope accepted when the status is listed" "$CLI" verify-evidence "$T/sgx.json" --at "$G1_AT" --policy "$(pol "$G1_OK")"
has "human output names the status" "tcb_status: ConfigurationAndSWHardeningNeeded" "$T/out"
expect 1 "attest --collateral refuses a non-collateral file" gremu "$CLI" attest --tee sgx --root "$T/gr" --report-data 00 \
    --collateral "$T/badcoll.json" --out "$T/x.json"

# token carries the Intel claims
openssl ecparam -name secp384r1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$T/k.pem" 2>/dev/null
expect 0 "token for a TDX result" t8 --sign-key "$T/k.pem" --token-out "$T/tok.jwt"
IFS=. read -r _ c _ < "$T/tok.jwt"
c=$(echo "$c" | tr '_-' '/+'); while [ $(( ${#c} % 4 )) != 0 ]; do c="$c="; done
echo "$c" | base64 -d > "$T/claims.json" 2>/dev/null
has "token: mrtd claim" "\"mrtd\":\"$T8_MRTD\"" "$T/claims.json"
has "token: tcb_status claim" '"tcb_status":"UpToDate"' "$T/claims.json"

# ---- 7. inspect raw quotes and RA-TLS -------------------------------------------------
expect 0 "inspect --quote (SGX)" "$CLI" inspect-evidence --quote "$SGX/trustee_occlum_quote.dat"
field "inspect G2" attributes 0700000000000000e700000000000000
field "inspect G2" debug true
field "inspect G2" miscselect 1
field "inspect G2" user_data dccde9b31ce8860548173bb4a2a57a1600000000
expect 0 "inspect --ratls" "$CLI" inspect-evidence --ratls "$SGX/ccc_ratls_gramine-cert.pem"
field "inspect ratls" spki_sha256 5a5a5b2d177433048e9d62409d1acc4ec526c06e294d09e69a36cff9369e4851
has "inspect ratls: both quotes" "gramine-legacy" "$T/out"
has "inspect ratls: both quotes" "tcg-dice" "$T/out"
expect 1 "inspect --quote of garbage fails" "$CLI" inspect-evidence --quote "$T/badcoll.json"
# --tee means what it means to verify-evidence (which requires it with --quote)
expect 0 "inspect --tee tdx --quote" "$CLI" inspect-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote.dat"
field "inspect --tee tdx" tee tdx
field "inspect --tee tdx" mrtd "$T8_MRTD"
expect 0 "inspect --tee sgx --quote" "$CLI" inspect-evidence --tee sgx --quote "$SGX/dcapqvl_sgx_quote.dat"
field "inspect --tee sgx" mrenclave "$G1_MRENCLAVE"
expect 1 "inspect --tee sgx on a TDX quote refused" "$CLI" inspect-evidence --tee sgx --quote "$TDX/dcapqvl_tdx_quote.dat"
has "inspect kind mismatch named" "\-\-tee sgx but .*dcapqvl_tdx_quote.dat is tdx evidence" "$T/err"
expect 1 "inspect --tee sgx on a TDX envelope refused" "$CLI" inspect-evidence --tee sgx "$T/tdx.json"
expect 0 "inspect --tee tdx on a TDX envelope" "$CLI" inspect-evidence --tee tdx "$T/tdx.json"
expect 0 "inspect --tee sgx --ratls" "$CLI" inspect-evidence --tee sgx --ratls "$SGX/ccc_ratls_gramine-cert.pem"
expect 2 "inspect --tee sev-snp --quote is a usage error" "$CLI" inspect-evidence --tee sev-snp --quote "$TDX/dcapqvl_tdx_quote.dat"
expect 2 "inspect --tee bogus is a usage error" "$CLI" inspect-evidence --tee bogus --quote "$TDX/dcapqvl_tdx_quote.dat"
# a file over a size limit is named once, not twice
truncate -s 300000 "$T/big.json"; truncate -s 1100000 "$T/bigcoll.json"
once() { # once DESC: $T/err names FILE exactly once
    local n; n=$(grep -o -F "$2" "$T/err" | wc -l)
    [ "$n" = 1 ] && ok "$1" || { bad "$1 (named $n times)"; cat "$T/err"; }
}
expect 1 "oversized envelope refused" "$CLI" verify-evidence "$T/big.json"
once "verify-evidence: size limit names the file once" "$T/big.json"
has "verify-evidence: size limit given" "300000 bytes, more than the 262144 allowed" "$T/err"
expect 1 "oversized envelope refused by inspect" "$CLI" inspect-evidence "$T/big.json"
once "inspect-evidence: size limit names the file once" "$T/big.json"
expect 1 "oversized collateral refused" "$CLI" verify-evidence --tee tdx --quote "$TDX/dcapqvl_tdx_quote.dat" --collateral "$T/bigcoll.json"
once "verify-evidence --collateral: size limit names the file once" "$T/bigcoll.json"
expect 1 "oversized collateral refused by attest" tdxemu "$CLI" attest --tee tdx --root "$T/tdxroot" --tsm-entry q --report-data 00 \
    --collateral "$T/bigcoll.json" --out "$T/x.json"
once "attest --collateral: size limit names the file once" "$T/bigcoll.json"
expect 0 "verify-evidence --help mentions --collateral" "$CLI" verify-evidence --help
has "help: collateral" "collateral" "$T/out"
expect 1 "--collateral with --report refused" "$CLI" verify-evidence --tee sev-snp --report "$T/x" --vcek "$T/x" --collateral "$T/x"

finish
