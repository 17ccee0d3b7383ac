/*
 * fit.c — kube-scheduler's NodeResourcesFit scoring strategies, so that
 * `binpack` / `spread` in the simulator choose the node the cluster's
 * scheduler would choose (docs/scheduling.md, "Scoring"). Written from the
 * plugin's definitions (noderesources: most_allocated.go,
 * least_allocated.go, requested_to_capacity_ratio.go, resource_allocation.go
 * and helper.BuildBrokenLinearFunction), in the same integer arithmetic:
 *
 *   MostAllocated   per resource  min(req, alloc) * 100 / alloc
 *   LeastAllocated  per resource  req > alloc ? 0 : (alloc - req) * 100 / alloc
 *   node score      sum(score_r * w_r) / sum(w_r)        (integer division)
 *   RequestedToCapacityRatio: utilization = req * 100 / alloc (100 when
 *     req >= alloc), the shape's broken line at that point with scores x10
 *     (MaxNodeScore / MaxCustomPriorityScore), only resources scoring > 0
 *     in the mean, which is rounded (math.Round) instead of truncated.
 *
 * A resource whose allocatable is 0 is skipped (weight not counted); an
 * extended resource (sgx.intel.com/epc) is skipped when the pod does not
 * request it (Kubernetes >= 1.28). Memory is in MiB here and bytes there:
 * with MiB-aligned quantities every quotient is the same.
 */
#include "secureai/sched.h"

static int64_t most(int64_t req, int64_t alloc)
{
    if (req > alloc)
        req = alloc;
    return req * SAI_FIT_MAX_NODE_SCORE / alloc;
}

static int64_t least(int64_t req, int64_t alloc)
{
    if (req > alloc)
        return 0;
    return (alloc - req) * SAI_FIT_MAX_NODE_SCORE / alloc;
}

static int64_t broken_line(const sai_sched_fit_t *f, int64_t u)
{
    for (size_t i = 0; i < f->nshape; i++) {
        if (u <= f->shape[i].utilization) {
            if (i == 0)
                return f->shape[0].score * 10;
            int64_t u0 = f->shape[i - 1].utilization, s0 = f->shape[i - 1].score * 10;
            int64_t u1 = f->shape[i].utilization, s1 = f->shape[i].score * 10;
            return s0 + (s1 - s0) * (u - u0) / (u1 - u0);
        }
    }
    return f->nshape ? f->shape[f->nshape - 1].score * 10 : 0;
}

int64_t sai_sched_fit_score_raw(const sai_sched_fit_t *f, const int64_t requested[3],
                                const int64_t allocatable[3], const int64_t pod[3])
{
    const int64_t w[3] = { f->w_cpu, f->w_mem, f->w_epc };
    int64_t sum = 0, wsum = 0;
    for (int r = 0; r < 3; r++) {
        if (w[r] <= 0 || allocatable[r] <= 0)
            continue;
        if (r == 2 && pod[r] == 0)
            continue;                   /* extended resource the pod does not request */
        int64_t req = requested[r] < 0 ? 0 : requested[r], alloc = allocatable[r], sc;
        switch (f->type) {
        case SAI_FIT_MOST_ALLOCATED:
            sc = most(req, alloc);
            break;
        case SAI_FIT_LEAST_ALLOCATED:
            sc = least(req, alloc);
            break;
        case SAI_FIT_REQUESTED_TO_CAPACITY_RATIO:
            sc = broken_line(f, req >= alloc ? 100 : req * 100 / alloc);
            if (sc <= 0)
                continue;
            break;
        default:
            return 0;
        }
        sum += sc * w[r];
        wsum += w[r];
    }
    if (wsum == 0)
        return 0;
    if (f->type == SAI_FIT_REQUESTED_TO_CAPACITY_RATIO)
        return (2 * sum + wsum) / (2 * wsum);   /* math.Round of a non-negative quotient */
    return sum / wsum;
}

int64_t sai_sched_fit_score(const sai_sched_fit_t *f, const sai_sched_cluster_t *c,
                            const sai_sched_node_t *n, const sai_sched_demand_t *d)
{
    const sai_sched_pool_t *p = &c->pools[n->pool];
    int64_t epc_cap = p->tee == SAI_SCHED_TEE_SGX ? p->epc_mib : 0;
    const int64_t alloc[3] = { p->cpu_milli, p->mem_mib, epc_cap };
    const int64_t req[3] = { p->cpu_milli - n->cpu_free + d->cpu, p->mem_mib - n->mem_free + d->mem,
                             epc_cap - n->epc_free + d->epc };
    const int64_t pod[3] = { d->cpu, d->mem, d->epc };
    return sai_sched_fit_score_raw(f, req, alloc, pod);
}
