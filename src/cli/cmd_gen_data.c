/*
 * cmd_gen_data.c — `secureai gen-data cifar10 --out DIR --n N --seed S`:
 * writes synthetic but learnable CIFAR-10 binary batches in the exact real
 * format, for tests and benchmarks (the real set cannot be downloaded here).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/nn.h"

static const char usage[] =
    "usage: secureai gen-data cifar10 --out DIR [--n N] [--seed S]\n"
    "\n"
    "Write data_batch_1..5.bin (N training records in total), test_batch.bin\n"
    "(N/5 records, at least 10) and batches.meta.txt in the CIFAR-10 binary\n"
    "format: 3073-byte records, 1 label byte then 3x32x32 pixels (R, G, B\n"
    "planes). Images are a class-dependent colour and stripe pattern plus noise.\n"
    "\n"
    "  --out DIR    output directory (created if missing)\n"
    "  --n N        training records (default 1000)\n"
    "  --seed S     generator seed (default 1)\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'}, {"n", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    long long n = 1000, seed = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:n:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'n': n = sai_cli_parse_size(optarg); break;
        case 's': seed = sai_cli_parse_size(optarg); break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("gen-data: bad option");
        }
    }
    if (optind >= argc || strcmp(argv[optind], "cifar10") != 0)
        return sai_cli_usage_error("gen-data: the only generator is 'cifar10'");
    if (out == NULL)
        return sai_cli_usage_error("gen-data: --out DIR is required");
    if (n < 5 || n > 1000000 || seed < 0)
        return sai_cli_usage_error("gen-data: --n must be 5..1000000 and --seed non-negative");
    sai_error_t err = {0};
    if (sai_nn_gen_cifar10(out, (int)n, (uint64_t)seed, &err) != 0)
        return sai_cli_fail(&err, "gen-data");
    printf("wrote %lld training and %lld test CIFAR-10 records to %s\n", n, n / 5 < 10 ? 10 : n / 5,
           out);
    return 0;
}

const sai_cmd_t sai_cmd_gen_data = {"gen-data", "write synthetic CIFAR-10 binary batches", usage, run};
