/*
 * policy_unsafe.c — a deliberately unsafe baseline: first fit that ignores
 * confidentiality (a `required` job may land on a standard node: the
 * simulator counts each such placement as a violation) and treats EPC as
 * unreserved (enclaves overcommit it and page). It exists to show what the
 * violation counter and the paging model catch; never use it in the extender
 * for real work.
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    (void)c; (void)j;
    return (double)p;
}

const sai_sched_policy_t sai_policy_unsafe = {
    "unsafe", "BASELINE ONLY: first fit ignoring confidentiality and EPC", false, false,
    SAI_PICK_FIRST, rank, NULL
};
