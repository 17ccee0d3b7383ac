/*
 * dataset.c — in-memory labelled image sets (uint8 CHW), loading a train or
 * test split from a directory, normalisation and augmentation (random crop
 * after zero padding, horizontal flip) into float batches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn_internal.h"

void sai_nn_dataset_init(sai_nn_dataset_t *ds)
{
    memset(ds, 0, sizeof(*ds));
}

void sai_nn_dataset_free(sai_nn_dataset_t *ds)
{
    free(ds->pixels);
    free(ds->labels);
    memset(ds, 0, sizeof(*ds));
}

int sai_nn_dataset_set_norm(sai_nn_dataset_t *ds, const char *kind, sai_error_t *err)
{
    if (strcmp(kind, "cifar10") == 0) {
        static const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, sd[3] = {0.2470f, 0.2435f, 0.2616f};
        memcpy(ds->mean, mean, sizeof(mean));
        memcpy(ds->std, sd, sizeof(sd));
    } else if (strcmp(kind, "fashion-mnist") == 0) {
        ds->mean[0] = ds->mean[1] = ds->mean[2] = 0.2860f;
        ds->std[0] = ds->std[1] = ds->std[2] = 0.3530f;
    } else {
        return sai_error_set(err, SAI_EINVAL, "unknown dataset '%s' (cifar10, fashion-mnist)", kind);
    }
    snprintf(ds->kind, sizeof(ds->kind), "%s", kind);
    return 0;
}

const char *sai_nn_class_name(const char *kind, int k)
{
    static const char *const cifar[10] = {"airplane", "automobile", "bird", "cat", "deer", "dog",
                                          "frog", "horse", "ship", "truck"};
    static const char *const fmnist[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    if (k < 0 || k >= 10)
        return "?";
    if (strcmp(kind, "cifar10") == 0)
        return cifar[k];
    if (strcmp(kind, "fashion-mnist") == 0)
        return fmnist[k];
    return "?";
}

static int add_file_cifar(sai_nn_dataset_t *ds, const char *dir, const char *name, sai_error_t *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return sai_error_set(err, SAI_EINVAL, "path too long");
    sai_nn_source_t src;
    int rc = sai_nn_source_file(&src, path, err);
    if (rc != 0)
        return rc;
    rc = sai_nn_dataset_add_cifar10(ds, &src, err);
    sai_nn_source_file_close(&src);
    return rc;
}

/* Finds dir/base or dir/base.gz. */
static int open_idx(sai_nn_source_t *src, const char *dir, const char *base, sai_error_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, base);
    if (access(path, R_OK) != 0)
        snprintf(path, sizeof(path), "%s/%s.gz", dir, base);
    int rc = sai_nn_source_file(src, path, err);
    if (rc == 0)
        src->name = NULL;    /* path is a stack buffer */
    return rc;
}

int sai_nn_dataset_load_dir(sai_nn_dataset_t *ds, const char *kind, const char *dir, bool train,
                            sai_error_t *err)
{
    sai_nn_dataset_init(ds);
    int rc = sai_nn_dataset_set_norm(ds, kind, err);
    if (rc != 0)
        return rc;
    if (strcmp(kind, "cifar10") == 0) {
        if (train) {
            for (int b = 1; b <= 5 && rc == 0; b++) {
                char name[32];
                snprintf(name, sizeof(name), "data_batch_%d.bin", b);
                rc = add_file_cifar(ds, dir, name, err);
            }
        } else {
            rc = add_file_cifar(ds, dir, "test_batch.bin", err);
        }
    } else {
        const char *pre = train ? "train" : "t10k";
        char ib[64], lb[64];
        snprintf(ib, sizeof(ib), "%s-images-idx3-ubyte", pre);
        snprintf(lb, sizeof(lb), "%s-labels-idx1-ubyte", pre);
        sai_nn_source_t is, ls;
        rc = open_idx(&is, dir, ib, err);
        if (rc == 0) {
            rc = open_idx(&ls, dir, lb, err);
            if (rc == 0) {
                is.name = ib;
                ls.name = lb;
                rc = sai_nn_dataset_add_idx(ds, &is, &ls, err);
                sai_nn_source_file_close(&ls);
            }
            sai_nn_source_file_close(&is);
        }
    }
    if (rc != 0)
        sai_nn_dataset_free(ds);
    return rc;
}

void sai_nn_dataset_batch(const sai_nn_dataset_t *ds, const int *idx, int n,
                          const sai_nn_augment_t *aug, uint64_t *rng, float *x, int *y)
{
    int C = ds->c, H = ds->h, W = ds->w;
    size_t img = (size_t)C * H * W;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = ds->pixels + (size_t)idx[i] * img;
        float *dst = x + (size_t)i * img;
        y[i] = ds->labels[idx[i]];
        int dy = 0, dx = 0;
        bool flip = false;
        if (aug != NULL && rng != NULL) {
            if (aug->crop_pad > 0) {
                int span = 2 * aug->crop_pad + 1;
                dy = (int)(sai_nn_rng_next(rng) % (uint64_t)span) - aug->crop_pad;
                dx = (int)(sai_nn_rng_next(rng) % (uint64_t)span) - aug->crop_pad;
            }
            if (aug->hflip)
                flip = (sai_nn_rng_next(rng) >> 63) != 0;
        }
        for (int c = 0; c < C; c++) {
            float sc = 1.0f / (255.0f * ds->std[c]), sh = -ds->mean[c] / ds->std[c];
            for (int r = 0; r < H; r++) {
                int sr = r + dy;
                for (int q = 0; q < W; q++) {
                    int sq = (flip ? W - 1 - q : q) + dx;
                    float v = 0.0f;   /* zero padding in pixel space */
                    if (sr >= 0 && sr < H && sq >= 0 && sq < W)
                        v = (float)src[(size_t)c * H * W + (size_t)sr * W + sq];
                    dst[(size_t)c * H * W + (size_t)r * W + q] = v * sc + sh;
                }
            }
        }
    }
}
