/*
 * policy_spread.c — spread (kube-scheduler LeastAllocated): the eligible
 * node with the most free CPU+memory.
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    (void)c; (void)p; (void)j;
    return 0;
}

const sai_sched_policy_t sai_policy_spread = {
    "spread", "least allocated node (LeastAllocated)", true, true, SAI_PICK_WORST, rank
};
