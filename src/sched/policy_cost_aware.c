/*
 * policy_cost_aware.c — the cheapest place to run the job: pools ranked by
 * cost per hour x the job's share of a node x its runtime there (TEE
 * overhead and speed included); bin packing inside a pool so idle nodes stay
 * idle (and could be scaled down).
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    const sai_sched_pool_t *pl = &c->pools[p];
    double f = 1.0;
    if (j->conf != SAI_CONF_NONE && sai_sched_tee_allowed(j, pl->tee))
        f = pl->tee_factor > 0 ? pl->tee_factor : c->tee_factor[pl->tee];
    double share_cpu = pl->cpu_milli > 0 ? (double)j->cpu_milli / (double)pl->cpu_milli : 1;
    double share_mem = pl->mem_mib > 0 ? (double)j->mem_mib / (double)pl->mem_mib : 1;
    double share = share_cpu > share_mem ? share_cpu : share_mem;
    return pl->cost_per_hour * share * f / (pl->speed > 0 ? pl->speed : 1.0);
}

const sai_sched_policy_t sai_policy_cost_aware = {
    "cost-aware", "cheapest node-hours for the job", true, true, SAI_PICK_BEST, rank, NULL
};
