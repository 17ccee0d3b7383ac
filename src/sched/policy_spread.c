/*
 * policy_spread.c — spreading as the cluster does it: kube-scheduler's
 * NodeResourcesFit with scoringStrategy LeastAllocated over cpu, memory and
 * sgx.intel.com/epc (weight 1 each), the node with the highest score
 * (fit.c); `deploy k8s --policy spread` writes the same strategy.
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    (void)c; (void)p; (void)j;
    return 0;
}

const sai_sched_fit_t sai_fit_least_allocated = { SAI_FIT_LEAST_ALLOCATED, 1, 1, 1, {{0, 0}}, 0 };

const sai_sched_policy_t sai_policy_spread = {
    "spread", "kube-scheduler NodeResourcesFit LeastAllocated (cpu, memory, EPC)", true, true,
    SAI_PICK_FIT, rank, &sai_fit_least_allocated
};
