/*
 * cmd_export_onnx.c — `secureai export-onnx`: an engine checkpoint to ONNX
 * (src/onnx/export.c), for onnxruntime, PyTorch or any other ONNX runtime.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "secureai/nn.h"
#include "secureai/onnx.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai export-onnx CKPT --out MODEL.onnx\n"
    "\n"
    "Write the checkpoint's model as ONNX (opset 13): input \"input\" float32\n"
    "[N,C,H,W] (normalised as for training), output \"logits\" [N,classes].\n"
    "Refuses to overwrite MODEL.onnx.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("export-onnx: bad option");
        }
    }
    if (optind != argc - 1 || out == NULL)
        return sai_cli_usage_error("export-onnx: one CKPT and --out are required");
    const char *in = argv[optind];
    sai_error_t err = {0};
    sai_nn_model_t *m = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int ret = 1;
    if (sai_nn_ckpt_load_file(&m, in, 1, NULL, &err) != 0) {
        sai_cli_fail(&err, "export-onnx: loading checkpoint");
        goto out;
    }
    if (sai_onnx_export(m, &buf, &len, &err) != 0 ||
        sai_write_file_atomic(out, buf, len, 0644, true, &err) != 0) {
        sai_cli_fail(&err, "export-onnx: writing %s", out);
        goto out;
    }
    printf("exported %s (%s) -> %s, %zu bytes\n", in, sai_nn_model_name(m), out, len);
    ret = 0;
out:
    sai_nn_model_free(m);
    free(buf);
    return ret;
}

const sai_cmd_t sai_cmd_export_onnx = {"export-onnx", "write a checkpoint's model as ONNX", usage,
                                       run};
