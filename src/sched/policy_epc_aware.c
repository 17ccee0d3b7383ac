/*
 * policy_epc_aware.c — after Vaucher et al. (ICDCS 2018): EPC is a reserved
 * resource; SGX jobs go to the SGX node whose free EPC fits them most
 * tightly (so large enclaves still find room later), and jobs that do not
 * need SGX stay off SGX nodes while other capacity exists, keeping the
 * scarce EPC nodes' CPU for enclaves.
 */
#include "secureai/sched.h"

static double rank(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j)
{
    const sai_sched_pool_t *pl = &c->pools[p];
    bool sgx = pl->tee == SAI_SCHED_TEE_SGX;
    if (j->conf != SAI_CONF_NONE && sai_sched_tee_allowed(j, pl->tee))
        return sgx ? 0 : 1;              /* enclave jobs: SGX first, other TEEs next */
    return sgx ? 3 : (pl->tee != SAI_SCHED_TEE_NONE ? 2 : 0);
}

const sai_sched_policy_t sai_policy_epc_aware = {
    "epc-aware", "SGX jobs by tightest EPC fit; others kept off SGX nodes", true, true,
    SAI_PICK_EPC_BEST, rank, NULL
};
