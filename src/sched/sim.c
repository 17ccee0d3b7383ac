/*
 * sim.c — the discrete-event simulator core.
 *
 * Time only moves by popping the event heap (arrivals and completions;
 * ties in arrival order), so a run is a pure function of the cluster, the
 * workload and the policy: no wall clock, no sleeps, no threads. Only one
 * arrival event is outstanding at a time (the workload is sorted), which
 * keeps the heap at O(running jobs).
 *
 * Queue: FCFS by default (a blocked head blocks everyone, as in Vaucher et
 * al.); optionally a priority queue (higher priority, then arrival), and
 * optional backfilling (up to `backfill_window` jobs behind a blocked head
 * may start if they fit now; no reservation for the head, i.e. aggressive
 * backfilling). A job that no eligible pool could hold even when empty is
 * counted `unschedulable` at arrival instead of blocking the queue forever.
 *
 * Invariants: after every allocation and release the touched node is
 * checked (free capacity within [0, capacity] on CPU, memory, EPC and CVM
 * slots); with `check_all` every node is swept after every event (tests).
 * A `required` job that starts without an allowed TEE is a violation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"
#include "secureai/util.h"

enum { EV_ARRIVAL = 0, EV_FINISH = 1 };

typedef struct running {
    uint32_t node;
    sai_sched_demand_t d;
} running_t;

typedef struct sim {
    const sai_sched_cluster_t *c;
    const sai_sched_workload_t *w;
    const sai_sched_opts_t *o;
    const sai_sched_policy_t *pol;
    sai_sched_node_t *nodes;
    uint32_t nnodes;
    uint32_t *pool_base;
    sai_pool_index_t *idx;
    running_t *run;
    double *wait, *slow;
    uint32_t *queue;            /* binary heap of job indices */
    size_t qn;
    sai_sched_heap_t ev;
    double now, next_sample;
    uint64_t running;
    int64_t *pool_cpu_used;
    double *pool_cpu_s, *pool_mem_s, *pool_epc_s;
    uint64_t *pool_jobs;
    sai_sched_metrics_t *m;
    double last_finish;
} sim_t;

/* ---- queue ------------------------------------------------------------ */
static bool q_less(const sim_t *s, uint32_t a, uint32_t b)
{
    if (s->o->priority_queue) {
        int32_t pa = s->w->jobs[a].priority, pb = s->w->jobs[b].priority;
        if (pa != pb)
            return pa > pb;
    }
    return a < b;   /* the workload is sorted by arrival */
}

static void q_push(sim_t *s, uint32_t j)
{
    size_t i = s->qn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!q_less(s, j, s->queue[p]))
            break;
        s->queue[i] = s->queue[p];
        i = p;
    }
    s->queue[i] = j;
}

static uint32_t q_pop(sim_t *s)
{
    uint32_t top = s->queue[0], last = s->queue[--s->qn];
    size_t i = 0, n = s->qn;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint32_t best = last;
        if (l < n && q_less(s, s->queue[l], best)) { m = l; best = s->queue[l]; }
        if (r < n && q_less(s, s->queue[r], best)) m = r;
        if (m == i)
            break;
        s->queue[i] = s->queue[m];
        i = m;
    }
    if (n > 0)
        s->queue[i] = last;
    return top;
}

/* ---- invariants ------------------------------------------------------- */
static bool node_ok(const sim_t *s, uint32_t k)
{
    const sai_sched_node_t *n = &s->nodes[k];
    const sai_sched_pool_t *p = &s->c->pools[n->pool];
    int64_t epc_cap = p->tee == SAI_SCHED_TEE_SGX ? p->epc_mib : 0;
    return n->cpu_free >= 0 && n->cpu_free <= p->cpu_milli && n->mem_free >= 0 &&
           n->mem_free <= p->mem_mib && n->epc_free >= 0 && n->epc_free <= epc_cap &&
           n->cvm_free >= 0 && n->cvm_free <= p->cvm_slots;
}

static void check_node(sim_t *s, uint32_t k)
{
    if (!node_ok(s, k))
        s->m->invariant_failures++;
}

/* ---- placement -------------------------------------------------------- */
/* Choose a node for job j: per eligible pool the index's best node, then
 * the lowest (pool rank, -key) across pools. Returns the node or -1. */
static int64_t choose(sim_t *s, uint32_t j, sai_sched_demand_t *out)
{
    const sai_sched_job_t *job = &s->w->jobs[j];
    int64_t best = -1;
    double best_rank = 0, best_key = 0;
    for (size_t p = 0; p < s->c->npools; p++) {
        if (!sai_sched_pool_eligible(s->c, s->pol, p, job))
            continue;
        double r = s->pol->pool_rank(s->c, p, job);
        if (r < 0 || (best >= 0 && r > best_rank))
            continue;
        sai_sched_demand_t d;
        sai_sched_demand_on(s->c, s->pol, p, job, NULL, &d);
        int64_t k, score = 0;
        if (s->pol->pick == SAI_PICK_FIT)   /* kube-scheduler's NodeResourcesFit score */
            k = s->o->linear_scan
                    ? sai_sched__pool_index_scan_fit(&s->idx[p], s->nodes, &d, s->pol->fit, s->c, &score)
                    : sai_sched__pool_index_query_fit(&s->idx[p], s->nodes, &d, s->pol->fit, s->c, &score);
        else
            k = s->o->linear_scan ? sai_sched__pool_index_scan(&s->idx[p], s->nodes, &d)
                                  : sai_sched__pool_index_query(&s->idx[p], s->nodes, &d);
        if (k < 0)
            continue;
        double key = s->pol->pick == SAI_PICK_FIT ? (double)score
                                                  : sai_sched_node_key(s->c, s->pol, &s->nodes[k], job, &d);
        if (best < 0 || r < best_rank || key > best_key) {
            best = k; best_rank = r; best_key = key;
        }
    }
    if (best >= 0)
        sai_sched_demand_on(s->c, s->pol, s->nodes[best].pool, job, &s->nodes[best], out);
    return best;
}

static int start(sim_t *s, uint32_t j, uint32_t k, const sai_sched_demand_t *d)
{
    const sai_sched_job_t *job = &s->w->jobs[j];
    sai_sched_node_t *n = &s->nodes[k];
    uint32_t p = n->pool;
    n->cpu_free -= d->cpu; n->mem_free -= d->mem; n->epc_free -= d->epc; n->cvm_free -= d->cvm;
    n->running++;
    sai_sched__pool_index_update(&s->idx[p], s->nodes, k);
    check_node(s, k);
    s->run[j].node = k;
    s->run[j].d = *d;
    double rt = sai_sched_runtime_on(s->c, p, job, d);
    double wait = s->now - job->arrival;
    s->wait[j] = wait;
    if (s->o->job_wait != NULL)
        s->o->job_wait[j] = wait;
    s->slow[j] = (wait + rt) / (job->runtime > 0 ? job->runtime : 1);
    if (job->conf == SAI_CONF_REQUIRED && !d->uses_tee)
        s->m->violations++;
    if (d->uses_tee)
        s->m->on_tee++;
    if (d->uses_tee && s->c->pools[p].tee == SAI_SCHED_TEE_SGX && job->epc_mib > d->epc)
        s->m->paged++;
    s->pool_cpu_used[p] += d->cpu;
    s->pool_cpu_s[p] += (double)d->cpu * rt;
    s->pool_mem_s[p] += (double)d->mem * rt;
    s->pool_epc_s[p] += (double)d->epc * rt;
    s->pool_jobs[p]++;
    const sai_sched_pool_t *pl = &s->c->pools[p];
    double share = fmax((double)d->cpu / (double)pl->cpu_milli, (double)d->mem / (double)pl->mem_mib);
    s->m->cost_used += pl->cost_per_hour * share * rt / 3600.0;
    s->running++;
    return sai_sched_heap_push(&s->ev, s->now + rt, EV_FINISH, j);
}

static void finish(sim_t *s, uint32_t j)
{
    running_t *r = &s->run[j];
    sai_sched_node_t *n = &s->nodes[r->node];
    n->cpu_free += r->d.cpu; n->mem_free += r->d.mem; n->epc_free += r->d.epc;
    n->cvm_free += r->d.cvm;
    n->running--;
    s->pool_cpu_used[n->pool] -= r->d.cpu;
    sai_sched__pool_index_update(&s->idx[n->pool], s->nodes, r->node);
    check_node(s, r->node);
    s->running--;
    s->m->completed++;
    s->last_finish = s->now;
}

/* Start what can start now. Returns <0 on allocation failure. */
static int schedule(sim_t *s)
{
    uint32_t held[256];
    size_t nheld = 0;
    size_t window = s->o->backfill ? (s->o->backfill_window ? s->o->backfill_window : 32) : 0;
    if (window > 255)
        window = 255;
    int rc = 0;
    while (s->qn > 0) {
        uint32_t j = s->queue[0];
        sai_sched_demand_t d;
        int64_t k = choose(s, j, &d);
        if (k >= 0) {
            q_pop(s);
            if ((rc = start(s, j, (uint32_t)k, &d)) != 0)
                break;
            continue;
        }
        if (nheld >= window)
            break;
        held[nheld++] = q_pop(s);       /* blocked head: look behind it */
    }
    for (size_t i = 0; i < nheld; i++)
        q_push(s, held[i]);
    return rc;
}

static void sample(sim_t *s, double upto)
{
    if (s->o->csv == NULL)
        return;
    while (s->next_sample <= upto) {
        fprintf(s->o->csv, "%.3f,%zu,%llu", s->next_sample, s->qn, (unsigned long long)s->running);
        for (size_t p = 0; p < s->c->npools; p++) {
            const sai_sched_pool_t *pl = &s->c->pools[p];
            double cap = (double)pl->cpu_milli * pl->count;
            fprintf(s->o->csv, ",%.4f", cap > 0 ? (double)s->pool_cpu_used[p] / cap : 0);
        }
        fputc('\n', s->o->csv);
        s->next_sample += s->o->sample_every > 0 ? s->o->sample_every : 60;
    }
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)ceil(q * (double)n);
    if (i > 0) i--;
    if (i >= n) i = n - 1;
    return v[i];
}

int sai_sched_simulate(const sai_sched_cluster_t *c, const sai_sched_workload_t *w,
                       const sai_sched_opts_t *o, sai_sched_metrics_t *m, sai_error_t *err)
{
    int rc = 0;
    sim_t s;
    memset(&s, 0, sizeof s);
    memset(m, 0, sizeof *m);
    s.c = c; s.w = w; s.o = o; s.m = m; s.pol = o->policy;
    if (s.pol == NULL)
        return sai_error_set(err, SAI_EINVAL, "no policy given");
    if (w->njobs > UINT32_MAX - 1)
        return sai_error_set(err, SAI_ELIMIT, "too many jobs");
    uint64_t nn = sai_sched_cluster_nodes(c);
    if (nn == 0 || nn > (1u << 24))
        return sai_error_set(err, SAI_EINVAL, "the cluster has %llu nodes (1..16777216)",
                             (unsigned long long)nn);
    double t0 = sai_now();
    snprintf(m->policy, sizeof m->policy, "%s", s.pol->name);
    s.nnodes = (uint32_t)nn;
    size_t np = c->npools;
    s.nodes = calloc(nn, sizeof *s.nodes);
    s.pool_base = calloc(np, sizeof *s.pool_base);
    s.idx = calloc(np, sizeof *s.idx);
    s.run = calloc(w->njobs + 1, sizeof *s.run);
    s.wait = calloc(w->njobs + 1, sizeof *s.wait);
    s.slow = calloc(w->njobs + 1, sizeof *s.slow);
    s.queue = calloc(w->njobs + 1, sizeof *s.queue);
    s.pool_cpu_used = calloc(np, sizeof(int64_t));
    s.pool_cpu_s = calloc(np, sizeof(double));
    s.pool_mem_s = calloc(np, sizeof(double));
    s.pool_epc_s = calloc(np, sizeof(double));
    s.pool_jobs = calloc(np, sizeof(uint64_t));
    m->pools = calloc(np, sizeof *m->pools);
    m->npools = np;
    if (!s.nodes || !s.pool_base || !s.idx || !s.run || !s.wait || !s.slow || !s.queue ||
        !s.pool_cpu_used || !s.pool_cpu_s || !s.pool_mem_s || !s.pool_epc_s || !s.pool_jobs ||
        !m->pools) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory for %llu nodes and %zu jobs",
                           (unsigned long long)nn, w->njobs);
        goto out;
    }
    uint32_t k = 0;
    for (size_t p = 0; p < np; p++) {
        const sai_sched_pool_t *pl = &c->pools[p];
        s.pool_base[p] = k;
        for (uint32_t i = 0; i < pl->count; i++, k++) {
            sai_sched_node_t *n = &s.nodes[k];
            n->pool = (uint32_t)p;
            n->cpu_free = pl->cpu_milli; n->mem_free = pl->mem_mib;
            n->epc_free = pl->tee == SAI_SCHED_TEE_SGX ? pl->epc_mib : 0;
            n->cvm_free = pl->cvm_slots;
        }
        if (sai_sched__pool_index_init(&s.idx[p], s.nodes, s.pool_base[p], pl->count, pl, s.pol->pick) != 0) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory for the node index");
            goto out;
        }
    }
    if (o->csv != NULL) {
        fprintf(o->csv, "time_s,queued,running");
        for (size_t p = 0; p < np; p++)
            fprintf(o->csv, ",cpu_util_%s", c->pools[p].name);
        fputc('\n', o->csv);
    }
    m->jobs = w->njobs;
    if (o->job_wait != NULL)
        for (size_t j = 0; j < w->njobs; j++)
            o->job_wait[j] = NAN;
    size_t next_arrival = 0;
    if (w->njobs > 0 && (rc = sai_sched_heap_push(&s.ev, w->jobs[0].arrival, EV_ARRIVAL, 0)) != 0)
        goto out;
    double first_arrival = w->njobs > 0 ? w->jobs[0].arrival : 0;
    s.next_sample = first_arrival;
    bool blocked = false;
    sai_sched_event_t ev;
    while (sai_sched_heap_pop(&s.ev, &ev)) {
        sample(&s, ev.t);
        s.now = ev.t;
        m->events++;
        bool try_all = false;
        if (ev.kind == EV_ARRIVAL) {
            uint32_t j = ev.idx;
            next_arrival = (size_t)j + 1;
            if (next_arrival < w->njobs &&
                (rc = sai_sched_heap_push(&s.ev, w->jobs[next_arrival].arrival, EV_ARRIVAL,
                                          (uint32_t)next_arrival)) != 0)
                goto out;
            bool any = false;
            for (size_t p = 0; p < np && !any; p++)
                any = sai_sched_pool_eligible(c, s.pol, p, &w->jobs[j]);
            if (!any) {
                m->unschedulable++;
                s.wait[j] = NAN;
            } else if (blocked && !o->priority_queue && !o->backfill) {
                q_push(&s, j);          /* FCFS behind a blocked head: nothing can change */
            } else {
                q_push(&s, j);
                try_all = true;
            }
        } else {
            finish(&s, ev.idx);
            try_all = true;
        }
        if (try_all) {
            if ((rc = schedule(&s)) != 0) {
                sai_error_set(err, rc, "out of memory in the event queue");
                goto out;
            }
            blocked = s.qn > 0;
        }
        if (o->check_all)
            for (uint32_t i = 0; i < s.nnodes; i++)
                check_node(&s, i);
    }
    /* metrics */
    size_t nw = 0;
    double sum_w = 0, sum_s = 0;
    for (size_t j = 0; j < w->njobs; j++) {
        if (isnan(s.wait[j]))
            continue;
        s.wait[nw] = s.wait[j];
        s.slow[nw] = s.slow[j];
        sum_w += s.wait[nw];
        sum_s += s.slow[nw];
        nw++;
    }
    m->makespan = w->njobs > 0 ? s.last_finish - first_arrival : 0;
    if (nw > 0) {
        qsort(s.wait, nw, sizeof(double), dbl_cmp);
        qsort(s.slow, nw, sizeof(double), dbl_cmp);
        m->wait_mean = sum_w / (double)nw;
        m->wait_p50 = pct(s.wait, nw, 0.50);
        m->wait_p95 = pct(s.wait, nw, 0.95);
        m->wait_p99 = pct(s.wait, nw, 0.99);
        m->wait_max = s.wait[nw - 1];
        m->slowdown_mean = sum_s / (double)nw;
        m->slowdown_p95 = pct(s.slow, nw, 0.95);
    }
    m->throughput_per_h = m->makespan > 0 ? (double)m->completed / (m->makespan / 3600.0) : 0;
    for (size_t p = 0; p < np; p++) {
        const sai_sched_pool_t *pl = &c->pools[p];
        double span = m->makespan > 0 ? m->makespan : 1;
        double n = (double)pl->count;
        m->pools[p].cpu_util = s.pool_cpu_s[p] / ((double)pl->cpu_milli * n * span);
        m->pools[p].mem_util = s.pool_mem_s[p] / ((double)pl->mem_mib * n * span);
        m->pools[p].epc_util = pl->tee == SAI_SCHED_TEE_SGX && pl->epc_mib > 0
                                   ? s.pool_epc_s[p] / ((double)pl->epc_mib * n * span) : 0;
        m->pools[p].jobs = s.pool_jobs[p];
        m->cost_provisioned += pl->cost_per_hour * n * m->makespan / 3600.0;
    }
    for (uint32_t i = 0; i < s.nnodes; i++)     /* final sweep: everything released */
        check_node(&s, i);
    m->wall_s = sai_now() - t0;
out:
    if (s.idx != NULL)
        for (size_t p = 0; p < np; p++)
            sai_sched__pool_index_free(&s.idx[p]);
    sai_sched_heap_free(&s.ev);
    free(s.nodes); free(s.pool_base); free(s.idx); free(s.run); free(s.wait); free(s.slow);
    free(s.queue); free(s.pool_cpu_used); free(s.pool_cpu_s); free(s.pool_mem_s);
    free(s.pool_epc_s); free(s.pool_jobs);
    if (rc != 0)
        sai_sched_metrics_free(m);
    return rc;
}

void sai_sched_metrics_free(sai_sched_metrics_t *m)
{
    free(m->pools);
    m->pools = NULL;
    m->npools = 0;
}
