/*
 * extender_internal.h — private state of the extender (extender.c, extender_json.c).
 */
#ifndef SAI_EXTENDER_INT_H
#define SAI_EXTENDER_INT_H

#include <cjson/cJSON.h>
#include <pthread.h>

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
    sai_sched_tee_t tee;
    int64_t cpu_milli, mem_mib, epc_mib;
    int32_t cvm_slots;
} sai_ext_node_t;

/* The node cache (nodeCacheCapable): open addressing over slots. */
typedef struct sai_ext_cache {
    sai_ext_node_t *nodes;
    size_t n, cap;
    uint32_t *hidx;                 /* name hash -> slot + 1, 0 = empty */
    size_t hcap;
} sai_ext_cache_t;

typedef struct sai_ext_kube sai_ext_kube_t;   /* kube_nodes.c */

struct sai_extender {
    const sai_sched_policy_t *policy;
    /* mu guards cache (the pointer and what it points to): the event loop
     * reads and fills it, kube_nodes.c's thread swaps in a new one. */
    pthread_mutex_t mu;
    sai_ext_cache_t *cache;
    sai_ext_kube_t *kube;           /* NULL unless --kube-api */
    sai_sched_pool_t *pools;        /* per-request scratch: one pool per node */
    const cJSON **node_obj;
    size_t pools_cap;
    sai_sched_cluster_t cluster;
    struct event_base *base;
    struct evhttp *http;
};

/* A NodeList page from the API server may be at most SAI_KUBE_PAGE_MAX bytes
 * and its parse may allocate at most SAI_KUBE_PAGE_BUDGET (the list runs
 * beside request handling; docs/scheduling.md, "Memory"). */
#define SAI_KUBE_PAGE_MAX (32u << 20)
#define SAI_KUBE_PAGE_BUDGET ((size_t)128 << 20)

void sai_sched__cache_free(sai_ext_cache_t *c);
/* Add the items of one v1.NodeList JSON to c (parsed within budget bytes).
 * *cont: metadata.continue when non-empty (malloc'ed), else NULL; *n: the
 * number of items. */
int sai_sched__nodelist_add(sai_ext_cache_t *c, const char *json, size_t len, size_t budget,
                            char **cont, size_t *n, sai_error_t *err);

/* kube_nodes.c: is the cache fed from the API server, and has one list
 * completed? (false, false without --kube-api) */
void sai_sched__kube_status(sai_ext_kube_t *k, bool *fed, bool *listed);
/* a request named a node the cache lacks: list again soon (rate-limited) */
void sai_sched__kube_kick(sai_ext_kube_t *k);
void sai_sched__kube_stop(sai_ext_kube_t *k);

/* Kubernetes quantities (quantity.c): apimachinery's grammar, exact. */
typedef enum sai_k8s_unit_t { SAI_K8S_MILLI = 0, SAI_K8S_MIB } sai_k8s_unit_t;
#define SAI_K8S_QTY_MAX (INT64_C(1) << 52)   /* saturation, in units */
#define SAI_K8S_QTY_MAX_CHARS 128
/* 0 and *out in units (rounded up or down), or -1 when s is not a
 * non-negative quantity. */
int sai_sched__quantity_parse(const char *s, sai_k8s_unit_t unit, bool round_up, int64_t *out);

#endif
