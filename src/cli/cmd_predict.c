/*
 * cmd_predict.c — `secureai predict`: top-k classes for the images in a
 * file: one raw image of exactly C*H*W bytes (uint8, CHW), an IDX image
 * file (plain or .gz), or CIFAR-10 binary records (labels ignored).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/nn.h"
#include "secureai/serve.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai predict --checkpoint CKPT --input FILE [--top K] [--limit N]\n"
    "                        [--threads T] [--json]\n"
    "\n"
    "Print the top-K classes (default 5) with probabilities for every image in\n"
    "FILE (at most N, default 100): a raw uint8 CxHxW image of the checkpoint's\n"
    "input size, an IDX image file (plain or .gz), or CIFAR-10 binary records.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"checkpoint", required_argument, NULL, 'c'}, {"input", required_argument, NULL, 'i'},
        {"top", required_argument, NULL, 'k'}, {"limit", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *ckpt = NULL, *input = NULL;
    long long top = 5, limit = 100;
    bool json = false;
    int c, threads = 0, rc;
    while ((c = getopt_long(argc, argv, "c:i:k:n:t:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'i': input = optarg; break;
        case 'k': top = sai_cli_parse_size(optarg); break;
        case 'n': limit = sai_cli_parse_size(optarg); break;
        case 't':
            if ((rc = sai_cli_parse_threads("predict", optarg, &threads)) != 0)
                return rc;
            break;
        case 'j': json = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("predict: bad option");
        }
    }
    if (ckpt == NULL || input == NULL)
        return sai_cli_usage_error("predict: --checkpoint and --input are required");
    if (top <= 0 || limit <= 0 || limit > 100000)
        return sai_cli_usage_error("predict: bad --top or --limit");
    sai_nn_set_threads(threads);
    sai_error_t err = {0};
    sai_nn_model_t *m = NULL;
    sai_nn_ckpt_meta_t meta;
    if (sai_nn_ckpt_load_file(&m, ckpt, 1, &meta, &err) != 0)
        return sai_cli_fail(&err, "predict: loading checkpoint");
    int ret = 1;
    uint8_t *buf = NULL, *payload = NULL;
    size_t len = 0, img = (size_t)meta.in_c * meta.in_h * meta.in_w;
    float *x = malloc(img * sizeof(float));
    if (x == NULL) {
        sai_error_set(&err, SAI_ENOMEM, "out of memory");
        sai_cli_fail(&err, "predict");
        goto out;
    }
    if (sai_read_file(input, SAI_NN_DATA_MAX_BYTES, &buf, &len, &err) != 0) {
        sai_cli_fail(&err, "predict: reading %s", input);
        goto out;
    }
    const uint8_t *pix;
    size_t count, stride;
    int nd;
    uint32_t dims[4];
    size_t plen;
    if (len == img) {
        pix = buf; count = 1; stride = img;
    } else if (len >= 4 && ((buf[0] == 0 && buf[1] == 0) || (buf[0] == 0x1f && buf[1] == 0x8b))) {
        if (sai_nn_idx_parse(buf, len, &payload, &plen, &nd, dims, &err) != 0) {
            sai_cli_fail(&err, "predict: %s", input);
            goto out;
        }
        if (nd != 3 || (size_t)dims[1] * dims[2] != img) {
            fprintf(stderr, "secureai: predict: %s: IDX images do not match the model input "
                    "%dx%dx%d\n", input, meta.in_c, meta.in_h, meta.in_w);
            goto out;
        }
        pix = payload; count = dims[0]; stride = img;
    } else if (img == 3072 && len % SAI_NN_CIFAR_RECORD == 0) {
        pix = buf + 1; count = len / SAI_NN_CIFAR_RECORD; stride = SAI_NN_CIFAR_RECORD;
    } else {
        fprintf(stderr, "secureai: predict: %s: %zu bytes is neither one %dx%dx%d image, an IDX "
                "file nor CIFAR-10 records\n", input, len, meta.in_c, meta.in_h, meta.in_w);
        goto out;
    }
    int K = meta.classes;
    if (top > K)
        top = K;
    for (size_t i = 0; i < count && i < (size_t)limit; i++) {
        /* The same normalisation and top-k formatting as the model server
         * (src/serve/predict.c), so the two agree to the digit. */
        if (sai_serve_normalize_u8(x, pix + i * stride, 1, meta.in_c, meta.in_h, meta.in_w, meta.dataset,
                                   &err) != 0) {
            sai_cli_fail(&err, "predict");
            goto out;
        }
        const float *z = sai_nn_forward(m, x, 1, false);
        if (json) {
            sai_buf_t line;
            sai_buf_init(&line, 1u << 20);
            int frc = sai_serve_topk_json(&line, z, 1, K, (int)top, meta.dataset, i, "");
            if (frc == 0)
                printf("%s\n", (const char *)line.data);
            sai_buf_free(&line);
            if (frc != 0) {
                sai_error_set(&err, frc, "cannot format the prediction");
                sai_cli_fail(&err, "predict");
                goto out;
            }
            continue;
        }
        int cls[SAI_SERVE_CLASSES_MAX];
        float prob[SAI_SERVE_CLASSES_MAX];
        int got = sai_serve_topk(z, K, (int)top, cls, prob);
        printf("image %zu:", i);
        for (int t = 0; t < got; t++)
            printf("  %d %s %.4f", cls[t], sai_nn_class_name(meta.dataset, cls[t]), prob[t]);
        printf("\n");
    }
    ret = 0;
out:
    free(x);
    free(buf);
    free(payload);
    sai_nn_model_free(m);
    return ret;
}

const sai_cmd_t sai_cmd_predict = {"predict", "top-k predictions of a checkpoint for images",
                                   usage, run};
