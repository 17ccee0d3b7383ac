/*
 * policy_first_fit.c — first fit: pools in the order the spec lists them,
 * the lowest-numbered node that fits. TEE-agnostic for jobs without a
 * confidentiality need, but never puts a `required` job on a wrong node.
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    (void)c; (void)j;
    return (double)p;
}

const sai_sched_policy_t sai_policy_first_fit = {
    "first-fit", "first node (in spec order) that fits", true, true, SAI_PICK_FIRST, rank, NULL
};
