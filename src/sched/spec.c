/*
 * spec.c — the cluster / scenario YAML (libyaml's document API). A cluster
 * file has `pools:` (and optional `tee:` model overrides); a scenario adds
 * `workload:`, `policies:`, `queue:` and `backfill:`. Every error names the
 * line and the field ("line 7: pools[1].count: ..."). Unknown keys are
 * errors too, so a typo cannot silently fall back to a default.
 * docs/scheduling.md documents every field.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "secureai/sched.h"
#include "secureai/util.h"

#define SPEC_MAX_POOLS 256
#define SPEC_MAX_BYTES (1u << 20)

static const char *const tee_names[SAI_SCHED_TEE_COUNT] = { "none", "sgx", "sev-snp", "tdx" };

const char *sai_sched_tee_name(sai_sched_tee_t k)
{
    return k < SAI_SCHED_TEE_COUNT ? tee_names[k] : "?";
}

int sai_sched_tee_parse(const char *s, sai_sched_tee_t *k)
{
    for (int i = 0; i < SAI_SCHED_TEE_COUNT; i++)
        if (strcmp(s, tee_names[i]) == 0) { *k = (sai_sched_tee_t)i; return 0; }
    if (strcmp(s, "snp") == 0) { *k = SAI_SCHED_TEE_SNP; return 0; }
    return SAI_EINVAL;
}

uint8_t sai_sched_tee_mask_parse(const char *s)
{
    uint8_t m = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        sai_sched_tee_t k;
        if (strcmp(t, "any") == 0) { m |= SAI_SCHED_TEE_ANY_CONF; continue; }
        if (sai_sched_tee_parse(t, &k) != 0 || k == SAI_SCHED_TEE_NONE)
            return 0;
        m |= (uint8_t)SAI_SCHED_TEE_BIT(k);
    }
    return m;
}

void sai_sched_spec_init(sai_sched_spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->cluster.tee_factor[SAI_SCHED_TEE_NONE] = 1.0;
    s->cluster.tee_factor[SAI_SCHED_TEE_SGX] = SAI_SCHED_SGX_FACTOR_DEFAULT;
    s->cluster.tee_factor[SAI_SCHED_TEE_SNP] = SAI_SCHED_SNP_FACTOR_DEFAULT;
    s->cluster.tee_factor[SAI_SCHED_TEE_TDX] = SAI_SCHED_TDX_FACTOR_DEFAULT;
    s->cluster.sgx_paging_factor = SAI_SCHED_SGX_PAGING_FACTOR;
    s->cluster.sgx_start_s = SAI_SCHED_SGX_START_S;
    s->cluster.sgx_start_ms_mib = SAI_SCHED_SGX_START_MS_MIB;
    s->cluster.sgx_paged_ms_mib = SAI_SCHED_SGX_PAGED_MS_MIB;
    sai_sched_synth_defaults(&s->synth);
    sai_sched_trace_defaults(&s->trace);
}

void sai_sched_spec_free(sai_sched_spec_t *s)
{
    free(s->cluster.pools);
    s->cluster.pools = NULL;
    s->cluster.npools = 0;
}

uint64_t sai_sched_cluster_nodes(const sai_sched_cluster_t *c)
{
    uint64_t n = 0;
    for (size_t i = 0; i < c->npools; i++)
        n += c->pools[i].count;
    return n;
}

typedef struct ctx {
    yaml_document_t *doc;
    sai_error_t *err;
    char path[256];
} ctx_t;

static int fail(ctx_t *x, const yaml_node_t *n, const char *fmt, const char *what)
{
    return sai_error_set(x->err, SAI_EINVAL, "line %zu: %s: %s%s",
                         n ? n->start_mark.line + 1 : 0, x->path, fmt, what ? what : "");
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_double(ctx_t *x, const yaml_node_t *n, double lo, double hi, double *out)
{
    const char *s = scalar(n);
    char *end = NULL;
    if (s == NULL || *s == '\0')
        return fail(x, n, "expected a number", NULL);
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return fail(x, n, "expected a number, got ", s);
    if (v < lo || v > hi)
        return fail(x, n, "out of range: ", s);
    *out = v;
    return 0;
}

static int get_int(ctx_t *x, const yaml_node_t *n, int64_t lo, int64_t hi, int64_t *out)
{
    const char *s = scalar(n);
    char *end = NULL;
    if (s == NULL || *s == '\0')
        return fail(x, n, "expected an integer", NULL);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return fail(x, n, "expected an integer, got ", s);
    if (v < lo || v > hi)
        return fail(x, n, "out of range: ", s);
    *out = v;
    return 0;
}

static int get_bool(ctx_t *x, const yaml_node_t *n, bool *out)
{
    const char *s = scalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes"))) { *out = true; return 0; }
    if (s && (!strcmp(s, "false") || !strcmp(s, "no"))) { *out = false; return 0; }
    return fail(x, n, "expected true or false", NULL);
}

static int get_mask(ctx_t *x, const yaml_node_t *n, uint8_t *out)
{
    uint8_t m = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            const yaml_node_t *e = yaml_document_get_node(x->doc, *it);
            const char *s = scalar(e);
            uint8_t b = s ? sai_sched_tee_mask_parse(s) : 0;
            if (b == 0)
                return fail(x, e, "expected sgx, sev-snp or tdx", NULL);
            m |= b;
        }
    } else {
        const char *s = scalar(n);
        m = s ? sai_sched_tee_mask_parse(s) : 0;
    }
    if (m == 0)
        return fail(x, n, "expected a list of TEE kinds (sgx, sev-snp, tdx)", NULL);
    *out = m;
    return 0;
}

#define FOR_PAIRS(x, map, kname, val)                                                  \
    for (yaml_node_pair_t *pr_ = (map)->data.mapping.pairs.start;                       \
         pr_ < (map)->data.mapping.pairs.top; pr_++)                                   \
        for (const yaml_node_t *k_ = yaml_document_get_node((x)->doc, pr_->key),        \
                               *val = yaml_document_get_node((x)->doc, pr_->value);     \
             k_ != NULL; k_ = NULL)                                                    \
            for (const char *kname = scalar(k_) ? scalar(k_) : ""; kname; kname = NULL)

static int parse_pool(ctx_t *x, const yaml_node_t *n, size_t idx, sai_sched_pool_t *p)
{
    char base[32];
    snprintf(base, sizeof base, "pools[%zu]", idx);
    snprintf(x->path, sizeof x->path, "%s", base);
    if (n->type != YAML_MAPPING_NODE)
        return fail(x, n, "expected a mapping", NULL);
    memset(p, 0, sizeof *p);
    p->speed = 1.0;
    bool have_count = false, have_cpu = false, have_mem = false;
    int rc = 0;
    FOR_PAIRS(x, n, key, v) {
        int64_t iv;
        double dv;
        snprintf(x->path, sizeof x->path, "%s.%.64s", base, key);
        if (!strcmp(key, "name")) {
            const char *s = scalar(v);
            if (!s || !*s || strlen(s) >= sizeof p->name)
                return fail(x, v, "expected a name of 1..63 characters", NULL);
            snprintf(p->name, sizeof p->name, "%s", s);
        } else if (!strcmp(key, "count")) {
            if ((rc = get_int(x, v, 0, 1 << 24, &iv))) return rc;
            p->count = (uint32_t)iv; have_count = true;
        } else if (!strcmp(key, "cpu_milli")) {
            if ((rc = get_int(x, v, 1, INT64_C(1) << 40, &p->cpu_milli))) return rc;
            have_cpu = true;
        } else if (!strcmp(key, "memory_mib")) {
            if ((rc = get_int(x, v, 1, INT64_C(1) << 40, &p->mem_mib))) return rc;
            have_mem = true;
        } else if (!strcmp(key, "tee")) {
            const char *s = scalar(v);
            if (!s || sai_sched_tee_parse(s, &p->tee) != 0)
                return fail(x, v, "expected none, sgx, sev-snp or tdx, got ", s ? s : "?");
        } else if (!strcmp(key, "epc_mib")) {
            /* fractional MiB (Vaucher's 93.5) rounds down to whole MiB */
            if ((rc = get_double(x, v, 0, 1 << 20, &dv))) return rc;
            p->epc_mib = (int64_t)floor(dv);
        } else if (!strcmp(key, "cvm_slots")) {
            if ((rc = get_int(x, v, 0, 1 << 20, &iv))) return rc;
            p->cvm_slots = (int32_t)iv;
        } else if (!strcmp(key, "pod_overhead")) {
            if (v->type != YAML_MAPPING_NODE)
                return fail(x, v, "expected a mapping with cpu_milli and memory_mib", NULL);
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
                const yaml_node_t *kn = yaml_document_get_node(x->doc, q->key);
                const yaml_node_t *v2 = yaml_document_get_node(x->doc, q->value);
                const char *k2 = scalar(kn) ? scalar(kn) : "";
                snprintf(x->path, sizeof x->path, "%s.pod_overhead.%.40s", base, k2);
                if (!strcmp(k2, "cpu_milli")) {
                    if ((rc = get_int(x, v2, 0, INT64_C(1) << 32, &p->pod_cpu_overhead))) return rc;
                } else if (!strcmp(k2, "memory_mib")) {
                    if ((rc = get_int(x, v2, 0, INT64_C(1) << 32, &p->pod_mem_overhead))) return rc;
                } else {
                    return fail(x, kn, "unknown field", NULL);
                }
            }
        } else if (!strcmp(key, "speed")) {
            if ((rc = get_double(x, v, 1e-3, 1e3, &p->speed))) return rc;
        } else if (!strcmp(key, "cost_per_hour")) {
            if ((rc = get_double(x, v, 0, 1e9, &p->cost_per_hour))) return rc;
        } else if (!strcmp(key, "tee_factor")) {
            if ((rc = get_double(x, v, 1.0, 100, &p->tee_factor))) return rc;
        } else {
            return fail(x, k_, "unknown field", NULL);
        }
    }
    snprintf(x->path, sizeof x->path, "%s", base);
    if (!have_count || !have_cpu || !have_mem)
        return fail(x, n, "a pool needs count, cpu_milli and memory_mib", NULL);
    if (p->name[0] == '\0')
        snprintf(p->name, sizeof p->name, "pool%zu", idx);
    if (p->tee == SAI_SCHED_TEE_SGX && p->epc_mib <= 0)
        return fail(x, n, "an sgx pool needs epc_mib > 0", NULL);
    if (p->tee != SAI_SCHED_TEE_SGX && p->epc_mib != 0)
        return fail(x, n, "epc_mib only applies to tee: sgx", NULL);
    if ((p->tee == SAI_SCHED_TEE_SNP || p->tee == SAI_SCHED_TEE_TDX) && p->cvm_slots <= 0)
        return fail(x, n, "a sev-snp or tdx pool needs cvm_slots > 0", NULL);
    return 0;
}

static int parse_tee(ctx_t *x, const yaml_node_t *n, sai_sched_cluster_t *c)
{
    if (n->type != YAML_MAPPING_NODE) {
        snprintf(x->path, sizeof x->path, "tee");
        return fail(x, n, "expected a mapping", NULL);
    }
    int rc;
    FOR_PAIRS(x, n, key, v) {
        double dv;
        snprintf(x->path, sizeof x->path, "tee.%.64s", key);
        if (!strcmp(key, "sgx_factor")) { if ((rc = get_double(x, v, 1, 100, &c->tee_factor[SAI_SCHED_TEE_SGX]))) return rc; }
        else if (!strcmp(key, "sev_snp_factor")) { if ((rc = get_double(x, v, 1, 100, &c->tee_factor[SAI_SCHED_TEE_SNP]))) return rc; }
        else if (!strcmp(key, "tdx_factor")) { if ((rc = get_double(x, v, 1, 100, &c->tee_factor[SAI_SCHED_TEE_TDX]))) return rc; }
        else if (!strcmp(key, "sgx_paging_factor")) { if ((rc = get_double(x, v, 1, 1000, &c->sgx_paging_factor))) return rc; }
        else if (!strcmp(key, "sgx_start_ms")) { if ((rc = get_double(x, v, 0, 1e6, &dv))) return rc; c->sgx_start_s = dv / 1000.0; }
        else if (!strcmp(key, "sgx_start_ms_per_mib")) { if ((rc = get_double(x, v, 0, 1e6, &c->sgx_start_ms_mib))) return rc; }
        else if (!strcmp(key, "sgx_paged_ms_per_mib")) { if ((rc = get_double(x, v, 0, 1e6, &c->sgx_paged_ms_mib))) return rc; }
        else return fail(x, k_, "unknown field", NULL);
    }
    return 0;
}

static int parse_workload(ctx_t *x, const yaml_node_t *n, sai_sched_spec_t *s, const char *base_dir)
{
    snprintf(x->path, sizeof x->path, "workload");
    if (n->type != YAML_MAPPING_NODE)
        return fail(x, n, "expected a mapping", NULL);
    int rc;
    sai_sched_synth_opts_t *so = &s->synth;
    sai_sched_trace_opts_t *to = &s->trace;
    FOR_PAIRS(x, n, key, v) {
        int64_t iv;
        double dv;
        snprintf(x->path, sizeof x->path, "workload.%.64s", key);
        if (!strcmp(key, "kind")) {
            const char *k = scalar(v);
            if (k && !strcmp(k, "synthetic")) s->wl_kind = SAI_WL_SYNTHETIC;
            else if (k && !strcmp(k, "alibaba")) s->wl_kind = SAI_WL_ALIBABA;
            else return fail(x, v, "expected synthetic or alibaba", NULL);
        } else if (!strcmp(key, "trace")) {
            const char *p = scalar(v);
            if (!p || !*p)
                return fail(x, v, "expected a path", NULL);
            const char *shared = getenv("SAI_SHARED_DIR");
            int w;
            if (!strncmp(p, "shared:", 7)) {
                if (shared && *shared)
                    w = snprintf(to->path, sizeof to->path, "%s/%s", shared, p + 7);
                else
                    w = snprintf(to->path, sizeof to->path, "%s/../../../shared/%s",
                                 base_dir ? base_dir : ".", p + 7);
            } else if (p[0] == '/' || !base_dir) {
                w = snprintf(to->path, sizeof to->path, "%s", p);
            } else {
                w = snprintf(to->path, sizeof to->path, "%s/%s", base_dir, p);
            }
            if (w < 0 || (size_t)w >= sizeof to->path)
                return fail(x, v, "path too long", NULL);
        } else if (!strcmp(key, "seed")) {
            if ((rc = get_int(x, v, 0, INT64_MAX, &iv))) return rc;
            so->seed = to->seed = (uint64_t)iv;
        } else if (!strcmp(key, "jobs")) {
            if ((rc = get_int(x, v, 0, 1 << 28, &iv))) return rc;
            so->njobs = to->limit = (size_t)iv;
        } else if (!strcmp(key, "skip")) {
            if ((rc = get_int(x, v, 0, 1 << 28, &iv))) return rc;
            to->skip = (size_t)iv;
        } else if (!strcmp(key, "compress")) {
            if ((rc = get_double(x, v, 1e-6, 1e9, &to->compress))) return rc;
        } else if (!strcmp(key, "demand_scale")) {
            if ((rc = get_double(x, v, 1e-6, 1e6, &to->demand_scale))) return rc;
        } else if (!strcmp(key, "confidential")) {
            if ((rc = get_double(x, v, 0, 1, &dv))) return rc;
            so->conf_fraction = to->conf_fraction = dv;
        } else if (!strcmp(key, "preferred")) {
            if ((rc = get_double(x, v, 0, 1, &dv))) return rc;
            so->pref_fraction = to->pref_fraction = dv;
        } else if (!strcmp(key, "allowed")) {
            uint8_t m = 0;
            if ((rc = get_mask(x, v, &m))) return rc;
            so->allowed = to->allowed = m;
        } else if (!strcmp(key, "epc_per_gib")) {
            if ((rc = get_double(x, v, 0, 1e6, &to->epc_per_gib))) return rc;
        } else if (!strcmp(key, "epc_min")) {
            if ((rc = get_int(x, v, 0, 1 << 20, &so->epc_min))) return rc;
        } else if (!strcmp(key, "epc_max")) {
            if ((rc = get_int(x, v, 0, 1 << 20, &iv))) return rc;
            so->epc_max = to->epc_max = iv;
        } else if (!strcmp(key, "runtime_max")) {
            if ((rc = get_double(x, v, 0, 1e12, &dv))) return rc;
            so->runtime_max = to->runtime_max = dv;
        } else if (!strcmp(key, "rate")) {
            if ((rc = get_double(x, v, 1e-9, 1e9, &so->rate))) return rc;
        } else if (!strcmp(key, "runtime_min")) {
            if ((rc = get_double(x, v, 1e-6, 1e12, &so->runtime_min))) return rc;
        } else if (!strcmp(key, "runtime_alpha")) {
            if ((rc = get_double(x, v, 0.05, 100, &so->runtime_alpha))) return rc;
        } else if (!strcmp(key, "cpu_min")) {
            if ((rc = get_int(x, v, 1, INT64_C(1) << 40, &so->cpu_min))) return rc;
        } else if (!strcmp(key, "cpu_max")) {
            if ((rc = get_int(x, v, 1, INT64_C(1) << 40, &so->cpu_max))) return rc;
        } else if (!strcmp(key, "mem_min")) {
            if ((rc = get_int(x, v, 0, INT64_C(1) << 40, &so->mem_min))) return rc;
        } else if (!strcmp(key, "mem_max")) {
            if ((rc = get_int(x, v, 0, INT64_C(1) << 40, &so->mem_max))) return rc;
        } else {
            return fail(x, k_, "unknown field", NULL);
        }
    }
    return 0;
}

int sai_sched_spec_parse(sai_sched_spec_t *s, const char *text, size_t len,
                         const char *base_dir, sai_error_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    ctx_t x = { &doc, err, "" };
    int rc = 0;
    if (len > SPEC_MAX_BYTES)
        return sai_error_set(err, SAI_ELIMIT, "spec larger than %u bytes", SPEC_MAX_BYTES);
    if (!yaml_parser_initialize(&parser))
        return sai_error_set(err, SAI_ENOMEM, "libyaml init failed");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = sai_error_set(err, SAI_EINVAL, "line %zu: %s", parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        rc = sai_error_set(err, SAI_EINVAL, "line %zu: the document must be a mapping with `pools:`",
                           root ? root->start_mark.line + 1 : 1);
        goto out;
    }
    bool have_pools = false;
    FOR_PAIRS(&x, root, key, v) {
        snprintf(x.path, sizeof x.path, "%.64s", key);
        if (!strcmp(key, "pools")) {
            if (v->type != YAML_SEQUENCE_NODE) { rc = fail(&x, v, "expected a list", NULL); goto out; }
            size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (n == 0 || n > SPEC_MAX_POOLS) { rc = fail(&x, v, "expected 1..256 pools", NULL); goto out; }
            free(s->cluster.pools);
            s->cluster.pools = calloc(n, sizeof *s->cluster.pools);
            s->cluster.npools = 0;
            if (!s->cluster.pools) { rc = sai_error_set(err, SAI_ENOMEM, "out of memory"); goto out; }
            for (size_t i = 0; i < n; i++) {
                const yaml_node_t *e = yaml_document_get_node(&doc, v->data.sequence.items.start[i]);
                if ((rc = parse_pool(&x, e, i, &s->cluster.pools[i])) != 0)
                    goto out;
                s->cluster.npools++;
            }
            have_pools = true;
        } else if (!strcmp(key, "tee")) {
            if ((rc = parse_tee(&x, v, &s->cluster))) goto out;
        } else if (!strcmp(key, "workload")) {
            if ((rc = parse_workload(&x, v, s, base_dir))) goto out;
        } else if (!strcmp(key, "policies")) {
            if (v->type != YAML_SEQUENCE_NODE) { rc = fail(&x, v, "expected a list of policy names", NULL); goto out; }
            s->npolicies = 0;
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                const yaml_node_t *e = yaml_document_get_node(&doc, *it);
                const char *name = scalar(e);
                if (!name || !sai_sched_policy_find(name)) { rc = fail(&x, e, "unknown policy ", name ? name : "?"); goto out; }
                if (s->npolicies == 16) { rc = fail(&x, e, "at most 16 policies", NULL); goto out; }
                snprintf(s->policies[s->npolicies++], sizeof s->policies[0], "%s", name);
            }
        } else if (!strcmp(key, "queue")) {
            const char *q = scalar(v);
            if (q && !strcmp(q, "fcfs")) s->priority_queue = false;
            else if (q && !strcmp(q, "priority")) s->priority_queue = true;
            else { rc = fail(&x, v, "expected fcfs or priority", NULL); goto out; }
        } else if (!strcmp(key, "backfill")) {
            if ((rc = get_bool(&x, v, &s->backfill))) goto out;
        } else if (!strcmp(key, "name") || !strcmp(key, "description")) {
            /* free text */
        } else {
            rc = fail(&x, k_, "unknown field", NULL);
            goto out;
        }
    }
    if (!have_pools) {
        rc = sai_error_set(err, SAI_EINVAL, "line 1: pools: missing (a cluster needs at least one pool)");
        goto out;
    }
    if (sai_sched_cluster_nodes(&s->cluster) == 0)
        rc = sai_error_set(err, SAI_EINVAL, "line 1: pools: the cluster has no nodes");
    else if (sai_sched_cluster_nodes(&s->cluster) > (1u << 24))
        rc = sai_error_set(err, SAI_EINVAL, "line 1: pools: more than 16777216 nodes");
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int sai_sched_spec_load(sai_sched_spec_t *s, const char *path, sai_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sai_read_file(path, SPEC_MAX_BYTES, &buf, &len, err);
    if (rc != 0)
        return rc;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0'; else snprintf(dir, sizeof dir, ".");
    rc = sai_sched_spec_parse(s, (const char *)buf, len, dir, err);
    free(buf);
    if (rc != 0)
        sai_error_prefix(err, "%s", path);
    return rc;
}
