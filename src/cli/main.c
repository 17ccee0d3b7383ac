/*
 * main.c — `secureai`: dispatches to the sub-command table (cli.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "secureai/nn.h"

int sai_cli_fail(const sai_error_t *err, const char *what, ...)
{
    va_list ap;
    fputs("secureai: ", stderr);
    va_start(ap, what);
    vfprintf(stderr, what, ap);
    va_end(ap);
    if (err != NULL && err->msg[0] != '\0')
        fprintf(stderr, ": %s", err->msg);
    else if (err != NULL)
        fprintf(stderr, ": %s", sai_strerror(err->code));
    fputc('\n', stderr);
    return 1;
}

int sai_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("secureai: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    return 2;
}

bool sai_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

long long sai_cli_parse_size(const char *s)
{
    char *end = NULL;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k') { mul = 1ull << 10; end++; }
    else if (*end == 'M' || *end == 'm') { mul = 1ull << 20; end++; }
    else if (*end == 'G' || *end == 'g') { mul = 1ull << 30; end++; }
    if (*end == 'i' || *end == 'B') end++;
    if (*end != '\0' || v > (unsigned long long)(1ll << 50) / mul)
        return -1;
    return (long long)(v * mul);
}

int sai_cli_parse_threads(const char *cmd, const char *s, int *out)
{
    long long v = sai_cli_parse_size(s);
    if (v < 0 || v > SAI_NN_THREADS_MAX || (s != NULL && strpbrk(s, "KkMmGgiB") != NULL))
        return sai_cli_usage_error("%s: --threads takes 0..%d (0 = every online CPU), not '%s'", cmd,
                                   SAI_NN_THREADS_MAX, s ? s : "");
    *out = (int)v;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: secureai [--version] [--help] <command> [options]\n"
            "\n"
            "SecureAI runs AI pipelines inside trusted execution environments.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; sai_commands[i] != NULL; i++)
        fprintf(out, "  %-18s %s\n", sai_commands[i]->name, sai_commands[i]->summary);
    fprintf(out, "\n'secureai <command> --help' describes one command.\n");
}

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds only. The platform starts an enclave from an image it
 * cannot read, so the kernel makes it non-dumpable at exec and its
 * /proc/self/environ (where the sanitizer runtime reads ASAN_OPTIONS) is
 * not readable to it: these defaults apply there. LeakSanitizer stops the
 * world with ptrace, which the enclave's filter kills; every other process
 * gets ASAN_OPTIONS from the environment (make asan: detect_leaks=1). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0:abort_on_error=1";
}
#endif

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0) {
            for (size_t i = 0; sai_commands[i] != NULL; i++)
                if (strcmp(sai_commands[i]->name, argv[2]) == 0) {
                    fputs(sai_commands[i]->usage, stdout);
                    return 0;
                }
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("secureai %s\n", SAI_VERSION);
        return 0;
    }
    for (size_t i = 0; sai_commands[i] != NULL; i++) {
        const sai_cmd_t *c = sai_commands[i];
        if (strcmp(c->name, argv[1]) != 0)
            continue;
        if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            fputs(c->usage, stdout);
            return 0;
        }
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "secureai: unknown command '%s' (see 'secureai --help')\n", argv[1]);
    return 2;
}
