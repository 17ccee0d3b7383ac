/*
 * cmd_platform.c — `secureai platform init|info`: create or describe the
 * simulated TEE platform (sim ARK -> ASK -> VCEK, PSP sealing root).
 */
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai platform init [--dir DIR] [--force]\n"
    "       secureai platform info [--dir DIR | --socket PATH]\n"
    "       secureai platform serve [--dir DIR] [--socket PATH] [--user USER]\n"
    "                               [--enclave-user USER] [--enclave-image FILE] [--quiet]\n"
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
    "'info' prints the ARK fingerprint to put in a policy's sim_roots; it asks\n"
    "the running service (--socket, $SECUREAI_PLATFORM_SOCKET, or the default\n"
    "socket when it exists) unless a directory is named.\n"
    "\n"
    "'serve' is the platform service: the only holder of the platform keys and\n"
    "the only launcher of enclaves (docs/threat-model.md). Start it as root: it\n"
    "creates the platform in DIR if missing, gives DIR to --user alone (0700),\n"
    "drops to that user keeping only CAP_SETUID/SETGID/KILL, seals the enclave\n"
    "image into memory, and launches each enclave under --enclave-user with a\n"
    "fixed environment. Runs until SIGTERM.\n"
    "  --socket PATH        listen here (default /run/secureai/platform.sock)\n"
    "  --user USER          the service's own user (default secureai-platform)\n"
    "  --enclave-user USER  the enclaves' user (default secureai-enclave)\n"
    "  --enclave-image FILE the enclave image (default: this program)\n"
    "  --quiet              no log lines\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "platform-dir", required_argument, NULL, 'd' },
        { "force", no_argument, NULL, 'f' },
        { "socket", required_argument, NULL, 's' },
        { "user", required_argument, NULL, 'u' },
        { "enclave-user", required_argument, NULL, 'e' },
        { "enclave-image", required_argument, NULL, 'i' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *dir = NULL, *sock = NULL;
    sai_sim_service_opts_t so = {.ready_fd = -1};
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
        case 's': sock = optarg; break;
        case 'u': so.user = optarg; break;
        case 'e': so.enclave_user = optarg; break;
        case 'i': so.enclave_image = optarg; break;
        case 'q': so.quiet = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default:  return sai_cli_usage_error("platform: bad option");
        }
    }
    if (optind != argc - 1)
        return sai_cli_usage_error("platform: unexpected argument '%s'", argv[optind + 1]);
    sai_error_t err;
    sai_error_clear(&err);
    if (strcmp(sub, "serve") == 0) {
        so.socket_path = sock;
        so.platform_dir = dir;
        if (so.user == NULL && geteuid() == 0)
            so.user = SAI_SIM_SERVICE_USER;
        if (sai_sim_service_serve(&so, &err) != 0)
            return sai_cli_fail(&err, "platform serve");
        return 0;
    }
    /* info asks the running service unless a directory is named. */
    const char *env_sock = getenv("SECUREAI_PLATFORM_SOCKET");
    bool ask_service = sock != NULL || (env_sock != NULL && env_sock[0] != '\0') ||
                       (getenv("SECUREAI_PLATFORM_DIR") == NULL && access(SAI_SIM_SOCKET_DEFAULT, F_OK) == 0);
    if (strcmp(sub, "info") == 0 && dir == NULL && ask_service) {
        sai_sim_connect_opts_t co = {.socket_path = sock};
        sai_sim_conn_t conn;
        sai_sim_platform_info_t in;
        if (sai_sim_connect(&conn, &co, &err) != 0)
            return sai_cli_fail(&err, "platform info");
        int rc = sai_sim_info(&conn, &in, &err);
        sai_sim_disconnect(&conn);
        if (rc != 0)
            return sai_cli_fail(&err, "platform info");
        char hx[65];
        sai_hex_encode(hx, in.ark_sha256, 32);
        char sname[64] = "?", ename[64] = "?";
        struct passwd *pw = getpwuid(in.service_uid);
        if (pw != NULL)
            snprintf(sname, sizeof sname, "%s", pw->pw_name);
        if ((pw = getpwuid(in.enclave_uid)) != NULL)
            snprintf(ename, sizeof ename, "%s", pw->pw_name);
        printf("kind SIMULATED (not hardware-backed)\nsim_ark_sha256 %s\n"
               "platform_key_owner %s (uid %u)\nenclave_user %s (uid %u)\n", hx, sname,
               (unsigned)in.service_uid, ename, (unsigned)in.enclave_uid);
        return 0;
    }
    if (sock != NULL || so.user || so.enclave_user || so.enclave_image || so.quiet)
        return sai_cli_usage_error("platform %s: --socket/--user/--enclave-user/--enclave-image/--quiet "
                                   "belong to 'serve' (and --socket to 'info')", sub);
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

const sai_cmd_t sai_cmd_platform = { "platform", "create, describe or serve the simulated TEE platform", usage, run };
