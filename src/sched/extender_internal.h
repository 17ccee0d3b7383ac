/*
 * extender_internal.h — private state of the extender (extender.c, extender_json.c).
 */
#ifndef SAI_EXTENDER_INT_H
#define SAI_EXTENDER_INT_H

#include <cjson/cJSON.h>

#include "secureai/sched.h"

/* Memory (docs/scheduling.md, "Memory"): a request body is at most
 * SAI_EXT_MAX_BODY, and parsing it may allocate at most SAI_EXT_PARSE_BUDGET;
 * with the body held twice (input buffer, contiguous copy) and the reply,
 * peak RSS stays under the 1Gi limit deploy k8s gives the extender
 * (test_extender_memory.sh measures it). */
#define SAI_EXT_MAX_BODY (64u << 20)
#define SAI_EXT_PARSE_BUDGET ((size_t)512 << 20)

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

/* Kubernetes quantities (quantity.c): apimachinery's grammar, exact. */
typedef enum sai_k8s_unit { SAI_K8S_MILLI = 0, SAI_K8S_MIB } sai_k8s_unit;
#define SAI_K8S_QTY_MAX (INT64_C(1) << 52)   /* saturation, in units */
#define SAI_K8S_QTY_MAX_CHARS 128
/* 0 and *out in units (rounded up or down), or -1 when s is not a
 * non-negative quantity. */
int sai_sched__quantity_parse(const char *s, sai_k8s_unit unit, bool round_up, int64_t *out);

#endif
