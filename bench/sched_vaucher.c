/*
 * sched_vaucher.c — the Vaucher et al. (ICDCS 2018) comparison, repeated
 * over seeds and trace slices with the spread of the results.
 *
 * Scenario: examples/scheduling/vaucher-icdcs18.yaml (2 standard workers
 * with 64 GiB, 2 SGX workers with 8 GiB and 93 MiB usable EPC, FCFS, 300
 * Alibaba pods per run). Run i (i = 0..N-1) uses seed 2018+i (which pods
 * are SGX jobs) and the slice starting at scheduled pod 27 + 230 i (slices
 * overlap by 70 pods; 30 runs cover pods 27..6996 of 7,255).
 *
 *  1. SGX share 0/25/50/75/100 %: mean wait and makespan of the paper's two
 *     strategies (vaucher-binpack, vaucher-spread), each as mean and 95 %
 *     t-interval of the mean over the runs, plus the paired difference
 *     spread - binpack and in how many runs spread waited longer.
 *  2. EPC 32/64/128/256 MiB at 100 % SGX jobs: makespan per size, the ratio
 *     makespan(32) / makespan(256) per run, and how many runs are monotone.
 *
 *   build/bench/sched_vaucher [RUNS] [SPEC]
 * SPEC defaults to $SAI_SOURCE_DIR/examples/scheduling/vaucher-icdcs18.yaml
 * (scripts/bench.sh sets SAI_SOURCE_DIR), else the path relative to the
 * current directory. docs/scheduling.md quotes the output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/sched.h"

#define MAX_RUNS 200

typedef struct stat { double v[MAX_RUNS]; size_t n; } stat_t;

/* two-sided 95 % quantile of Student's t with df degrees of freedom */
static double t975(size_t df)
{
    static const double t[] = { 0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
                                2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093,
                                2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
                                2.042 };
    if (df < sizeof t / sizeof t[0])
        return t[df];
    return 1.96 + 2.4 / (double)df;   /* within 0.003 of the exact value beyond 30 */
}

static double mean(const stat_t *s)
{
    double a = 0;
    for (size_t i = 0; i < s->n; i++)
        a += s->v[i];
    return s->n ? a / (double)s->n : 0;
}

/* half width of the 95 % t-interval of the mean */
static double half(const stat_t *s)
{
    if (s->n < 2)
        return 0;
    double m = mean(s), q = 0;
    for (size_t i = 0; i < s->n; i++)
        q += (s->v[i] - m) * (s->v[i] - m);
    return t975(s->n - 1) * sqrt(q / (double)(s->n - 1)) / sqrt((double)s->n);
}

static void minmax(const stat_t *s, double *lo, double *hi)
{
    *lo = INFINITY; *hi = -INFINITY;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i] < *lo) *lo = s->v[i];
        if (s->v[i] > *hi) *hi = s->v[i];
    }
}

static const char *hm(double s, char *b, size_t n)
{
    long m = lround(s / 60);
    snprintf(b, n, "%ldh%02ld", m / 60, m % 60);
    return b;
}

static int run(const sai_sched_spec_t *base, size_t i, double share, int64_t epc,
               const char *policy, sai_sched_metrics_t *m)
{
    sai_sched_spec_t s = *base;
    sai_sched_pool_t pools[8];
    sai_error_t err = {0};
    if (s.cluster.npools > 8)
        return -1;
    memcpy(pools, base->cluster.pools, s.cluster.npools * sizeof *pools);
    for (size_t p = 0; p < s.cluster.npools; p++)
        if (epc > 0 && pools[p].tee == SAI_SCHED_TEE_SGX)
            pools[p].epc_mib = epc;
    s.cluster.pools = pools;
    s.trace.seed = 2018 + i;
    s.trace.skip = 27 + 230 * i;
    s.trace.conf_fraction = share;
    sai_sched_workload_t w = {0};
    int rc = sai_sched_trace_load(&s.trace, &w, &err);
    if (rc == 0) {
        sai_sched_opts_t o = {0};
        o.policy = sai_sched_policy_find(policy);
        rc = o.policy ? sai_sched_simulate(&s.cluster, &w, &o, m, &err) : -1;
    }
    if (rc != 0)
        fprintf(stderr, "sched_vaucher: run %zu: %s\n", i, err.msg);
    else if (m->violations || m->invariant_failures) {
        fprintf(stderr, "sched_vaucher: run %zu: violations or invariant failures\n", i);
        rc = -1;
    }
    sai_sched_workload_free(&w);
    return rc;
}

int main(int argc, char **argv)
{
    size_t runs = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 30;
    char path[1024];
    const char *src = getenv("SAI_SOURCE_DIR");
    if (argc > 2)
        snprintf(path, sizeof path, "%s", argv[2]);
    else
        snprintf(path, sizeof path, "%s/examples/scheduling/vaucher-icdcs18.yaml", src ? src : ".");
    if (runs < 2 || runs > MAX_RUNS || 27 + 230 * (runs - 1) + 300 > 7255) {
        fprintf(stderr, "usage: sched_vaucher [RUNS 2..30] [SPEC]\n");
        return 2;
    }
    sai_sched_spec_t spec;
    sai_error_t err = {0};
    sai_sched_spec_init(&spec);
    if (sai_sched_spec_load(&spec, path, &err) != 0) {
        fprintf(stderr, "sched_vaucher: %s\n", err.msg);
        return 1;
    }
    static const char *const pol[2] = { "vaucher-binpack", "vaucher-spread" };
    static const double shares[] = { 0, 0.25, 0.5, 0.75, 1 };
    static const int64_t epcs[] = { 32, 64, 128, 256 };
    char b1[48], b2[48];
    int rc = 0;

    printf("Vaucher et al. scenario, %zu runs (seed 2018+i, slice at pod 27+230i); "
           "mean [95%% t-interval of the mean]\n\n", runs);
    printf("| SGX jobs | binpack wait (s) | spread wait (s) | spread - binpack (s) | spread waits longer "
           "| binpack makespan | spread makespan |\n| --- | --- | --- | --- | --- | --- | --- |\n");
    for (size_t k = 0; k < sizeof shares / sizeof shares[0]; k++) {
        stat_t wait[2] = {0}, span[2] = {0}, diff = {0};
        size_t longer = 0;
        for (size_t i = 0; i < runs; i++) {
            for (int p = 0; p < 2; p++) {
                sai_sched_metrics_t m;
                if (run(&spec, i, shares[k], 0, pol[p], &m) != 0) { rc = 1; goto out; }
                wait[p].v[wait[p].n++] = m.wait_mean;
                span[p].v[span[p].n++] = m.makespan;
                sai_sched_metrics_free(&m);
            }
            diff.v[diff.n++] = wait[1].v[i] - wait[0].v[i];
            longer += wait[1].v[i] > wait[0].v[i];
        }
        printf("| %.0f%% | %.1f [%.1f, %.1f] | %.1f [%.1f, %.1f] | %+.1f [%+.1f, %+.1f] | %zu of %zu "
               "| %s ± %.0f min | %s ± %.0f min |\n",
               shares[k] * 100, mean(&wait[0]), mean(&wait[0]) - half(&wait[0]),
               mean(&wait[0]) + half(&wait[0]), mean(&wait[1]), mean(&wait[1]) - half(&wait[1]),
               mean(&wait[1]) + half(&wait[1]), mean(&diff), mean(&diff) - half(&diff),
               mean(&diff) + half(&diff), longer, runs, hm(mean(&span[0]), b1, sizeof b1),
               half(&span[0]) / 60, hm(mean(&span[1]), b2, sizeof b2), half(&span[1]) / 60);
    }

    printf("\nEPC size, 100%% SGX jobs: makespan mean [95%% interval]; paper 4h47 / 2h47 / 1h22 / 1h\n\n");
    for (int p = 0; p < 2; p++) {
        stat_t span[4] = {{{0}, 0}}, ratio = {{0}, 0};
        size_t mono = 0;
        for (size_t i = 0; i < runs; i++) {
            for (size_t e = 0; e < 4; e++) {
                sai_sched_metrics_t m;
                if (run(&spec, i, 1.0, epcs[e], pol[p], &m) != 0) { rc = 1; goto out; }
                span[e].v[span[e].n++] = m.makespan;
                sai_sched_metrics_free(&m);
            }
            ratio.v[ratio.n++] = span[0].v[i] / span[3].v[i];
            mono += span[0].v[i] >= span[1].v[i] && span[1].v[i] >= span[2].v[i] &&
                    span[2].v[i] >= span[3].v[i];
        }
        printf("%s:", pol[p]);
        for (size_t e = 0; e < 4; e++) {
            char lo[48], hi[48];
            printf(" %lld MiB %s [%s, %s]%s", (long long)epcs[e], hm(mean(&span[e]), b1, sizeof b1),
                   hm(mean(&span[e]) - half(&span[e]), lo, sizeof lo),
                   hm(mean(&span[e]) + half(&span[e]), hi, sizeof hi), e < 3 ? ";" : "\n");
        }
        double lo, hi;
        minmax(&ratio, &lo, &hi);
        printf("  32/256 MiB ratio %.2f [%.2f, %.2f] (runs %.2f..%.2f; paper 4.78); monotone in %zu of %zu\n",
               mean(&ratio), mean(&ratio) - half(&ratio), mean(&ratio) + half(&ratio), lo, hi, mono, runs);
    }
out:
    sai_sched_spec_free(&spec);
    return rc;
}
