/*
 * cmd_unseal.c — `secureai unseal`: authenticate and decrypt a sealed file
 * or a sealed dataset. Output goes to a temp name and is renamed only when
 * every chunk verified; for stdout every chunk is verified before the first
 * byte is written (sai_unseal_file).
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
    "usage: secureai unseal --key KEYFILE IN OUT\n"
    "\n"
    "Authenticate and decrypt IN (a sealed file, or a sealed dataset directory)\n"
    "into OUT, which must not exist. For a file, OUT may be '-' (stdout): every\n"
    "chunk is then authenticated before the first byte is written. A failure\n"
    "names the file and chunk and leaves no output behind. Output files have\n"
    "mode 0600.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *keyfile = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("unseal: bad option");
        }
    }
    if (keyfile == NULL || argc - optind != 2)
        return sai_cli_usage_error("unseal: expected --key KEYFILE IN OUT");
    const char *in = argv[optind], *out = argv[optind + 1];
    sai_error_t err = {0};
    sai_secret_t *key = NULL;
    if (sai_seal_key_load(&key, keyfile, &err) != 0)
        return sai_cli_fail(&err, "unseal");
    struct stat st;
    int ret = 0, rc;
    sai_progress_t prog;
    if (stat(in, &st) != 0) {
        ret = sai_cli_fail(NULL, "unseal: cannot open %s: %s", in, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        if (strcmp(out, "-") == 0) {
            ret = sai_cli_usage_error("unseal: a dataset cannot be written to stdout");
            goto out;
        }
        uint64_t total = sai_cli_dir_bytes(in);   /* ciphertext: close enough */
        sai_progress_begin(&prog, "unseal", total, total > SAI_CLI_PROGRESS_MIN);
        rc = sai_dataset_unseal_dir(in, out, key->data, &prog, &err);
    } else {
        sai_progress_begin(&prog, "unseal", (uint64_t)st.st_size,
                           (uint64_t)st.st_size > SAI_CLI_PROGRESS_MIN);
        rc = sai_unseal_file(in, out, key->data, true, &prog, &err);
    }
    sai_progress_end(&prog);
    if (rc != 0)
        ret = sai_cli_fail(&err, "unseal");
out:
    sai_secret_free(key);
    return ret;
}

const sai_cmd_t sai_cmd_unseal = {"unseal", "authenticate and decrypt a sealed file or dataset",
                                  usage, run};
