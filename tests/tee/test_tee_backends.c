/* test_tee_backends.c — the sev-snp, tdx and sgx backends against the
 * guest-interface emulator (tests/tee/emu/tee_emu.c, an LD_PRELOAD
 * interposer: main() re-executes this program with it preloaded), which
 * gives configfs-tsm, /dev/sev-guest and Gramine's /dev/attestation their
 * real semantics (pseudo-file sizes, reports made on read, generation,
 * privlevel_floor, ioctl status words) and serves real hardware outputs
 * from tests/data/vectors. Certificate tables are built by the emulator
 * from the GUID strings given here, never from the code's constants.
 * docs/hardware.md maps each finding of issue 18 to its test here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secureai/attest.h"
#include "secureai/pipeline.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static char root[256];
static char sub[512];     /* this test's emulated root */

/* AMD's GUIDs as the GHCB specification writes them */
#define G_VCEK "63da758d-e664-4564-adc5-f4b93be8accd"
#define G_ASK  "4ab7b379-bbac-4fe4-a02f-05aef327c782"
#define G_ARK  "c0b406a4-a803-4952-9743-3fb6014cd0ae"

#define V SAI_TEST_DATA_DIR "/vectors/"
#define SNP_REPORT V "sev-snp/gosevguest_attestation.bin"
#define SNP_VCEK   V "sev-snp/gosevguest_vcek.der"
#define SNP_CHAIN  V "sev-snp/amd_ask_ark_milan.pem"
#define TSM "/sys/kernel/config/tsm/report"

static uint8_t *load(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    sai_error_t err;
    if (sai_read_file(path, 1 << 20, &buf, len, &err) != 0)
        fail_msg("cannot read %s: %s", path, err.msg);
    return buf;
}

static const char *const emu_vars[] = {
    "SAI_EMU_TSM_PROVIDER", "SAI_EMU_SEV_GUEST", "SAI_EMU_TDX_GUEST", "SAI_EMU_GRAMINE",
    "SAI_EMU_OUTBLOB", "SAI_EMU_BIND", "SAI_EMU_CERTS", "SAI_EMU_PRIVLEVEL_FLOOR", "SAI_EMU_RACE",
    "SAI_EMU_AUX_FAIL", "SAI_EMU_KEY_STATUS", "SAI_EMU_SGX_KEY", "SAI_EMU_DELAY_US",
};

/* A fresh emulated tree (entries are per path) with nothing configured. */
static void emu_reset(const char *name)
{
    for (size_t i = 0; i < sizeof emu_vars / sizeof emu_vars[0]; i++)
        unsetenv(emu_vars[i]);
    snprintf(sub, sizeof sub, "%s/%s", root, name);
    if (mkdir(sub, 0700) != 0 && errno != EEXIST)
        fail_msg("mkdir %s", sub);
    setenv("SAI_EMU_ROOT", sub, 1);
}

static void emu_snp_configfs(const char *certs)
{
    setenv("SAI_EMU_TSM_PROVIDER", "sev_guest", 1);
    setenv("SAI_EMU_OUTBLOB", SNP_REPORT, 1);
    if (certs != NULL)
        setenv("SAI_EMU_CERTS", certs, 1);
}

/* VCEK, ASK, ARK; the table lists ARK first to show order comes from GUIDs */
static const char certs_rfc[] =
    G_ARK "=" SNP_CHAIN "#1;" G_ASK "=" SNP_CHAIN "#0;" G_VCEK "=" SNP_VCEK;
static const char certs_efi[] =
    "efi:" G_ARK "=" SNP_CHAIN "#1;efi:" G_ASK "=" SNP_CHAIN "#0;efi:" G_VCEK "=" SNP_VCEK;

static sai_tee_t *open_tee(sai_tee_kind_t k, int privlevel)
{
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.root = sub;
    o.privlevel = privlevel;
    sai_tee_t *t = NULL;
    sai_error_t err;
    if (sai_tee_open(&t, k, &o, &err) != 0)
        fail_msg("open %s: %s", sai_tee_kind_name(k), err.msg);
    return t;
}

static void rd_fill(uint8_t rd[64], uint8_t base)
{
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)(base + i);
}

/* Evidence from t; *ev parsed. Fails the test on error. */
static char *evidence(sai_tee_t *t, const uint8_t rd[64], size_t *len, sai_evidence_t *ev)
{
    char *json = NULL;
    sai_error_t err;
    if (sai_tee_get_evidence(t, rd, &json, len, &err) != 0)
        fail_msg("get_evidence: %s", err.msg);
    if (ev != NULL && sai_evidence_parse(ev, json, *len, &err) != 0)
        fail_msg("parse: %s", err.msg);
    return json;
}

static int count_certs(const char *pem)
{
    int n = 0;
    for (const char *p = pem; p != NULL && (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++)
        n++;
    return n;
}

static sai_attest_policy_t *debug_policy(void)
{
    static const char y[] = "allow_debug: true\n";
    sai_attest_policy_t *pol = NULL;
    sai_error_t err;
    assert_int_equal(sai_attest_policy_load(&pol, y, sizeof y - 1, &err), 0);
    return pol;
}

static int64_t s1_time(void)
{
    int64_t at;
    sai_error_t err;
    assert_int_equal(sai_parse_rfc3339(&at, "2022-09-24T01:00:00Z", &err), 0);
    return at;
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/sai-tee-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    unsetenv("SAI_EMU_ROOT");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* Finding 6: an entry name left by an earlier process with our pid (or
 * anyone's) is skipped, not fatal. Runs first: names use a process-wide
 * counter that starts at 0. */
static void test_tsm_stale_entry_names(void **state)
{
    (void)state;
    emu_reset("stale");
    emu_snp_configfs(certs_rfc);
    char path[800];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s" TSM "/secureai-%ld-%d", sub, (long)getpid(), i);
        assert_int_equal(mkdir(path, 0700), 0);   /* the emulator's configfs */
    }
    sai_tee_t *t = open_tee(SAI_TEE_SEV_SNP, 0);
    uint8_t rd[64];
    size_t len;
    rd_fill(rd, 1);
    free(evidence(t, rd, &len, NULL));
    sai_tee_close(t);
}

/* Finding 1: pseudo-files are read to EOF, st_size is a hint at most. */
static void test_read_pseudo_file(void **state)
{
    (void)state;
    uint8_t *b = NULL;
    size_t n = 0;
    sai_error_t err;
    struct stat st;
    /* procfs: stats as 0 bytes, reads hundreds */
    assert_int_equal(stat("/proc/self/status", &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(sai_read_pseudo_file("/proc/self/status", 1 << 16, &b, &n, &err), 0);
    assert_true(n > 100);
    assert_non_null(strstr((char *)b, "Name:"));
    assert_int_equal(b[n], 0);
    free(b);
    /* the cap holds although st_size says nothing */
    assert_int_equal(sai_read_pseudo_file("/proc/self/status", 16, &b, &n, &err), SAI_ELIMIT);
    assert_null(b);
    /* configfs text attribute: stats as 4096, reads "0\n" */
    emu_reset("pseudo");
    emu_snp_configfs(NULL);
    char e[800], g[900];
    snprintf(e, sizeof e, "%s" TSM "/x", sub);
    assert_int_equal(mkdir(e, 0700), 0);
    snprintf(g, sizeof g, "%s/generation", e);
    assert_int_equal(stat(g, &st), 0);
    assert_int_equal(st.st_size, 4096);
    assert_int_equal(sai_read_pseudo_file(g, 4096, &b, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal((char *)b, "0\n");
    free(b);
    /* a binary attribute stats as 0; with no inblob written the read fails
     * (the kernel's EINVAL), it does not quietly return nothing */
    snprintf(g, sizeof g, "%s/outblob", e);
    assert_int_equal(stat(g, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(sai_read_pseudo_file(g, 65536, &b, &n, &err), SAI_EIO);
    assert_int_equal(rmdir(e), 0);
}

/* Findings 1-3: configfs-tsm with the real S1 report and its certificate
 * table (RFC 4122 GUID order, ARK c0b406a4-...) verifies with the real AMD
 * chain; the EFI order is accepted too. */
static void test_snp_configfs_real_vector(void **state)
{
    (void)state;
    size_t rlen;
    uint8_t *rep = load(SNP_REPORT, &rlen);
    sai_attest_policy_t *pol = debug_policy();
    const char *tables[2] = {certs_rfc, certs_efi};
    for (int k = 0; k < 2; k++) {
        emu_reset(k == 0 ? "snp-rfc" : "snp-efi");
        emu_snp_configfs(tables[k]);
        sai_tee_t *t = open_tee(SAI_TEE_SEV_SNP, 0);
        uint8_t rd[64], m[48];
        size_t jlen, ml;
        sai_evidence_t ev;
        sai_error_t err;
        rd_fill(rd, 0xA0);
        char *json = evidence(t, rd, &jlen, &ev);
        assert_int_equal(ev.report_len, rlen);
        assert_memory_equal(ev.report, rep, rlen);
        assert_int_equal(count_certs(ev.certs), 3);
        sai_evidence_clear(&ev);
        assert_int_equal(sai_tee_measure(t, m, &ml, &err), 0);
        assert_memory_equal(m, rep + 0x90, 48);
        sai_tee_close(t);
        sai_attest_result_t res;
        if (sai_attest_verify_evidence(json, jlen, pol, NULL, s1_time(), &res, &err) != 0)
            fail_msg("verify (%s order): %s", k ? "EFI" : "RFC 4122", err.msg);
        assert_int_equal(res.verdict, SAI_VERDICT_AFFIRMING);
        assert_false(res.is_simulated);
        assert_string_equal(res.product, "Milan");
        /* a recorded report cannot bind our report data: a replay refused */
        assert_int_equal(sai_attest_verify_evidence(json, jlen, pol, rd, s1_time(), &res, &err), SAI_EPOLICY);
        assert_string_equal(res.rule, "report_data");
        free(json);
    }
    /* the emulator binds our request into the report (the signature then
     * fails): the backend really wrote our 64 bytes to inblob */
    emu_reset("snp-bind");
    emu_snp_configfs(certs_rfc);
    setenv("SAI_EMU_BIND", "1", 1);
    sai_tee_t *t = open_tee(SAI_TEE_SEV_SNP, 0);
    uint8_t rd[64];
    size_t jlen;
    sai_evidence_t ev;
    rd_fill(rd, 0x30);
    free(evidence(t, rd, &jlen, &ev));
    assert_memory_equal(ev.report + 0x50, rd, 64);
    sai_evidence_clear(&ev);
    sai_tee_close(t);
    /* provider mismatch */
    emu_reset("snp-prov");
    setenv("SAI_EMU_TSM_PROVIDER", "tdx_guest", 1);
    setenv("SAI_EMU_OUTBLOB", SNP_REPORT, 1);
    t = open_tee(SAI_TEE_SEV_SNP, 0);
    char *json = NULL;
    sai_error_t err;
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), SAI_EUNSUPP);
    assert_non_null(strstr(err.msg, "provider"));
    sai_tee_close(t);
    sai_attest_policy_free(pol);
    free(rep);
}

/* Finding 4: no certificates are never silent. An empty auxblob gives
 * evidence without certificates (the CLI warns, test_hw_cli.sh); a failing
 * auxblob read is an error; a table without VCEK/VLEK gives none. */
static void test_snp_certs_missing(void **state)
{
    (void)state;
    uint8_t rd[64];
    size_t jlen;
    sai_evidence_t ev;
    sai_error_t err;
    char *json = NULL;
    rd_fill(rd, 7);
    emu_reset("nocerts");
    emu_snp_configfs(NULL);
    sai_tee_t *t = open_tee(SAI_TEE_SEV_SNP, 0);
    json = evidence(t, rd, &jlen, &ev);
    assert_null(ev.certs);
    sai_evidence_clear(&ev);
    sai_attest_result_t res;
    assert_int_not_equal(sai_attest_verify_evidence(json, jlen, NULL, NULL, s1_time(), &res, &err), 0);
    assert_string_equal(res.rule, "chain");
    free(json);
    sai_tee_close(t);
    /* only ASK/ARK: no signing certificate, so no certificates at all */
    emu_reset("askark");
    emu_snp_configfs(G_ASK "=" SNP_CHAIN "#0;" G_ARK "=" SNP_CHAIN "#1");
    t = open_tee(SAI_TEE_SEV_SNP, 0);
    json = evidence(t, rd, &jlen, &ev);
    assert_null(ev.certs);
    sai_evidence_clear(&ev);
    free(json);
    sai_tee_close(t);
    /* auxblob read error */
    emu_reset("auxfail");
    emu_snp_configfs(certs_rfc);
    setenv("SAI_EMU_AUX_FAIL", "1", 1);
    t = open_tee(SAI_TEE_SEV_SNP, 0);
    json = NULL;
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), SAI_EIO);
    assert_null(json);
    assert_non_null(strstr(err.msg, "auxblob"));
    sai_tee_close(t);
}

/* Finding 4: /dev/sev-guest without configfs-tsm uses SNP_GET_EXT_REPORT
 * (growing the certificate buffer on INVALID_LEN) and the evidence
 * verifies with the real chain. */
static void test_snp_sev_guest_ext_report(void **state)
{
    (void)state;
    sai_attest_policy_t *pol = debug_policy();
    const char *tables[2] = {certs_rfc, certs_efi};
    for (int k = 0; k < 2; k++) {
        emu_reset(k ? "sevg-efi" : "sevg-rfc");
        setenv("SAI_EMU_SEV_GUEST", "1", 1);
        setenv("SAI_EMU_OUTBLOB", SNP_REPORT, 1);
        setenv("SAI_EMU_CERTS", tables[k], 1);
        sai_tee_t *t = open_tee(SAI_TEE_SEV_SNP, 0);
        uint8_t rd[64];
        size_t jlen;
        sai_evidence_t ev;
        sai_error_t err;
        rd_fill(rd, 3);
        char *json = evidence(t, rd, &jlen, &ev);
        assert_int_equal(count_certs(ev.certs), 3);
        sai_evidence_clear(&ev);
        sai_attest_result_t res;
        if (sai_attest_verify_evidence(json, jlen, pol, NULL, s1_time(), &res, &err) != 0)
            fail_msg("verify: %s", err.msg);
        assert_int_equal(res.verdict, SAI_VERDICT_AFFIRMING);
        free(json);
        sai_tee_close(t);
    }
    sai_attest_policy_free(pol);
}

/* Finding 5: the derived-key status is checked; the VMPL comes from the
 * guest (privlevel_floor), not a constant, in reports and key requests. */
static void test_snp_privlevel_and_derived_key(void **state)
{
    (void)state;
    uint8_t k1[32], k2[32], k3[32], rd[64];
    size_t jlen;
    sai_evidence_t ev;
    sai_error_t err;
    rd_fill(rd, 9);
    emu_reset("key");
    setenv("SAI_EMU_SEV_GUEST", "1", 1);
    setenv("SAI_EMU_OUTBLOB", SNP_REPORT, 1);
    sai_tee_t *t = open_tee(SAI_TEE_SEV_SNP, 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"a", 1, k1, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"a", 1, k2, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"b", 1, k3, &err), 0);
    assert_memory_equal(k1, k2, 32);
    assert_memory_not_equal(k1, k3, 32);
    /* the firmware refuses (status 0x16): no key, never a key made of zeros */
    setenv("SAI_EMU_KEY_STATUS", "0x16", 1);
    memset(k3, 0, 32);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"a", 1, k3, &err), SAI_EIO);
    assert_non_null(strstr(err.msg, "status 0x16"));
    sai_tee_close(t);

    /* a guest at VMPL 2 (under an SVSM): configfs-tsm privlevel_floor = 2 */
    emu_reset("vmpl2");
    emu_snp_configfs(certs_rfc);
    setenv("SAI_EMU_SEV_GUEST", "1", 1);
    setenv("SAI_EMU_BIND", "1", 1);
    setenv("SAI_EMU_PRIVLEVEL_FLOOR", "2", 1);
    t = open_tee(SAI_TEE_SEV_SNP, 0);
    free(evidence(t, rd, &jlen, &ev));
    assert_int_equal(ev.report[0x30], 2);            /* the report's VMPL */
    assert_memory_equal(ev.report + 0x50, rd, 64);
    sai_evidence_clear(&ev);
    assert_int_equal(sai_tee_derive_sealing_key(t, NULL, 0, k1, &err), 0);
    sai_tee_close(t);
    /* an explicit level above the floor is used; below it is refused */
    t = open_tee(SAI_TEE_SEV_SNP, 3);
    free(evidence(t, rd, &jlen, &ev));
    assert_int_equal(ev.report[0x30], 3);
    sai_evidence_clear(&ev);
    sai_tee_close(t);
    t = open_tee(SAI_TEE_SEV_SNP, 1);
    char *json = NULL;
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), SAI_EINVAL);
    assert_non_null(strstr(err.msg, "floor"));
    sai_tee_close(t);
}

/* Finding 6: another writer between our inblob write and our outblob read
 * is detected by the generation count, whatever the report says. */
static void test_tsm_generation_race(void **state)
{
    (void)state;
    emu_reset("race");
    emu_snp_configfs(certs_rfc);
    setenv("SAI_EMU_BIND", "1", 1);
    setenv("SAI_EMU_RACE", "1", 1);
    sai_tee_t *t = open_tee(SAI_TEE_SEV_SNP, 0);
    uint8_t rd[64];
    char *json = NULL;
    size_t jlen;
    sai_error_t err;
    rd_fill(rd, 0x11);
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), SAI_ESTATE);
    assert_null(json);
    assert_non_null(strstr(err.msg, "generation"));
    sai_tee_close(t);
}

/* Finding 6: threads collecting at once each get a report for their own
 * request (entry names from an atomic counter). */
struct worker {
    sai_tee_t *t;
    uint8_t  base;
    int      iters;
    bool     sgx;          /* report data in the quote (SGX) or the SNP report */
    int      bad;
};

static void *evidence_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->iters; i++) {
        uint8_t rd[64];
        char *json = NULL;
        size_t jlen;
        sai_error_t err;
        sai_evidence_t ev;
        rd_fill(rd, (uint8_t)(w->base + i));
        if (sai_tee_get_evidence(w->t, rd, &json, &jlen, &err) != 0 ||
            sai_evidence_parse(&ev, json, jlen, &err) != 0) {
            w->bad++;
        } else {
            if (memcmp(w->sgx ? ev.quote + 368 : ev.report + 0x50, rd, 64) != 0)
                w->bad++;
            sai_evidence_clear(&ev);
        }
        free(json);
    }
    return NULL;
}

static void test_tsm_threads(void **state)
{
    (void)state;
    emu_reset("threads");
    emu_snp_configfs(certs_rfc);
    setenv("SAI_EMU_BIND", "1", 1);
    sai_tee_t *t = open_tee(SAI_TEE_SEV_SNP, 0);
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.t = t, .base = (uint8_t)(i * 40), .iters = 8};
        assert_int_equal(pthread_create(&th[i], NULL, evidence_worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    sai_tee_close(t);
}

static void test_missing_devices(void **state)
{
    (void)state;
    emu_reset("empty");   /* nothing emulated: a real empty directory */
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.root = sub;
    sai_tee_t *t = NULL;
    sai_error_t err;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SEV_SNP, &o, &err), SAI_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no SEV-SNP guest interface found (looked at "));
    assert_non_null(strstr(err.msg, "/dev/sev-guest"));
    assert_int_equal(sai_tee_open(&t, SAI_TEE_TDX, &o, &err), SAI_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no TDX guest interface found"));
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SGX, &o, &err), SAI_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/dev/attestation"));
    o.privlevel = 4;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SEV_SNP, &o, &err), SAI_EINVAL);
}

static void test_tdx_configfs_and_dev_fallback(void **state)
{
    (void)state;
    size_t qlen;
    uint8_t *q = load(V "tdx/trustee_tdx_quote_4.dat", &qlen);
    emu_reset("tdx");
    setenv("SAI_EMU_TSM_PROVIDER", "tdx_guest", 1);
    setenv("SAI_EMU_OUTBLOB", V "tdx/trustee_tdx_quote_4.dat", 1);
    sai_tee_t *t = open_tee(SAI_TEE_TDX, 0);
    sai_error_t err;
    uint8_t m[48], want[48];
    size_t ml;
    assert_int_equal(sai_tee_measure(t, m, &ml, &err), 0);
    assert_int_equal(sai_hex_decode(want, 48, "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031", &err), 0);
    assert_memory_equal(m, want, 48);   /* README T4 MRTD */
    uint8_t rd[64] = { 9 }, key[32];
    char *json = NULL;
    size_t jlen;
    sai_evidence_t ev;
    json = evidence(t, rd, &jlen, &ev);
    assert_int_equal(ev.tee, SAI_TEE_TDX);
    assert_int_equal(ev.quote_len, qlen);
    assert_memory_equal(ev.quote, q, qlen);
    sai_evidence_clear(&ev);
    /* T4 is a debug TD: the default policy refuses it; allowing debug and
     * the Unknown TCB status (no collateral) affirms it with its MRTD */
    sai_attest_result_t res;
    const int64_t at = 1704067200; /* 2024-01-01, inside the PCK validity */
    assert_int_equal(sai_attest_verify_evidence(json, jlen, NULL, NULL, at, &res, &err), SAI_EPOLICY);
    assert_string_equal(res.rule, "debug");
    static const char pol_yaml[] = "allow_debug: true\ntcb_statuses: [Unknown]\n";
    sai_attest_policy_t *pol = NULL;
    assert_int_equal(sai_attest_policy_load(&pol, pol_yaml, sizeof pol_yaml - 1, &err), 0);
    assert_int_equal(sai_attest_verify_evidence(json, jlen, pol, NULL, at, &res, &err), 0);
    assert_int_equal(res.verdict, SAI_VERDICT_AFFIRMING);
    assert_memory_equal(res.mrtd, want, 48);
    sai_attest_policy_free(pol);
    assert_int_equal(sai_tee_derive_sealing_key(t, NULL, 0, key, &err), SAI_EUNSUPP);
    free(json);
    sai_tee_close(t);
    /* tdx_guest has no privilege levels */
    t = open_tee(SAI_TEE_TDX, 2);
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), SAI_EUNSUPP);
    sai_tee_close(t);
    /* the report data reaches the quote (emulator binding) */
    setenv("SAI_EMU_BIND", "1", 1);
    t = open_tee(SAI_TEE_TDX, 0);
    free(evidence(t, rd, &jlen, &ev));
    assert_memory_equal(ev.quote + 48 + 520, rd, 64);
    sai_evidence_clear(&ev);
    sai_tee_close(t);
    /* only /dev/tdx_guest: a clear message */
    emu_reset("tdxdev");
    setenv("SAI_EMU_TDX_GUEST", "1", 1);
    t = open_tee(SAI_TEE_TDX, 0);
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), SAI_EUNSUPP);
    assert_non_null(strstr(err.msg, "configfs-tsm"));
    sai_tee_close(t);
    free(q);
}

static void emu_gramine(void)
{
    setenv("SAI_EMU_GRAMINE", "dcap", 1);
    setenv("SAI_EMU_OUTBLOB", V "sgx/dcapqvl_sgx_quote.dat", 1);
    setenv("SAI_EMU_SGX_KEY", "0123456789abcdef", 1);
}

/* Finding 1 (Gramine): every file stats as 0 and is made at open. */
static void test_sgx_gramine(void **state)
{
    (void)state;
    size_t qlen;
    uint8_t *q = load(V "sgx/dcapqvl_sgx_quote.dat", &qlen);
    emu_reset("gr");
    emu_gramine();
    struct stat st;
    char path[800];
    snprintf(path, sizeof path, "%s/dev/attestation/quote", sub);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
    sai_tee_t *t = open_tee(SAI_TEE_SGX, 0);
    uint8_t rd[64], m[48], want[32];
    rd_fill(rd, 0);
    size_t jlen, ml;
    sai_evidence_t ev;
    sai_error_t err;
    char *json = evidence(t, rd, &jlen, &ev);
    assert_int_equal(ev.quote_len, qlen);
    assert_memory_equal(ev.quote, q, qlen);
    sai_evidence_clear(&ev);
    free(json);
    assert_int_equal(sai_tee_measure(t, m, &ml, &err), 0);
    assert_int_equal(ml, 32);
    assert_int_equal(sai_hex_decode(want, 32, "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb", &err), 0);
    assert_memory_equal(m, want, 32);   /* README G1 MRENCLAVE */
    uint8_t k1[32], k2[32], k3[32];
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"a", 1, k1, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"a", 1, k2, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"b", 1, k3, &err), 0);
    assert_memory_equal(k1, k2, 32);
    assert_memory_not_equal(k1, k3, 32);
    sai_tee_close(t);
    /* the report data reaches the quote */
    setenv("SAI_EMU_BIND", "1", 1);
    t = open_tee(SAI_TEE_SGX, 0);
    free(evidence(t, rd, &jlen, &ev));
    assert_memory_equal(ev.quote + 368, rd, 64);
    sai_evidence_clear(&ev);
    sai_tee_close(t);
    /* wrong attestation type */
    setenv("SAI_EMU_GRAMINE", "epid", 1);
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.root = sub;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SGX, &o, &err), SAI_EUNSUPP);
    assert_non_null(strstr(err.msg, "\"epid\""));
    free(q);
}

/* Finding 6 (Gramine): user_report_data is process-global and the quote
 * reads it at open; without a lock two threads get each other's data. */
static void test_sgx_threads(void **state)
{
    (void)state;
    emu_reset("gr-threads");
    emu_gramine();
    setenv("SAI_EMU_BIND", "1", 1);
    setenv("SAI_EMU_DELAY_US", "20000", 1);
    sai_tee_t *t = open_tee(SAI_TEE_SGX, 0);
    struct worker w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (struct worker){.t = t, .base = (uint8_t)(i * 100), .iters = 3, .sgx = true};
        assert_int_equal(pthread_create(&th[i], NULL, evidence_worker, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    sai_tee_close(t);
}

/* The one TEE name table (src/tee/tee.c): every kind round-trips; the
 * aliases "snp"/"sev_snp" are accepted by the lenient parser only, so specs
 * and KBS requests (canonical names) still refuse them. */
static void test_tee_names(void **state)
{
    (void)state;
    static const struct { sai_tee_kind_t k; const char *n; } want[] = {
        {SAI_TEE_SIM, "sim"}, {SAI_TEE_SEV_SNP, "sev-snp"}, {SAI_TEE_TDX, "tdx"}, {SAI_TEE_SGX, "sgx"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(sai_tee_kind_name(want[i].k), want[i].n);
        assert_int_equal(sai_tee_kind_from_name(want[i].n), want[i].k);
        assert_int_equal(sai_tee_kind_from_canonical_name(want[i].n), want[i].k);
    }
    assert_null(sai_tee_kind_name(SAI_TEE_NONE));
    assert_null(sai_tee_kind_name((sai_tee_kind_t)99));
    assert_int_equal(sai_tee_kind_from_name("snp"), SAI_TEE_SEV_SNP);
    assert_int_equal(sai_tee_kind_from_name("sev_snp"), SAI_TEE_SEV_SNP);
    const char *bad[] = {"snp", "sev_snp", "SIM", "nitro", "", "sim "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sai_tee_kind_from_canonical_name(bad[i]), SAI_TEE_NONE);
    assert_int_equal(sai_tee_kind_from_name("nitro"), SAI_TEE_NONE);
    assert_int_equal(sai_tee_kind_from_name(NULL), SAI_TEE_NONE);
    assert_int_equal(sai_tee_kind_from_canonical_name(NULL), SAI_TEE_NONE);
    /* pipeline/spec.c's statements go through the same table */
    assert_non_null(strstr(sai_pipeline_tee_statement(NULL), "sim: software isolation only"));
    assert_non_null(strstr(sai_pipeline_tee_statement("sev-snp"), "sev-snp: "));
    assert_non_null(strstr(sai_pipeline_tee_statement("tdx"), "tdx: "));
    assert_non_null(strstr(sai_pipeline_tee_statement("sgx"), "sgx: "));
    assert_non_null(strstr(sai_pipeline_tee_statement("snp"), "unknown TEE kind"));
}

/* Re-run this program with the emulator preloaded (ASan, when built in,
 * would otherwise insist on being first in the library list). */
static void reexec_with_emulator(char **argv)
{
    if (getenv("SAI_EMU_ACTIVE") != NULL)
        return;
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    setenv("LD_PRELOAD", SAI_TEE_EMU, 1);
    setenv("SAI_EMU_ACTIVE", "1", 1);
    setenv("SAI_EMU_QUIET", "1", 1);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "cannot re-execute with the emulator: %s\n", strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    (void)argc;
    reexec_with_emulator(argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsm_stale_entry_names),   /* first: see there */
        cmocka_unit_test(test_read_pseudo_file),
        cmocka_unit_test(test_snp_configfs_real_vector),
        cmocka_unit_test(test_snp_certs_missing),
        cmocka_unit_test(test_snp_sev_guest_ext_report),
        cmocka_unit_test(test_snp_privlevel_and_derived_key),
        cmocka_unit_test(test_tsm_generation_race),
        cmocka_unit_test(test_tsm_threads),
        cmocka_unit_test(test_missing_devices),
        cmocka_unit_test(test_tdx_configfs_and_dev_fallback),
        cmocka_unit_test(test_sgx_gramine),
        cmocka_unit_test(test_sgx_threads),
        cmocka_unit_test(test_tee_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
