/*
 * policy_rtcr.c — kube-scheduler's NodeResourcesFit with scoringStrategy
 * RequestedToCapacityRatio, shape {0 %: 0, 100 %: 10} over cpu, memory and
 * sgx.intel.com/epc (weights 1, 1, 3): bin packing that weighs the scarce
 * EPC three times, as the Kubernetes docs suggest for extended resources.
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    (void)c; (void)p; (void)j;
    return 0;
}

const sai_sched_fit_t sai_fit_rtcr = {
    SAI_FIT_REQUESTED_TO_CAPACITY_RATIO, 1, 1, 3, {{0, 0}, {100, 10}}, 2
};

const sai_sched_policy_t sai_policy_rtcr = {
    "rtcr", "kube-scheduler NodeResourcesFit RequestedToCapacityRatio (EPC weighted 3)", true, true,
    SAI_PICK_FIT, rank, &sai_fit_rtcr
};
