/*
 * trace.c — reader for the Alibaba OpenB GPU trace (cluster-trace-gpu-v2023,
 * openb_pod_list_*.csv; see ../shared/traces/README.md). One row is one pod.
 *
 * What becomes a job: every pod that was scheduled (the 897 `Pending` pods
 * never ran, so they have no runtime and are skipped). runtime =
 * deletion_time - scheduled_time; arrival = creation_time, shifted so the
 * first kept pod arrives at 0 and divided by `compress`. CPU and memory are
 * multiplied by `demand_scale` so the trace fits a scaled-down cluster.
 *
 * Which jobs are confidential is a seeded rule, not a guess from the data:
 * u = H(seed, pod name) in [0,1) (FNV-1a + splitmix64); u < conf_fraction
 * -> `required`, u < conf_fraction + pref_fraction -> `preferred`. The same
 * seed and fractions always pick the same pods, whatever the slice. A
 * confidential pod's EPC working set is epc_per_gib MiB per GiB of requested
 * memory, at least 1 MiB and at most epc_max.
 *
 * GPUs are not modelled (no pool has GPUs, and no TEE here offers
 * confidential GPU memory): a pod's num_gpu / gpu_milli request cannot be
 * honoured, so it is not dropped silently either. Each kept pod that asked
 * for a GPU is counted in w->gpu_jobs and replayed as a CPU-only job; the
 * CLI says how many (docs/scheduling.md). The GPU columns are optional.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/sched.h"
#include "secureai/util.h"

enum { C_NAME, C_CPU, C_MEM, C_CREATE, C_DELETE, C_SCHED, C_N };
static const char *const col_names[C_N] = {
    "name", "cpu_milli", "memory_mib", "creation_time", "deletion_time", "scheduled_time"
};

void sai_sched_trace_defaults(sai_sched_trace_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->compress = 1.0;
    o->demand_scale = 1.0;
    o->conf_fraction = 0.25;
    o->allowed = SAI_SCHED_TEE_ANY_CONF;
    o->epc_per_gib = 2.0;
    o->epc_max = 256;
}

/* Split one line in place into at most max fields. */
static size_t split(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (c == NULL)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static bool parse_num(const char *s, double *v)
{
    if (*s == '\0')
        return false;
    char *end;
    *v = strtod(s, &end);
    return *end == '\0' && isfinite(*v) && *v >= 0;
}

typedef struct row { double create, runtime; int64_t cpu, mem; bool gpu; char name[48]; size_t line; } row_t;

static int row_cmp(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->create != y->create)
        return x->create < y->create ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

int sai_sched_trace_parse(const sai_sched_trace_opts_t *o, const char *csv, size_t len,
                          sai_sched_workload_t *w, sai_error_t *err)
{
    int rc = 0;
    row_t *rows = NULL;
    size_t nrows = 0, cap = 0, lineno = 0;
    int idx[C_N], gpu_idx[2] = { -1, -1 };    /* num_gpu, gpu_milli (optional) */
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    memcpy(buf, csv, len);
    buf[len] = '\0';
    if (o->compress <= 0 || o->demand_scale <= 0) {
        rc = sai_error_set(err, SAI_EINVAL, "trace: compress and demand_scale must be positive");
        goto out;
    }
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t ll = strlen(line);
        if (ll > 0 && line[ll - 1] == '\r')
            line[--ll] = '\0';
        char *f[32];
        size_t nf = split(line, f, 32);
        if (lineno == 1) {
            for (int c = 0; c < C_N; c++) {
                idx[c] = -1;
                for (size_t i = 0; i < nf; i++)
                    if (strcmp(f[i], col_names[c]) == 0)
                        idx[c] = (int)i;
                if (idx[c] < 0) {
                    rc = sai_error_set(err, SAI_EFORMAT, "trace line 1: no column `%s` in the header",
                                       col_names[c]);
                    goto out;
                }
            }
            for (size_t i = 0; i < nf; i++) {
                if (strcmp(f[i], "num_gpu") == 0) gpu_idx[0] = (int)i;
                if (strcmp(f[i], "gpu_milli") == 0) gpu_idx[1] = (int)i;
            }
            continue;
        }
        double v[C_N];
        bool ok = true;
        for (int c = 1; c < C_N && ok; c++) {
            if ((size_t)idx[c] >= nf) { ok = false; break; }
            if (c == C_SCHED && f[idx[c]][0] == '\0') { ok = false; break; }  /* never ran */
            if (!parse_num(f[idx[c]], &v[c])) {
                rc = sai_error_set(err, SAI_EFORMAT, "trace line %zu: field `%s`: not a number",
                                   lineno, col_names[c]);
                goto out;
            }
        }
        if (!ok)
            continue;
        if (v[C_DELETE] < v[C_SCHED] || v[C_CPU] > 1e9 || v[C_MEM] > 1e12) {
            rc = sai_error_set(err, SAI_EFORMAT, "trace line %zu: inconsistent times or sizes", lineno);
            goto out;
        }
        if (nrows == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            row_t *nr = realloc(rows, nc * sizeof *nr);
            if (nr == NULL) { rc = sai_error_set(err, SAI_ENOMEM, "out of memory"); goto out; }
            rows = nr;
            cap = nc;
        }
        row_t *r = &rows[nrows++];
        r->create = v[C_CREATE];
        r->runtime = v[C_DELETE] - v[C_SCHED];
        if (r->runtime < 1)
            r->runtime = 1;
        r->cpu = (int64_t)v[C_CPU];
        r->mem = (int64_t)v[C_MEM];
        r->line = lineno;
        r->gpu = false;
        for (int g = 0; g < 2; g++) {
            double gv;
            if (gpu_idx[g] >= 0 && (size_t)gpu_idx[g] < nf && parse_num(f[gpu_idx[g]], &gv) && gv > 0)
                r->gpu = true;
        }
        snprintf(r->name, sizeof r->name, "%s", (size_t)idx[C_NAME] < nf ? f[idx[C_NAME]] : "");
    }
    if (lineno == 0) {
        rc = sai_error_set(err, SAI_EFORMAT, "trace: empty file");
        goto out;
    }
    if (nrows > 1)
        qsort(rows, nrows, sizeof *rows, row_cmp);
    size_t end = nrows;
    if (o->limit > 0 && o->skip + o->limit < end)
        end = o->skip + o->limit;
    double t0 = o->skip < nrows ? rows[o->skip].create : 0;
    for (size_t i = o->skip; i < end; i++) {
        const row_t *r = &rows[i];
        sai_sched_job_t j = {0};
        j.id = w->njobs;
        j.arrival = (r->create - t0) / o->compress;
        j.runtime = r->runtime;
        if (o->runtime_max > 0 && j.runtime > o->runtime_max)
            j.runtime = o->runtime_max;
        j.cpu_milli = (int64_t)llround((double)r->cpu * o->demand_scale);
        j.mem_mib = (int64_t)llround((double)r->mem * o->demand_scale);
        if (j.cpu_milli < 1) j.cpu_milli = 1;
        double u = sai_sched_hash_unit(o->seed, r->name, strlen(r->name));
        if (u < o->conf_fraction)
            j.conf = SAI_CONF_REQUIRED;
        else if (u < o->conf_fraction + o->pref_fraction)
            j.conf = SAI_CONF_PREFERRED;
        if (j.conf != SAI_CONF_NONE) {
            j.allowed = o->allowed;
            double e = ceil((double)j.mem_mib / 1024.0 * o->epc_per_gib);
            j.epc_mib = e < 1 ? 1 : (e > (double)o->epc_max ? o->epc_max : (int64_t)e);
        }
        rc = sai_sched_workload_push(w, &j, err);
        if (rc != 0)
            goto out;
        w->gpu_jobs += r->gpu;
    }
out:
    free(rows);
    free(buf);
    return rc;
}

int sai_sched_trace_load(const sai_sched_trace_opts_t *o, sai_sched_workload_t *w, sai_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sai_read_file(o->path, 256u << 20, &buf, &len, err);
    if (rc != 0)
        return sai_error_prefix(err, "trace %s", o->path);
    rc = sai_sched_trace_parse(o, (const char *)buf, len, w, err);
    free(buf);
    if (rc != 0)
        sai_error_prefix(err, "%s", o->path);
    return rc;
}
