/*
 * predict.c — the one place logits become top-k JSON and pixels become the
 * engine's input, shared by `secureai predict` (src/cli/cmd_predict.c) and
 * the model server (server.c), so both print the same numbers for the same
 * model and images (tests/serve/test_serve.sh compares them).
 */
#include "secureai/serve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/nn.h"
#include "secureai/util.h"

#define CLASSES_MAX 1000

int sai_serve_topk(const float *z, int classes, int k, int *cls, float *p)
{
    if (classes < 1 || classes > CLASSES_MAX || k < 1)
        return SAI_EINVAL;
    if (k > classes)
        k = classes;
    float prob[CLASSES_MAX];
    unsigned char used[CLASSES_MAX];
    float mx = z[0], sum = 0.0f;
    for (int j = 1; j < classes; j++)
        mx = z[j] > mx ? z[j] : mx;
    for (int j = 0; j < classes; j++)
        sum += (prob[j] = expf(z[j] - mx));
    memset(used, 0, (size_t)classes);
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int j = 0; j < classes; j++)
            if (!used[j] && (best < 0 || prob[j] > prob[best]))
                best = j;
        used[best] = 1;
        cls[t] = best;
        p[t] = prob[best] / sum;
    }
    return k;
}

int sai_serve_topk_json(sai_buf_t *out, const float *logits, int n, int classes, int k, const char *dataset,
                        size_t first, const char *sep)
{
    int cls[CLASSES_MAX];
    float p[CLASSES_MAX];
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int got = sai_serve_topk(logits + (size_t)i * (size_t)classes, classes, k, cls, p);
        if (got < 0)
            return got;
        rc = sai_buf_printf(out, "%s{\"image\":%zu,\"top\":[", i ? sep : "", first + (size_t)i);
        for (int t = 0; t < got && rc == 0; t++)
            rc = sai_buf_printf(out, "%s{\"class\":%d,\"name\":\"%s\",\"p\":%.6f}", t ? "," : "", cls[t],
                                sai_nn_class_name(dataset, cls[t]), p[t]);
        if (rc == 0)
            rc = sai_buf_printf(out, "]}");
    }
    return rc;
}

int sai_serve_normalize_u8(float *x, const uint8_t *pix, size_t n, int c, int h, int w, const char *dataset,
                           sai_error_t *err)
{
    sai_nn_dataset_t norm;
    sai_nn_dataset_init(&norm);
    int rc = sai_nn_dataset_set_norm(&norm, dataset && dataset[0] ? dataset : "cifar10", err);
    if (rc)
        return rc;
    if (c < 1 || c > 3)
        return sai_error_set(err, SAI_EINVAL, "%d input channels", c);
    size_t img = (size_t)c * (size_t)h * (size_t)w, plane = (size_t)h * (size_t)w;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < img; j++) {
            int ch = (int)(j / plane);
            x[i * img + j] = ((float)pix[i * img + j] / 255.0f - norm.mean[ch]) / norm.std[ch];
        }
    return 0;
}
