/*
 * cmd_report.c — `secureai report RUN_DIR`: write RUN_DIR/report.html, a
 * self-contained page (inline SVG, no network) about one pipeline run.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "secureai/pipeline.h"

static const char usage[] =
    "usage: secureai report RUN_DIR\n"
    "\n"
    "Render RUN_DIR/report.html from RUN_DIR/run.json and RUN_DIR/provenance.json:\n"
    "loss and accuracy curves, throughput, the attestation result, the provenance\n"
    "chain and what the TEE kind protects. The page is self-contained and loads\n"
    "nothing from the network. Prints the path of the page.\n";

static int run(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-')
        return sai_cli_usage_error("report: expected exactly one RUN_DIR");
    sai_error err = {0};
    char out[4096];
    if (sai_report_write(argv[1], out, sizeof out, &err) != 0)
        return sai_cli_fail(&err, "report");
    printf("%s\n", out);
    return 0;
}

const sai_cmd_t sai_cmd_report = {"report", "render a pipeline run as a self-contained HTML page", usage, run};
