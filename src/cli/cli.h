/*
 * cli.h — the `secureai` program's sub-command table and shared helpers.
 *
 * Each sub-command lives in src/cli/cmd_<name>.c and defines
 *     const sai_cmd_t sai_cmd_<name> = { "name", "one-line summary", usage, run };
 * CMake generates the table from the file names (src/cli/commands.h.in), so
 * adding a command never touches another file. `run` gets argv with argv[0]
 * = the command name, as getopt_long expects. `secureai NAME --help` prints
 * `usage`; a command with sub-commands of its own handles their --help.
 */
#ifndef SECUREAI_CLI_H
#define SECUREAI_CLI_H

#include <stdbool.h>

#include "secureai/common.h"

typedef struct sai_cmd {
    const char *name;
    const char *summary;
    const char *usage;      /* full help text, starting with "usage: secureai ..." */
    int (*run)(int argc, char **argv);
} sai_cmd_t;

/* Print "secureai: <what>: <err->msg>" on stderr and return 1 (the exit code). */
int sai_cli_fail(const sai_error_t *err, const char *what, ...) SAI_PRINTF(2, 3);
/* Print "secureai: <message>" on stderr and return 2 (usage error). */
int sai_cli_usage_error(const char *fmt, ...) SAI_PRINTF(1, 2);
/* True when argv[1..] asks for help (-h or --help anywhere before "--"). */
bool sai_cli_wants_help(int argc, char **argv);
/* Parse a non-negative integer with an optional K/M/G suffix; -1 on error. */
long long sai_cli_parse_size(const char *s);
/* The one --threads parser for every command: 0 (every online CPU) up to
 * SAI_NN_THREADS_MAX (secureai/nn.h). On success stores the value and
 * returns 0; otherwise prints "secureai: <cmd>: --threads takes ..." and
 * returns 2 (the usage exit code) for the caller to return. */
int sai_cli_parse_threads(const char *cmd, const char *s, int *out);

#endif
