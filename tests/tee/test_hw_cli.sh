#!/usr/bin/env bash
# test_hw_cli.sh — `secureai attest --tee sev-snp|tdx|sgx` against the
# guest-interface emulator (tests/tee/emu/tee_emu.c, LD_PRELOAD) fed with
# real hardware vectors, and `secureai verify-evidence` affirming what was
# collected with the real AMD / Intel chains. Also: evidence without
# certificates warns (or fails with --require-certs), and verify-evidence
# honours --vcek/--chain for an SEV-SNP envelope and refuses them for others.
# The vectors are recorded reports: they cannot bind our report data, so
# every check of --report-data against them is a refusal (a replay).
set -u
. "$(dirname "$0")/../attest/cli_common.sh"
EMU=${SAI_TEE_EMU:?}
V=${SAI_TEST_DATA_DIR:?}/vectors
SNP=$V/sev-snp TDX=$V/tdx SGX=$V/sgx
has() { grep -q -- "$2" "$3" && ok "$1" || { bad "$1 (no /$2/ in $3)"; head -c 600 "$3"; echo; }; }
# GUIDs as AMD's GHCB specification writes them; the emulator builds the table
VCEK=63da758d-e664-4564-adc5-f4b93be8accd ASK=4ab7b379-bbac-4fe4-a02f-05aef327c782 ARK=c0b406a4-a803-4952-9743-3fb6014cd0ae
CERTS="$VCEK=$SNP/gosevguest_vcek.der;$ASK=$SNP/amd_ask_ark_milan.pem#0;$ARK=$SNP/amd_ask_ark_milan.pem#1"
S1_AT=2022-09-24T01:00:00Z
printf 'allow_debug: true\n' > "$T/debug.yaml"   # S1 is a debug guest
RD=$(printf '5a%.0s' $(seq 64))

emu() { env LD_PRELOAD="$EMU" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"; }
snp_tsm() { emu SAI_EMU_ROOT="$T/snp" SAI_EMU_TSM_PROVIDER=sev_guest SAI_EMU_OUTBLOB="$SNP/gosevguest_attestation.bin" "$@"; }
snp_dev() { emu SAI_EMU_ROOT="$T/dev" SAI_EMU_SEV_GUEST=1 SAI_EMU_OUTBLOB="$SNP/gosevguest_attestation.bin" "$@"; }

# ---- SEV-SNP over configfs-tsm: the real S1 report and its certificate table ----
expect 0 "attest --tee sev-snp (configfs-tsm)" snp_tsm SAI_EMU_CERTS="$CERTS" "$CLI" attest --tee sev-snp --root "$T/snp" \
    --report-data "$RD" --require-certs --out "$T/snp.json"
has "an emulated run says so on stderr" "EMULATED TEE guest interfaces" "$T/err"
expect 0 "sev-snp envelope affirmed with the real AMD chain" "$CLI" verify-evidence "$T/snp.json" --at "$S1_AT" --policy "$T/debug.yaml"
has "affirming Milan" "verdict: affirming (sev-snp Milan)" "$T/out"
expect 1 "the recorded report does not carry our report data (replay refused)" "$CLI" verify-evidence "$T/snp.json" \
    --at "$S1_AT" --policy "$T/debug.yaml" --report-data "$RD"
has "report_data named" "report_data" "$T/err"
# the EFI mixed-endian table order works too
expect 0 "attest with an EFI-order table" snp_tsm SAI_EMU_CERTS="efi:${CERTS//;/;efi:}" "$CLI" attest --tee sev-snp --root "$T/snp" \
    --report-data "$RD" --require-certs --out "$T/snp-efi.json"
expect 0 "EFI-order envelope affirmed" "$CLI" verify-evidence "$T/snp-efi.json" --at "$S1_AT" --policy "$T/debug.yaml"

# ---- SEV-SNP over /dev/sev-guest: SNP_GET_EXT_REPORT returns the certificates ----
expect 0 "attest --tee sev-snp (/dev/sev-guest)" snp_dev SAI_EMU_CERTS="$CERTS" "$CLI" attest --tee sev-snp --root "$T/dev" \
    --report-data "$RD" --require-certs --out "$T/dev.json"
expect 0 "sev-guest envelope affirmed" "$CLI" verify-evidence "$T/dev.json" --at "$S1_AT" --policy "$T/debug.yaml"

# ---- no certificate table: never silent ----------------------------------------------
expect 0 "attest without certificates succeeds" snp_tsm "$CLI" attest --tee sev-snp --root "$T/snp" --report-data "$RD" --out "$T/nc.json"
has "... with a warning" "warning: the evidence carries no VCEK/VLEK certificate" "$T/err"
expect 1 "--require-certs makes it an error" snp_tsm "$CLI" attest --tee sev-snp --root "$T/snp" --report-data "$RD" \
    --require-certs --out "$T/nc2.json"
has "--require-certs named" "require-certs" "$T/err"
[ ! -e "$T/nc2.json" ] && ok "no evidence file written" || bad "evidence written despite --require-certs"
expect 1 "envelope without certificates refused" "$CLI" verify-evidence "$T/nc.json" --at "$S1_AT" --policy "$T/debug.yaml"
expect 0 "... affirmed with --vcek and --chain" "$CLI" verify-evidence "$T/nc.json" --vcek "$SNP/gosevguest_vcek.der" \
    --chain "$SNP/amd_ask_ark_milan.pem" --at "$S1_AT" --policy "$T/debug.yaml"
expect 1 "--vcek of another chip refused" "$CLI" verify-evidence "$T/nc.json" --vcek "$SNP/trustee_test-vcek.der" \
    --chain "$SNP/amd_ask_ark_milan.pem" --at "$S1_AT" --policy "$T/debug.yaml"
expect 1 "--chain alone with an envelope refused" "$CLI" verify-evidence "$T/nc.json" --chain "$SNP/amd_ask_ark_milan.pem" --at "$S1_AT"
has "--chain alone: says why" "needs --vcek" "$T/err"

# ---- privilege levels -------------------------------------------------------------------
expect 1 "--privlevel below the guest's floor refused" snp_tsm SAI_EMU_CERTS="$CERTS" SAI_EMU_PRIVLEVEL_FLOOR=2 "$CLI" attest \
    --tee sev-snp --root "$T/snp" --report-data "$RD" --privlevel 1 --out "$T/x.json"
has "floor named" "floor" "$T/err"
expect 2 "--privlevel is for sev-snp" "$CLI" attest --tee tdx --report-data 00 --privlevel 1 --out "$T/x.json"
expect 2 "--privlevel 4 is a usage error" "$CLI" attest --tee sev-snp --report-data 00 --privlevel 4 --out "$T/x.json"

# ---- TDX (configfs-tsm) and SGX (Gramine) with the real Intel chain --------------------
expect 0 "attest --tee tdx (configfs-tsm)" emu SAI_EMU_ROOT="$T/tdx" SAI_EMU_TSM_PROVIDER=tdx_guest \
    SAI_EMU_OUTBLOB="$TDX/dcapqvl_tdx_quote.dat" "$CLI" attest --tee tdx --root "$T/tdx" --report-data "$RD" \
    --collateral "$TDX/dcapqvl_tdx_quote_collateral.json" --out "$T/tdx.json"
expect 0 "tdx envelope affirmed (UpToDate)" "$CLI" verify-evidence "$T/tdx.json" --at 2025-07-19T10:00:34Z
has "tdx UpToDate" "tcb_status: UpToDate" "$T/out"
expect 1 "--vcek with a TDX envelope refused, not ignored" "$CLI" verify-evidence "$T/tdx.json" --vcek "$SNP/gosevguest_vcek.der" \
    --at 2025-07-19T10:00:34Z
has "--vcek refusal says why" "for SEV-SNP evidence" "$T/err"
printf 'tcb_statuses: [UpToDate, ConfigurationAndSWHardeningNeeded]\n' > "$T/g1.yaml"
expect 0 "attest --tee sgx (Gramine)" emu SAI_EMU_ROOT="$T/gr" SAI_EMU_GRAMINE=dcap SAI_EMU_OUTBLOB="$SGX/dcapqvl_sgx_quote.dat" \
    "$CLI" attest --tee sgx --root "$T/gr" --report-data "$RD" --collateral "$SGX/dcapqvl_sgx_quote_collateral.json" --out "$T/sgx.json"
expect 0 "sgx envelope affirmed" "$CLI" verify-evidence "$T/sgx.json" --at 2025-07-19T10:01:17Z --policy "$T/g1.yaml"
expect 1 "Gramine without dcap refused" emu SAI_EMU_ROOT="$T/gr" SAI_EMU_GRAMINE=epid SAI_EMU_OUTBLOB="$SGX/dcapqvl_sgx_quote.dat" \
    "$CLI" attest --tee sgx --root "$T/gr" --report-data "$RD" --out "$T/x.json"
has "the type is named" '"epid", not "dcap"' "$T/err"
finish
