/*
 * test_nn_data.c — data loaders: CIFAR-10 batches written by the generator
 * read back through a file source and a memory source (the callback path
 * the pipeline uses), malformed sizes and labels rejected; IDX plain and
 * gzip (the real Fashion-MNIST test split when installed), truncated and
 * oversized headers rejected; normalisation, crop/flip augmentation and
 * shuffling are deterministic for a seed.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "secureai/nn.h"
#include "secureai/util.h"

static char g_dir[] = "/tmp/sai_nn_data_XXXXXX";

static void test_cifar_roundtrip(void **state)
{
    (void)state;
    sai_error_t err;
    assert_int_equal(sai_nn_gen_cifar10(g_dir, 50, 7, &err), 0);
    sai_nn_dataset_t ds;
    assert_int_equal(sai_nn_dataset_load_dir(&ds, "cifar10", g_dir, true, &err), 0);
    assert_int_equal(ds.n, 50);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.h, 32);
    /* Same bytes through a memory source. */
    char path[512];
    snprintf(path, sizeof(path), "%s/data_batch_1.bin", g_dir);
    uint8_t *buf;
    size_t len;
    assert_int_equal(sai_read_file(path, 1 << 24, &buf, &len, &err), 0);
    assert_int_equal(len, 10 * 3073);
    sai_nn_source_t src;
    sai_nn_source_mem(&src, buf, len);
    sai_nn_dataset_t mem;
    sai_nn_dataset_init(&mem);
    assert_int_equal(sai_nn_dataset_add_cifar10(&mem, &src, &err), 0);
    assert_int_equal(mem.n, 10);
    assert_memory_equal(mem.pixels, ds.pixels, 10 * 3072);
    assert_memory_equal(mem.labels, ds.labels, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(mem.labels[i], buf[(size_t)i * 3073]);
        assert_memory_equal(mem.pixels + (size_t)i * 3072, buf + (size_t)i * 3073 + 1, 3072);
    }
    /* A partial record and a bad label are errors. */
    sai_nn_source_mem(&src, buf, len - 1);
    assert_int_equal(sai_nn_dataset_add_cifar10(&mem, &src, &err), SAI_EFORMAT);
    buf[3073] = 10;
    sai_nn_source_mem(&src, buf, len);
    assert_int_equal(sai_nn_dataset_add_cifar10(&mem, &src, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "label"));
    assert_int_equal(mem.n, 10);
    free(buf);
    sai_nn_dataset_free(&mem);
    sai_nn_dataset_free(&ds);
    /* Missing directory. */
    assert_int_not_equal(sai_nn_dataset_load_dir(&ds, "cifar10", "/nonexistent", true, &err), 0);
}

static size_t make_idx(uint8_t *out, uint8_t magic3, uint32_t n, uint32_t h, uint32_t w)
{
    size_t o = 0;
    out[o++] = 0; out[o++] = 0; out[o++] = 8; out[o++] = magic3;
    uint32_t d[3] = {n, h, w};
    for (int i = 0; i < magic3; i++) {
        out[o++] = (uint8_t)(d[i] >> 24); out[o++] = (uint8_t)(d[i] >> 16);
        out[o++] = (uint8_t)(d[i] >> 8); out[o++] = (uint8_t)d[i];
    }
    size_t payload = magic3 == 3 ? (size_t)n * h * w : n;
    for (size_t i = 0; i < payload; i++)
        out[o++] = (uint8_t)(i % 10);
    return o;
}

static void test_idx(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t img[4 + 12 + 5 * 4 * 4], lab[4 + 4 + 5];
    size_t il = make_idx(img, 3, 5, 4, 4), ll = make_idx(lab, 1, 5, 0, 0);
    uint8_t *p;
    size_t pl;
    int nd;
    uint32_t dims[4];
    assert_int_equal(sai_nn_idx_parse(img, il, &p, &pl, &nd, dims, &err), 0);
    assert_int_equal(nd, 3);
    assert_int_equal(dims[0], 5);
    assert_int_equal(pl, 80);
    free(p);
    /* gzip of the same bytes parses to the same payload */
    uint8_t gz[512];
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = img; zs.avail_in = (uInt)il; zs.next_out = gz; zs.avail_out = sizeof(gz);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gl = sizeof(gz) - zs.avail_out;
    deflateEnd(&zs);
    assert_int_equal(sai_nn_idx_parse(gz, gl, &p, &pl, &nd, dims, &err), 0);
    assert_memory_equal(p, img + 16, 80);
    free(p);
    /* truncated gzip, truncated payload, extra bytes, bad magic */
    assert_int_equal(sai_nn_idx_parse(gz, gl - 6, &p, &pl, &nd, dims, &err), SAI_EFORMAT);
    assert_int_equal(sai_nn_idx_parse(img, il - 1, &p, &pl, &nd, dims, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(sai_nn_idx_parse(img, 10, &p, &pl, &nd, dims, &err), SAI_EFORMAT);
    uint8_t bad[8] = {1, 2, 3, 4};
    assert_int_not_equal(sai_nn_idx_parse(bad, 8, &p, &pl, &nd, dims, &err), 0);
    /* a header claiming a huge payload is refused before allocating */
    uint8_t huge[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9};
    assert_int_equal(sai_nn_idx_parse(huge, 16, &p, &pl, &nd, dims, &err), SAI_ELIMIT);
    /* images + labels into a dataset through memory sources */
    sai_nn_source_t is, ls;
    sai_nn_source_mem(&is, img, il);
    sai_nn_source_mem(&ls, lab, ll);
    sai_nn_dataset_t ds;
    sai_nn_dataset_init(&ds);
    assert_int_equal(sai_nn_dataset_add_idx(&ds, &is, &ls, &err), 0);
    assert_int_equal(ds.n, 5);
    assert_int_equal(ds.c, 1);
    assert_int_equal(ds.h, 4);
    assert_string_equal(ds.kind, "fashion-mnist");
    /* label count mismatch */
    sai_nn_source_mem(&ls, lab, ll - 1);
    assert_int_not_equal(sai_nn_dataset_add_idx(&ds, &is, &ls, &err), 0);
    sai_nn_dataset_free(&ds);
}

static void test_fashion_mnist_real(void **state)
{
    (void)state;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    if (access(dir, R_OK) != 0)
        skip();
    sai_error_t err;
    sai_nn_dataset_t ds;
    assert_int_equal(sai_nn_dataset_load_dir(&ds, "fashion-mnist", dir, false, &err), 0);
    assert_int_equal(ds.n, 10000);
    assert_int_equal(ds.h, 28);
    assert_int_equal(ds.w, 28);
    int count[10] = {0};
    for (int i = 0; i < ds.n; i++)
        count[ds.labels[i]]++;
    for (int k = 0; k < 10; k++)
        assert_int_equal(count[k], 1000);   /* the real test split is balanced */
    sai_nn_dataset_free(&ds);
}

static void test_batch_augment(void **state)
{
    (void)state;
    sai_error_t err;
    sai_nn_dataset_t ds;
    assert_int_equal(sai_nn_dataset_load_dir(&ds, "cifar10", g_dir, false, &err), 0);
    int idx[2] = {0, 1}, y[2];
    float *x = malloc(2 * 3072 * sizeof(float)), *x2 = malloc(2 * 3072 * sizeof(float));
    sai_nn_dataset_batch(&ds, idx, 2, NULL, NULL, x, y);
    assert_int_equal(y[0], ds.labels[0]);
    float want = ((float)ds.pixels[5] / 255.0f - ds.mean[0]) / ds.std[0];
    assert_float_equal(x[5], want, 1e-5);
    /* flip only: pixel (r, q) comes from (r, W-1-q) when flipped */
    sai_nn_augment_t flip = {.crop_pad = 0, .hflip = true};
    uint64_t r1 = 1, r2 = 1;
    sai_nn_dataset_batch(&ds, idx, 2, &flip, &r1, x, y);
    sai_nn_dataset_batch(&ds, idx, 2, &flip, &r2, x2, y);
    assert_memory_equal(x, x2, 2 * 3072 * sizeof(float));   /* same seed, same batch */
    float a = x[7], b0 = ((float)ds.pixels[0 * 32 + 7] / 255.0f - ds.mean[0]) / ds.std[0],
          b1 = ((float)ds.pixels[0 * 32 + 24] / 255.0f - ds.mean[0]) / ds.std[0];
    assert_true(fabsf(a - b0) < 1e-5f || fabsf(a - b1) < 1e-5f);
    /* crop: with pad 4 some border pixels are the zero padding */
    sai_nn_augment_t crop = {.crop_pad = 4, .hflip = false};
    int padded = 0;
    float zero = -ds.mean[0] / ds.std[0];
    for (int t = 0; t < 20; t++) {
        sai_nn_dataset_batch(&ds, idx, 1, &crop, &r1, x, y);
        padded += fabsf(x[0] - zero) < 1e-5f;
    }
    assert_true(padded > 0 && padded < 20);
    int perm[100], seen[100] = {0};
    for (int i = 0; i < 100; i++)
        perm[i] = i;
    uint64_t s = 3;
    sai_nn_shuffle(perm, 100, &s);
    for (int i = 0; i < 100; i++)
        seen[perm[i]]++;
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    free(x);
    free(x2);
    sai_nn_dataset_free(&ds);
}

static void test_schedules(void **state)
{
    (void)state;
    sai_nn_sched_t c = {.kind = SAI_NN_SCHED_COSINE, .base_lr = 0.1f, .min_lr = 0.0f,
                        .total_steps = 110, .warmup_steps = 10};
    assert_float_equal(sai_nn_sched_lr(&c, 0), 0.01f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&c, 9), 0.1f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&c, 10), 0.1f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&c, 60), 0.05f, 1e-6);
    assert_float_equal(sai_nn_sched_lr(&c, 110), 0.0f, 1e-7);
    sai_nn_sched_t st = {.kind = SAI_NN_SCHED_STEP, .base_lr = 1.0f, .gamma = 0.1f, .step_size = 5};
    assert_float_equal(sai_nn_sched_lr(&st, 4), 1.0f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&st, 5), 0.1f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&st, 12), 0.01f, 1e-7);
    /* one-cycle, PyTorch's OneCycleLR(max_lr=0.1, total_steps=111,
     * pct_start=11/111, anneal_strategy='cos', div_factor=25,
     * final_div_factor=inf, cycle_momentum=False) */
    sai_nn_sched_t oc = {.kind = SAI_NN_SCHED_ONECYCLE, .base_lr = 0.1f, .total_steps = 111,
                         .warmup_steps = 10};
    assert_float_equal(sai_nn_sched_lr(&oc, 0), 0.004f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&oc, 5), 0.052f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&oc, 10), 0.1f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&oc, 35), 0.0853553f, 1e-6);
    assert_float_equal(sai_nn_sched_lr(&oc, 60), 0.05f, 1e-6);
    assert_float_equal(sai_nn_sched_lr(&oc, 110), 0.0f, 1e-7);
    assert_float_equal(sai_nn_sched_lr(&oc, 500), 0.0f, 1e-7);
}

int main(void)
{
    if (mkdtemp(g_dir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar_roundtrip),
        cmocka_unit_test(test_idx),
        cmocka_unit_test(test_fashion_mnist_real),
        cmocka_unit_test(test_batch_augment),
        cmocka_unit_test(test_schedules),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
