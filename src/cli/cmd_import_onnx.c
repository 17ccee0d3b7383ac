/*
 * cmd_import_onnx.c — `secureai import-onnx`: an ONNX CNN classifier (e.g.
 * from torch.onnx.export) to an engine checkpoint (src/onnx/import.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/nn.h"
#include "secureai/onnx.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai import-onnx MODEL.onnx --out CKPT [--dataset KIND]\n"
    "\n"
    "Convert an ONNX CNN classifier (Conv, BatchNormalization, Relu, Add, MaxPool,\n"
    "AveragePool, GlobalAveragePool, Flatten/Reshape, Gemm: what torch.onnx.export\n"
    "writes for ResNets) to an engine checkpoint. The graph must be one of the\n"
    "engine's architectures (resnet8/20/56/18/50, smallcnn); the first unsupported\n"
    "operator is named otherwise. KIND (cifar10 or fashion-mnist; default by the\n"
    "input's channels) sets the input normalisation the checkpoint records for\n"
    "predict and the pipeline. Refuses to overwrite CKPT.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'}, {"dataset", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *dataset = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'd': dataset = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("import-onnx: bad option");
        }
    }
    if (optind != argc - 1 || out == NULL)
        return sai_cli_usage_error("import-onnx: one MODEL.onnx and --out are required");
    if (dataset != NULL && strcmp(dataset, "cifar10") != 0 && strcmp(dataset, "fashion-mnist") != 0)
        return sai_cli_usage_error("import-onnx: --dataset is cifar10 or fashion-mnist");
    const char *in = argv[optind];
    sai_error_t err = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    sai_nn_model_t *m = NULL;
    int ret = 1;
    if (sai_read_file(in, SAI_ONNX_MAX_BYTES, &buf, &len, &err) != 0) {
        sai_cli_fail(&err, "import-onnx: reading %s", in);
        goto out;
    }
    if (sai_onnx_import(&m, buf, len, 1, &err) != 0) {
        sai_cli_fail(&err, "import-onnx: %s", in);
        goto out;
    }
    int ic, ih, iw;
    sai_nn_model_input(m, &ic, &ih, &iw);
    sai_nn_ckpt_meta_t meta;
    memset(&meta, 0, sizeof(meta));
    snprintf(meta.dataset, sizeof(meta.dataset), "%s",
             dataset != NULL ? dataset : (ic == 1 ? "fashion-mnist" : "cifar10"));
    uint8_t *ck = NULL;
    size_t cklen = 0;
    if (sai_nn_ckpt_save_mem(m, &meta, &ck, &cklen, &err) != 0 ||
        sai_write_file_atomic(out, ck, cklen, 0600, true, &err) != 0) {
        free(ck);
        sai_cli_fail(&err, "import-onnx: writing %s", out);
        goto out;
    }
    free(ck);
    printf("imported %s: %s %dx%dx%d, %d classes, %zu parameters -> %s\n", in,
           sai_nn_model_name(m), ic, ih, iw, sai_nn_model_classes(m), sai_nn_model_num_params(m),
           out);
    ret = 0;
out:
    sai_nn_model_free(m);
    free(buf);
    return ret;
}

const sai_cmd_t sai_cmd_import_onnx = {"import-onnx", "convert an ONNX CNN classifier to a checkpoint",
                                       usage, run};
