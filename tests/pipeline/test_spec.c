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

#include <unistd.h>

#include "kbs/kbs_internal.h"
#include "secureai/kbs.h"
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
    "  key: {repo: r, type: model, tag: m}\n"       /* 8 */
    "hyper:\n"                                      /* 9 */
    "  lr: 0.1\n"                                   /* 10 */
    "  batch: 32\n"                                 /* 11 */
    "kbs:\n"                                        /* 12 */
    "  url: http://127.0.0.1:1\n"                   /* 13 */
    "  insecure_http: true\n"                       /* 14 */
    "outputs:\n"                                    /* 15 */
    "  dir: /tmp/out\n";                            /* 16 */

#define PIN0 "sha256:0000000000000000000000000000000000000000000000000000000000000000"
#define PIN1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static sai_pipeline_spec_t *parse_ok(const char *y)
{
    sai_pipeline_spec_t *s = NULL;
    sai_error_t err = {0};
    int rc = sai_pipeline_spec_parse(&s, "t.yaml", y, strlen(y), &err);
    if (rc)
        fail_msg("parse failed: %s", err.msg);
    return s;
}

static void expect_error(const char *y, const char *needle)
{
    sai_pipeline_spec_t *s = NULL;
    sai_error_t err = {0};
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

#define ARCHKEY "  arch: mlp\n  key: {repo: r, type: model, tag: m}\n"
#define WRAPPED "  insecure_http: true\n  wrap_key_sha256: " PIN1 "\n"

/* edit() twice: from1 -> to1, then "  insecure_http: true\n" -> kbs_lines. */
static char *edit2(const char *from1, const char *to1, const char *kbs_lines)
{
    char *a = edit(from1, to1);
    const char *from = "  insecure_http: true\n";
    const char *p = strstr(a, from);
    assert_non_null(p);
    size_t n = strlen(a) - strlen(from) + strlen(kbs_lines) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(p - a), a, kbs_lines, p + strlen(from));
    free(a);
    return o;
}

static void test_examples(void **state)
{
    (void)state;
    const char *files[] = {SAI_SOURCE_DIR "/examples/fashion-mnist.yaml", SAI_SOURCE_DIR "/examples/cifar10.yaml"};
    for (size_t i = 0; i < 2; i++) {
        sai_pipeline_spec_t *s = NULL;
        sai_error_t err = {0};
        if (sai_pipeline_spec_load(&s, files[i], &err))
            fail_msg("%s: %s", files[i], err.msg);
        assert_string_equal(s->tee, "sim");
        assert_true(s->stages & SAI_STAGE_TRAIN);
        assert_int_equal(s->model.classes, 10);
        assert_non_null(s->dataset.key.repo);
        sai_pipeline_spec_free(s);
    }
    sai_pipeline_spec_t *s = NULL;
    sai_error_t err = {0};
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
    sai_pipeline_spec_t *s = parse_ok(base);
    assert_string_equal(s->tee, "sim");
    assert_string_equal(s->dataset.format, "idx");
    assert_string_equal(s->outputs.model_name, "model.sealed");
    assert_int_equal(s->hyper.batch, 32);
    assert_true(s->hyper.lr == 0.1);
    assert_int_equal(s->kbs.retries, 4);
    assert_true(s->model.has_key);
    assert_true(s->kbs.insecure_http);
    sai_pipeline_spec_free(s);
}

static void test_errors_name_line_and_field(void **state)
{
    (void)state;
    char *y;
    y = edit("  lr: 0.1\n", "  lr: -3\n");
    expect_error(y, "t.yaml:10: hyper.lr: ");
    free(y);
    y = edit("  lr: 0.1\n", "  lr: fast\n");
    expect_error(y, "t.yaml:10: hyper.lr: 'fast' is not a number");
    free(y);
    y = edit("  batch: 32\n", "  bacth: 32\n");
    expect_error(y, "t.yaml:11: hyper.bacth: unknown field");
    free(y);
    y = edit("  batch: 32\n", "  batch: 0\n");
    expect_error(y, "t.yaml:11: hyper.batch: 0 is out of range");
    free(y);
    y = edit("tag: t}", "tag: ../x}");
    expect_error(y, "t.yaml:5: dataset.resource.tag: '../x' is not a name");
    free(y);
    y = edit("{repo: r, type: dataset, tag: t}", "{repo: r, type: dataset}");
    expect_error(y, "t.yaml:5: dataset.resource: missing field 'tag'");
    free(y);
    y = edit("  url: http://127.0.0.1:1\n", "  url: ftp://x\n");
    expect_error(y, "t.yaml:13: kbs.url: ");
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
    y = edit("model:\n  arch: mlp\n  key: {repo: r, type: model, tag: m}\n", "");
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
    expect_error(y, "t.yaml:14: kbs.pin: must be sha256:");
    free(y);
}

static void hash_of(const char *y, uint8_t out[32])
{
    sai_pipeline_spec_t *s = parse_ok(y);
    sai_error_t err = {0};
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
        {"  url: http://127.0.0.1:1\n", "  url: http://127.0.0.1:1\n  pin: " PIN0 "\n"},
        {"  url: http://127.0.0.1:1\n", "  url: http://127.0.0.1:1\n  wrap_key_sha256: " PIN0 "\n"},
        {"type: model, tag: m}", "type: model, tag: m2}"},
        {"  insecure_http: true\n", "  insecure_http: true\n  retries: 3\n"},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        y = edit(changes[i][0], changes[i][1]);
        hash_of(y, h1);
        if (memcmp(h0, h1, 32) == 0)
            fail_msg("change %zu did not change the spec hash", i);
        free(y);
    }
    /* The CA's bytes count. */
    sai_pipeline_spec_t *s = parse_ok(base);
    sai_error_t err = {0};
    uint8_t ca[32] = {1};
    assert_int_equal(sai_pipeline_spec_hash(s, ca, h1, &err), 0);
    assert_memory_not_equal(h0, h1, 32);
    /* Round trip through the canonical form (what the enclave receives). */
    size_t n = 0, n2 = 0;
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &y, &n, &err), 0);
    sai_pipeline_spec_t *t = NULL;
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

/* A distributed spec runs only as its measured number of workers: without
 * --workers, or with another count, the host refuses before launching or
 * forking anything (a clear error naming the count, no output); --workers on
 * a single-enclave spec is refused too. The runs themselves:
 * tests/dist/test_dist_run.sh. */
static void test_dist_run_needs_its_workers(void **state)
{
    (void)state;
    char *y = edit("outputs:\n", "dist: {workers: 2}\noutputs:\n");
    char path[] = "/tmp/sai-dist-spec.XXXXXX", plain_path[] = "/tmp/sai-dist-spec1.XXXXXX";
    int fd = mkstemp(path), fd1 = mkstemp(plain_path);
    assert_true(fd >= 0 && fd1 >= 0);
    assert_int_equal(write(fd, y, strlen(y)), (ssize_t)strlen(y));
    assert_int_equal(write(fd1, base, strlen(base)), (ssize_t)strlen(base));
    close(fd);
    close(fd1);
    sai_pipeline_run_opts_t o = {.spec_path = path, .out_dir = "/nonexistent/sai-dist-out", .quiet = true};
    sai_pipeline_run_result_t r;
    sai_error_t err = {0};
    assert_int_equal(sai_pipeline_host_run(&o, &r, &err), SAI_EINVAL);
    assert_non_null(strstr(err.msg, "--workers 2"));
    o.workers = 3;
    assert_int_equal(sai_pipeline_host_run(&o, &r, &err), SAI_EINVAL);
    assert_non_null(strstr(err.msg, "dist.workers is 2"));
    o.spec_path = plain_path;
    o.workers = 2;
    assert_int_equal(sai_pipeline_host_run(&o, &r, &err), SAI_EINVAL);
    assert_non_null(strstr(err.msg, "not a distributed job"));
    unlink(path);
    unlink(plain_path);
    free(y);
}

/* dist: workers, transport and algorithm are measured (part of HOST_DATA);
 * the rendezvous address is host-side (reachability only) and is not;
 * a spec without the section keeps its hash; bad values name the field. */
static void test_dist_section(void **state)
{
    (void)state;
    uint8_t h0[32], h1[32], h2[32];
    hash_of(base, h0);
    char *y = edit("outputs:\n", "dist: {workers: 2, rendezvous: 127.0.0.1:7000}\noutputs:\n");
    hash_of(y, h1);
    assert_memory_not_equal(h0, h1, 32);
    char *z = edit("outputs:\n", "dist: {workers: 2, transport: tcp, algorithm: ring, rendezvous: host.example:9}\n"
                                  "outputs:\n");
    hash_of(z, h2);
    assert_memory_equal(h1, h2, 32);   /* defaults spelled out; another rendezvous */
    free(z);
    const char *changes[] = {"dist: {workers: 3}\noutputs:\n", "dist: {workers: 2, transport: mpi}\noutputs:\n",
                             "dist: {workers: 2, checkpoint_every: 1}\noutputs:\n"};
    for (size_t i = 0; i < 3; i++) {
        z = edit("outputs:\n", changes[i]);
        hash_of(z, h2);
        assert_memory_not_equal(h1, h2, 32);
        free(z);
    }
    z = edit("outputs:\n", "dist: {workers: 1}\noutputs:\n");   /* one worker: not distributed */
    hash_of(z, h2);
    assert_memory_equal(h0, h2, 32);
    free(z);
    /* round trip through the canonical form */
    sai_pipeline_spec_t *s = parse_ok(y), *t = NULL;
    sai_error_t err = {0};
    char *c1 = NULL, *c2 = NULL;
    size_t n1 = 0, n2 = 0;
    assert_int_equal(s->dist.workers, 2);
    assert_string_equal(s->dist.rendezvous, "127.0.0.1:7000");
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c1, &n1, &err), 0);
    if (sai_pipeline_spec_from_canonical(&t, c1, n1, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(t->dist.workers, 2);
    assert_string_equal(t->dist.transport, "tcp");
    assert_null(t->dist.rendezvous);
    assert_int_equal(sai_pipeline_spec_canonical(t, NULL, &c2, &n2, &err), 0);
    assert_string_equal(c1, c2);
    free(c1);
    free(c2);
    free(y);
    sai_pipeline_spec_free(s);
    sai_pipeline_spec_free(t);
    /* checkpoint_every survives the canonical form (the enclave reads it there) */
    z = edit("outputs:\n", "dist: {workers: 2, checkpoint_every: 3}\noutputs:\n");
    s = parse_ok(z);
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c1, &n1, &err), 0);
    assert_int_equal(sai_pipeline_spec_from_canonical(&t, c1, n1, &err), 0);
    assert_int_equal(t->dist.checkpoint_every, 3);
    free(c1);
    free(z);
    sai_pipeline_spec_free(s);
    sai_pipeline_spec_free(t);
    /* dist.algorithm ps: measured with its servers (default: every worker),
     * and through the canonical form; a ring spec's bytes do not mention them */
    z = edit("outputs:\n", "dist: {workers: 3, algorithm: ps}\noutputs:\n");
    s = parse_ok(z);
    assert_string_equal(s->dist.algorithm, "ps");
    assert_int_equal(s->dist.servers, 3);
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c1, &n1, &err), 0);
    assert_non_null(strstr(c1, "\"servers\":3"));
    assert_int_equal(sai_pipeline_spec_from_canonical(&t, c1, n1, &err), 0);
    assert_string_equal(t->dist.algorithm, "ps");
    assert_int_equal(t->dist.servers, 3);
    assert_int_equal(sai_pipeline_spec_canonical(t, NULL, &c2, &n2, &err), 0);
    assert_string_equal(c1, c2);
    uint8_t hp3[32], hp2[32], hr3[32];
    hash_of(z, hp3);
    free(c1);
    free(c2);
    free(z);
    sai_pipeline_spec_free(s);
    sai_pipeline_spec_free(t);
    z = edit("outputs:\n", "dist: {workers: 3, algorithm: ps, servers: 3}\noutputs:\n");
    hash_of(z, h2);
    assert_memory_equal(hp3, h2, 32);   /* the default spelled out */
    free(z);
    z = edit("outputs:\n", "dist: {workers: 3, algorithm: ps, servers: 2}\noutputs:\n");
    hash_of(z, hp2);
    assert_memory_not_equal(hp3, hp2, 32);   /* servers are measured */
    free(z);
    z = edit("outputs:\n", "dist: {workers: 3}\noutputs:\n");
    hash_of(z, hr3);
    assert_memory_not_equal(hp3, hr3, 32);   /* the algorithm is measured */
    s = parse_ok(z);
    assert_int_equal(s->dist.servers, 0);
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c1, &n1, &err), 0);
    assert_null(strstr(c1, "servers"));
    free(c1);
    free(z);
    sai_pipeline_spec_free(s);
    /* a canonical form that is not self-consistent is refused */
    static const char *const canon_bad[][2] = {
        {"\"algorithm\":\"ring\"", "\"algorithm\":\"ring\",\"servers\":1"},
        {"\"servers\":2", "\"servers\":4"},
        {"\"servers\":2", "\"servers\":0"},
        {",\"servers\":2", ""},
    };
    for (size_t i = 0; i < sizeof canon_bad / sizeof canon_bad[0]; i++) {
        const char *src = i == 0 ? "dist: {workers: 3}\noutputs:\n" : "dist: {workers: 3, algorithm: ps, servers: 2}\noutputs:\n";
        z = edit("outputs:\n", src);
        s = parse_ok(z);
        assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c1, &n1, &err), 0);
        char *at = strstr(c1, canon_bad[i][0]);
        assert_non_null(at);
        size_t la = strlen(canon_bad[i][0]), lb = strlen(canon_bad[i][1]);
        char *c3 = malloc(n1 + lb + 1);
        assert_non_null(c3);
        memcpy(c3, c1, (size_t)(at - c1));
        memcpy(c3 + (at - c1), canon_bad[i][1], lb);
        strcpy(c3 + (at - c1) + lb, at + la);
        t = NULL;
        assert_int_not_equal(sai_pipeline_spec_from_canonical(&t, c3, strlen(c3), &err), 0);
        assert_null(t);
        free(c3);
        free(c1);
        free(z);
        sai_pipeline_spec_free(s);
    }
    const char *bad[][2] = {
        {"dist: {workers: 0}\n", "dist.workers"},
        {"dist: {workers: 2, transport: udp}\n", "not a transport"},
        {"dist: {workers: 2, algorithm: tree}\n", "not an algorithm"},
        {"dist: {workers: 3, algorithm: ps, servers: 4}\n", "more servers than the 3 workers"},
        {"dist: {workers: 3, algorithm: ps, servers: 0}\n", "dist.servers"},
        {"dist: {workers: 3, servers: 2}\n", "only the parameter-server mode"},
        {"dist: {workers: 1, algorithm: ps, servers: 1}\n", "only the parameter-server mode"},
        {"dist: {workers: 65, algorithm: ps}\n", "at most 64 workers"},
        {"dist: {workers: 2, rendezvous: nohostport}\n", "not HOST:PORT"},
        {"dist: {workers: 2, rendezvous: 'a:70000'}\n", "not HOST:PORT"},
        {"dist: {workers: 2, peers: 3}\n", "dist.peers: unknown field"},
        {"dist: {workers: 2, checkpoint_every: 0}\n", "checkpoint_every"},
        {"dist: {workers: 1, checkpoint_every: 2}\n", "only a distributed job"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%soutputs:\n", bad[i][0]);
        z = edit("outputs:\n", buf);
        expect_error(z, bad[i][1]);
        free(z);
    }
}

/* dataset.format tfrecord: the feature mapping and shape are required,
 * measured (each changes the hash), survive the canonical round trip, and
 * are refused with another format. */
static void test_tfrecord_dataset(void **state)
{
    (void)state;
#define TFDS "  resource: {repo: r, type: dataset, tag: t}\n  format: tfrecord\n"
    uint8_t h0[32], h1[32];
    char *y = edit("  resource: {repo: r, type: dataset, tag: t}\n",
                   TFDS "  features: {image: image/encoded, label: image/class/label}\n  shape: [1, 28, 28]\n");
    hash_of(y, h0);
    const char *variants[] = {
        TFDS "  features: {image: image/raw, label: image/class/label}\n  shape: [1, 28, 28]\n",
        TFDS "  features: {image: image/encoded, label: label}\n  shape: [1, 28, 28]\n",
        TFDS "  features: {image: image/encoded, label: image/class/label}\n  shape: [3, 28, 28]\n",
        TFDS "  features: {image: image/encoded, label: image/class/label}\n  shape: [1, 28, 28]\n  image_offset: 0.5\n",
        TFDS "  features: {image: image/encoded, label: image/class/label}\n  shape: [1, 28, 28]\n"
             "  splits: {train: tr}\n",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char *z = edit("  resource: {repo: r, type: dataset, tag: t}\n", variants[i]);
        hash_of(z, h1);
        assert_memory_not_equal(h0, h1, 32);
        free(z);
    }
    sai_pipeline_spec_t *s = parse_ok(y), *t = NULL;
    sai_error_t err = {0};
    char *c1 = NULL, *c2 = NULL;
    size_t n1 = 0, n2 = 0;
    assert_string_equal(s->dataset.tfrecord.image, "image/encoded");
    assert_string_equal(s->dataset.tfrecord.train, "train");
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c1, &n1, &err), 0);
    if (sai_pipeline_spec_from_canonical(&t, c1, n1, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(t->dataset.tfrecord.label, "image/class/label");
    assert_int_equal(t->dataset.tfrecord.shape[2], 28);
    assert_int_equal(sai_pipeline_spec_canonical(t, NULL, &c2, &n2, &err), 0);
    assert_string_equal(c1, c2);
    free(c1);
    free(c2);
    free(y);
    sai_pipeline_spec_free(s);
    sai_pipeline_spec_free(t);
    const char *bad[][2] = {
        {TFDS, "needs dataset.features"},
        {TFDS "  features: {image: x}\n  shape: [1, 2, 2]\n", "missing field 'label'"},
        {TFDS "  features: {image: x, label: y}\n  shape: [4, 2, 2]\n", "out of range"},
        {TFDS "  features: {image: x, label: y}\n  shape: [1, 2]\n", "[channels, height, width]"},
        {TFDS "  features: {image: 'a b', label: y}\n  shape: [1, 2, 2]\n", "printable ASCII"},
        {"  resource: {repo: r, type: dataset, tag: t}\n  shape: [1, 2, 2]\n", "only to dataset.format: tfrecord"},
        {"  resource: {repo: r, type: dataset, tag: t}\n  format: png\n", "not a known format"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *z = edit("  resource: {repo: r, type: dataset, tag: t}\n", bad[i][0]);
        expect_error(z, bad[i][1]);
        free(z);
    }
#undef TFDS
}

/* model.generate_key + model.key_policy: both or neither, with model.key;
 * the policy is a JSON object, measured in compact form, and survives the
 * canonical round trip the enclave relies on. */
static void test_generated_model_key(void **state)
{
    (void)state;
    const char *gen = "  arch: mlp\n  key: {repo: gen, type: model, tag: r1}\n  generate_key: true\n"
                      "  key_policy: '{\"tee\": [\"sim\"],  \"allow_simulated\": true}'\n";
    char *y = edit2(ARCHKEY, gen, WRAPPED);
    sai_pipeline_spec_t *s = parse_ok(y);
    assert_true(s->model.generate_key);
    assert_string_equal(s->model.key_policy, "{\"tee\":[\"sim\"],\"allow_simulated\":true}");
    sai_error_t err = {0};
    char *c = NULL, *c2 = NULL;
    size_t n = 0, n2 = 0;
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c, &n, &err), 0);
    sai_pipeline_spec_t *t = NULL;
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
    y = edit2(ARCHKEY, "  arch: mlp\n  key: {repo: gen, type: model, tag: r1}\n  generate_key: true\n"
                       "  key_policy: '{\"tee\": [\"sev-snp\"]}'\n", WRAPPED);
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
    y = edit2(ARCHKEY, "  arch: mlp\n  key: {repo: g, type: m, tag: r}\n  generate_key: true\n", WRAPPED);
    expect_error(y, "key_policy");
    free(y);
    y = edit2(ARCHKEY, "  arch: mlp\n  generate_key: true\n  key_policy: '{}'\n", WRAPPED);
    expect_error(y, "needs model.key");
    free(y);
    y = edit2(ARCHKEY, "  arch: mlp\n  key: {repo: g, type: m, tag: r}\n  key_policy: '{}'\n", WRAPPED);
    expect_error(y, "needs generate_key");
    free(y);
    y = edit2(ARCHKEY, "  arch: mlp\n  key: {repo: g, type: m, tag: r}\n  generate_key: true\n"
                       "  key_policy: '[1, 2]'\n", WRAPPED);
    expect_error(y, "model.key_policy");
    free(y);
    /* a generated key travels to the KBS wrapped to its pinned wrap key */
    y = edit(ARCHKEY, gen);
    expect_error(y, "model.generate_key needs kbs.wrap_key_sha256");
    free(y);
}

/* How the enclave trusts the KBS is decided at load, from the spec alone
 * (attack 4 of docs/threat-model.md): pinned, CA-anchored, or plain HTTP
 * only when the spec itself says so; and the model key's place is known
 * before anything runs. */
static void test_kbs_trust_rules(void **state)
{
    (void)state;
    char *y = edit("  insecure_http: true\n", "");
    expect_error(y, "the KBS must be pinned (kbs.pin) or CA-anchored (kbs.ca)");
    free(y);
    y = edit("  insecure_http: true\n", "  pin: " PIN0 "\n");
    expect_error(y, "plain HTTP");   /* a pin does not make an http:// URL acceptable */
    free(y);
    y = edit("  url: http://127.0.0.1:1\n  insecure_http: true\n", "  url: https://127.0.0.1:1\n  pin: " PIN0 "\n");
    sai_pipeline_spec_t *s = parse_ok(y);
    assert_false(s->kbs.insecure_http);
    sai_pipeline_spec_free(s);
    free(y);
    y = edit("  url: http://127.0.0.1:1\n  insecure_http: true\n", "  url: https://127.0.0.1:1\n  ca: /x.pem\n");
    s = parse_ok(y);
    sai_pipeline_spec_free(s);
    free(y);
    y = edit("  insecure_http: true\n", "  insecure_http: maybe\n");
    expect_error(y, "t.yaml:14: kbs.insecure_http: 'maybe' is not true or false");
    free(y);
    y = edit("  insecure_http: true\n", "  insecure_http: true\n  wrap_key_sha256: abc\n");
    expect_error(y, "t.yaml:15: kbs.wrap_key_sha256: must be sha256:");
    free(y);
    /* no model.key: refused at load, not after training */
    y = edit("  key: {repo: r, type: model, tag: m}\n", "");
    expect_error(y, "model.key is required");
    free(y);
    /* insecure_http is measured (and, absent, leaves a pinned spec's hash alone) */
    uint8_t h0[32], h1[32];
    y = edit("  insecure_http: true\n", "  insecure_http: true\n  pin: " PIN0 "\n");
    char *z = edit("  url: http://127.0.0.1:1\n  insecure_http: true\n", "  url: https://127.0.0.1:1\n  pin: " PIN0 "\n");
    hash_of(y, h0);
    hash_of(z, h1);
    assert_memory_not_equal(h0, h1, 32);
    free(y);
    free(z);
    /* the canonical form carries both, the enclave's copy reads them back,
     * and a canonical form without any KBS anchor is refused there too */
    y = edit("  insecure_http: true\n", "  insecure_http: true\n  wrap_key_sha256: sha256:"
             "ABCDEF0000000000000000000000000000000000000000000000000000000000\n");
    s = parse_ok(y);
    free(y);
    sai_error_t err = {0};
    char *c = NULL;
    size_t n = 0;
    uint8_t ca[32] = {9, 8, 7};
    assert_int_equal(sai_pipeline_spec_canonical(s, ca, &c, &n, &err), 0);
    assert_non_null(strstr(c, "\"insecure_http\":true"));
    assert_non_null(strstr(c, "\"wrap_key_sha256\":\"sha256:abcdef00"));
    sai_pipeline_spec_t *t = NULL;
    if (sai_pipeline_spec_from_canonical(&t, c, n, &err))
        fail_msg("%s", err.msg);
    assert_true(t->kbs.insecure_http);
    assert_true(t->kbs.has_ca_sha256);
    assert_memory_equal(t->kbs.ca_sha256, ca, 32);
    assert_string_equal(t->kbs.wrap_key_sha256, s->kbs.wrap_key_sha256);
    sai_pipeline_spec_free(t);
    free(c);
    assert_int_equal(sai_pipeline_spec_canonical(s, NULL, &c, &n, &err), 0);
    char *p = strstr(c, "\"insecure_http\":true,");
    assert_non_null(p);
    memmove(p, p + strlen("\"insecure_http\":true,"), strlen(p + strlen("\"insecure_http\":true,")) + 1);
    assert_int_not_equal(sai_pipeline_spec_from_canonical(&t, c, strlen(c), &err), 0);
    assert_non_null(strstr(err.msg, "pinned"));
    free(c);
    sai_pipeline_spec_free(s);
}

/* outputs.model names a file next to run.json, provenance.json and
 * report.html: none of theirs, no path, no dot file. */
static void test_model_file_name(void **state)
{
    (void)state;
    const char *bad[] = {"run.json", "provenance.json", "report.html", ".model", "..", "a/b", "../m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[100];
        snprintf(line, sizeof line, "  dir: /tmp/out\n  model: '%s'\n", bad[i]);
        char *y = edit("  dir: /tmp/out\n", line);
        expect_error(y, "t.yaml:17: outputs.model: ");
        free(y);
    }
    char *y = edit("  dir: /tmp/out\n", "  dir: /tmp/out\n  model: run.sealed\n");
    sai_pipeline_spec_t *s = parse_ok(y);
    assert_string_equal(s->outputs.model_name, "run.sealed");
    sai_pipeline_spec_free(s);
    free(y);
}

static sai_pipeline_spec_t *enclave_spec(const char *y, const uint8_t *ca_sha)
{
    sai_pipeline_spec_t *s = parse_ok(y), *t = NULL;
    sai_error_t err = {0};
    char *c = NULL;
    size_t n = 0;
    assert_int_equal(sai_pipeline_spec_canonical(s, ca_sha, &c, &n, &err), 0);
    if (sai_pipeline_spec_from_canonical(&t, c, n, &err))
        fail_msg("%s", err.msg);
    free(c);
    sai_pipeline_spec_free(s);
    return t;
}

/* The enclave's KBS client comes from the measured spec only: the host's
 * URL cannot downgrade it to HTTP, and its CA bytes must be the measured
 * ones. */
static void test_kbs_client_for_spec(void **state)
{
    (void)state;
    sai_kbs_client_t *c = NULL;
    sai_error_t err = {0};
    char *y = edit("  url: http://127.0.0.1:1\n  insecure_http: true\n", "  url: https://127.0.0.1:1\n  pin: " PIN0 "\n");
    sai_pipeline_spec_t *pinned = enclave_spec(y, NULL);
    free(y);
    /* the downgrade: the host hands a pinned enclave an http:// URL */
    assert_int_equal(sai_pipeline_kbs_client_for_spec(pinned, "http://127.0.0.1:9", NULL, 0, &c, &err), SAI_EPOLICY);
    assert_null(c);
    assert_non_null(strstr(err.msg, "kbs.insecure_http"));
    assert_int_equal(sai_pipeline_kbs_client_for_spec(pinned, "ftp://x", NULL, 0, &c, &err), SAI_EINVAL);
    assert_int_equal(sai_pipeline_kbs_client_for_spec(pinned, "https://127.0.0.1:9", NULL, 0, &c, &err), 0);
    assert_string_equal(sai_kbs_channel_name(sai_kbs_client_channel(c)), "tls-pin");
    sai_kbs_client_free(c);
    c = NULL;
    sai_pipeline_spec_free(pinned);
    /* http only where the spec says so */
    sai_pipeline_spec_t *insecure = enclave_spec(base, NULL);
    assert_int_equal(sai_pipeline_kbs_client_for_spec(insecure, "http://127.0.0.1:9", NULL, 0, &c, &err), 0);
    assert_string_equal(sai_kbs_channel_name(sai_kbs_client_channel(c)), "insecure-http");
    sai_kbs_client_free(c);
    c = NULL;
    sai_pipeline_spec_free(insecure);
    /* CA-anchored: the bytes must hash to the measured kbs.ca_sha256 */
    char dir[] = "/tmp/spec-ca-XXXXXX", crt[64], key[64], fp[65];
    bool created = false;
    assert_non_null(mkdtemp(dir));
    snprintf(crt, sizeof crt, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    assert_int_equal(sai_kbs__tls_ensure(crt, key, fp, &created, &err), 0);
    uint8_t *pem = NULL, ca_sha[32];
    size_t pem_len = 0;
    assert_int_equal(sai_read_file(crt, 65536, &pem, &pem_len, &err), 0);
    assert_int_equal(sai_hash(SAI_SHA256, ca_sha, pem, pem_len, &err), 0);
    y = edit("  url: http://127.0.0.1:1\n  insecure_http: true\n", "  url: https://127.0.0.1:1\n  ca: /x.pem\n");
    sai_pipeline_spec_t *anchored = enclave_spec(y, ca_sha);
    free(y);
    assert_int_equal(sai_pipeline_kbs_client_for_spec(anchored, "https://127.0.0.1:9", NULL, 0, &c, &err), SAI_EAUTH);
    pem[pem_len / 2] ^= 1;
    assert_int_equal(sai_pipeline_kbs_client_for_spec(anchored, "https://127.0.0.1:9", (const char *)pem, pem_len, &c,
                                                      &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "not the measured kbs.ca"));
    pem[pem_len / 2] ^= 1;
    assert_int_equal(sai_pipeline_kbs_client_for_spec(anchored, "http://127.0.0.1:9", (const char *)pem, pem_len, &c,
                                                      &err), SAI_EPOLICY);
    assert_int_equal(sai_pipeline_kbs_client_for_spec(anchored, "https://127.0.0.1:9", (const char *)pem, pem_len, &c,
                                                      &err), 0);
    assert_string_equal(sai_kbs_channel_name(sai_kbs_client_channel(c)), "tls-ca");
    sai_kbs_client_free(c);
    sai_pipeline_spec_free(anchored);
    free(pem);
    unlink(crt);
    unlink(key);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors_name_line_and_field),
        cmocka_unit_test(test_canonical_hash),
        cmocka_unit_test(test_dist_section),
        cmocka_unit_test(test_dist_run_needs_its_workers),
        cmocka_unit_test(test_tfrecord_dataset),
        cmocka_unit_test(test_generated_model_key),
        cmocka_unit_test(test_kbs_trust_rules),
        cmocka_unit_test(test_model_file_name),
        cmocka_unit_test(test_kbs_client_for_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
