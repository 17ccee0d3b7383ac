/*
 * cmd_platform.c — `secureai platform init|info`: create or describe the
 * simulated TEE platform (sim ARK -> ASK -> VCEK, PSP sealing root).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai platform init [--dir DIR] [--force]\n"
    "       secureai platform info [--dir DIR]\n"
    "\n"
    "Create (init) or describe (info) the SIMULATED TEE platform: an AMD-style\n"
    "key hierarchy (sim ARK -> sim ASK -> sim VCEK, X.509, ECDSA P-384) and a\n"
    "sealing root. Only the sim PSP signer process ever reads its private keys.\n"
    "\n"
    "  --dir DIR, --platform-dir DIR\n"
    "            platform directory (default: $SECUREAI_PLATFORM_DIR, else\n"
    "            $XDG_DATA_HOME/secureai/sim-platform, else\n"
    "            ~/.local/share/secureai/sim-platform)\n"
    "  --force   replace an existing platform (invalidates its evidence and keys)\n"
    "\n"
    "'info' prints the ARK fingerprint to put in a policy's sim_roots.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "platform-dir", required_argument, NULL, 'd' },
        { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *dir = NULL;
    bool force = false;
    if (argc < 2 || argv[1][0] == '-') {
        if (sai_cli_wants_help(argc, argv)) {
            fputs(usage, stdout);
            return 0;
        }
        return sai_cli_usage_error("platform: expected 'init' or 'info'");
    }
    const char *sub = argv[1];
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "d:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'f': force = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default:  return sai_cli_usage_error("platform: bad option");
        }
    }
    if (optind != argc - 1)
        return sai_cli_usage_error("platform: unexpected argument '%s'", argv[optind + 1]);
    sai_error err;
    sai_error_clear(&err);
    char path[4096];
    if (sai_sim_platform_dir(path, sizeof path, dir, &err) != 0)
        return sai_cli_fail(&err, "platform");
    uint8_t fp[32];
    char hex[65];
    if (strcmp(sub, "init") == 0) {
        if (sai_sim_platform_init(path, force, &err) != 0)
            return sai_cli_fail(&err, "platform init");
        if (sai_sim_platform_ark_fingerprint(path, fp, &err) != 0)
            return sai_cli_fail(&err, "platform init");
        sai_hex_encode(hex, fp, 32);
        printf("created SIMULATED TEE platform in %s\nsim ARK sha256 %s\n", path, hex);
        return 0;
    }
    if (strcmp(sub, "info") == 0) {
        if (sai_sim_platform_ark_fingerprint(path, fp, &err) != 0)
            return sai_cli_fail(&err, "platform info");
        sai_hex_encode(hex, fp, 32);
        printf("platform_dir %s\nkind SIMULATED (not hardware-backed)\nsim_ark_sha256 %s\n", path, hex);
        return 0;
    }
    return sai_cli_usage_error("platform: unknown sub-command '%s'", sub);
}

const sai_cmd_t sai_cmd_platform = { "platform", "create or describe the simulated TEE platform", usage, run };
