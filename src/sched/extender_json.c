/*
 * extender_json.c — the kube-scheduler extender protocol (k8s.io/
 * kube-scheduler/extender/v1) without the HTTP: ExtenderArgs JSON in,
 * ExtenderFilterResult / HostPriorityList JSON out, decided by the same
 * policy code as the simulator (policy.c, policy_*.c).
 *
 * A node becomes a one-node "pool". TEE kind from the labels NFD really
 * publishes: its built-in cpu-security.sgx.enabled / .sev.snp.enabled /
 * .tdx.enabled, or the NodeFeatureRule labels of Intel's and CoCo's setups
 * (intel.feature.node.kubernetes.io/sgx, amd.feature.node.kubernetes.io/snp,
 * intel.feature.node.kubernetes.io/tdx). Capacity from status.allocatable:
 * cpu, memory, sgx.intel.com/epc (Intel's device plugin); confidential-VM
 * slots from the extended resources CoCo's NodeFeatureRules publish,
 * sev-snp.amd.com/esids and tdx.intel.com/keys (absent: not limited here;
 * kube-scheduler counts them anyway when the RuntimeClass overhead asks).
 * A pod's needs: summed container requests (cpu, memory; limits when a
 * request is absent) plus spec.overhead (the RuntimeClass's podFixed); the
 * sgx.intel.com/epc request (=> SGX); runtimeClassName kata-qemu-snp /
 * kata-qemu-nvidia-gpu-snp (=> SEV-SNP), kata-qemu-tdx /
 * kata-qemu-nvidia-gpu-tdx (=> TDX); the label secureai.io/confidentiality
 * (required | preferred | none). A pod labelled `required` without any of
 * those TEE requests is refused on every node: it would run as an ordinary
 * container (the admission policy of `deploy k8s` refuses it too).
 * Quantities are parsed exactly (quantity.c).
 *
 * Failures that no preemption can cure (no TEE, wrong TEE, a pod larger
 * than the node's allocatable or its whole EPC, a pod that cannot be
 * confidential) go to FailedAndUnresolvableNodes; a node missing from the
 * cache goes to FailedNodes (a later request may resolve it).
 *
 * Capacity is judged against allocatable, not current usage: kube-scheduler's
 * own NodeResourcesFit plugin accounts for running pods before it calls us.
 *
 * nodeCacheCapable: when the request carries NodeNames only, node details
 * come from a cache: with --kube-api a complete node list from the API
 * server (kube_nodes.c), refreshed periodically; else (or in addition)
 * what --nodes and earlier requests that carried full Nodes put there. An
 * unknown name fails with a reason saying which (docs/scheduling.md).
 *
 * Untrusted input: every field is optional and type-checked; bodies are
 * capped by the server; nothing here aborts on bad input (fuzz/
 * fuzz_sched_extender.c).
 */
#include <cjson/cJSON.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/sched.h"
#include "sched/extender_internal.h"

#define LBL_SGX "feature.node.kubernetes.io/cpu-security.sgx.enabled"
#define LBL_SNP "feature.node.kubernetes.io/cpu-security.sev.snp.enabled"
#define LBL_TDX "feature.node.kubernetes.io/cpu-security.tdx.enabled"
#define LBL_SGX_RULE "intel.feature.node.kubernetes.io/sgx"
#define LBL_SNP_RULE "amd.feature.node.kubernetes.io/snp"
#define LBL_TDX_RULE "intel.feature.node.kubernetes.io/tdx"
#define RES_EPC "sgx.intel.com/epc"
#define RES_ESIDS "sev-snp.amd.com/esids"
#define RES_TDX_KEYS "tdx.intel.com/keys"
#define LBL_CONF "secureai.io/confidentiality"
#define EXT_MAX_NODES 100000
#define EXT_CACHE_MAX 100000
#define CVM_DEFAULT 1024   /* no slot resource: do not limit */
#define ERR_UNKNOWN "node unknown to the extender's cache (no earlier request carried its Node object)"
#define ERR_UNKNOWN_LISTED "node unknown to the extender's cache (not in the last node list from the " \
    "API server; a new list is requested)"
#define ERR_UNKNOWN_NOT_LISTED "node unknown to the extender's cache (no complete node list from the " \
    "API server yet; see the extender's log)"
#define ERR_NOT_CONF "pod is labelled secureai.io/confidentiality=required but has no confidential " \
    "RuntimeClass (kata-qemu-snp, kata-qemu-tdx, kata-qemu-nvidia-gpu-snp, kata-qemu-nvidia-gpu-tdx) " \
    "and no sgx.intel.com/epc request: it would run as an ordinary container"

/* Confidential RuntimeClasses (the CoCo operator's names) and their TEE. */
static const struct { const char *name; sai_sched_tee_t tee; } conf_rc[] = {
    {"kata-qemu-snp", SAI_SCHED_TEE_SNP}, {"kata-qemu-nvidia-gpu-snp", SAI_SCHED_TEE_SNP},
    {"kata-qemu-tdx", SAI_SCHED_TEE_TDX}, {"kata-qemu-nvidia-gpu-tdx", SAI_SCHED_TEE_TDX},
};

/* The parse budget (docs/scheduling.md, "Memory"): what cJSON allocates
 * while one request is parsed is counted, and the parse fails once it passes
 * SAI_EXT_PARSE_BUDGET. A realistic NodeList costs about 6 bytes of tree per
 * byte of JSON, so a full 64 MiB body fits; a body of tiny values costs
 * about 40 and is refused long before it could take the pod's memory. The
 * hooks are process-wide (cJSON has no per-parse allocator) but count only
 * on a thread inside budgeted_parse(); elsewhere they are malloc and free.
 * The counters are per thread, so the node lister's thread (kube_nodes.c)
 * parses its pages under its own, smaller budget beside a request. */
static _Thread_local size_t parse_left;
static _Thread_local bool parse_counting, parse_over;

static void *budget_malloc(size_t n)
{
    if (!parse_counting)
        return malloc(n);
    if (n > parse_left) {
        parse_over = true;
        return NULL;
    }
    void *p = malloc(n);
    if (p != NULL) {
        size_t u = malloc_usable_size(p);
        parse_left -= u < parse_left ? u : parse_left;
    }
    return p;
}

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void hooks_init(void)
{
    cJSON_Hooks h = {.malloc_fn = budget_malloc, .free_fn = free};
    cJSON_InitHooks(&h);
}

/* NULL and *over set when the budget ran out (the tree built so far is freed) */
static cJSON *budgeted_parse(const char *json, size_t len, size_t budget, bool *over)
{
    pthread_once(&hooks_once, hooks_init);
    parse_left = budget;
    parse_over = false;
    parse_counting = true;
    cJSON *root = cJSON_ParseWithLength(json, len);
    parse_counting = false;
    *over = parse_over;
    if (parse_over) {
        cJSON_Delete(root);
        root = NULL;
    }
    return root;
}

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *obj_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsObject(v) ? v : NULL;
}

static bool label_true(const cJSON *labels, const char *k)
{
    const char *v = str_at(labels, k);
    return v != NULL && strcmp(v, "true") == 0;
}

static int64_t qty(const cJSON *o, const char *k, sai_k8s_unit_t u, bool up)
{
    int64_t v = 0;
    const char *t = o ? str_at(o, k) : NULL;
    return t && sai_sched__quantity_parse(t, u, up, &v) == 0 ? v : 0;
}

/* Parse one v1.Node. Returns false when it has no usable name. */
static bool parse_node(const cJSON *n, sai_ext_node_t *out)
{
    memset(out, 0, sizeof *out);
    const cJSON *md = obj_at(n, "metadata");
    const char *name = md ? str_at(md, "name") : NULL;
    if (name == NULL || *name == '\0' || strlen(name) >= sizeof out->name)
        return false;
    snprintf(out->name, sizeof out->name, "%s", name);
    const cJSON *labels = md ? obj_at(md, "labels") : NULL;
    const cJSON *st = obj_at(n, "status");
    const cJSON *alloc = st ? obj_at(st, "allocatable") : NULL;
    if (alloc == NULL && st != NULL)
        alloc = obj_at(st, "capacity");
    /* capacity rounds down: a node never offers more than it has */
    out->cpu_milli = qty(alloc, "cpu", SAI_K8S_MILLI, false);
    out->mem_mib = qty(alloc, "memory", SAI_K8S_MIB, false);
    int64_t epc = qty(alloc, RES_EPC, SAI_K8S_MIB, false);
    out->tee = SAI_SCHED_TEE_NONE;
    bool sgx = labels && (label_true(labels, LBL_SGX) || label_true(labels, LBL_SGX_RULE));
    bool snp = labels && (label_true(labels, LBL_SNP) || label_true(labels, LBL_SNP_RULE));
    bool tdx = labels && (label_true(labels, LBL_TDX) || label_true(labels, LBL_TDX_RULE));
    if (sgx && epc > 0) {
        out->tee = SAI_SCHED_TEE_SGX;
        out->epc_mib = epc;
    } else if (snp) {
        out->tee = SAI_SCHED_TEE_SNP;
    } else if (tdx) {
        out->tee = SAI_SCHED_TEE_TDX;
    }
    out->cvm_slots = 0;
    if (out->tee == SAI_SCHED_TEE_SNP || out->tee == SAI_SCHED_TEE_TDX) {
        const char *res = out->tee == SAI_SCHED_TEE_SNP ? RES_ESIDS : RES_TDX_KEYS;
        int64_t slots = 0;
        const char *t = alloc ? str_at(alloc, res) : NULL;
        if (t == NULL || sai_sched__quantity_parse(t, SAI_K8S_MILLI, false, &slots) != 0)
            out->cvm_slots = CVM_DEFAULT;
        else
            out->cvm_slots = slots / 1000 > INT32_MAX ? INT32_MAX : (int32_t)(slots / 1000);
    }
    return true;
}

/* Adds one ResourceList's cpu and memory to *cpu, *mem (units: milli, MiB,
 * rounded up). Returns an error sentence or NULL. */
static const char *add_cpu_mem(const cJSON *req, const cJSON *lim, int64_t *cpu, int64_t *mem)
{
    const char *cpu_s = req ? str_at(req, "cpu") : NULL;
    const char *mem_s = req ? str_at(req, "memory") : NULL;
    if (!cpu_s && lim) cpu_s = str_at(lim, "cpu");     /* requests default to limits */
    if (!mem_s && lim) mem_s = str_at(lim, "memory");
    int64_t c = 0, m = 0;
    if ((cpu_s && sai_sched__quantity_parse(cpu_s, SAI_K8S_MILLI, true, &c) != 0) ||
        (mem_s && sai_sched__quantity_parse(mem_s, SAI_K8S_MIB, true, &m) != 0))
        return "a resource quantity is malformed";
    *cpu += c;
    *mem += m;
    if (*cpu > SAI_K8S_QTY_MAX) *cpu = SAI_K8S_QTY_MAX;
    if (*mem > SAI_K8S_QTY_MAX) *mem = SAI_K8S_QTY_MAX;
    return NULL;
}

/* Parse the v1.Pod into a job. Returns 0 or an error sentence; *not_conf
 * is set for a `required` pod that asks for no TEE at all. */
static const char *parse_pod(const cJSON *pod, sai_sched_job_t *j, bool *not_conf)
{
    memset(j, 0, sizeof *j);
    *not_conf = false;
    if (!cJSON_IsObject(pod))
        return "Pod is missing or not an object";
    const cJSON *md = obj_at(pod, "metadata");
    const cJSON *labels = md ? obj_at(md, "labels") : NULL;
    const cJSON *spec = obj_at(pod, "spec");
    const cJSON *containers = spec ? cJSON_GetObjectItemCaseSensitive(spec, "containers") : NULL;
    if (containers != NULL && !cJSON_IsArray(containers))
        return "Pod.spec.containers is not a list";
    const cJSON *c;
    cJSON_ArrayForEach(c, containers) {
        const cJSON *res = obj_at(c, "resources");
        const cJSON *req = res ? obj_at(res, "requests") : NULL;
        const cJSON *lim = res ? obj_at(res, "limits") : NULL;
        const char *e = add_cpu_mem(req, lim, &j->cpu_milli, &j->mem_mib);
        if (e)
            return e;
        const char *epc_s = lim ? str_at(lim, RES_EPC) : NULL;
        if (!epc_s && req) epc_s = str_at(req, RES_EPC);
        int64_t epc = 0;
        if (epc_s && sai_sched__quantity_parse(epc_s, SAI_K8S_MIB, true, &epc) != 0)
            return "the sgx.intel.com/epc request is malformed";
        j->epc_mib += epc;
        if (j->epc_mib > SAI_K8S_QTY_MAX) j->epc_mib = SAI_K8S_QTY_MAX;
    }
    /* the RuntimeClass overhead, set on the pod by the RuntimeClass admission */
    const cJSON *ovh = spec ? obj_at(spec, "overhead") : NULL;
    if (ovh) {
        const char *e = add_cpu_mem(ovh, NULL, &j->cpu_milli, &j->mem_mib);
        if (e)
            return e;
    }
    uint8_t allowed = 0;
    if (j->epc_mib > 0)
        allowed |= SAI_SCHED_TEE_BIT(SAI_SCHED_TEE_SGX);
    const char *rc = spec ? str_at(spec, "runtimeClassName") : NULL;
    for (size_t i = 0; rc && i < sizeof conf_rc / sizeof conf_rc[0]; i++)
        if (strcmp(rc, conf_rc[i].name) == 0)
            allowed |= SAI_SCHED_TEE_BIT(conf_rc[i].tee);
    const char *conf = labels ? str_at(labels, LBL_CONF) : NULL;
    if (conf && strcmp(conf, "required") == 0)
        j->conf = SAI_CONF_REQUIRED;
    else if (conf && strcmp(conf, "preferred") == 0)
        j->conf = SAI_CONF_PREFERRED;
    else if (conf && strcmp(conf, "none") != 0)
        return "label secureai.io/confidentiality must be required, preferred or none";
    if (allowed != 0)
        j->conf = SAI_CONF_REQUIRED;    /* asking for a TEE means needing it, whatever the label */
    else if (j->conf == SAI_CONF_REQUIRED)
        *not_conf = true;
    j->allowed = allowed ? allowed : SAI_SCHED_TEE_ANY_CONF;
    return NULL;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* Open addressing over cache slots: hidx[i] = slot + 1, 0 = empty. */
static const sai_ext_node_t *cache_get(const sai_ext_cache_t *c, const char *name)
{
    if (c == NULL || c->hcap == 0)
        return NULL;
    for (size_t i = name_hash(name) & (c->hcap - 1);; i = (i + 1) & (c->hcap - 1)) {
        uint32_t v = c->hidx[i];
        if (v == 0)
            return NULL;
        if (strcmp(c->nodes[v - 1].name, name) == 0)
            return &c->nodes[v - 1];
    }
}

static void hash_insert(sai_ext_cache_t *c, size_t slot)
{
    size_t i = name_hash(c->nodes[slot].name) & (c->hcap - 1);
    while (c->hidx[i] != 0)
        i = (i + 1) & (c->hcap - 1);
    c->hidx[i] = (uint32_t)slot + 1;
}

static void cache_put(sai_ext_cache_t *c, const sai_ext_node_t *n)
{
    sai_ext_node_t *old = (sai_ext_node_t *)cache_get(c, n->name);
    if (old) { *old = *n; return; }
    if (c->n >= EXT_CACHE_MAX)
        return;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        sai_ext_node_t *na = realloc(c->nodes, nc * sizeof *na);
        if (!na) return;
        c->nodes = na;
        c->cap = nc;
    }
    if (2 * (c->n + 1) > c->hcap) {        /* keep the load factor <= 1/2 */
        size_t nh = c->hcap ? c->hcap * 2 : 128;
        while (nh < 2 * (c->n + 1)) nh *= 2;
        uint32_t *ni = calloc(nh, sizeof *ni);
        if (!ni) return;
        free(c->hidx);
        c->hidx = ni;
        c->hcap = nh;
        for (size_t k = 0; k < c->n; k++)
            hash_insert(c, k);
    }
    c->nodes[c->n] = *n;
    hash_insert(c, c->n);
    c->n++;
}

void sai_sched__cache_free(sai_ext_cache_t *c)
{
    if (c == NULL)
        return;
    free(c->nodes);
    free(c->hidx);
    free(c);
}

int sai_sched__nodelist_add(sai_ext_cache_t *c, const char *json, size_t len, size_t budget,
                            char **cont, size_t *n, sai_error_t *err)
{
    bool over;
    cJSON *root = budgeted_parse(json, len, budget, &over);
    const cJSON *items = root ? cJSON_GetObjectItemCaseSensitive(root, "items") : NULL;
    int rc = 0;
    *n = 0;
    *cont = NULL;
    if (over)
        return sai_error_set(err, SAI_ELIMIT, "the NodeList needs more than the %zu MiB parse budget",
                             budget >> 20);
    if (!cJSON_IsArray(items)) {
        rc = sai_error_set(err, SAI_EFORMAT, "not a NodeList: expected a JSON object with `items`");
        goto out;
    }
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, items) {
        sai_ext_node_t nd;
        if (!parse_node(e, &nd)) {
            rc = sai_error_set(err, SAI_EFORMAT, "items[%d]: node without metadata.name", i);
            goto out;
        }
        cache_put(c, &nd);
        (*n)++;
        i++;
    }
    const cJSON *md = obj_at(root, "metadata");
    const char *ct = md ? str_at(md, "continue") : NULL;
    if (ct && *ct && (*cont = strdup(ct)) == NULL)
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
out:
    cJSON_Delete(root);
    return rc;
}

int sai_extender_load_nodes(sai_extender_t *x, const char *json, size_t len, size_t *n,
                            sai_error_t *err)
{
    char *cont = NULL;
    pthread_mutex_lock(&x->mu);
    int rc = sai_sched__nodelist_add(x->cache, json, len, SAI_EXT_PARSE_BUDGET, &cont, n, err);
    pthread_mutex_unlock(&x->mu);
    free(cont);     /* a file is one complete list */
    return rc;
}

static char *finish_json(cJSON *root, int *status, int code)
{
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    *status = code;
    return s;
}

static char *error_reply(bool is_filter, const char *msg, int *status)
{
    if (is_filter) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNullToObject(r, "Nodes");
        cJSON_AddNullToObject(r, "NodeNames");
        cJSON_AddObjectToObject(r, "FailedNodes");
        cJSON_AddObjectToObject(r, "FailedAndUnresolvableNodes");
        cJSON_AddStringToObject(r, "Error", msg);
        return finish_json(r, status, 200);
    }
    return finish_json(cJSON_CreateArray(), status, 400);
}

/* Build a cluster in which every node is its own pool. */
static int build(sai_extender_t *x, size_t n)
{
    if (n > x->pools_cap) {
        sai_sched_pool_t *np = realloc(x->pools, n * sizeof *np);
        const cJSON **no = realloc(x->node_obj, n * sizeof *no);
        if (np) x->pools = np;
        if (no) x->node_obj = no;
        if (!np || !no) return SAI_ENOMEM;
        x->pools_cap = n;
    }
    return 0;
}

int sai_extender_handle(sai_extender_t *x, bool is_filter, const char *body, size_t len,
                        char **reply)
{
    int status = 200;
    bool over;
    cJSON *args = budgeted_parse(body, len, SAI_EXT_PARSE_BUDGET, &over);
    if (over) {
        *reply = error_reply(is_filter, "ExtenderArgs too costly to parse: more than the parse budget "
                             "(docs/scheduling.md, Memory)", &status);
        return status;
    }
    if (args == NULL || !cJSON_IsObject(args)) {
        cJSON_Delete(args);
        *reply = error_reply(is_filter, "malformed ExtenderArgs: not a JSON object", &status);
        return status;
    }
    sai_sched_job_t job;
    bool not_conf;
    const char *perr = parse_pod(cJSON_GetObjectItemCaseSensitive(args, "Pod"), &job, &not_conf);
    if (perr) {
        cJSON_Delete(args);
        *reply = error_reply(is_filter, perr, &status);
        return status;
    }
    const cJSON *nodes = obj_at(args, "Nodes");
    const cJSON *items = nodes ? cJSON_GetObjectItemCaseSensitive(nodes, "items") : NULL;
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(args, "NodeNames");
    bool full = cJSON_IsArray(items);
    if (!full && !cJSON_IsArray(names)) {
        cJSON_Delete(args);
        *reply = error_reply(is_filter, "ExtenderArgs has neither Nodes.items nor NodeNames", &status);
        return status;
    }
    const cJSON *list = full ? items : names;
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (n > EXT_MAX_NODES) {
        cJSON_Delete(args);
        *reply = error_reply(is_filter, "too many nodes in one request", &status);
        return status;
    }
    sai_ext_node_t *info = calloc(n ? n : 1, sizeof *info);
    const char **fail = calloc(n ? n : 1, sizeof *fail);
    bool *transient = calloc(n ? n : 1, sizeof *transient);  /* FailedNodes, not Unresolvable */
    if (!info || !fail || !transient || build(x, n) != 0) {
        free(info); free(fail); free(transient); cJSON_Delete(args);
        *reply = error_reply(is_filter, "out of memory", &status);
        return status;
    }
    /* 1. resolve every node (under the cache lock: the node lister may be
     * swapping in a fresh list) */
    bool fed, listed, unknown = false;
    sai_sched__kube_status(x->kube, &fed, &listed);
    const char *why_unknown = !fed ? ERR_UNKNOWN
                            : listed ? ERR_UNKNOWN_LISTED : ERR_UNKNOWN_NOT_LISTED;
    size_t i = 0;
    const cJSON *e;
    pthread_mutex_lock(&x->mu);
    cJSON_ArrayForEach(e, list) {
        x->node_obj[i] = e;
        if (full) {
            if (!parse_node(e, &info[i])) { fail[i] = "node has no metadata.name"; info[i].name[0] = 0; }
            else cache_put(x->cache, &info[i]);
        } else {
            const char *nm = cJSON_IsString(e) ? e->valuestring : NULL;
            const sai_ext_node_t *c = nm ? cache_get(x->cache, nm) : NULL;
            if (c) info[i] = *c;
            else {
                fail[i] = why_unknown;
                transient[i] = true;
                unknown = true;
                snprintf(info[i].name, sizeof info[i].name, "%s", nm ? nm : "");
            }
        }
        sai_sched_pool_t *p = &x->pools[i];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%.63s", info[i].name);
        p->count = 1;
        p->cpu_milli = info[i].cpu_milli;
        p->mem_mib = info[i].mem_mib;
        p->tee = info[i].tee;
        p->epc_mib = info[i].epc_mib;
        p->cvm_slots = info[i].cvm_slots;
        p->speed = 1.0;
        if (p->tee == SAI_SCHED_TEE_SNP || p->tee == SAI_SCHED_TEE_TDX) {
            p->pod_cpu_overhead = 0;    /* kata overhead is in the pod's RuntimeClass overhead */
            p->pod_mem_overhead = 0;
        }
        i++;
    }
    pthread_mutex_unlock(&x->mu);
    if (unknown)
        sai_sched__kube_kick(x->kube);
    x->cluster.pools = x->pools;
    x->cluster.npools = n;
    /* 2. filter */
    const sai_sched_policy_t *pol = x->policy;
    double *rank = calloc(n ? n : 1, sizeof *rank);
    if (!rank) {
        free(info); free(fail); free(transient); cJSON_Delete(args);
        *reply = error_reply(is_filter, "out of memory", &status);
        return status;
    }
    double rmin = INFINITY, rmax = -INFINITY;
    for (i = 0; i < n; i++) {
        if (fail[i]) continue;
        const sai_sched_pool_t *p = &x->pools[i];
        sai_sched_demand_t d;
        sai_sched_demand_on(&x->cluster, pol, i, &job, NULL, &d);
        if (not_conf)
            fail[i] = ERR_NOT_CONF;
        else if (d.uses_tee && p->tee == SAI_SCHED_TEE_SGX && job.epc_mib > p->epc_mib)
            fail[i] = "insufficient sgx.intel.com/epc";     /* the device plugin would refuse it */
        else if (job.conf == SAI_CONF_REQUIRED && !d.uses_tee)
            fail[i] = p->tee == SAI_SCHED_TEE_NONE ? "pod requires a TEE; node has none (no NFD TEE label; for SGX no sgx.intel.com/epc)"
                                             : "pod requires a TEE kind this node does not offer";
        else if (!sai_sched_pool_eligible(&x->cluster, pol, i, &job))
            fail[i] = "insufficient allocatable cpu or memory";
        else if ((rank[i] = pol->pool_rank(&x->cluster, i, &job)) < 0)
            fail[i] = "policy excludes this node";
        if (!fail[i]) {
            if (rank[i] < rmin) rmin = rank[i];
            if (rank[i] > rmax) rmax = rank[i];
        }
    }
    cJSON *r;
    if (is_filter) {
        r = cJSON_CreateObject();
        cJSON *fn = cJSON_CreateObject(), *fu = cJSON_CreateObject();
        if (full) {
            cJSON *nl = cJSON_AddObjectToObject(r, "Nodes");
            cJSON *it = cJSON_AddArrayToObject(nl, "items");
            for (i = 0; i < n; i++)
                /* a reference, not a copy: args outlives r, and cJSON only reads it */
                if (!fail[i]) cJSON_AddItemReferenceToArray(it, (cJSON *)x->node_obj[i]);
            cJSON_AddNullToObject(r, "NodeNames");
        } else {
            cJSON_AddNullToObject(r, "Nodes");
            cJSON *nn = cJSON_AddArrayToObject(r, "NodeNames");
            for (i = 0; i < n; i++)
                if (!fail[i]) cJSON_AddItemToArray(nn, cJSON_CreateString(info[i].name));
        }
        /* FailedNodes is a map: report each name once (a hash set keeps this
         * O(n); cJSON's own lookup is a list walk) */
        size_t hcap = 16;
        while (hcap < 2 * n) hcap *= 2;
        uint32_t *seen = calloc(hcap, sizeof *seen);
        for (i = 0; i < n && seen; i++) {
            if (!fail[i] || !info[i].name[0]) continue;
            size_t h = name_hash(info[i].name) & (hcap - 1);
            bool dup = false;
            for (; seen[h]; h = (h + 1) & (hcap - 1))
                if (strcmp(info[seen[h] - 1].name, info[i].name) == 0) { dup = true; break; }
            if (dup) continue;
            seen[h] = (uint32_t)i + 1;
            cJSON_AddStringToObject(transient[i] ? fn : fu, info[i].name, fail[i]);
        }
        free(seen);
        cJSON_AddItemToObject(r, "FailedNodes", fn);
        cJSON_AddItemToObject(r, "FailedAndUnresolvableNodes", fu);
        cJSON_AddStringToObject(r, "Error", "");
    } else {
        r = cJSON_CreateArray();
        for (i = 0; i < n; i++) {
            if (!info[i].name[0]) continue;
            int score = 0;
            if (!fail[i]) {
                /* only what kube-scheduler cannot know: how well the node's
                 * TEE kind suits the pod under the policy. Load (cpu,
                 * memory, EPC in use) is NodeResourcesFit's score, which
                 * kube-scheduler adds to this one. */
                double rs = rmax > rmin ? (rmax - rank[i]) / (rmax - rmin) : 1.0;
                score = (int)lround(10.0 * rs);
                if (score < 0) score = 0;
                if (score > 10) score = 10;
            }
            cJSON *h = cJSON_CreateObject();
            cJSON_AddStringToObject(h, "Host", info[i].name);
            cJSON_AddNumberToObject(h, "Score", score);
            cJSON_AddItemToArray(r, h);
        }
    }
    free(rank);
    free(info);
    free(fail);
    free(transient);
    char *out = finish_json(r, &status, 200);
    cJSON_Delete(args);
    *reply = out;
    return status;
}
