/*
 * kbs_load.c — load benchmark of the key broker service on loopback.
 *
 *   kbs_load [SECONDS=60] [CLIENTS=4] [fresh]
 *
 * Starts `secureai kbs serve` (TLS, 2 threads) as a child process with a
 * fresh sim platform, registers one resource, then runs CLIENTS threads,
 * each with its own sim TEE and keep-alive TLS connection, doing the full
 * flow (auth -> sim evidence -> attest -> resource -> unwrap) in a loop for
 * SECONDS. Prints flows/s, p50/p99 latency, the server's RSS at the start
 * and end of the run, and, as the same-run baseline, the single-client rate
 * measured first (ratio = concurrent / single). With `fresh`, every flow
 * opens a new TLS connection (a full handshake, as one run of `secureai kbs
 * get-resource` does). Bounded in clients (<= 64) and time (<= 600 s);
 * loopback only.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kbs/kbs_internal.h"
#include "secureai/kbs.h"
#include "secureai/tee.h"
#include "secureai/util.h"

#ifndef SAI_CLI_PATH
#define SAI_CLI_PATH NULL
#endif

typedef struct worker {
    sai_kbs_attester_t att;
    const char *url, *fp, *resource;
    double      until;
    bool        fresh;      /* a new connection (TLS handshake) per flow */
    double     *lat;
    size_t      n, cap;
    int         errors;
    char        first_error[SAI_ERROR_MAX];
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    sai_kbs_client_t *c = NULL;
    sai_error_t err;
    sai_kbs_client_opts_t o = {.url = w->url, .pin_sha256 = w->fp, .timeout_s = 10};
    if (sai_kbs_client_new(&c, &o, &err) != 0) {
        snprintf(w->first_error, sizeof w->first_error, "%s", err.msg);
        w->errors++;
        return NULL;
    }
    while (sai_now() < w->until) {
        double t0 = sai_now();
        sai_secret_t *s = NULL;
        if (w->fresh) {
            sai_kbs_client_free(c);
            c = NULL;
            if (sai_kbs_client_new(&c, &o, &err) != 0) {
                if (w->errors++ == 0)
                    snprintf(w->first_error, sizeof w->first_error, "%s", err.msg);
                break;
            }
        }
        if (sai_kbs_client_get_resource(c, &w->att, w->resource, &s, NULL, &err) != 0) {
            if (w->errors++ == 0)
                snprintf(w->first_error, sizeof w->first_error, "%s", err.msg);
            continue;
        }
        sai_secret_free(s);
        if (w->n < w->cap)
            w->lat[w->n++] = sai_now() - t0;
    }
    sai_kbs_client_free(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* utime + stime of a process, seconds. */
static double cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

typedef struct result {
    double flows_per_s, p50_ms, p99_ms;
    size_t flows;
    int    errors;
} result;

static result run(const char *url, const char *fp, int clients, double seconds, bool fresh)
{
    worker *w = calloc((size_t)clients, sizeof *w);
    pthread_t *th = calloc((size_t)clients, sizeof *th);
    /* Each sim TEE forks its PSP signer, which inherits the descriptors open
     * at that moment (the PSPs made earlier): open them one by one here and
     * close them in reverse order, so every PSP sees its EOF. */
    for (int i = 0; i < clients; i++) {
        sai_error_t err;
        if (sai_kbs_attester_open(&w[i].att, "sim", &err) != 0) {
            fprintf(stderr, "kbs_load: sim TEE: %s\n", err.msg);
            exit(1);
        }
    }
    double start = sai_now(), until = start + seconds;
    for (int i = 0; i < clients; i++) {
        sai_kbs_attester_t att = w[i].att;
        w[i] = (worker){.att = att, .url = url, .fp = fp, .resource = "bench/key/k1",
                        .until = until, .fresh = fresh, .cap = (size_t)(seconds * 5000) + 16};
        w[i].lat = malloc(w[i].cap * sizeof(double));
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += w[i].n;
        errors += w[i].errors;
        if (w[i].errors)
            fprintf(stderr, "kbs_load: client %d: %d errors, first: %s\n", i, w[i].errors, w[i].first_error);
    }
    double elapsed = sai_now() - start;
    for (int i = clients - 1; i >= 0; i--)
        sai_kbs_attester_close(&w[i].att);
    double *all = malloc((total + 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
        k += w[i].n;
        free(w[i].lat);
    }
    qsort(all, total, sizeof(double), cmp_double);
    result r = {.flows = total, .errors = errors, .flows_per_s = (double)total / elapsed};
    if (total) {
        r.p50_ms = all[total / 2] * 1e3;
        r.p99_ms = all[(size_t)((double)total * 0.99)] * 1e3;
    }
    free(all);
    free(w);
    free(th);
    return r;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 60;
    int clients = argc > 2 ? atoi(argv[2]) : 4;
    bool fresh = argc > 3 && strcmp(argv[3], "fresh") == 0;
    if (seconds < 1 || seconds > 600 || clients < 1 || clients > 64 ||
        (argc > 3 && !fresh)) {
        fprintf(stderr, "usage: kbs_load [SECONDS 1..600] [CLIENTS 1..64] [fresh]\n");
        return 2;
    }
    const char *cli = getenv("SAI_CLI");
    char clibuf[600];
    if (cli == NULL) {
        /* build/bench/kbs_load -> build/secureai */
        ssize_t n = readlink("/proc/self/exe", clibuf, sizeof clibuf - 20);
        if (n <= 0)
            return 1;
        clibuf[n] = '\0';
        char *slash = strrchr(clibuf, '/');
        *slash = '\0';
        slash = strrchr(clibuf, '/');
        snprintf(slash, sizeof clibuf - (size_t)(slash - clibuf), "/secureai");
        cli = clibuf;
    }
    signal(SIGPIPE, SIG_IGN);
    sai_error_t err;
    char dir[] = "/tmp/kbs-bench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char plat[128], data[128], pol[128], portfile[128], cert[160], tokpath[160];
    snprintf(plat, sizeof plat, "%s/platform", dir);
    snprintf(data, sizeof data, "%s/kbs", dir);
    snprintf(pol, sizeof pol, "%s/attestation.yaml", dir);
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    setenv("SECUREAI_PLATFORM_DIR", plat, 1);
    const char *yaml = "allowed_tee: [sim]\nallow_simulated: true\n";
    if (sai_sim_platform_init(plat, false, &err) != 0 ||
        sai_write_file_atomic(pol, yaml, strlen(yaml), 0600, false, &err) != 0) {
        fprintf(stderr, "kbs_load: %s\n", err.msg);
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(cli, cli, "kbs", "serve", "--data-dir", data, "--port", "0", "--port-file", portfile,
              "--attestation-policy", pol, "--rate", "0", "--threads", "2", "--quiet", (char *)NULL);
        _exit(127);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    for (int i = 0; i < 400 && sai_read_file(portfile, 64, &buf, &len, NULL) != 0; i++)
        usleep(25 * 1000);
    if (buf == NULL) {
        fprintf(stderr, "kbs_load: the server did not start (%s)\n", cli);
        kill(pid, SIGKILL);
        return 1;
    }
    char url[64], fp[65], hdr[200], body[600], meas[97];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", atoi((char *)buf));
    free(buf);
    snprintf(cert, sizeof cert, "%s/tls.crt", data);
    snprintf(tokpath, sizeof tokpath, "%s/admin.token", data);
    uint8_t m[48];
    if (sai_kbs__cert_fingerprint(cert, fp, &err) != 0 ||
        sai_read_file(tokpath, 4096, &buf, &len, &err) != 0 ||
        sai_sim_launch_measurement(m, "/proc/self/exe", NULL, NULL, &err) != 0) {
        fprintf(stderr, "kbs_load: %s\n", err.msg);
        kill(pid, SIGKILL);
        return 1;
    }
    sai_hex_encode(meas, m, 48);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", (char *)buf);
    free(buf);
    snprintf(body, sizeof body, "{\"secret\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\","
             "\"policy\":{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"]}}", meas);
    sai_kbs_client_opts_t o = {.url = url, .pin_sha256 = fp};
    sai_kbs_client_t *c = NULL;
    int status = 0;
    char *resp = NULL;
    if (sai_kbs_client_new(&c, &o, &err) != 0 ||
        sai_kbs_client_request(c, "PUT", "/kbs/v0/admin/resource/bench/key/k1", hdr, body,
                               strlen(body), &status, &resp, &len, &err) != 0 || status != 201) {
        fprintf(stderr, "kbs_load: cannot register the resource: %s\n", status ? resp : err.msg);
        kill(pid, SIGKILL);
        return 1;
    }
    free(resp);
    sai_kbs_client_free(c);

    double base_s = seconds < 10 ? 2 : 5;
    result base = run(url, fp, 1, base_s, fresh);
    long rss0 = rss_kb(pid);
    double cpu0 = cpu_s(pid), self0 = cpu_s(getpid());
    result r = run(url, fp, clients, seconds, fresh);
    double cpu1 = cpu_s(pid), self1 = cpu_s(getpid());
    long rss1 = rss_kb(pid);
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("kbs_load: baseline 1 client, %.0f s: %.1f flows/s, p50 %.2f ms, p99 %.2f ms\n", base_s,
           base.flows_per_s, base.p50_ms, base.p99_ms);
    printf("kbs_load: %d clients%s, %.0f s: %zu flows, %d errors, %.1f flows/s, p50 %.2f ms, p99 %.2f ms\n",
           clients, fresh ? " (new TLS connection per flow)" : "", seconds, r.flows, r.errors, r.flows_per_s, r.p50_ms, r.p99_ms);
    printf("kbs_load: ratio vs 1 client %.2fx; server RSS %ld KiB at start, %ld KiB at end (%+ld KiB)\n",
           base.flows_per_s > 0 ? r.flows_per_s / base.flows_per_s : 0, rss0, rss1, rss1 - rss0);
    if (r.flows) {
        double srv = (cpu1 - cpu0) * 1e3 / (double)r.flows;
        printf("kbs_load: CPU per flow: server %.2f ms, clients %.2f ms (+ sim PSP signer "
               "processes); server-bound capacity on 2 free cores ~%.0f flows/s\n", srv,
               (self1 - self0) * 1e3 / (double)r.flows, srv > 0 ? 2000.0 / srv : 0);
    }
    printf("kbs_load: goal >= 500 flows/s with p99 < 20 ms: %s\n",
           r.flows_per_s >= 500 && r.p99_ms < 20 ? "met" : "not met on this machine");
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "kbs_load: cannot remove %s\n", dir);
    return r.errors == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
