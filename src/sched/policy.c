/*
 * policy.c — what every policy shares: the confidentiality rule, the demand
 * a job puts on a pool (kata pod overheads, CVM slots, EPC), the fit test,
 * the runtime model (TEE factor, SGX paging and start-up), and the policy
 * table. Each policy's own choices live in policy_<name>.c as one
 * sai_sched_policy_t. The simulator and the extender both call these, so
 * they cannot disagree about what "fits" or "allowed" means.
 */
#include <string.h>

#include "secureai/sched.h"

extern const sai_sched_policy_t sai_policy_first_fit, sai_policy_binpack, sai_policy_spread,
    sai_policy_security_first, sai_policy_throughput_first, sai_policy_cost_aware,
    sai_policy_epc_aware, sai_policy_vaucher_binpack, sai_policy_vaucher_spread, sai_policy_rtcr,
    sai_policy_unsafe;

const sai_sched_policy_t *const sai_sched_policies[] = {
    &sai_policy_first_fit, &sai_policy_binpack, &sai_policy_spread,
    &sai_policy_security_first, &sai_policy_throughput_first, &sai_policy_cost_aware,
    &sai_policy_epc_aware, &sai_policy_vaucher_binpack, &sai_policy_vaucher_spread,
    &sai_policy_rtcr, &sai_policy_unsafe, NULL
};

const sai_sched_policy_t *sai_sched_policy_find(const char *name)
{
    for (size_t i = 0; sai_sched_policies[i] != NULL; i++)
        if (strcmp(sai_sched_policies[i]->name, name) == 0)
            return sai_sched_policies[i];
    return NULL;
}

bool sai_sched_tee_allowed(const sai_sched_job_t *j, sai_sched_tee_t k)
{
    if (k == SAI_SCHED_TEE_NONE || k >= SAI_SCHED_TEE_COUNT)
        return false;
    uint8_t allowed = j->allowed ? j->allowed : SAI_SCHED_TEE_ANY_CONF;
    return (allowed & SAI_SCHED_TEE_BIT(k)) != 0;
}

/* A pool offers its TEE to a job when the kind is allowed and, for
 * confidential VMs, the pool has CVM slots at all. */
static bool pool_offers_tee(const sai_sched_pool_t *p, const sai_sched_job_t *j)
{
    if (j->conf == SAI_CONF_NONE || !sai_sched_tee_allowed(j, p->tee))
        return false;
    if ((p->tee == SAI_SCHED_TEE_SNP || p->tee == SAI_SCHED_TEE_TDX) && p->cvm_slots <= 0)
        return false;
    if (p->tee == SAI_SCHED_TEE_SGX && p->epc_mib <= 0)
        return false;
    return true;
}

void sai_sched_demand_on(const sai_sched_cluster_t *c, const sai_sched_policy_t *pol,
                         size_t pi, const sai_sched_job_t *j, const sai_sched_node_t *n,
                         sai_sched_demand_t *d)
{
    const sai_sched_pool_t *p = &c->pools[pi];
    memset(d, 0, sizeof *d);
    d->cpu = j->cpu_milli;
    d->mem = j->mem_mib;
    d->uses_tee = pool_offers_tee(p, j);
    if (!d->uses_tee)
        return;
    d->cpu += p->pod_cpu_overhead;
    d->mem += p->pod_mem_overhead;
    if (p->tee == SAI_SCHED_TEE_SNP || p->tee == SAI_SCHED_TEE_TDX)
        d->cvm = 1;
    if (p->tee == SAI_SCHED_TEE_SGX) {
        int64_t want = j->epc_mib > 0 ? j->epc_mib : 1;
        if (pol->epc_hard) {
            /* EPC is an extended resource (sgx.intel.com/epc): reserved, never
             * overcommitted; a job larger than the whole EPC takes all of it
             * and pages the rest. */
            d->epc = want < p->epc_mib ? want : p->epc_mib;
        } else {
            /* EPC-unaware: take what is left at start, page the rest. */
            int64_t left = n != NULL ? n->epc_free : p->epc_mib;
            d->epc = n == NULL ? 0 : (want < left ? want : left);
        }
    }
}

bool sai_sched_fits(const sai_sched_node_t *n, const sai_sched_demand_t *d)
{
    return n->cpu_free >= d->cpu && n->mem_free >= d->mem && n->epc_free >= d->epc &&
           n->cvm_free >= d->cvm;
}

bool sai_sched_pool_eligible(const sai_sched_cluster_t *c, const sai_sched_policy_t *pol,
                             size_t pi, const sai_sched_job_t *j)
{
    const sai_sched_pool_t *p = &c->pools[pi];
    if (p->count == 0)
        return false;
    if (pol->safe && j->conf == SAI_CONF_REQUIRED && !pool_offers_tee(p, j))
        return false;
    sai_sched_demand_t d;
    sai_sched_demand_on(c, pol, pi, j, NULL, &d);
    sai_sched_node_t empty = { (uint32_t)pi, p->cpu_milli, p->mem_mib,
                               p->tee == SAI_SCHED_TEE_SGX ? p->epc_mib : 0, p->cvm_slots, 0 };
    return sai_sched_fits(&empty, &d);
}

double sai_sched_runtime_on(const sai_sched_cluster_t *c, size_t pi, const sai_sched_job_t *j,
                            const sai_sched_demand_t *d)
{
    const sai_sched_pool_t *p = &c->pools[pi];
    double rt = j->runtime / (p->speed > 0 ? p->speed : 1.0);
    if (!d->uses_tee)
        return rt;
    double f = p->tee_factor > 0 ? p->tee_factor : c->tee_factor[p->tee];
    rt *= f > 0 ? f : 1.0;
    if (p->tee == SAI_SCHED_TEE_SGX) {
        int64_t want = j->epc_mib > 0 ? j->epc_mib : 1;
        int64_t paged = want > d->epc ? want - d->epc : 0;
        if (paged > 0)
            rt *= 1.0 + (c->sgx_paging_factor - 1.0) * (double)paged / (double)want;
        rt += c->sgx_start_s + c->sgx_start_ms_mib * (double)d->epc / 1000.0 +
              c->sgx_paged_ms_mib * (double)paged / 1000.0;
    }
    return rt;
}

double sai_sched_node_key(const sai_sched_cluster_t *c, const sai_sched_policy_t *pol,
                          const sai_sched_node_t *n, const sai_sched_job_t *j,
                          const sai_sched_demand_t *d)
{
    const sai_sched_pool_t *p = &c->pools[n->pool];
    double cpu_left = p->cpu_milli > 0 ? (double)(n->cpu_free - d->cpu) / (double)p->cpu_milli : 0;
    double mem_left = p->mem_mib > 0 ? (double)(n->mem_free - d->mem) / (double)p->mem_mib : 0;
    double left = (cpu_left + mem_left) / 2;
    if (left < 0) left = 0;
    if (left > 1) left = 1;
    switch (pol->pick) {
    case SAI_PICK_BEST:
        return 1.0 - left;
    case SAI_PICK_WORST:
        return left;
    case SAI_PICK_EPC_BEST:
        if (p->tee == SAI_SCHED_TEE_SGX && p->epc_mib > 0)
            return 1.0 - (double)(n->epc_free - d->epc) / (double)p->epc_mib;
        return 1.0 - left;
    case SAI_PICK_VAUCHER_BEST:
    case SAI_PICK_VAUCHER_WORST: {
        double f = mem_left;
        if (p->tee == SAI_SCHED_TEE_SGX && p->epc_mib > 0)
            f = (double)(n->epc_free - d->epc) / (double)p->epc_mib;
        if (f < 0) f = 0;
        if (f > 1) f = 1;
        return pol->pick == SAI_PICK_VAUCHER_BEST ? 1.0 - f : f;
    }
    case SAI_PICK_FIT:
        return (double)sai_sched_fit_score(pol->fit, c, n, d) / SAI_FIT_MAX_NODE_SCORE;
    case SAI_PICK_FIRST:
    default:
        return 1.0;
    }
}
