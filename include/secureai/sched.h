/*
 * sched.h — scheduling confidential work on mixed clusters.
 *
 * A deterministic discrete-event simulator of a Kubernetes-style cluster with
 * standard, SGX (limited EPC), SEV-SNP and TDX nodes; a table of placement
 * policies; workload readers (the Alibaba OpenB GPU trace, a synthetic
 * generator); metrics (JSON, CSV time series, SVG); a kube-scheduler extender
 * (HTTP, filter/prioritize) that runs the very same policy code; Kubernetes
 * manifest generation. This module does not depend on crypto (it never sees a
 * key: the scheduler is untrusted, see ARCHITECTURE.md).
 *
 * Units: CPU in millicores, memory and EPC in MiB, time in seconds.
 */
#ifndef SECUREAI_SCHED_H
#define SECUREAI_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "secureai/common.h"

typedef enum sai_sched_tee_t {
    SAI_SCHED_TEE_NONE = 0,
    SAI_SCHED_TEE_SGX,
    SAI_SCHED_TEE_SNP,
    SAI_SCHED_TEE_TDX,
    SAI_SCHED_TEE_COUNT
} sai_sched_tee_t;

#define SAI_SCHED_TEE_BIT(k) (1u << (k))
#define SAI_SCHED_TEE_ANY_CONF \
    (SAI_SCHED_TEE_BIT(SAI_SCHED_TEE_SGX) | SAI_SCHED_TEE_BIT(SAI_SCHED_TEE_SNP) | \
     SAI_SCHED_TEE_BIT(SAI_SCHED_TEE_TDX))

typedef enum sai_conf_level_t {
    SAI_CONF_NONE = 0,      /* may run anywhere */
    SAI_CONF_PREFERRED,     /* a TEE if one is free, else a standard node */
    SAI_CONF_REQUIRED       /* only on a node with an allowed TEE */
} sai_conf_level_t;

/* Defaults (docs/scheduling.md cites the sources). */
#define SAI_SCHED_SGX_FACTOR_DEFAULT 1.25   /* CIFAR-10/ResNet-50 reference, SGX ~25% */
#define SAI_SCHED_SNP_FACTOR_DEFAULT 1.17   /* same reference, SEV ~17% */
#define SAI_SCHED_TDX_FACTOR_DEFAULT 1.17   /* assumed equal to SNP (documented) */
#define SAI_SCHED_SGX_START_S       0.100   /* Vaucher et al.: ~100 ms base */
#define SAI_SCHED_SGX_START_MS_MIB  1.6     /* + 1.6 ms per MiB of EPC */
#define SAI_SCHED_SGX_PAGED_MS_MIB  4.5     /* 4.5 ms per MiB once paging */
#define SAI_SCHED_SGX_PAGING_FACTOR 2.8     /* slowdown of the paged share (4.5/1.6) */

typedef struct sai_sched_pool {
    char     name[64];
    uint32_t count;
    int64_t  cpu_milli;         /* allocatable per node */
    int64_t  mem_mib;
    sai_sched_tee_t tee;
    int64_t  epc_mib;           /* usable EPC (SGX only) */
    int32_t  cvm_slots;         /* confidential VMs per node (SNP ASIDs / TDX keys); 0 = none */
    int64_t  pod_cpu_overhead;  /* added per confidential pod (kata runtime class) */
    int64_t  pod_mem_overhead;
    double   speed;             /* relative speed, 1.0 = reference */
    double   cost_per_hour;     /* per node */
    double   tee_factor;        /* runtime multiplier for TEE work; 0 = kind default */
} sai_sched_pool_t;

typedef struct sai_sched_cluster {
    sai_sched_pool_t *pools;
    size_t   npools;
    double   tee_factor[SAI_SCHED_TEE_COUNT];  /* defaults per kind */
    double   sgx_paging_factor;
    double   sgx_start_s, sgx_start_ms_mib, sgx_paged_ms_mib;
} sai_sched_cluster_t;

typedef struct sai_sched_job {
    uint64_t id;
    double   arrival;
    double   runtime;           /* on a standard node of speed 1.0 */
    int64_t  cpu_milli;
    int64_t  mem_mib;
    int64_t  epc_mib;           /* enclave working set when run under SGX */
    uint8_t  conf;              /* sai_conf_level_t */
    uint8_t  allowed;           /* bit mask of TEE kinds (SAI_SCHED_TEE_BIT) */
    int32_t  priority;          /* higher first when the priority queue is on */
} sai_sched_job_t;

typedef struct sai_sched_workload {
    sai_sched_job_t *jobs;      /* sorted by arrival, then id */
    size_t njobs, cap;
    size_t gpu_jobs;            /* trace jobs that requested GPUs (not modelled: see trace.c) */
} sai_sched_workload_t;

/* ---- the node state a policy sees ------------------------------------- */
typedef struct sai_sched_node {
    uint32_t pool;
    int64_t  cpu_free, mem_free, epc_free;
    int32_t  cvm_free;
    uint32_t running;
} sai_sched_node_t;

/* Resources a job takes on one pool (overheads added, EPC clamped). */
typedef struct sai_sched_demand {
    int64_t cpu, mem, epc;
    int32_t cvm;
    bool    uses_tee;           /* runs inside the node's TEE */
} sai_sched_demand_t;

/* ---- policies: one table per policy (src/sched/policy_*.c) -------------- */
typedef enum sai_sched_pick_t {
    SAI_PICK_FIRST = 0,         /* lowest node index that fits */
    SAI_PICK_BEST,              /* least free capacity left (bin packing) */
    SAI_PICK_WORST,             /* most free capacity left (spreading) */
    SAI_PICK_EPC_BEST,          /* least EPC left, then least CPU */
    SAI_PICK_VAUCHER_BEST,      /* Vaucher et al. binpack: least EPC (SGX) / memory left */
    SAI_PICK_VAUCHER_WORST,     /* Vaucher et al. spread: most EPC (SGX) / memory left */
    SAI_PICK_FIT                /* the highest NodeResourcesFit score (policy->fit) */
} sai_sched_pick_t;

/* kube-scheduler's NodeResourcesFit scoring strategies, computed as the
 * plugin does (pkg/scheduler/framework/plugins/noderesources): int64
 * arithmetic, per-resource scores on 0..MaxNodeScore (100), weighted mean
 * with integer division (RequestedToCapacityRatio: rounded), resources whose
 * allocatable is 0 skipped, an extended resource (EPC) skipped when the pod
 * does not request it. requested = what the node's pods request + the pod. */
#define SAI_FIT_MAX_NODE_SCORE 100
typedef enum sai_fit_type_t {
    SAI_FIT_MOST_ALLOCATED = 1,
    SAI_FIT_LEAST_ALLOCATED,
    SAI_FIT_REQUESTED_TO_CAPACITY_RATIO
} sai_fit_type_t;

typedef struct sai_fit_point { int64_t utilization, score; } sai_fit_point_t;  /* 0..100, 0..10 */

typedef struct sai_sched_fit {
    sai_fit_type_t type;
    int64_t w_cpu, w_mem, w_epc;   /* weights of cpu, memory, sgx.intel.com/epc; 0 = not listed */
    sai_fit_point_t shape[8];      /* RequestedToCapacityRatio only, increasing utilization */
    size_t nshape;
} sai_sched_fit_t;

/* Resource order in the arrays below: cpu, memory, EPC. */
int64_t sai_sched_fit_score_raw(const sai_sched_fit_t *f, const int64_t requested[3],
                                const int64_t allocatable[3], const int64_t pod[3]);

typedef struct sai_sched_policy {
    const char *name;
    const char *summary;
    bool safe;                  /* never puts a `required` job on a wrong node */
    bool epc_hard;              /* EPC is a reserved resource (no overcommit) */
    sai_sched_pick_t pick;
    /* Rank of a pool for a job: lower is better, negative = not eligible.
     * Ties are broken by the node scores, then by pool order. */
    double (*pool_rank)(const sai_sched_cluster_t *c, size_t pool, const sai_sched_job_t *j);
    const sai_sched_fit_t *fit;     /* SAI_PICK_FIT: the scoring strategy kube-scheduler runs */
} sai_sched_policy_t;

const sai_sched_policy_t *sai_sched_policy_find(const char *name);
/* NULL-terminated table of every policy. */
extern const sai_sched_policy_t *const sai_sched_policies[];

/* Whether a job may use pool p's TEE / may run on p at all under the
 * confidentiality rule (ignores capacity). */
bool sai_sched_tee_allowed(const sai_sched_job_t *j, sai_sched_tee_t k);
/* The demand of j on pool p under policy pol. */
void sai_sched_demand_on(const sai_sched_cluster_t *c, const sai_sched_policy_t *pol,
                         size_t p, const sai_sched_job_t *j, const sai_sched_node_t *n,
                         sai_sched_demand_t *d);
bool sai_sched_fits(const sai_sched_node_t *n, const sai_sched_demand_t *d);
/* Effective runtime of j on pool p given the EPC it got (SGX paging). */
double sai_sched_runtime_on(const sai_sched_cluster_t *c, size_t p, const sai_sched_job_t *j,
                            const sai_sched_demand_t *d);
/* Whether pool p may take job j at all under pol (confidentiality rule,
 * CVM slots, the size of an empty node); ignores current load. */
bool sai_sched_pool_eligible(const sai_sched_cluster_t *c, const sai_sched_policy_t *pol,
                             size_t p, const sai_sched_job_t *j);
/* NodeResourcesFit's score of node n (of pool n->pool) for demand d. */
int64_t sai_sched_fit_score(const sai_sched_fit_t *f, const sai_sched_cluster_t *c,
                            const sai_sched_node_t *n, const sai_sched_demand_t *d);
/* How much a policy likes node n for job j within its pool, in [0,1]
 * (1 = best): the pick rule (bin packing, spreading, EPC fit) as a number.
 * Used by the extender's prioritize; the simulator uses exact orderings. */
double sai_sched_node_key(const sai_sched_cluster_t *c, const sai_sched_policy_t *pol,
                          const sai_sched_node_t *n, const sai_sched_job_t *j,
                          const sai_sched_demand_t *d);

/* ---- cluster / scenario spec (YAML) ------------------------------------ */
typedef enum sai_sched_wl_kind_t { SAI_WL_NONE = 0, SAI_WL_SYNTHETIC, SAI_WL_ALIBABA } sai_sched_wl_kind_t;

typedef struct sai_sched_synth_opts {
    uint64_t seed;
    size_t   njobs;
    double   rate;              /* arrivals per second (Poisson) */
    double   runtime_min;       /* Pareto scale, seconds */
    double   runtime_alpha;     /* Pareto shape (heavy tail when < 2) */
    double   runtime_max;       /* truncation */
    int64_t  cpu_min, cpu_max;  /* uniform in steps of 250 m */
    int64_t  mem_min, mem_max;
    int64_t  epc_min, epc_max;
    double   conf_fraction;     /* share of `required` jobs */
    double   pref_fraction;     /* share of `preferred` jobs */
    uint8_t  allowed;           /* TEE kinds a confidential job accepts */
} sai_sched_synth_opts_t;

typedef struct sai_sched_trace_opts {
    char     path[1024];        /* openb_pod_list_*.csv */
    uint64_t seed;
    size_t   skip, limit;       /* rows after sorting by arrival; limit 0 = all */
    double   compress;          /* arrival times divided by this (>= 1) */
    double   demand_scale;      /* CPU and memory multiplied by this */
    double   conf_fraction, pref_fraction;
    uint8_t  allowed;
    double   epc_per_gib;       /* EPC working set per GiB requested memory */
    int64_t  epc_max;
    double   runtime_max;       /* cap, seconds (0 = none) */
} sai_sched_trace_opts_t;

typedef struct sai_sched_spec {
    sai_sched_cluster_t cluster;
    sai_sched_wl_kind_t   wl_kind;
    sai_sched_synth_opts_t synth;
    sai_sched_trace_opts_t trace;
    char   policies[16][32];
    size_t npolicies;
    bool   priority_queue;
    bool   backfill;
} sai_sched_spec_t;

void sai_sched_spec_init(sai_sched_spec_t *s);
void sai_sched_spec_free(sai_sched_spec_t *s);
/* Parse a cluster or scenario YAML document. Errors name the line and the
 * field. `base_dir` resolves a relative trace path (may be NULL). */
int sai_sched_spec_parse(sai_sched_spec_t *s, const char *yaml, size_t len,
                         const char *base_dir, sai_error_t *err) SAI_MUST_CHECK;
int sai_sched_spec_load(sai_sched_spec_t *s, const char *path, sai_error_t *err) SAI_MUST_CHECK;
uint64_t sai_sched_cluster_nodes(const sai_sched_cluster_t *c);
const char *sai_sched_tee_name(sai_sched_tee_t k);
int sai_sched_tee_parse(const char *s, sai_sched_tee_t *k);
/* "sgx,sev-snp" -> mask; 0 on error. */
uint8_t sai_sched_tee_mask_parse(const char *s);

/* ---- workloads --------------------------------------------------------- */
void sai_sched_workload_free(sai_sched_workload_t *w);
int sai_sched_workload_push(sai_sched_workload_t *w, const sai_sched_job_t *j, sai_error_t *err);
void sai_sched_workload_sort(sai_sched_workload_t *w);
void sai_sched_synth_defaults(sai_sched_synth_opts_t *o);
int sai_sched_synth_generate(const sai_sched_synth_opts_t *o, sai_sched_workload_t *w,
                             sai_error_t *err) SAI_MUST_CHECK;
void sai_sched_trace_defaults(sai_sched_trace_opts_t *o);
/* Reads the Alibaba OpenB pod list (see docs/scheduling.md for the rule that
 * marks jobs confidential: a keyed hash of seed and pod name). */
int sai_sched_trace_load(const sai_sched_trace_opts_t *o, sai_sched_workload_t *w,
                         sai_error_t *err) SAI_MUST_CHECK;
int sai_sched_trace_parse(const sai_sched_trace_opts_t *o, const char *csv, size_t len,
                          sai_sched_workload_t *w, sai_error_t *err) SAI_MUST_CHECK;
/* Deterministic uniform in [0,1) from a seed and a string. */
double sai_sched_hash_unit(uint64_t seed, const char *s, size_t len);

/* ---- the simulator ----------------------------------------------------- */
typedef struct sai_sched_opts {
    const sai_sched_policy_t *policy;
    bool   priority_queue;
    bool   backfill;
    size_t backfill_window;     /* jobs looked at behind a blocked head (default 32) */
    bool   check_all;           /* full invariant sweep on every event (tests) */
    double sample_every;        /* seconds between CSV samples; 0 = auto */
    FILE  *csv;                 /* optional time series */
    double *job_wait;           /* optional, njobs entries: each job's wait (NaN if never run) */
    bool   linear_scan;         /* reference path: scan every node instead of the index */
} sai_sched_opts_t;

typedef struct sai_sched_pool_metrics {
    double cpu_util, mem_util, epc_util;
    uint64_t jobs;
} sai_sched_pool_metrics_t;

typedef struct sai_sched_metrics {
    char     policy[32];
    uint64_t jobs, completed, unschedulable, events;
    uint64_t violations;        /* `required` jobs placed without an allowed TEE */
    uint64_t invariant_failures;/* capacity exceeded (must stay 0) */
    uint64_t on_tee, paged;
    double   makespan, throughput_per_h;
    double   wait_mean, wait_p50, wait_p95, wait_p99, wait_max;
    double   slowdown_mean, slowdown_p95;
    double   cost_provisioned, cost_used;
    double   wall_s;
    sai_sched_pool_metrics_t *pools;
    size_t   npools;
} sai_sched_metrics_t;

int sai_sched_simulate(const sai_sched_cluster_t *c, const sai_sched_workload_t *w,
                       const sai_sched_opts_t *o, sai_sched_metrics_t *m,
                       sai_error_t *err) SAI_MUST_CHECK;
void sai_sched_metrics_free(sai_sched_metrics_t *m);
int sai_sched_metrics_json(FILE *out, const sai_sched_cluster_t *c, const sai_sched_metrics_t *m);
void sai_sched_compare_table(FILE *out, const sai_sched_metrics_t *m, size_t n);
int sai_sched_compare_svg(FILE *out, const sai_sched_metrics_t *m, size_t n, const char *title);

/* ---- event heap (exposed for tests and the benchmark) -------------------- */
typedef struct sai_sched_event {
    double   t;
    uint64_t seq;               /* insertion order: ties are FIFO */
    uint32_t kind;
    uint32_t idx;
} sai_sched_event_t;

typedef struct sai_sched_heap {
    sai_sched_event_t *a;
    size_t n, cap;
    uint64_t seq;
} sai_sched_heap_t;

int  sai_sched_heap_push(sai_sched_heap_t *h, double t, uint32_t kind, uint32_t idx);
bool sai_sched_heap_pop(sai_sched_heap_t *h, sai_sched_event_t *ev);
void sai_sched_heap_free(sai_sched_heap_t *h);

/* ---- the kube-scheduler extender --------------------------------------- */
typedef struct sai_extender sai_extender_t;

/* Parse an ExtenderArgs JSON body into a job and node list (exposed for the
 * fuzzer). Fills *reply with a JSON result for `filter` (is_filter) or
 * `prioritize`; on malformed input the result carries an Error (filter) or is
 * an empty list with HTTP 400 (prioritize). Returns the HTTP status.
 * *reply is malloc'ed. */
int sai_extender_handle(sai_extender_t *x, bool is_filter, const char *body, size_t len,
                        char **reply);
int sai_extender_new(sai_extender_t **x, const sai_sched_policy_t *pol, sai_error_t *err) SAI_MUST_CHECK;
void sai_extender_free(sai_extender_t *x);
/* Fill the node cache from a v1.NodeList JSON (`kubectl get nodes -o json`),
 * so that nodeCacheCapable requests (NodeNames only) work from the start.
 * Returns the number of nodes loaded via *n. */
int sai_extender_load_nodes(sai_extender_t *x, const char *json, size_t len, size_t *n,
                            sai_error_t *err) SAI_MUST_CHECK;
/* Keep the node cache fed from the Kubernetes API server (nodeCacheCapable;
 * docs/scheduling.md): a thread lists every node (GET /api/v1/nodes,
 * paginated) every refresh_s seconds, and sooner (rate-limited) when a
 * request names a node the cache lacks, and swaps the cache after each
 * complete list. https is verified against ca_file (chain and host); plain
 * http only to a loopback address (tests, `kubectl proxy`). */
typedef struct sai_extender_kube_opts {
    const char *api;          /* "in-cluster", https://HOST[:PORT] or http://LOOPBACK:PORT */
    const char *token_file;   /* bearer token, re-read on every list; NULL: in-cluster's, else none */
    const char *ca_file;      /* CA for https; NULL: in-cluster's (required for an https URL) */
    double refresh_s;         /* seconds between lists; 0 = 30 */
    void (*log)(const char *msg, void *arg);  /* progress and errors; NULL = stderr */
    void *log_arg;
} sai_extender_kube_opts_t;

/* Check the options (URL, scheme, CA given) without reading files or
 * connecting: `--dry-run`. */
int sai_extender_kube_check(const sai_extender_kube_opts_t *o, sai_error_t *err) SAI_MUST_CHECK;
/* Start the lister thread (at most once per extender); sai_extender_free
 * stops it. The first list starts at once; until it completes /healthz
 * answers 503 and NodeNames-only requests fail their nodes. */
int sai_extender_watch_nodes(sai_extender_t *x, const sai_extender_kube_opts_t *o,
                             sai_error_t *err) SAI_MUST_CHECK;
/* Serve on addr:port until sai_extender_stop (or a signal). If port is 0 the
 * bound port is written to *bound (may be NULL) before serving. */
int sai_extender_serve(sai_extender_t *x, const char *addr, uint16_t port,
                       void (*on_ready)(uint16_t port, void *arg), void *arg,
                       sai_error_t *err);
void sai_extender_stop(sai_extender_t *x);

/* ---- Kubernetes manifests ---------------------------------------------- */
typedef struct sai_k8s_opts {
    const char *ns;             /* a DNS label */
    const char *image;
    const char *scheduler_image;/* kube-scheduler, matching the cluster's version */
    const char *extender_url;   /* e.g. http://secureai-extender.secureai.svc:8888 */
    const char *policy;
    const char *kbs_pin;        /* sha256:<hex> of the KBS certificate; NULL = all zero */
    uint32_t workers;
    int64_t  epc_mib;
} sai_k8s_opts_t;

void sai_k8s_defaults(sai_k8s_opts_t *o);
/* Writes the manifests (namespace, KBS, admission policy, extender, second
 * scheduler, pipeline specs, training Jobs) into dir; docs/scheduling.md. */
int sai_k8s_write(const char *dir, const sai_k8s_opts_t *o, sai_error_t *err) SAI_MUST_CHECK;
/* kube-scheduler's NodeResourcesFit scoring strategy for a policy's pick
 * rule: "MostAllocated" or "LeastAllocated". */
const char *sai_k8s_scoring_strategy(const sai_sched_policy_t *pol);

#endif
