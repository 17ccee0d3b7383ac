/*
 * policy_security_first.c — confidential work only on allowed TEE nodes,
 * `preferred` work on TEE nodes first, and non-confidential work kept off
 * TEE nodes while standard capacity exists (TEE pools rank after standard
 * pools for it, so they take it only when no standard node fits now).
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    bool tee = c->pools[p].tee != SAI_SCHED_TEE_NONE;
    switch (j->conf) {
    case SAI_CONF_REQUIRED:  return 0;          /* eligibility already demands a TEE */
    case SAI_CONF_PREFERRED: return tee && sai_sched_tee_allowed(j, c->pools[p].tee) ? 0 : 1;
    default:                 return tee ? 1 : 0;
    }
}

const sai_sched_policy_t sai_policy_security_first = {
    "security-first", "TEE nodes for confidential work, standard nodes for the rest",
    true, true, SAI_PICK_BEST, rank, NULL
};
