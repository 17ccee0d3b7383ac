/*
 * workload.c — the job list every workload source fills, and the synthetic
 * generator (Poisson arrivals, Pareto-tailed runtimes) used for scale runs.
 * Deterministic: all randomness comes from a splitmix64/xoshiro stream seeded
 * by the caller.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/sched.h"

void sai_sched_workload_free(sai_sched_workload_t *w)
{
    free(w->jobs);
    memset(w, 0, sizeof *w);
}

int sai_sched_workload_push(sai_sched_workload_t *w, const sai_sched_job_t *j, sai_error_t *err)
{
    if (w->njobs == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 1024;
        if (nc > (size_t)1 << 28)
            return sai_error_set(err, SAI_ELIMIT, "workload larger than %zu jobs", w->cap);
        sai_sched_job_t *nj = realloc(w->jobs, nc * sizeof *nj);
        if (nj == NULL)
            return sai_error_set(err, SAI_ENOMEM, "out of memory for %zu jobs", nc);
        w->jobs = nj;
        w->cap = nc;
    }
    w->jobs[w->njobs++] = *j;
    return 0;
}

static int job_cmp(const void *a, const void *b)
{
    const sai_sched_job_t *x = a, *y = b;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

void sai_sched_workload_sort(sai_sched_workload_t *w)
{
    if (w->njobs > 1)
        qsort(w->jobs, w->njobs, sizeof *w->jobs, job_cmp);
}

/* xoshiro256** seeded through splitmix64 (public-domain algorithms by
 * Blackman and Vigna; reimplemented here). */
typedef struct rng { uint64_t s[4]; } rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}

/* uniform in (0,1] so log() is safe */
static double rng_unit(rng_t *r) { return ((rng_next(r) >> 11) + 1) * 0x1.0p-53; }

static int64_t rng_range(rng_t *r, int64_t lo, int64_t hi, int64_t step)
{
    if (hi <= lo)
        return lo;
    int64_t n = (hi - lo) / step + 1;
    return lo + (int64_t)(rng_next(r) % (uint64_t)n) * step;
}

double sai_sched_hash_unit(uint64_t seed, const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a over the name */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    uint64_t x = seed ^ h;
    return (splitmix64(&x) >> 11) * 0x1.0p-53;
}

void sai_sched_synth_defaults(sai_sched_synth_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->njobs = 1000;
    o->rate = 0.5;
    o->runtime_min = 60;
    o->runtime_alpha = 1.5;
    o->runtime_max = 86400;
    o->cpu_min = 500; o->cpu_max = 8000;
    o->mem_min = 512; o->mem_max = 16384;
    o->epc_min = 8; o->epc_max = 128;
    o->conf_fraction = 0.25;
    o->pref_fraction = 0.0;
    o->allowed = SAI_SCHED_TEE_ANY_CONF;
}

int sai_sched_synth_generate(const sai_sched_synth_opts_t *o, sai_sched_workload_t *w,
                             sai_error_t *err)
{
    if (o->rate <= 0 || o->runtime_min <= 0 || o->runtime_alpha <= 0)
        return sai_error_set(err, SAI_EINVAL, "synthetic workload: rate, runtime_min and "
                             "runtime_alpha must be positive");
    rng_t r;
    rng_seed(&r, o->seed);
    double t = 0;
    for (size_t i = 0; i < o->njobs; i++) {
        sai_sched_job_t j = {0};
        j.id = i;
        t += -log(rng_unit(&r)) / o->rate;              /* exponential gaps */
        j.arrival = t;
        double rt = o->runtime_min / pow(rng_unit(&r), 1.0 / o->runtime_alpha); /* Pareto */
        if (o->runtime_max > 0 && rt > o->runtime_max)
            rt = o->runtime_max;
        j.runtime = rt;
        j.cpu_milli = rng_range(&r, o->cpu_min, o->cpu_max, 250);
        j.mem_mib = rng_range(&r, o->mem_min, o->mem_max, 256);
        j.epc_mib = rng_range(&r, o->epc_min, o->epc_max, 1);
        double u = rng_unit(&r);
        if (u <= o->conf_fraction)
            j.conf = SAI_CONF_REQUIRED;
        else if (u <= o->conf_fraction + o->pref_fraction)
            j.conf = SAI_CONF_PREFERRED;
        j.allowed = j.conf ? o->allowed : 0;
        j.priority = (int32_t)(rng_next(&r) % 3);
        int rc = sai_sched_workload_push(w, &j, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}
