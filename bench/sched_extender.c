/*
 * sched_extender.c — latency of the kube-scheduler extender over real HTTP
 * on loopback: 5,000 nodes, POST /filter with the full NodeList (what
 * kube-scheduler sends when nodeCacheCapable is false) and with NodeNames
 * only (node cache), and POST /prioritize. Prints p50/p99 and, as the
 * same-run baseline, the same requests with 500 nodes. Throughput: each
 * series also reports requests/s (requests sent back to back, each on a new
 * connection, as kube-scheduler's extender client does per scheduling
 * cycle; the extender serves one request at a time).
 *
 *   build/bench/sched_extender [ROUNDS]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secureai/sched.h"
#include "secureai/util.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static uint16_t port;

static void ready(uint16_t p, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    port = p;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void *serve(void *arg)
{
    sai_error_t err;
    if (sai_extender_serve(arg, "127.0.0.1", 0, ready, NULL, &err) != 0)
        fprintf(stderr, "sched_extender: %s\n", err.msg);
    return NULL;
}

typedef struct buf { char *p; size_t n, cap; } buf_t;

static void put(buf_t *b, const char *s)
{
    size_t l = strlen(s);
    if (b->n + l + 1 > b->cap) {
        b->cap = (b->n + l + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, s, l + 1);
    b->n += l;
}

static const char *pod =
    "\"Pod\":{\"metadata\":{\"name\":\"train-0\",\"labels\":{\"secureai.io/confidentiality\":\"required\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"w\",\"resources\":{\"requests\":{\"cpu\":\"2\",\"memory\":\"4Gi\"},"
    "\"limits\":{\"sgx.intel.com/epc\":\"64Mi\"}}}]}}";

static void make_body(buf_t *b, int nodes, bool full)
{
    char tmp[1024];
    b->n = 0;
    put(b, "{");
    put(b, pod);
    put(b, full ? ",\"Nodes\":{\"items\":[" : ",\"NodeNames\":[");
    for (int i = 0; i < nodes; i++) {
        const char *lbl = i % 4 == 1 ? "\"feature.node.kubernetes.io/cpu-security.sgx.enabled\":\"true\""
                        : i % 4 == 2 ? "\"feature.node.kubernetes.io/cpu-security.sev.snp.enabled\":\"true\""
                        : "\"kubernetes.io/os\":\"linux\"";
        if (full)
            snprintf(tmp, sizeof tmp, "%s{\"metadata\":{\"name\":\"node-%05d\",\"labels\":{%s,"
                     "\"kubernetes.io/hostname\":\"node-%05d\"}},\"status\":{\"allocatable\":"
                     "{\"cpu\":\"%d\",\"memory\":\"%dGi\",\"pods\":\"110\"%s}}}",
                     i ? "," : "", i, lbl, i, 16 + i % 48, 64 + i % 192,
                     i % 4 == 1 ? ",\"sgx.intel.com/epc\":\"188Mi\"" : "");
        else
            snprintf(tmp, sizeof tmp, "%s\"node-%05d\"", i ? "," : "", i);
        put(b, tmp);
    }
    put(b, full ? "]}}" : "]}");
}

static double request(const char *path, const buf_t *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    double t0 = sai_now();
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", path, body->n);
    if (write(fd, hdr, (size_t)hl) != hl) exit(1);
    for (size_t off = 0; off < body->n;) {
        ssize_t w = write(fd, body->p + off, body->n - off);
        if (w <= 0) exit(1);
        off += (size_t)w;
    }
    char rb[65536];
    size_t got = 0;
    ssize_t r;
    bool ok = false;
    while ((r = read(fd, rb, sizeof rb)) > 0) {
        if (got == 0 && strncmp(rb, "HTTP/1.1 200", 12) == 0) ok = true;
        got += (size_t)r;
    }
    close(fd);
    if (!ok) { fprintf(stderr, "sched_extender: %s did not answer 200\n", path); exit(1); }
    return sai_now() - t0;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void series(const char *label, const char *path, const buf_t *body, int rounds, double *p50,
                   double *p99, double *rps)
{
    double *t = calloc((size_t)rounds, sizeof *t);
    double t0 = sai_now();
    for (int i = 0; i < rounds; i++)
        t[i] = request(path, body);
    *rps = rounds / (sai_now() - t0);
    qsort(t, (size_t)rounds, sizeof *t, dcmp);
    *p50 = t[rounds / 2] * 1e3;
    *p99 = t[(int)(rounds * 0.99) < rounds ? (int)(rounds * 0.99) : rounds - 1] * 1e3;
    printf("  %-34s body=%7.2f MiB  p50=%7.2f ms  p99=%7.2f ms  %8.1f requests/s\n", label,
           body->n / 1048576.0, *p50, *p99, *rps);
    free(t);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200;
    if (rounds < 10 || rounds > 100000) rounds = 10;
    sai_extender_t *x;
    sai_error_t err;
    if (sai_extender_new(&x, sai_sched_policy_find("security-first"), &err) != 0) return 1;
    pthread_t th;
    pthread_create(&th, NULL, serve, x);
    pthread_mutex_lock(&mu);
    while (port == 0) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    buf_t full = {0}, names = {0};
    double p50[2][3], p99[2][3], rps[2][3];
    int sizes[2] = { 500, 5000 };
    for (int s = 0; s < 2; s++) {
        char l[3][64];
        make_body(&full, sizes[s], true);
        make_body(&names, sizes[s], false);
        snprintf(l[0], 64, "filter, %d full Node objects", sizes[s]);
        snprintf(l[1], 64, "filter, %d NodeNames (cache)", sizes[s]);
        snprintf(l[2], 64, "prioritize, %d NodeNames (cache)", sizes[s]);
        series(l[0], "/filter", &full, rounds, &p50[s][0], &p99[s][0], &rps[s][0]);
        series(l[1], "/filter", &names, rounds, &p50[s][1], &p99[s][1], &rps[s][1]);
        series(l[2], "/prioritize", &names, rounds, &p50[s][2], &p99[s][2], &rps[s][2]);
    }
    printf("sched_extender: p99 at 5000 nodes: filter(full) %.2f ms, filter(names) %.2f ms, "
           "prioritize %.2f ms; ratio to 500 nodes: %.1fx / %.1fx / %.1fx\n",
           p99[1][0], p99[1][1], p99[1][2], p99[1][0] / p99[0][0], p99[1][1] / p99[0][1],
           p99[1][2] / p99[0][2]);
    printf("sched_extender: filter throughput at 5000 nodes: %.1f requests/s (full Node objects), "
           "%.1f requests/s (NodeNames, node cache)\n", rps[1][0], rps[1][1]);
    sai_extender_stop(x);
    pthread_join(th, NULL);
    sai_extender_free(x);
    free(full.p);
    free(names.p);
    return 0;
}
