/*
 * cmd_seal.c — `secureai seal`: seal a file, or a directory into a sealed
 * dataset (src/seal/, docs/format.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "seal_cli.h"
#include "secureai/seal.h"

static const char usage[] =
    "usage: secureai seal --key KEYFILE [--key-id ID] [--chunk-size BYTES] IN OUT\n"
    "\n"
    "Seal IN to OUT with the data key in KEYFILE (AES-256-GCM in fixed chunks,\n"
    "see docs/format.md). If IN is a file, OUT is one sealed file. If IN is a\n"
    "directory, OUT becomes a sealed dataset: one sealed shard per file plus a\n"
    "MACed manifest; its dataset identity is printed. OUT must not exist.\n"
    "\n"
    "  --key KEYFILE        32-byte key file (secureai keygen)\n"
    "  --key-id ID          key id bound into every file (default \"default\")\n"
    "  --chunk-size BYTES   chunk size, 16..16M, K/M suffixes (default 64K)\n";

static uint64_t tree_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'},
        {"key-id", required_argument, NULL, 'i'},
        {"chunk-size", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    const char *keyfile = NULL;
    sai_seal_params_t p = {.excl = true};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:i:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'i': p.key_id = optarg; break;
        case 'c': {
            long long v = sai_cli_parse_size(optarg);
            if (v < SAI_SEAL_CHUNK_MIN || v > SAI_SEAL_CHUNK_MAX)
                return sai_cli_usage_error("seal: --chunk-size must be %u..%u bytes",
                                           SAI_SEAL_CHUNK_MIN, SAI_SEAL_CHUNK_MAX);
            p.chunk_size = (uint32_t)v;
            break;
        }
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("seal: bad option");
        }
    }
    if (keyfile == NULL || argc - optind != 2)
        return sai_cli_usage_error("seal: expected --key KEYFILE IN OUT");
    const char *in = argv[optind], *out = argv[optind + 1];
    if (p.key_id != NULL && !sai_seal_key_id_valid(p.key_id))
        return sai_cli_usage_error("seal: --key-id must be 1..64 characters of A-Z a-z 0-9 . _ : @ / + -");
    sai_error_t err = {0};
    sai_secret_t *key = NULL;
    if (sai_seal_key_load(&key, keyfile, &err) != 0)
        return sai_cli_fail(&err, "seal");
    struct stat st;
    int ret = 0;
    if (stat(in, &st) != 0) {
        ret = sai_cli_fail(NULL, "seal: cannot open %s: %s", in, strerror(errno));
        goto out;
    }
    sai_progress_t prog;
    if (S_ISDIR(st.st_mode)) {
        uint8_t id[SAI_SHA256_LEN];
        char hex[2 * SAI_SHA256_LEN + 1];
        uint64_t total = sai_cli_dir_bytes(in);
        sai_progress_begin(&prog, "seal", total, total > SAI_CLI_PROGRESS_MIN);
        if (sai_dataset_seal_dir(in, out, key->data, &p, &prog, id, &err) != 0) {
            sai_progress_end(&prog);
            ret = sai_cli_fail(&err, "seal %s", in);
            goto out;
        }
        sai_progress_end(&prog);
        sai_hex_encode(hex, id, sizeof id);
        printf("sealed dataset %s\ndataset id: sha256:%s\n", out, hex);
    } else {
        uint64_t sz = tree_size(in);
        sai_progress_begin(&prog, "seal", sz, sz > SAI_CLI_PROGRESS_MIN);
        int rc = sai_seal_file(in, out, key->data, &p, &prog, NULL, &err);
        sai_progress_end(&prog);
        if (rc != 0) {
            ret = sai_cli_fail(&err, "seal %s", in);
            goto out;
        }
    }
out:
    sai_secret_free(key);
    return ret;
}

const sai_cmd_t sai_cmd_seal = {"seal", "seal a file or a directory (dataset)", usage, run};
