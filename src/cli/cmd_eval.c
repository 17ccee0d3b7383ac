/*
 * cmd_eval.c — `secureai eval`: test-set accuracy of a checkpoint, per
 * class and as a confusion matrix; --json prints one object with
 * "accuracy" as a fraction.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "secureai/nn.h"

static const char usage[] =
    "usage: secureai eval --checkpoint CKPT --data DIR [--dataset KIND] [--batch B]\n"
    "                     [--threads T] [--json]\n"
    "\n"
    "Evaluate a checkpoint on the test split of a dataset directory (test_batch.bin\n"
    "for cifar10, t10k-*-ubyte[.gz] for fashion-mnist). KIND defaults to the dataset\n"
    "recorded in the checkpoint. Prints accuracy, per-class accuracy and the\n"
    "confusion matrix (rows: true class, columns: predicted).\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"checkpoint", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'D'},
        {"dataset", required_argument, NULL, 'd'}, {"batch", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *ckpt = NULL, *dir = NULL, *kind = NULL;
    long long batch = 256;
    int threads = 0, rc;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:D:d:b:t:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'D': dir = optarg; break;
        case 'd': kind = optarg; break;
        case 'b': batch = sai_cli_parse_size(optarg); break;
        case 't':
            if ((rc = sai_cli_parse_threads("eval", optarg, &threads)) != 0)
                return rc;
            break;
        case 'j': json = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("eval: bad option");
        }
    }
    if (ckpt == NULL || dir == NULL)
        return sai_cli_usage_error("eval: --checkpoint and --data are required");
    if (batch <= 0 || batch > 4096)
        return sai_cli_usage_error("eval: bad --batch");
    sai_nn_set_threads(threads);
    sai_error_t err = {0};
    sai_nn_model_t *m = NULL;
    sai_nn_ckpt_meta_t meta;
    if (sai_nn_ckpt_load_file(&m, ckpt, (int)batch, &meta, &err) != 0)
        return sai_cli_fail(&err, "eval: loading checkpoint");
    if (kind == NULL)
        kind = meta.dataset[0] ? meta.dataset : "cifar10";
    sai_nn_dataset_t ds;
    if (sai_nn_dataset_load_dir(&ds, kind, dir, false, &err) != 0) {
        sai_nn_model_free(m);
        return sai_cli_fail(&err, "eval: loading %s test data from %s", kind, dir);
    }
    sai_nn_eval_result_t r;
    int ret = 0;
    if (sai_nn_evaluate(m, &ds, &r, &err) != 0) {
        ret = sai_cli_fail(&err, "eval");
        goto out;
    }
    if (json) {
        printf("{\"model\":\"%s\",\"dataset\":\"%s\",\"n\":%d,\"correct\":%d,\"accuracy\":%.6f,"
               "\"loss\":%.6f,\"per_class\":[", meta.model, kind, r.n, r.correct, r.accuracy,
               r.loss);
        for (int i = 0; i < r.classes; i++) {
            int tot = 0;
            for (int j = 0; j < r.classes; j++)
                tot += r.confusion[i][j];
            printf("%s%.6f", i ? "," : "", tot ? (double)r.confusion[i][i] / tot : 0.0);
        }
        printf("],\"confusion\":[");
        for (int i = 0; i < r.classes; i++) {
            printf("%s[", i ? "," : "");
            for (int j = 0; j < r.classes; j++)
                printf("%s%d", j ? "," : "", r.confusion[i][j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("%s on %s test set: accuracy %.2f%% (%d/%d), loss %.4f\n\nper class:\n",
               meta.model, kind, 100.0 * r.accuracy, r.correct, r.n, r.loss);
        for (int i = 0; i < r.classes; i++) {
            int tot = 0;
            for (int j = 0; j < r.classes; j++)
                tot += r.confusion[i][j];
            printf("  %d %-12s %6.2f%% (%d)\n", i, sai_nn_class_name(kind, i),
                   tot ? 100.0 * r.confusion[i][i] / tot : 0.0, tot);
        }
        printf("\nconfusion matrix (rows true, columns predicted):\n     ");
        for (int j = 0; j < r.classes; j++)
            printf("%6d", j);
        printf("\n");
        for (int i = 0; i < r.classes; i++) {
            printf("  %2d ", i);
            for (int j = 0; j < r.classes; j++)
                printf("%6d", r.confusion[i][j]);
            printf("\n");
        }
    }
out:
    sai_nn_dataset_free(&ds);
    sai_nn_model_free(m);
    return ret;
}

const sai_cmd_t sai_cmd_eval = {"eval", "evaluate a checkpoint on a test set", usage, run};
