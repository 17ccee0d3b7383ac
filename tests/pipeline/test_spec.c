/*
 * test_spec.c — the pipeline spec: examples parse, every error names the
 * line and the field, the canonical hash ignores formatting and host-side
 * paths but not anything the enclave acts on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "secureai/pipeline.h"
#include "secureai/util.h"

static const char *base =
    "version: 1\n"                                  /* 1 */
    "name: t\n"                                     /* 2 */
    "dataset:\n"                                    /* 3 */
    "  sealed: /tmp/x\n"                            /* 4 */
    "  resource: {repo: r, type: dataset, tag: t}\n"/* 5 */
    "model:\n"                                      /* 6 */
    "  arch: mlp\n"                                 /* 7 */
    "hyper:\n"                                      /* 8 */
    "  lr: 0.1\n"                                   /* 9 */
    "  batch: 32\n"                                 /* 10 */
    "kbs:\n"                                        /* 11 */
    "  url: http://127.0.0.1:1\n"                   /* 12 */
    "outputs:\n"                                    /* 13 */
    "  dir: /tmp/out\n";                            /* 14 */

static sai_pipeline_spec *parse_ok(const char *y)
{
    sai_pipeline_spec *s = NULL;
    sai_error err = {0};
    int rc = sai_pipeline_spec_parse(&s, "t.yaml", y, strlen(y), &err);
    if (rc)
        fail_msg("parse failed: %s", err.msg);
    return s;
}

static void expect_error(const char *y, const char *needle)
{
    sai_pipeline_spec *s = NULL;
    sai_error err = {0};
    int rc = sai_pipeline_spec_parse(&s, "t.yaml", y, strlen(y), &err);
    assert_int_not_equal(rc, 0);
    assert_null(s);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("error '%s' does not contain '%s'", err.msg, needle);
}

/* Replace the first occurrence of `from` in base by `to`. */
static char *edit(const char *from, const char *to)
{
    const char *p = strstr(base, from);
    assert_non_null(p);
    size_t n = strlen(base) - strlen(from) + strlen(to) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(p - base), base, to, p + strlen(from));
    return o;
}

static void test_examples(void **state)
{
    (void)state;
    const char *files[] = {SAI_SOURCE_DIR "/examples/fashion-mnist.yaml", SAI_SOURCE_DIR "/examples/cifar10.yaml"};
    for (size_t i = 0; i < 2; i++) {
        sai_pipeline_spec *s = NULL;
        sai_error err = {0};
        if (sai_pipeline_spec_load(&s, files[i], &err))
            fail_msg("%s: %s", files[i], err.msg);
        assert_string_equal(s->tee, "sim");
        assert_true(s->stages & SAI_STAGE_TRAIN);
        assert_int_equal(s->model.classes, 10);
        assert_non_null(s->dataset.key.repo);
        sai_pipeline_spec_free(s);
    }
    sai_pipeline_spec *s = NULL;
    sai_error err = {0};
    assert_int_equal(sai_pipeline_spec_load(&s, files[0], &err), 0);
    assert_string_equal(s->model.arch, "smallcnn");
    assert_true(s->model.has_key);
    assert_string_equal(s->model.key.tag, "fashion-mnist");
    assert_int_equal(s->hyper.epochs, 2);
    assert_int_equal(s->stages, 0x1f);
    sai_pipeline_spec_free(s);
}

static void test_defaults(void **state)
{
    (void)state;
    sai_pipeline_spec *s = parse_ok(base);
    assert_string_equal(s->tee, "sim");
    assert_string_equal(s->dataset.format, "idx");
    assert_string_equal(s->outputs.model_name, "model.sealed");
    assert_int_equal(s->hyper.batch, 32);
    assert_true(s->hyper.lr == 0.1);
    assert_int_equal(s->kbs.retries, 4);
    assert_false(s->model.has_key);
    sai_pipeline_spec_free(s);
}

static void test_errors_name_line_and_field(void **state)
{
    (void)state;
    char *y;
    y = edit("  lr: 0.1\n", "  lr: -3\n");
    expect_error(y, "t.yaml:9: hyper.lr: ");
    free(y);
    y = edit("  lr: 0.1\n", "  lr: fast\n");
    expect_error(y, "t.yaml:9: hyper.lr: 'fast' is not a number");
    free(y);
    y = edit("  batch: 32\n", "  bacth: 32\n");
    expect_error(y, "t.yaml:10: hyper.bacth: unknown field");
    free(y);
    y = edit("  batch: 32\n", "  batch: 0\n");
    expect_error(y, "t.yaml:10: hyper.batch: 0 is out of range");
    free(y);
    y = edit("tag: t}", "tag: ../x}");
    expect_error(y, "t.yaml:5: dataset.resource.tag: '../x' is not a name");
    free(y);
    y = edit("{repo: r, type: dataset, tag: t}", "{repo: r, type: dataset}");
    expect_error(y, "t.yaml:5: dataset.resource: missing field 'tag'");
    free(y);
    y = edit("  url: http://127.0.0.1:1\n", "  url: ftp://x\n");
    expect_error(y, "t.yaml:12: kbs.url: ");
    free(y);
    y = edit("name: t\n", "name: t\ntee: sgx2\n");
    expect_error(y, "t.yaml:3: tee: 'sgx2' is not a TEE kind");
    free(y);
    y = edit("name: t\n", "name: t\nstages: [train, ingest]\n");
    expect_error(y, "t.yaml:3: stages: stage 'ingest' is out of order");
    free(y);
    y = edit("name: t\n", "name: t\nstages: [train, bake]\n");
    expect_error(y, "t.yaml:3: stages: 'bake' is not a stage");
    free(y);
    y = edit("name: t\n", "name: t\nname: u\n");
    expect_error(y, "t.yaml:3: name: duplicate field");
    free(y);
    y = edit("  arch: mlp\n", "  arch: [mlp]\n");
    expect_error(y, "t.yaml:7: model.arch: expected a scalar, found a list");
    free(y);
    y = edit("version: 1\n", "version: 2\n");
    expect_error(y, "t.yaml:1: version: version 2 is not supported");
    free(y);
    y = edit("model:\n  arch: mlp\n", "");
    expect_error(y, "t.yaml:1: (top level): missing field 'model'");
    free(y);
    y = edit("  sealed: /tmp/x\n", "  sealed: &a /tmp/x\n  format: *a\n");
    expect_error(y, "aliases");
    free(y);
    expect_error("version: 1\nname: [unclosed\n", "t.yaml:");
    expect_error("", "the spec is empty");
    expect_error("- a\n- b\n", "t.yaml:1: (top level): expected a mapping");
    y = edit("  sealed: /tmp/x\n", "  sealed: /tmp/x\n  identity: abc\n");
    expect_error(y, "t.yaml:5: dataset.identity: must be 64 hex digits");
    free(y);
    y = edit("  url: http://127.0.0.1:1\n", "  url: http://127.0.0.1:1\n  pin: sha1:00\n");
    expect_error(y, "t.yaml:13: kbs.pin: must be sha256:");
    free(y);
}

static void hash_of(const char *y, uint8_t out[32])
{
    sai_pipeline_spec *s = parse_ok(y);
    sai_error err = {0};
    assert_int_equal(sai_pipeline_spec_hash(s, NULL, out, &err), 0);
    sai_pipeline_spec_free(s);
}

static void test_canonical_hash(void **state)
{
    (void)state;
    uint8_t h0[32], h1[32];
    hash_of(base, h0);
    /* Formatting, comments, key order and host-side paths do not count. */
    char *y = edit("  sealed: /tmp/x\n", "  # a comment\n  sealed: /elsewhere/y\n");
    char *z = NULL;
    hash_of(y, h1);
    assert_memory_equal(h0, h1, 32);
    free(y);
    y = edit("  dir: /tmp/out\n", "  dir: /var/run/other\n");
    hash_of(y, h1);
    assert_memory_equal(h0, h1, 32);
    free(y);
    y = edit("  url: http://127.0.0.1:1\n", "  url: http://127.0.0.1:9999\n");
    hash_of(y, h1);
    assert_memory_equal(h0, h1, 32);
    free(y);
    y = edit("  lr: 0.1\n  batch: 32\n", "  batch: 32\n  lr: 0.10\n");
    hash_of(y, h1);
    assert_memory_equal(h0, h1, 32);
    free(y);
    /* What the enclave acts on does. */
    const char *changes[][2] = {
        {"  lr: 0.1\n", "  lr: 0.1000001\n"},
        {"  batch: 32\n", "  batch: 33\n"},
        {"tag: t}", "tag: u}"},
        {"  arch: mlp\n", "  arch: resnet8\n"},
        {"name: t\n", "name: t\nstages: [train]\n"},
        {"  url: http://127.0.0.1:1\n", "  url: http://127.0.0.1:1\n  pin: sha256:" \
         "0000000000000000000000000000000000000000000000000000000000000000\n"},
        {"  arch: mlp\n", "  arch: mlp\n  key: {repo: a, type: b, tag: c}\n"},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        y = edit(changes[i][0], changes[i][1]);
        hash_of(y, h1);
        if (memcmp(h0, h1, 32) == 0)
            fail_msg("change %zu did not change the spec hash", i);
        free(y);
    }
    /* The CA's bytes count. */
    sai_pipeline_spec *s = parse_ok(base);
    sai_error err = {0};
    uint8_t ca[32] = {1};
    assert_int_equal(sai_pipeline_spec_hash(s, ca, h1, &err), 0);
    assert_memory_not_equal(h0, h1, 32);
    /* Round trip through the canonical form (what the enclave receives). */
    size_t n = 0, n2 = 0;
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &y, &n, &err), 0);
    sai_pipeline_spec *t = NULL;
    if (sai_pipeline_spec_from_canonical(&t, y, n, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(sai_pipeline_spec_canonical(t, NULL, &z, &n2, &err), 0);
    assert_string_equal(y, z);
    assert_true(t->hyper.lr == 0.1);
    free(y);
    free(z);
    sai_pipeline_spec_free(s);
    sai_pipeline_spec_free(t);
}

/* model.generate_key + model.key_policy: both or neither, with model.key;
 * the policy is a JSON object, measured in compact form, and survives the
 * canonical round trip the enclave relies on. */
static void test_generated_model_key(void **state)
{
    (void)state;
    const char *gen = "  arch: mlp\n  key: {repo: gen, type: model, tag: r1}\n  generate_key: true\n"
                      "  key_policy: '{\"tee\": [\"sim\"],  \"allow_simulated\": true}'\n";
    char *y = edit("  arch: mlp\n", gen);
    sai_pipeline_spec *s = parse_ok(y);
    assert_true(s->model.generate_key);
    assert_string_equal(s->model.key_policy, "{\"tee\":[\"sim\"],\"allow_simulated\":true}");
    sai_error err = {0};
    char *c = NULL, *c2 = NULL;
    size_t n = 0, n2 = 0;
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c, &n, &err), 0);
    sai_pipeline_spec *t = NULL;
    if (sai_pipeline_spec_from_canonical(&t, c, n, &err))
        fail_msg("%s", err.msg);
    assert_true(t->model.generate_key);
    assert_string_equal(t->model.key_policy, s->model.key_policy);
    assert_int_equal(sai_pipeline_spec_canonical(t, NULL, &c2, &n2, &err), 0);
    assert_string_equal(c, c2);
    /* the policy is measured: another policy, another hash */
    uint8_t h0[32], h1[32];
    hash_of(y, h0);
    free(y);
    y = edit("  arch: mlp\n", "  arch: mlp\n  key: {repo: gen, type: model, tag: r1}\n  generate_key: true\n"
                              "  key_policy: '{\"tee\": [\"sev-snp\"]}'\n");
    hash_of(y, h1);
    assert_memory_not_equal(h0, h1, 32);
    free(y);
    /* and a spec that does not generate keeps its old hash (no new fields) */
    hash_of(base, h1);
    assert_memory_not_equal(h0, h1, 32);
    assert_null(strstr(c, "generate_key\":false"));
    free(c);
    free(c2);
    sai_pipeline_spec_free(s);
    sai_pipeline_spec_free(t);
    /* the rules */
    y = edit("  arch: mlp\n", "  arch: mlp\n  key: {repo: g, type: m, tag: r}\n  generate_key: true\n");
    expect_error(y, "key_policy");
    free(y);
    y = edit("  arch: mlp\n", "  arch: mlp\n  generate_key: true\n  key_policy: '{}'\n");
    expect_error(y, "needs model.key");
    free(y);
    y = edit("  arch: mlp\n", "  arch: mlp\n  key: {repo: g, type: m, tag: r}\n  key_policy: '{}'\n");
    expect_error(y, "needs generate_key");
    free(y);
    y = edit("  arch: mlp\n", "  arch: mlp\n  key: {repo: g, type: m, tag: r}\n  generate_key: true\n"
                              "  key_policy: '[1, 2]'\n");
    expect_error(y, "model.key_policy");
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors_name_line_and_field),
        cmocka_unit_test(test_canonical_hash),
        cmocka_unit_test(test_generated_model_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
