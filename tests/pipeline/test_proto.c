/*
 * test_proto.c — the typed host<->enclave protocol (src/pipeline/proto.c):
 * each message survives encode -> decode with its values, and each decoder
 * refuses what the other side may not send: unknown or repeated members,
 * wrong types, values past their caps, output ids that do not exist, a
 * model sent through the channel, lengths that disagree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/pipeline_internal.h"

#define DEC(fn, s, ...) fn(__VA_ARGS__, (const uint8_t *)(s), strlen(s), &err)

static void test_hello_roundtrip_and_refusals(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_proto_hello_t h = {.spec = "{\"version\":1}", .kbs_url = "https://127.0.0.1:8443", .kbs_ca = "PEM",
                         .threads = 3}, g;
    char *txt = NULL;
    size_t len = 0;
    assert_int_equal(sai_pipeline__proto_hello_encode(&h, &txt, &len, &err), 0);
    assert_int_equal(sai_pipeline__proto_hello_decode(&g, (const uint8_t *)txt, len, &err), 0);
    assert_string_equal(g.spec, h.spec);
    assert_int_equal(g.spec_len, strlen(h.spec));
    assert_string_equal(g.kbs_url, h.kbs_url);
    assert_string_equal(g.kbs_ca, "PEM");
    assert_int_equal(g.threads, 3);
    sai_pipeline__proto_hello_clear(&g);
    free(txt);
    static const char *const bad[] = {
        "{\"spec\":\"s\",\"kbs_url\":\"u\",\"threads\":1,\"kbs_pin\":\"00\"}",          /* unknown member */
        "{\"spec\":\"s\",\"spec\":\"t\",\"kbs_url\":\"u\",\"threads\":1}",              /* twice */
        "{\"spec\":1,\"kbs_url\":\"u\",\"threads\":1}",                                  /* type */
        "{\"spec\":\"s\",\"kbs_url\":\"u\",\"threads\":1.5}",                            /* not an integer */
        "{\"spec\":\"s\",\"kbs_url\":\"u\",\"threads\":257}",                            /* cap */
        "{\"spec\":\"s\",\"kbs_url\":\"u\",\"threads\":65}",                             /* SAI_NN_THREADS_MAX */
        "{\"spec\":\"s\",\"threads\":1}",                                                /* missing */
        "[1]", "", "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        assert_int_not_equal(DEC(sai_pipeline__proto_hello_decode, bad[i], &g), 0);
        assert_true(err.msg[0] != '\0');
        assert_null(g.spec);
    }
}

static void test_ready(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_sandbox_status_t st = {.dumpable_off = true, .core_off = true, .no_new_privs = true, .seccomp = true}, got;
    char buf[160];
    int k = sai_pipeline__proto_ready_encode(&st, buf, sizeof buf);
    assert_true(k > 0);
    assert_int_equal(sai_pipeline__proto_ready_decode(&got, (const uint8_t *)buf, (size_t)k, &err), 0);
    assert_true(got.dumpable_off && got.core_off && got.no_new_privs && got.seccomp);
    assert_int_not_equal(DEC(sai_pipeline__proto_ready_decode, "{\"dumpable\":false,\"core\":false,\"no_new_privs\":true}",
                             &got), 0);
    assert_int_not_equal(DEC(sai_pipeline__proto_ready_decode, "{\"dumpable\":0,\"core\":false,\"no_new_privs\":true,"
                             "\"seccomp\":true}", &got), 0);
}

static void test_shards(void **state)
{
    (void)state;
    sai_error_t err = {0};
    uint8_t man[] = "{\"manifest\":1}";
    char *names[] = {"train.gz", "t10k.gz"};
    sai_proto_shards_t s = {.manifest = man, .manifest_len = sizeof man - 1, .names = names, .n = 2}, g;
    memset(s.mac, 0xab, 32);
    char *txt = NULL;
    size_t len = 0;
    assert_int_equal(sai_pipeline__proto_shards_encode(&s, &txt, &len, &err), 0);
    /* two shards and the model's descriptor */
    assert_int_equal(sai_pipeline__proto_shards_decode(&g, (const uint8_t *)txt, len, 3, &err), 0);
    assert_int_equal(g.n, 2);
    assert_memory_equal(g.manifest, man, sizeof man - 1);
    assert_memory_equal(g.mac, s.mac, 32);
    assert_string_equal(g.names[1], "t10k.gz");
    sai_pipeline__proto_shards_clear(&g);
    /* descriptors that do not match the names, no model descriptor */
    assert_int_not_equal(sai_pipeline__proto_shards_decode(&g, (const uint8_t *)txt, len, 2, &err), 0);
    assert_int_not_equal(sai_pipeline__proto_shards_decode(&g, (const uint8_t *)txt, len, 0, &err), 0);
    free(txt);
    char bad[300];
    snprintf(bad, sizeof bad, "{\"manifest\":\"eA\",\"mac\":\"%064d\",\"names\":[\"../x\"]}", 0);
    assert_int_not_equal(sai_pipeline__proto_shards_decode(&g, (const uint8_t *)bad, strlen(bad), 2, &err), 0);
    snprintf(bad, sizeof bad, "{\"manifest\":\"eA\",\"mac\":\"zz%062d\",\"names\":[\"x\"]}", 0);
    assert_int_not_equal(sai_pipeline__proto_shards_decode(&g, (const uint8_t *)bad, strlen(bad), 2, &err), 0);
    snprintf(bad, sizeof bad, "{\"manifest\":\"eA\",\"mac\":\"%064d\",\"names\":[\"x\"],\"model_fd\":true}", 0);
    assert_int_not_equal(sai_pipeline__proto_shards_decode(&g, (const uint8_t *)bad, strlen(bad), 2, &err), 0);
}

static void test_outputs(void **state)
{
    (void)state;
    sai_error_t err = {0};
    uint8_t sha[32], buf[SAI_PROTO_OUTPUT_END_MAX];
    memset(sha, 7, sizeof sha);
    sai_proto_output_t o;
    size_t k = sai_pipeline__proto_output_end_encode(buf, SAI_PROTO_OUT_MODEL, sha, 123456789012ull);
    assert_int_equal(sai_pipeline__proto_output_decode(&o, true, buf, k, &err), 0);
    assert_int_equal(o.id, SAI_PROTO_OUT_MODEL);
    assert_memory_equal(o.sha256, sha, 32);
    assert_true(o.sealed_len == 123456789012ull);
    k = sai_pipeline__proto_output_end_encode(buf, SAI_PROTO_OUT_PROVENANCE, sha, 0);
    assert_int_equal(k, 33);
    assert_int_equal(sai_pipeline__proto_output_decode(&o, true, buf, k, &err), 0);
    assert_int_not_equal(sai_pipeline__proto_output_decode(&o, true, buf, k - 1, &err), 0);     /* short */
    buf[0] = 3;
    assert_int_not_equal(sai_pipeline__proto_output_decode(&o, true, buf, k, &err), 0);         /* no such output */
    const uint8_t model_bytes[] = {SAI_PROTO_OUT_MODEL, 1, 2, 3};
    assert_int_not_equal(sai_pipeline__proto_output_decode(&o, false, model_bytes, sizeof model_bytes, &err), 0);
    const uint8_t prov[] = {SAI_PROTO_OUT_PROVENANCE, 'a', 'b'};
    assert_int_equal(sai_pipeline__proto_output_decode(&o, false, prov, sizeof prov, &err), 0);
    assert_int_equal(o.len, 2);
}

static void test_done(void **state)
{
    (void)state;
    sai_error_t err = {0};
    char ok[400], bad[400];
    snprintf(ok, sizeof ok, "{\"metrics\":{},\"throughput\":{},\"timing\":{},\"dataset_identity\":\"%064d\","
             "\"sandbox\":{},\"attestation\":{}}", 0);
    cJSON *o = NULL;
    assert_int_equal(DEC(sai_pipeline__proto_done_decode, ok, &o), 0);
    cJSON_Delete(o);
    snprintf(bad, sizeof bad, "{\"metrics\":{},\"throughput\":{},\"timing\":{},\"dataset_identity\":\"%063d\","
             "\"sandbox\":{},\"attestation\":{}}", 0);
    assert_int_not_equal(DEC(sai_pipeline__proto_done_decode, bad, &o), 0);
    snprintf(bad, sizeof bad, "{\"metrics\":{},\"metrics\":{},\"throughput\":{},\"timing\":{},"
             "\"dataset_identity\":\"%064d\",\"sandbox\":{},\"attestation\":{}}", 0);
    assert_int_not_equal(DEC(sai_pipeline__proto_done_decode, bad, &o), 0);
    snprintf(bad, sizeof bad, "{\"metrics\":[],\"throughput\":{},\"timing\":{},\"dataset_identity\":\"%064d\","
             "\"sandbox\":{},\"attestation\":{}}", 0);
    assert_int_not_equal(DEC(sai_pipeline__proto_done_decode, bad, &o), 0);
}

/* A distributed job's DONE: worker 0's carries "dist" next to the usual
 * members; the others' carry only it; a malformed hash or an extra member is refused. */
static void test_dist_done(void **state)
{
    (void)state;
    sai_error_t err = {0};
    char ok[500], bad[500];
    cJSON *o = NULL;
    snprintf(ok, sizeof ok, "{\"metrics\":{},\"throughput\":{},\"timing\":{},\"dataset_identity\":\"%064d\","
             "\"sandbox\":{},\"attestation\":{},\"dist\":{\"rank\":0,\"world\":2,\"weights_sha256\":\"%064d\"}}", 0, 0);
    assert_int_equal(DEC(sai_pipeline__proto_done_decode, ok, &o), 0);
    cJSON_Delete(o);
    snprintf(ok, sizeof ok, "{\"dist\":{\"rank\":1,\"world\":2,\"weights_sha256\":\"%064d\"}}", 0);
    assert_int_equal(DEC(sai_pipeline__proto_worker_done_decode, ok, &o), 0);
    cJSON_Delete(o);
    snprintf(bad, sizeof bad, "{\"dist\":{\"rank\":1,\"world\":2,\"weights_sha256\":\"%063d\"}}", 0);
    assert_int_not_equal(DEC(sai_pipeline__proto_worker_done_decode, bad, &o), 0);
    snprintf(bad, sizeof bad, "{\"dist\":{\"rank\":1,\"world\":2,\"weights_sha256\":\"%064d\",\"x\":1}}", 0);
    assert_int_not_equal(DEC(sai_pipeline__proto_worker_done_decode, bad, &o), 0);
    snprintf(bad, sizeof bad, "{\"metrics\":{},\"dist\":{\"rank\":1,\"world\":2,\"weights_sha256\":\"%064d\"}}", 0);
    assert_int_not_equal(DEC(sai_pipeline__proto_worker_done_decode, bad, &o), 0);
}

/* DIST: the host says which rank; the world size is the measured spec's. */
static void test_dist(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_proto_dist_t d = {.rank = 2, .world = 3}, got;
    char buf[64];
    int k = sai_pipeline__proto_dist_encode(&d, buf, sizeof buf);
    assert_true(k > 0);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 2, 3, 0, &err), 0);
    assert_int_equal(got.rank, 2);
    assert_int_equal(got.world, 3);
    /* another world size than the measured dist.workers */
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 2, 4, 0, &err), SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "dist.workers 4"));
    /* a spec that is not distributed takes no DIST */
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 2, 0, 0, &err), SAI_EPOLICY);
    /* rank outside the world */
    const char *r3 = "{\"rank\":3,\"world\":3}";
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)r3, strlen(r3), 2, 3, 0, &err), SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "rank 3"));
    /* not the two streams */
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 1, 3, 0, &err), SAI_EFORMAT);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 3, 3, 0, &err), SAI_EFORMAT);
    /* worker 0 of a checkpointing job: a third descriptor, its checkpoint file */
    sai_proto_dist_t dc = {.rank = 0, .world = 3, .ckpt = SAI_PROTO_CKPT_RESUME};
    k = sai_pipeline__proto_dist_encode(&dc, buf, sizeof buf);
    assert_true(k > 0);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 3, 3, 0, &err), 0);
    assert_int_equal(got.ckpt, SAI_PROTO_CKPT_RESUME);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 2, 3, 0, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "checkpoint file"));
    const char *c3 = "{\"rank\":0,\"world\":3,\"ckpt\":3}";
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)c3, strlen(c3), 3, 3, 0, &err), SAI_EFORMAT);
    /* malformed: unknown member, negative, fractional, missing */
    static const char *const bad[] = {"{\"rank\":0,\"world\":3,\"x\":1}", "{\"rank\":-1,\"world\":3}",
                                      "{\"rank\":0.5,\"world\":3}", "{\"world\":3}", "[0,3]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)bad[i], strlen(bad[i]), 2, 3, 0, &err),
                         SAI_EFORMAT);
}

/* DIST of the parameter-server mode: one stream per peer, the measured
 * number of servers; the host cannot switch a ring job to the mesh or back,
 * nor change S, nor hand over another number of streams. */
static void test_dist_ps(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_proto_dist_t d = {.rank = 1, .world = 4, .servers = 2}, got;
    char buf[96];
    int k = sai_pipeline__proto_dist_encode(&d, buf, sizeof buf);
    assert_true(k > 0);
    assert_non_null(strstr(buf, "\"servers\":2"));
    assert_int_equal(sai_pipeline__proto_dist_streams(&d), 3);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 3, 4, 2, &err), 0);
    assert_int_equal(got.rank, 1);
    assert_int_equal(got.world, 4);
    assert_int_equal(got.servers, 2);
    /* exactly world-1 streams: not the ring's two, not one more or fewer */
    for (size_t nf = 0; nf <= 5; nf++) {
        if (nf == 3)
            continue;
        assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, nf, 4, 2, &err),
                         SAI_EFORMAT);
        assert_non_null(strstr(err.msg, "not the 3 mesh streams"));
        assert_int_equal(got.world, 0);
    }
    /* another number of servers than the measured dist.servers */
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 3, 4, 4, &err),
                     SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "ps with 4 servers"));
    /* a mesh DIST to an enclave whose measured spec is a ring */
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 3, 4, 0, &err),
                     SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "dist.algorithm ring"));
    /* a ring DIST (no servers, two streams) to an enclave whose spec is ps */
    sai_proto_dist_t r = {.rank = 1, .world = 4};
    k = sai_pipeline__proto_dist_encode(&r, buf, sizeof buf);
    assert_null(strstr(buf, "servers"));   /* the ring's DIST keeps its bytes */
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 2, 4, 2, &err),
                     SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "says a ring"));
    /* world still the measured one; 2 workers: one stream */
    sai_proto_dist_t d2 = {.rank = 0, .world = 2, .servers = 1};
    k = sai_pipeline__proto_dist_encode(&d2, buf, sizeof buf);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 1, 3, 1, &err),
                     SAI_EPOLICY);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 1, 2, 1, &err), 0);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 2, 2, 1, &err),
                     SAI_EFORMAT);
    /* worker 0 of a checkpointing ps job: the streams, then the checkpoint file */
    sai_proto_dist_t dc = {.rank = 0, .world = 3, .servers = 3, .ckpt = SAI_PROTO_CKPT_NEW};
    k = sai_pipeline__proto_dist_encode(&dc, buf, sizeof buf);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 3, 3, 3, &err), 0);
    assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)buf, (size_t)k, 2, 3, 3, &err),
                     SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "and the checkpoint file"));
    /* malformed servers */
    static const char *const bad[] = {"{\"rank\":0,\"world\":3,\"servers\":-1}",
                                      "{\"rank\":0,\"world\":3,\"servers\":1.5}",
                                      "{\"rank\":0,\"world\":3,\"servers\":\"3\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sai_pipeline__proto_dist_decode(&got, (const uint8_t *)bad[i], strlen(bad[i]), 2, 3, 3, &err),
                         SAI_EFORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_roundtrip_and_refusals),
        cmocka_unit_test(test_ready),
        cmocka_unit_test(test_shards),
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_done),
        cmocka_unit_test(test_dist),
        cmocka_unit_test(test_dist_ps),
        cmocka_unit_test(test_dist_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
