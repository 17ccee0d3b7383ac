/*
 * policy_vaucher.c — the two strategies of Vaucher et al., "SGX-Aware
 * Container Orchestration for Heterogeneous Clusters" (ICDCS 2018), as the
 * paper defines them, not kube-scheduler's MostAllocated / LeastAllocated
 * (which `binpack` / `spread` model):
 *
 *  - SGX jobs run only on SGX nodes, with EPC a reserved resource: a job is
 *    started on a node only when its whole enclave fits in the EPC left there.
 *  - Standard jobs go to SGX nodes last: only when no standard node can take
 *    them now (the scarce EPC nodes are kept for enclaves).
 *  - Inside that class, `vaucher-binpack` fills nodes: the node left with the
 *    least free EPC (SGX nodes) or memory (standard nodes) after placement;
 *    `vaucher-spread` takes the node left with the most. Their scheduler
 *    weighs the memory (and EPC) a job uses; the Borg jobs they replay were
 *    memory stress programs, and so are ours, so use equals request here.
 *
 * The pick rule lives in index.c (SAI_PICK_VAUCHER_BEST / _WORST: key = free
 * EPC then free memory on SGX pools, free memory elsewhere).
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    const sai_sched_pool_t *pl = &c->pools[p];
    if (j->conf != SAI_CONF_NONE && sai_sched_tee_allowed(j, pl->tee))
        return 0;
    return pl->tee == SAI_SCHED_TEE_NONE ? 0 : 1;   /* standard work: TEE nodes last */
}

const sai_sched_policy_t sai_policy_vaucher_binpack = {
    "vaucher-binpack", "Vaucher et al. binpack: tightest EPC/memory fit, standard jobs on SGX nodes last",
    true, true, SAI_PICK_VAUCHER_BEST, rank, NULL
};

const sai_sched_policy_t sai_policy_vaucher_spread = {
    "vaucher-spread", "Vaucher et al. spread: most free EPC/memory, standard jobs on SGX nodes last",
    true, true, SAI_PICK_VAUCHER_WORST, rank, NULL
};
