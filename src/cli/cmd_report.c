/*
 * cmd_report.c — `secureai report RUN_DIR [--policy POLICY]`: write
 * RUN_DIR/report.html, a self-contained page (inline SVG, no network) about
 * one pipeline run, showing as verified only what it verified itself.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "secureai/pipeline.h"

static const char usage[] =
    "usage: secureai report RUN_DIR [--policy POLICY] [--max-age DURATION]\n"
    "\n"
    "Render RUN_DIR/report.html. With POLICY (a verify policy, see 'secureai\n"
    "verify --help') the report verifies RUN_DIR/provenance.json and the model\n"
    "file itself, exactly as 'secureai verify' does, shows the verdict it\n"
    "computed, and takes the TEE kind, metrics and per-epoch test curves,\n"
    "model hash, dataset identity and measurement from the verified statement.\n"
    "Everything that comes only from RUN_DIR/run.json (written by the untrusted\n"
    "host) is marked \"host-written (unverified)\". Without POLICY the page says\n"
    "\"not verified: no policy given\" and shows nothing as verified.\n"
    "The page loads nothing from the network. Prints the path of the page and\n"
    "the verdict. Exit 0 when the page was written and (with POLICY) verified;\n"
    "1 when it was not verified (the page is written and says why).\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"policy", required_argument, NULL, 'P'},
                                         {"max-age", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    const char *pol = NULL, *age_s = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'P') pol = optarg;
        else if (c == 'a') age_s = optarg;
        else return sai_cli_usage_error("report: unknown option");
    }
    if (optind != argc - 1)
        return sai_cli_usage_error("report: expected exactly one RUN_DIR");
    sai_error_t err = {0};
    int64_t max_age = 0;
    if (age_s != NULL && sai_parse_duration(&max_age, age_s, &err) != 0)
        return sai_cli_fail(&err, "report: --max-age");
    char out[4096];
    bool ok = false;
    if (sai_report_write_verified(argv[optind], pol, max_age, out, sizeof out, &ok, &err) != 0)
        return sai_cli_fail(&err, "report");
    printf("%s\n", out);
    if (pol == NULL)
        printf("not verified: no policy given (secureai report RUN_DIR --policy POLICY)\n");
    else
        printf("%s\n", ok ? "verified: the provenance statement and the model file" : "NOT VERIFIED (see the page)");
    return pol == NULL || ok ? 0 : 1;
}

const sai_cmd_t sai_cmd_report = {"report", "render a pipeline run as a self-contained HTML page", usage, run};
