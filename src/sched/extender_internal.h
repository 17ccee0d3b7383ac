/*
 * extender_internal.h — private state of the extender (extender.c, extender_json.c).
 */
#ifndef SAI_SCHED_EXTENDER_INTERNAL_H
#define SAI_SCHED_EXTENDER_INTERNAL_H

#include <cjson/cJSON.h>

#include "secureai/sched.h"

typedef struct sai_ext_node {
    char    name[254];
    sai_sched_tee tee;
    int64_t cpu_milli, mem_mib, epc_mib;
    int32_t cvm_slots;
} sai_ext_node_t;

struct sai_extender {
    const sai_sched_policy_t *policy;
    sai_ext_node_t *cache;          /* nodeCacheCapable: nodes seen in full requests */
    size_t ncache, cache_cap;
    uint32_t *hidx;                 /* name hash -> cache slot + 1 */
    size_t hcap;
    sai_sched_pool_t *pools;        /* per-request scratch: one pool per node */
    const cJSON **node_obj;
    size_t pools_cap;
    sai_sched_cluster_t cluster;
    struct event_base *base;
    struct evhttp *http;
};

double sai_sched__k8s_quantity(const char *s);

#endif
