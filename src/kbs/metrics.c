/*
 * metrics.c — counters and a latency histogram for GET /metrics, in the
 * Prometheus text exposition format (version 0.0.4). Fixed label sets (route,
 * status class, event, verdict), so the memory is fixed; one mutex.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"

static const char *k_routes[] = {"auth", "attest", "resource", "admin", "metrics", "healthz", "other"};
#define NROUTES 7
static const double k_le[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5};
#define NLE 12
static const char *k_events[] = {"attest", "release", "admin", "register"};
#define NEVENTS 4
static const char *k_gauges[] = {"connections", "sessions", "handshakes", "connections_refused",
                                 "sessions_evicted"};
#define NGAUGES 5

struct sai_kbs_metrics_t {
    pthread_mutex_t mu;
    uint64_t req[NROUTES][6];          /* status class 0..5 (1xx..5xx; 0 other) */
    uint64_t hist[NROUTES][NLE + 1];
    double   sum[NROUTES];
    uint64_t count[NROUTES];
    uint64_t verdict[NEVENTS][2];
    double   gauge[NGAUGES];
};

int sai_kbs__metrics_new(sai_kbs_metrics_t **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return SAI_ENOMEM;
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

void sai_kbs__metrics_free(sai_kbs_metrics_t *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int route_ix(const char *route)
{
    for (int i = 0; i < NROUTES; i++)
        if (strcmp(route, k_routes[i]) == 0)
            return i;
    return NROUTES - 1;
}

void sai_kbs__metrics_request(sai_kbs_metrics_t *m, const char *route, int status, double seconds)
{
    int r = route_ix(route);
    int cls = status >= 100 && status < 600 ? status / 100 : 0;
    pthread_mutex_lock(&m->mu);
    m->req[r][cls]++;
    int b = 0;
    while (b < NLE && seconds > k_le[b])
        b++;
    m->hist[r][b]++;
    m->sum[r] += seconds;
    m->count[r]++;
    pthread_mutex_unlock(&m->mu);
}

void sai_kbs__metrics_verdict(sai_kbs_metrics_t *m, const char *event, bool allowed)
{
    for (int i = 0; i < NEVENTS; i++)
        if (strcmp(event, k_events[i]) == 0) {
            pthread_mutex_lock(&m->mu);
            m->verdict[i][allowed ? 1 : 0]++;
            pthread_mutex_unlock(&m->mu);
        }
}

void sai_kbs__metrics_gauge(sai_kbs_metrics_t *m, const char *name, double v)
{
    for (int i = 0; i < NGAUGES; i++)
        if (strcmp(name, k_gauges[i]) == 0) {
            pthread_mutex_lock(&m->mu);
            m->gauge[i] = v;
            pthread_mutex_unlock(&m->mu);
        }
}

char *sai_kbs__metrics_render(sai_kbs_metrics_t *m)
{
    size_t cap = 32 * 1024, n = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
#define EMIT(...) do { int w_ = snprintf(out + n, cap - n, __VA_ARGS__); \
                       if (w_ > 0 && (size_t)w_ < cap - n) n += (size_t)w_; } while (0)
    pthread_mutex_lock(&m->mu);
    EMIT("# HELP sai_kbs_requests_total HTTP requests by route and status class.\n"
         "# TYPE sai_kbs_requests_total counter\n");
    for (int r = 0; r < NROUTES; r++)
        for (int c = 1; c < 6; c++)
            if (m->req[r][c])
                EMIT("sai_kbs_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n", k_routes[r], c,
                     (unsigned long long)m->req[r][c]);
    EMIT("# HELP sai_kbs_verdicts_total Attestation, release and admin decisions.\n"
         "# TYPE sai_kbs_verdicts_total counter\n");
    for (int e = 0; e < NEVENTS; e++)
        for (int v = 0; v < 2; v++)
            EMIT("sai_kbs_verdicts_total{event=\"%s\",verdict=\"%s\"} %llu\n", k_events[e],
                 v ? "allow" : "deny", (unsigned long long)m->verdict[e][v]);
    EMIT("# HELP sai_kbs_request_duration_seconds Request latency.\n"
         "# TYPE sai_kbs_request_duration_seconds histogram\n");
    for (int r = 0; r < NROUTES; r++) {
        if (m->count[r] == 0)
            continue;
        uint64_t acc = 0;
        for (int b = 0; b < NLE; b++) {
            acc += m->hist[r][b];
            EMIT("sai_kbs_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                 k_routes[r], k_le[b], (unsigned long long)acc);
        }
        EMIT("sai_kbs_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
             k_routes[r], (unsigned long long)m->count[r]);
        EMIT("sai_kbs_request_duration_seconds_sum{route=\"%s\"} %.6f\n", k_routes[r], m->sum[r]);
        EMIT("sai_kbs_request_duration_seconds_count{route=\"%s\"} %llu\n", k_routes[r],
             (unsigned long long)m->count[r]);
    }
    for (int g = 0; g < NGAUGES; g++)
        EMIT("# TYPE sai_kbs_%s gauge\nsai_kbs_%s %.0f\n", k_gauges[g], k_gauges[g], m->gauge[g]);
    pthread_mutex_unlock(&m->mu);
#undef EMIT
    return out;
}
