/*
 * policy_binpack.c — best-fit bin packing (kube-scheduler MostAllocated):
 * among all eligible nodes, the one left with the least free CPU+memory.
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    (void)c; (void)p; (void)j;
    return 0;
}

const sai_sched_policy_t sai_policy_binpack = {
    "binpack", "best fit: fullest node that fits (MostAllocated)", true, true, SAI_PICK_BEST, rank
};
