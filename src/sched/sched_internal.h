/*
 * sched_internal.h — private to src/sched/: the per-pool node index.
 */
#ifndef SAI_SCHED_INTERNAL_H
#define SAI_SCHED_INTERNAL_H

#include "secureai/sched.h"

/* A segment tree over the nodes of one pool (all nodes of a pool have the
 * same capacity). Each tree node keeps the maximum free CPU, memory, EPC and
 * CVM slots below it, and the min/max of a policy key; a query walks only
 * subtrees that can hold the demand, and branch-and-bound on the key finds
 * the exact first / best / worst fit in O(log n) in the common case instead
 * of scanning every node. */
typedef struct sai_pool_index {
    uint32_t base, n, size;     /* nodes [base, base+n); size = leaves (power of 2) */
    int64_t *cpu, *mem, *epc, *kmin, *kmax;
    int64_t *cpu_lo, *mem_lo, *epc_lo;  /* minimum free below (NodeResourcesFit bounds) */
    int32_t *cvm;
    int64_t  cpu_cap, mem_cap, epc_cap;
    sai_sched_pick_t pick;
} sai_pool_index_t;

int  sai_sched__pool_index_init(sai_pool_index_t *x, const sai_sched_node_t *nodes, uint32_t base,
                         uint32_t n, const sai_sched_pool_t *p, sai_sched_pick_t pick);
void sai_sched__pool_index_free(sai_pool_index_t *x);
void sai_sched__pool_index_update(sai_pool_index_t *x, const sai_sched_node_t *nodes, uint32_t node);
/* Global node number of the chosen node, or -1. */
int64_t sai_sched__pool_index_query(const sai_pool_index_t *x, const sai_sched_node_t *nodes,
                             const sai_sched_demand_t *d);
/* SAI_PICK_FIT: the fitting node with the highest NodeResourcesFit score,
 * the lowest node number among equal scores (kube-scheduler picks one of
 * them at random; docs/scheduling.md). Branch and bound: MostAllocated's
 * score cannot exceed its value at the subtree's least free capacity,
 * LeastAllocated's at its most; RequestedToCapacityRatio (any shape) is
 * not pruned. *score gets the score. */
int64_t sai_sched__pool_index_query_fit(const sai_pool_index_t *x, const sai_sched_node_t *nodes,
                                 const sai_sched_demand_t *d, const sai_sched_fit_t *f,
                                 const sai_sched_cluster_t *c, int64_t *score);
int64_t sai_sched__pool_index_scan_fit(const sai_pool_index_t *x, const sai_sched_node_t *nodes,
                                const sai_sched_demand_t *d, const sai_sched_fit_t *f,
                                const sai_sched_cluster_t *c, int64_t *score);
/* Reference path: the same choice by a linear scan (tests compare them). */
int64_t sai_sched__pool_index_scan(const sai_pool_index_t *x, const sai_sched_node_t *nodes,
                            const sai_sched_demand_t *d);

#endif
