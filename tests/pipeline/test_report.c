/*
 * test_report.c — the run report renders the facts of the run directory
 * (TEE statement, accuracy, throughput, attestation verdict, provenance
 * chain, curves), escapes what came through the host, and references
 * nothing on the network.
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
    sai_ec_key *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    sai_provenance_facts f = {0};
    f.subject_name = "model.sealed";
    memset(f.subject_sha256, 0xab, 32);
    memset(f.dataset_identity, 0xd5, 32);
    f.dataset_resource = "demo/dataset/fashion-mnist";
    memset(f.measurement, 0x4d, 48);
    f.metrics_json = "{\"test_accuracy\":0.9123}";
    f.tee = "sim";
    f.time = "2026-11-26T04:30:00Z";
    f.evidence = (const uint8_t *)"evidence";
    f.evidence_len = 8;
    f.evidence_format = "sim";
    char *env = NULL;
    assert_int_equal(sai_provenance_sign(&env, NULL, &f, k, NULL), 0);
    sai_ec_free(k);
    return env;
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
    sai_error err = {0};
    assert_int_equal(sai_report_render(&html, &n, run_json, strlen(run_json), prov, strlen(prov), &err), 0);
    assert_int_equal(strlen(html), n);
    assert_non_null(strstr(html, "software isolation only"));
    assert_non_null(strstr(html, "no hardware memory protection"));
    assert_non_null(strstr(html, "0.9123"));
    assert_non_null(strstr(html, "4321.5"));
    assert_non_null(strstr(html, "9876.5"));
    assert_non_null(strstr(html, "affirming"));
    assert_non_null(strstr(html, "d5d5d5d5"));                 /* dataset identity */
    assert_non_null(strstr(html, "4d4d4d4d"));                 /* measurement */
    assert_non_null(strstr(html, "abababab"));                 /* model digest */
    assert_non_null(strstr(html, "demo/dataset/fashion-mnist"));
    assert_non_null(strstr(html, "<polyline"));                /* curves */
    assert_non_null(strstr(html, "fmnist&lt;script&gt;"));     /* escaped */
    assert_non_null(strstr(html, "&lt;img src=x&gt;"));       /* escaped, inert */
    assert_non_null(strstr(html, "127.0.0.1:8443 (plain HTTP)"));
    check_no_network(html);
    free(html);
    free(prov);
}

static void test_without_provenance_or_history(void **state)
{
    (void)state;
    const char *j = "{\"name\":\"x\",\"tee\":\"sev-snp\"}";
    char *html = NULL;
    sai_error err = {0};
    assert_int_equal(sai_report_render(&html, NULL, j, strlen(j), NULL, 0, &err), 0);
    assert_non_null(strstr(html, "No provenance statement"));
    assert_non_null(strstr(html, "no data recorded"));
    assert_null(strstr(html, "software isolation only"));
    check_no_network(html);
    free(html);
    assert_int_not_equal(sai_report_render(&html, NULL, "[1]", 3, NULL, 0, &err), 0);
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
    snprintf(cmd, sizeof cmd, "'%s' report '%s' >/dev/null", SAI_CLI, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(p, sizeof p, "%s/report.html", dir);
    uint8_t *html = NULL;
    size_t n = 0;
    assert_int_equal(sai_read_file(p, 1 << 22, &html, &n, NULL), 0);
    assert_non_null(strstr((char *)html, "0.9123"));
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
        cmocka_unit_test(test_without_provenance_or_history),
        cmocka_unit_test(test_cli_writes_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
