/*
 * test_report.c — the run report shows as verified only what a verified
 * statement says (TEE kind, protection, metrics, per-epoch test curves,
 * provenance chain), marks run.json's values "host-written (unverified)",
 * says "not verified: no policy given" without a policy, escapes what came
 * through the host, and references nothing on the network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "secureai/attest.h"
#include "secureai/crypto.h"
#include "secureai/pipeline.h"
#include "secureai/util.h"

static const char run_json[] =
    "{\"name\":\"fmnist<script>\",\"tee\":\"sim\",\"spec_sha256\":\"5e5e\",\"measurement\":\"4d4d4d\","
    "\"metrics\":{\"test_accuracy\":0.9123,\"test_loss\":0.25,\"train_loss\":0.2},"
    "\"throughput\":{\"train_images_per_s\":4321.5,\"infer_images_per_s\":9876.5},"
    "\"timing\":{\"attest_s\":0.012,\"ingest_s\":0.5,\"train_s\":60,\"seal_s\":0.01,\"total_s\":62},"
    "\"attestation\":{\"verdict\":\"affirming\",\"kbs\":\"http://127.0.0.1:8443\",\"evidence_format\":\"sim\","
    "\"detail\":\"<img src=x>\"},"
    "\"history\":[{\"step\":100,\"loss\":1.2,\"train_acc\":0.6},{\"step\":200,\"loss\":0.7,\"train_acc\":0.8,"
    "\"test_acc\":0.85,\"test_loss\":0.5},{\"step\":300,\"loss\":0.4,\"train_acc\":0.9,\"test_acc\":0.91}],"
    "\"outputs\":{\"model\":\"model.sealed\",\"model_sha256\":\"abcd\",\"provenance\":\"provenance.json\"}}";

static char *make_provenance(void)
{
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    uint8_t rep[SAI_SNP_REPORT_LEN] = {0};
    rep[0] = 3;
    rep[0x34] = 1;
    char *ev = NULL;
    size_t evlen = 0;
    sai_evidence_parts_t parts = {.tee = SAI_TEE_SIM, .simulated = true, .report = rep,
                                .report_len = sizeof rep};
    assert_int_equal(sai_evidence_build(&ev, &evlen, &parts, NULL), 0);
    sai_provenance_facts_t f = {0};
    f.subject_name = "model.sealed";
    memset(f.subject_sha256, 0xab, 32);
    memset(f.dataset_identity, 0xd5, 32);
    f.dataset_resource = "demo/dataset/fashion-mnist";
    memset(f.measurement, 0x4d, 48);
    f.metrics_json = "{\"test_accuracy\":0.9123,\"test_loss\":0.25}";
    f.epochs_json = "[{\"epoch\":1,\"step\":10,\"test_accuracy\":0.61,\"test_loss\":1.1},"
                    "{\"epoch\":2,\"step\":20,\"test_accuracy\":0.83,\"test_loss\":0.5},"
                    "{\"epoch\":3,\"step\":30,\"test_accuracy\":0.9123,\"test_loss\":0.25}]";
    f.tee = "sim";
    f.time = "2026-11-26T04:30:00Z";
    f.evidence = (const uint8_t *)ev;
    f.evidence_len = evlen;
    char *env = NULL;
    assert_int_equal(sai_provenance_sign(&env, NULL, &f, k, NULL), 0);
    free(ev);
    sai_ec_free(k);
    return env;
}

/* What sai_provenance_verify reports for that statement (the report's own
 * verification of real files is exercised by test_e2e.sh and tests/redteam). */
static sai_report_check_t verified_check(void)
{
    sai_report_check_t c;
    memset(&c, 0, sizeof c);
    c.policy_given = true;
    c.rc = 0;
    c.model_checked = true;
    snprintf(c.res.tee, sizeof c.res.tee, "sim");
    snprintf(c.res.time, sizeof c.res.time, "2026-11-26T04:30:00Z");
    snprintf(c.res.evidence_format, sizeof c.res.evidence_format, "secureai-evidence/v1:sim");
    snprintf(c.res.kbs_channel, sizeof c.res.kbs_channel, "insecure-http");
    c.res.simulated = true;
    c.res.protection = SAI_PROVENANCE_SIM_TEXT;
    return c;
}

static void check_no_network(const char *html)
{
    /* No URL at all, and no tag with an attribute that loads something. */
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "http://"));
    for (const char *t = strchr(html, '<'); t != NULL; t = strchr(t + 1, '<')) {
        const char *e = strchr(t, '>');
        assert_non_null(e);
        char tag[4096];
        size_t n = (size_t)(e - t) < sizeof tag - 1 ? (size_t)(e - t) : sizeof tag - 1;
        memcpy(tag, t, n);
        tag[n] = 0;
        if (strstr(tag, "src=") || strstr(tag, "href") || strstr(tag, "action="))
            fail_msg("tag loads something: %s", tag);
    }
    assert_null(strstr(html, "url("));
    assert_null(strstr(html, "@import"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_non_null(strstr(html, "default-src 'none'"));
}

static void test_renders_facts(void **state)
{
    (void)state;
    char *prov = make_provenance();
    char *html = NULL;
    size_t n = 0;
    sai_error_t err = {0};
    sai_report_check_t c = verified_check();
    assert_int_equal(sai_report_render(&html, &n, run_json, strlen(run_json), prov, strlen(prov), &c, &err), 0);
    assert_int_equal(strlen(html), n);
    assert_non_null(strstr(html, "VERIFIED</span>: the provenance statement"));
    assert_non_null(strstr(html, SAI_PROVENANCE_SIM_TEXT));
    assert_non_null(strstr(html, "software isolation only"));
    assert_non_null(strstr(html, "no hardware memory protection"));
    assert_non_null(strstr(html, "0.9123"));
    assert_non_null(strstr(html, "4321.5"));
    assert_non_null(strstr(html, "9876.5"));
    assert_non_null(strstr(html, "host-written (unverified)"));
    assert_non_null(strstr(html, "d5d5d5d5"));                 /* dataset identity */
    assert_non_null(strstr(html, "4d4d4d4d"));                 /* measurement */
    assert_non_null(strstr(html, "abababab"));                 /* model digest */
    assert_non_null(strstr(html, "= the model file's SHA-256 (checked)"));
    assert_non_null(strstr(html, "demo/dataset/fashion-mnist"));
    assert_non_null(strstr(html, "secureai-evidence/v1:sim"));
    assert_non_null(strstr(html, "WARNING: the enclave fetched its keys over plain HTTP"));
    /* The per-epoch test curve from the verified statement: three points. */
    const char *curve = strstr(html, "test accuracy per epoch (verified)");
    assert_non_null(curve);
    const char *pl = strstr(curve, "<polyline");
    assert_non_null(pl);
    const char *pts = strstr(pl, "points='") + 8;
    int commas = 0;
    for (const char *q = pts; *q != '\''; q++)
        commas += *q == ',';
    assert_int_equal(commas, 3);
    assert_non_null(strstr(html, "fmnist&lt;script&gt;"));     /* escaped */
    assert_non_null(strstr(html, "&lt;img src=x&gt;"));       /* escaped, inert */
    assert_non_null(strstr(html, "127.0.0.1:8443 (plain HTTP)"));
    check_no_network(html);
    free(html);
    free(prov);
}

/* run.json edited by the host (attack 7): sev-snp, a verification verdict,
 * a better accuracy. None of it may show as verified. */
static const char lying_run[] =
    "{\"name\":\"x\",\"tee\":\"sev-snp\",\"metrics\":{\"test_accuracy\":0.9991},"
    "\"verify\":{\"verdict\":\"ok\",\"reason\":\"all good\"},"
    "\"attestation\":{\"verdict\":\"affirming\",\"evidence_format\":\"sev-snp\"}}";

static void test_host_lies_are_not_shown_as_verified(void **state)
{
    (void)state;
    char *prov = make_provenance();
    char *html = NULL;
    sai_error_t err = {0};
    /* Verified statement: its values win; run.json's are not used. */
    sai_report_check_t c = verified_check();
    assert_int_equal(sai_report_render(&html, NULL, lying_run, strlen(lying_run), prov, strlen(prov), &c, &err), 0);
    assert_non_null(strstr(html, "TEE kind: sim</strong> <span class='ok'>verified"));
    assert_null(strstr(html, "sev-snp"));
    assert_null(strstr(html, "0.9991"));
    assert_null(strstr(html, "Offline verification"));
    assert_non_null(strstr(html, "0.9123"));
    free(html);
    /* Verification failed: nothing verified, the claims marked as host-written. */
    c.rc = SAI_EAUTH;
    snprintf(c.reason, sizeof c.reason, "signature: the statement is not signed by its signing key");
    assert_int_equal(sai_report_render(&html, NULL, lying_run, strlen(lying_run), prov, strlen(prov), &c, &err), 0);
    assert_non_null(strstr(html, "NOT VERIFIED</span>: signature: the statement is not signed"));
    assert_null(strstr(html, "TEE kind: sev-snp"));
    assert_non_null(strstr(html, "run.json claims <code>sev-snp</code> <span class='host'>host-written (unverified)"));
    assert_null(strstr(html, "(verified)"));
    assert_null(strstr(html, "class='ok'>VERIFIED"));
    assert_null(strstr(html, "Offline verification"));
    free(html);
    /* No policy: said prominently, nothing verified. */
    assert_int_equal(sai_report_render(&html, NULL, lying_run, strlen(lying_run), prov, strlen(prov), NULL, &err), 0);
    assert_non_null(strstr(html, "not verified: no policy given"));
    assert_null(strstr(html, "(verified)"));
    assert_null(strstr(html, "class='ok'>VERIFIED"));
    assert_non_null(strstr(html, "0.9991</code> <span class='host'>host-written (unverified)"));
    free(html);
    free(prov);
}

static void test_without_provenance_or_history(void **state)
{
    (void)state;
    const char *j = "{\"name\":\"x\",\"tee\":\"sev-snp\"}";
    char *html = NULL;
    sai_error_t err = {0};
    sai_report_check_t c = verified_check();
    c.rc = SAI_ENOTFOUND;
    assert_int_equal(sai_report_render(&html, NULL, j, strlen(j), NULL, 0, &c, &err), 0);
    assert_non_null(strstr(html, "No provenance statement"));
    assert_non_null(strstr(html, "no data recorded"));
    assert_null(strstr(html, "software isolation only"));
    check_no_network(html);
    free(html);
    assert_int_not_equal(sai_report_render(&html, NULL, "[1]", 3, NULL, 0, NULL, &err), 0);
}

static void test_cli_writes_report(void **state)
{
    (void)state;
    char dir[] = "/tmp/sai-report-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256];
    snprintf(p, sizeof p, "%s/run.json", dir);
    assert_int_equal(sai_write_file_atomic(p, run_json, strlen(run_json), 0644, false, NULL), 0);
    char *prov = make_provenance();
    snprintf(p, sizeof p, "%s/provenance.json", dir);
    assert_int_equal(sai_write_file_atomic(p, prov, strlen(prov), 0644, false, NULL), 0);
    free(prov);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' report '%s' | grep -q 'not verified: no policy given'", SAI_CLI, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof p, "%s/report.html", dir);
    uint8_t *html = NULL;
    size_t n = 0;
    assert_int_equal(sai_read_file(p, 1 << 22, &html, &n, NULL), 0);
    assert_non_null(strstr((char *)html, "0.9123</code> <span class='host'>host-written (unverified)"));
    assert_non_null(strstr((char *)html, "not verified: no policy given"));
    check_no_network((char *)html);
    free(html);
    snprintf(cmd, sizeof cmd, "'%s' report /nonexistent/dir 2>/dev/null", SAI_CLI);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renders_facts),
        cmocka_unit_test(test_host_lies_are_not_shown_as_verified),
        cmocka_unit_test(test_without_provenance_or_history),
        cmocka_unit_test(test_cli_writes_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
