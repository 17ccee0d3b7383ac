/*
 * index.c — per-pool segment trees that make a placement decision cost
 * O(log nodes) instead of a scan of all nodes (10,000 nodes x 1,000,000
 * jobs must simulate in a minute; see bench/sched_scale.c). A linear scan
 * (sai_sched__pool_index_scan) stays next to it as the reference the tests compare
 * against.
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

static int64_t node_key(const sai_pool_index_t *x, const sai_sched_node_t *n)
{
    if (x->pick == SAI_PICK_EPC_BEST)
        return n->epc_free * (x->cpu_cap + 1) + n->cpu_free;
    if (x->pick == SAI_PICK_VAUCHER_BEST || x->pick == SAI_PICK_VAUCHER_WORST)
        return x->epc_cap > 0 ? n->epc_free * (x->mem_cap + 1) + n->mem_free : n->mem_free;
    /* proportional to (free CPU share + free memory share) */
    return n->cpu_free * x->mem_cap + n->mem_free * x->cpu_cap;
}

/* Spreading rules maximise the free-capacity key, packing rules minimise it. */
static bool picks_most_free(sai_sched_pick_t p)
{
    return p == SAI_PICK_WORST || p == SAI_PICK_VAUCHER_WORST;
}

static void pull(sai_pool_index_t *x, uint32_t i)
{
    uint32_t l = 2 * i, r = l + 1;
#define MAXF(a) x->a[i] = x->a[l] > x->a[r] ? x->a[l] : x->a[r]
    MAXF(cpu); MAXF(mem); MAXF(epc); MAXF(cvm); MAXF(kmax);
#undef MAXF
    x->kmin[i] = x->kmin[l] < x->kmin[r] ? x->kmin[l] : x->kmin[r];
#define MINF(a) x->a[i] = x->a[l] < x->a[r] ? x->a[l] : x->a[r]
    MINF(cpu_lo); MINF(mem_lo); MINF(epc_lo);
#undef MINF
}

static void set_leaf(sai_pool_index_t *x, const sai_sched_node_t *nodes, uint32_t k)
{
    uint32_t i = x->size + k;
    if (k < x->n) {
        const sai_sched_node_t *nd = &nodes[x->base + k];
        x->cpu[i] = nd->cpu_free; x->mem[i] = nd->mem_free;
        x->epc[i] = nd->epc_free; x->cvm[i] = nd->cvm_free;
        x->kmin[i] = x->kmax[i] = node_key(x, nd);
        x->cpu_lo[i] = nd->cpu_free; x->mem_lo[i] = nd->mem_free; x->epc_lo[i] = nd->epc_free;
    } else {    /* padding: fits nothing, bounds nothing */
        x->cpu[i] = x->mem[i] = x->epc[i] = -1; x->cvm[i] = -1;
        x->cpu_lo[i] = x->mem_lo[i] = x->epc_lo[i] = INT64_MAX;
        x->kmin[i] = INT64_MAX; x->kmax[i] = INT64_MIN;
    }
}

int sai_sched__pool_index_init(sai_pool_index_t *x, const sai_sched_node_t *nodes, uint32_t base,
                        uint32_t n, const sai_sched_pool_t *p, sai_sched_pick_t pick)
{
    memset(x, 0, sizeof *x);
    x->base = base; x->n = n; x->pick = pick;
    x->cpu_cap = p->cpu_milli; x->mem_cap = p->mem_mib;
    x->epc_cap = p->tee == SAI_SCHED_TEE_SGX ? p->epc_mib : 0;
    x->size = 1;
    while (x->size < n)
        x->size *= 2;
    size_t m = 2 * (size_t)x->size;
    x->cpu = malloc(m * sizeof(int64_t)); x->mem = malloc(m * sizeof(int64_t));
    x->epc = malloc(m * sizeof(int64_t)); x->kmin = malloc(m * sizeof(int64_t));
    x->kmax = malloc(m * sizeof(int64_t)); x->cvm = malloc(m * sizeof(int32_t));
    x->cpu_lo = malloc(m * sizeof(int64_t)); x->mem_lo = malloc(m * sizeof(int64_t));
    x->epc_lo = malloc(m * sizeof(int64_t));
    if (!x->cpu || !x->mem || !x->epc || !x->kmin || !x->kmax || !x->cvm || !x->cpu_lo ||
        !x->mem_lo || !x->epc_lo) {
        sai_sched__pool_index_free(x);
        return SAI_ENOMEM;
    }
    for (uint32_t k = 0; k < x->size; k++)
        set_leaf(x, nodes, k);
    for (uint32_t i = x->size - 1; i >= 1; i--)
        pull(x, i);
    return 0;
}

void sai_sched__pool_index_free(sai_pool_index_t *x)
{
    free(x->cpu); free(x->mem); free(x->epc); free(x->kmin); free(x->kmax); free(x->cvm);
    free(x->cpu_lo); free(x->mem_lo); free(x->epc_lo);
    memset(x, 0, sizeof *x);
}

void sai_sched__pool_index_update(sai_pool_index_t *x, const sai_sched_node_t *nodes, uint32_t node)
{
    uint32_t k = node - x->base;
    set_leaf(x, nodes, k);
    for (uint32_t i = (x->size + k) / 2; i >= 1; i /= 2)
        pull(x, i);
}

static bool can_fit(const sai_pool_index_t *x, uint32_t i, const sai_sched_demand_t *d)
{
    return x->cpu[i] >= d->cpu && x->mem[i] >= d->mem && x->epc[i] >= d->epc && x->cvm[i] >= d->cvm;
}

/* Leftmost leaf that fits (the maxima are only an upper bound across
 * dimensions, so a subtree can fail and we back out). */
static int64_t first_fit(const sai_pool_index_t *x, uint32_t i, const sai_sched_demand_t *d)
{
    if (!can_fit(x, i, d))
        return -1;
    if (i >= x->size)
        return i - x->size;
    int64_t r = first_fit(x, 2 * i, d);
    return r >= 0 ? r : first_fit(x, 2 * i + 1, d);
}

/* Branch and bound: minimise (best) or maximise (worst) the key among
 * fitting leaves; ties go to the lower node number. */
static void bnb(const sai_pool_index_t *x, uint32_t i, const sai_sched_demand_t *d, bool minimise,
                int64_t *best_key, int64_t *best)
{
    if (!can_fit(x, i, d))
        return;
    if (*best >= 0) {
        if (minimise ? x->kmin[i] >= *best_key : x->kmax[i] <= *best_key)
            return;
    }
    if (i >= x->size) {
        *best_key = x->kmin[i];
        *best = i - x->size;
        return;
    }
    uint32_t a = 2 * i, b = a + 1;
    bool swap = minimise ? x->kmin[b] < x->kmin[a] : x->kmax[b] > x->kmax[a];
    if (swap) { uint32_t t = a; a = b; b = t; }
    bnb(x, a, d, minimise, best_key, best);
    bnb(x, b, d, minimise, best_key, best);
}

int64_t sai_sched__pool_index_query(const sai_pool_index_t *x, const sai_sched_node_t *nodes,
                             const sai_sched_demand_t *d)
{
    (void)nodes;
    int64_t k = -1, key = 0;
    if (x->n == 0)
        return -1;
    if (x->pick == SAI_PICK_FIRST)
        k = first_fit(x, 1, d);
    else
        bnb(x, 1, d, !picks_most_free(x->pick), &key, &k);
    return k < 0 ? -1 : (int64_t)x->base + k;
}

int64_t sai_sched__pool_index_scan(const sai_pool_index_t *x, const sai_sched_node_t *nodes,
                            const sai_sched_demand_t *d)
{
    int64_t best = -1, best_key = 0;
    for (uint32_t k = 0; k < x->n; k++) {
        const sai_sched_node_t *nd = &nodes[x->base + k];
        if (!sai_sched_fits(nd, d))
            continue;
        if (x->pick == SAI_PICK_FIRST)
            return (int64_t)x->base + k;
        int64_t key = node_key(x, nd);
        bool better = best < 0 || (picks_most_free(x->pick) ? key > best_key : key < best_key);
        if (better) { best = k; best_key = key; }
    }
    return best < 0 ? -1 : (int64_t)x->base + best;
}

/* ---- NodeResourcesFit ------------------------------------------------- */
typedef struct fit_q {
    const sai_pool_index_t *x;
    const sai_sched_demand_t *d;
    const sai_sched_fit_t *f;
    const sai_sched_cluster_t *c;
    uint32_t pool;
    int64_t best, best_score;
} fit_q;

static int64_t fit_bound(const fit_q *q, uint32_t i)
{
    const sai_pool_index_t *x = q->x;
    sai_sched_node_t n = { q->pool, 0, 0, 0, 0, 0 };
    if (q->f->type == SAI_FIT_MOST_ALLOCATED) {
        n.cpu_free = x->cpu_lo[i]; n.mem_free = x->mem_lo[i]; n.epc_free = x->epc_lo[i];
    } else if (q->f->type == SAI_FIT_LEAST_ALLOCATED) {
        n.cpu_free = x->cpu[i]; n.mem_free = x->mem[i]; n.epc_free = x->epc[i];
    } else {
        return SAI_FIT_MAX_NODE_SCORE;
    }
    return sai_sched_fit_score(q->f, q->c, &n, q->d);
}

/* Left subtree first and pruning on bound <= best: the first node reaching
 * the maximum is kept, so ties go to the lowest node number. */
static void fit_bnb(fit_q *q, const sai_sched_node_t *nodes, uint32_t i)
{
    const sai_pool_index_t *x = q->x;
    if (!can_fit(x, i, q->d))
        return;
    if (q->best >= 0 && fit_bound(q, i) <= q->best_score)
        return;
    if (i >= x->size) {
        int64_t sc = sai_sched_fit_score(q->f, q->c, &nodes[x->base + i - x->size], q->d);
        if (q->best < 0 || sc > q->best_score) {
            q->best = i - x->size;
            q->best_score = sc;
        }
        return;
    }
    fit_bnb(q, nodes, 2 * i);
    fit_bnb(q, nodes, 2 * i + 1);
}

int64_t sai_sched__pool_index_query_fit(const sai_pool_index_t *x, const sai_sched_node_t *nodes,
                                 const sai_sched_demand_t *d, const sai_sched_fit_t *f,
                                 const sai_sched_cluster_t *c, int64_t *score)
{
    if (x->n == 0)
        return -1;
    fit_q q = { x, d, f, c, nodes[x->base].pool, -1, 0 };
    fit_bnb(&q, nodes, 1);
    *score = q.best_score;
    return q.best < 0 ? -1 : (int64_t)x->base + q.best;
}

int64_t sai_sched__pool_index_scan_fit(const sai_pool_index_t *x, const sai_sched_node_t *nodes,
                                const sai_sched_demand_t *d, const sai_sched_fit_t *f,
                                const sai_sched_cluster_t *c, int64_t *score)
{
    int64_t best = -1, best_score = 0;
    for (uint32_t k = 0; k < x->n; k++) {
        const sai_sched_node_t *nd = &nodes[x->base + k];
        if (!sai_sched_fits(nd, d))
            continue;
        int64_t sc = sai_sched_fit_score(f, c, nd, d);
        if (best < 0 || sc > best_score) { best = k; best_score = sc; }
    }
    *score = best_score;
    return best < 0 ? -1 : (int64_t)x->base + best;
}
