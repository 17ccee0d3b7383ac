/*
 * policy_throughput_first.c — the node on which the job finishes soonest:
 * pools ranked by (TEE overhead factor if the job would use the TEE) /
 * relative speed; bin packing inside the fastest pool.
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    const sai_sched_pool_t *pl = &c->pools[p];
    double f = 1.0;
    if (j->conf != SAI_CONF_NONE && sai_sched_tee_allowed(j, pl->tee))
        f = pl->tee_factor > 0 ? pl->tee_factor : c->tee_factor[pl->tee];
    return f / (pl->speed > 0 ? pl->speed : 1.0);
}

const sai_sched_policy_t sai_policy_throughput_first = {
    "throughput-first", "fastest eligible node (speed and TEE overhead)", true, true,
    SAI_PICK_BEST, rank, NULL
};
