/*
 * data_cifar.c — CIFAR-10 binary batches: records of 1 label byte (0..9)
 * followed by 3x32x32 pixels (R plane, G plane, B plane, row-major), 3073
 * bytes each, exactly the format of data_batch_N.bin / test_batch.bin. Also
 * the generator behind `secureai gen-data cifar10`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "secureai/util.h"
#include "nn/nn_internal.h"

static int ds_grow(sai_nn_dataset_t *ds, int add, size_t img, sai_error_t *err)
{
    size_t n = (size_t)ds->n + (size_t)add;
    if (n > (size_t)1 << 26 || n * img > SAI_NN_DATA_MAX_BYTES * 2)
        return sai_error_set(err, SAI_ELIMIT, "dataset too large (%zu records)", n);
    uint8_t *p = realloc(ds->pixels, n * img);
    if (p == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for %zu records", n);
    ds->pixels = p;
    uint8_t *l = realloc(ds->labels, n);
    if (l == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for %zu labels", n);
    ds->labels = l;
    return 0;
}

int sai_nn_dataset_add_cifar10(sai_nn_dataset_t *ds, const sai_nn_source_t *src, sai_error_t *err)
{
    const size_t img = 3 * 32 * 32;
    const char *name = src->name ? src->name : "CIFAR-10 batch";
    if (ds->n > 0 && (ds->c != 3 || ds->h != 32 || ds->w != 32))
        return sai_error_set(err, SAI_EINVAL, "%s: cannot mix CIFAR-10 with %dx%dx%d images",
                             name, ds->c, ds->h, ds->w);
    if (src->size == 0 || src->size % SAI_NN_CIFAR_RECORD != 0)
        return sai_error_set(err, SAI_EFORMAT, "%s: %llu bytes is not a whole number of "
                             "3073-byte CIFAR-10 records", name, (unsigned long long)src->size);
    if (src->size > SAI_NN_DATA_MAX_BYTES)
        return sai_error_set(err, SAI_ELIMIT, "%s: larger than the %llu-byte cap", name,
                             (unsigned long long)SAI_NN_DATA_MAX_BYTES);
    int add = (int)(src->size / SAI_NN_CIFAR_RECORD);
    int rc = ds_grow(ds, add, img, err);
    if (rc != 0)
        return rc;
    /* Read in chunks of records: few callbacks, bounded buffer. */
    enum { CHUNK = 256 };
    uint8_t *buf = malloc((size_t)CHUNK * SAI_NN_CIFAR_RECORD);
    if (buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    for (int i = 0; i < add; i += CHUNK) {
        int cnt = add - i < CHUNK ? add - i : CHUNK;
        rc = sai_nn__src_read(src, (uint64_t)i * SAI_NN_CIFAR_RECORD, buf,
                         (size_t)cnt * SAI_NN_CIFAR_RECORD, err);
        if (rc != 0)
            break;
        for (int j = 0; j < cnt; j++) {
            const uint8_t *r = buf + (size_t)j * SAI_NN_CIFAR_RECORD;
            if (r[0] > 9) {
                rc = sai_error_set(err, SAI_EFORMAT, "%s: record %d has label %u (CIFAR-10 "
                                   "labels are 0..9)", name, i + j, r[0]);
                break;
            }
            ds->labels[ds->n + i + j] = r[0];
            memcpy(ds->pixels + (size_t)(ds->n + i + j) * img, r + 1, img);
        }
        if (rc != 0)
            break;
    }
    free(buf);
    if (rc != 0)
        return rc;
    ds->n += add;
    ds->c = 3; ds->h = 32; ds->w = 32; ds->classes = 10;
    if (ds->kind[0] == '\0')
        return sai_nn_dataset_set_norm(ds, "cifar10", err);
    return 0;
}

/* Synthetic but learnable: each class has its own colour and stripe
 * orientation/frequency; noise and a random shift make it non-trivial. */
static void gen_record(uint8_t *r, int label, uint64_t *rng)
{
    static const uint8_t base[10][3] = {
        {200, 40, 40}, {40, 200, 40}, {40, 40, 200}, {200, 200, 40}, {200, 40, 200},
        {40, 200, 200}, {120, 120, 120}, {230, 140, 60}, {90, 60, 160}, {60, 160, 90},
    };
    r[0] = (uint8_t)label;
    int shift = (int)(sai_nn_rng_next(rng) % 8);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int t = (label % 2 == 0) ? (x + shift) : (y + shift);
                int period = 4 + (label / 2) * 2;
                int stripe = ((t / (period / 2)) % 2) ? 50 : -50;
                int noise = (int)(sai_nn_rng_next(rng) % 61) - 30;
                int v = base[label][c] + stripe + noise;
                r[1 + c * 1024 + y * 32 + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

static int write_batch(const char *dir, const char *name, int n, uint64_t *rng, sai_error_t *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return sai_error_set(err, SAI_EINVAL, "output path too long");
    uint8_t *buf = malloc((size_t)n * SAI_NN_CIFAR_RECORD);
    if (buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        gen_record(buf + (size_t)i * SAI_NN_CIFAR_RECORD, (int)(sai_nn_rng_next(rng) % 10), rng);
    int rc = sai_write_file_atomic(path, buf, (size_t)n * SAI_NN_CIFAR_RECORD, 0644, false, err);
    free(buf);
    return rc;
}

int sai_nn_gen_cifar10(const char *dir, int n, uint64_t seed, sai_error_t *err)
{
    if (n < 5 || n > 1000000)
        return sai_error_set(err, SAI_EINVAL, "--n must be between 5 and 1000000 (got %d)", n);
    if (mkdir(dir, 0755) != 0) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return sai_error_set(err, SAI_EIO, "cannot create directory %s", dir);
    }
    uint64_t rng = seed;
    for (int b = 0; b < 5; b++) {
        char name[32];
        snprintf(name, sizeof(name), "data_batch_%d.bin", b + 1);
        int cnt = n / 5 + (b < n % 5 ? 1 : 0);
        int rc = write_batch(dir, name, cnt, &rng, err);
        if (rc != 0)
            return rc;
    }
    int rc = write_batch(dir, "test_batch.bin", n / 5 < 10 ? 10 : n / 5, &rng, err);
    if (rc != 0)
        return rc;
    static const char meta[] = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\n"
                               "truck\n\n";
    char path[4096];
    snprintf(path, sizeof(path), "%s/batches.meta.txt", dir);
    return sai_write_file_atomic(path, meta, sizeof(meta) - 1, 0644, false, err);
}
