/*
 * cmd_keygen.c — `secureai keygen`: a fresh 256-bit data key in a file of
 * mode 0600, never overwriting an existing file.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "secureai/seal.h"

static const char usage[] =
    "usage: secureai keygen --out KEYFILE\n"
    "\n"
    "Write a new random 256-bit data key (32 raw bytes) to KEYFILE with mode\n"
    "0600. Refuses to overwrite an existing file. Keep the key off the machine\n"
    "that stores the sealed data; register it with the key broker.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("keygen: bad option");
        }
    }
    if (out == NULL || optind != argc)
        return sai_cli_usage_error("keygen: expected --out KEYFILE");
    sai_error_t err = {0};
    if (sai_seal_keygen(out, &err) != 0)
        return sai_cli_fail(&err, "keygen");
    fprintf(stderr, "secureai: wrote a new key to %s (mode 0600)\n", out);
    return 0;
}

const sai_cmd_t sai_cmd_keygen = {"keygen", "create a new 256-bit data key file", usage, run};
