/*
 * spec.c — the pipeline spec: YAML (libyaml's document API) in, a validated
 * sai_pipeline_spec out, and the canonical JSON form whose hash is measured.
 *
 * The YAML is untrusted in the sense that a typo must never turn into a
 * silently different pipeline: every mapping rejects unknown keys, every
 * scalar is type- and range-checked, and every message names the file, the
 * line and the dotted field ("spec.yaml:14: hyper.lr: must be > 0").
 * Aliases and anchors are refused (billion-laughs style growth and spooky
 * action at a distance are not worth the convenience). Fuzzed by
 * fuzz/fuzz_pipeline_spec.c.
 *
 * The canonical form is compact JSON with a fixed key order that holds only
 * what the enclave acts on; host-side paths (sealed_dir, outputs) and the KBS
 * address are left out so that the untrusted host choosing where files live
 * cannot change the measurement, while anything that changes what the code
 * does with the data (hyper-parameters, stages, key resources, CA, pin) does.
 */
#include "secureai/pipeline.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "secureai/tee.h"
#include "secureai/util.h"

static const char *const stage_names[] = {"ingest", "preprocess", "train", "evaluate", "infer"};
#define NSTAGES (sizeof stage_names / sizeof stage_names[0])

const char *sai_pipeline_stage_name(unsigned bit)
{
    for (size_t i = 0; i < NSTAGES; i++)
        if (bit == (1u << i))
            return stage_names[i];
    return "?";
}

typedef struct parser {
    yaml_document_t *doc;
    const char      *name;
    sai_error       *err;
} parser;

SAI_PRINTF(4, 5)
static int fail(parser *p, const yaml_node_t *n, const char *field, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    unsigned long line = n != NULL ? (unsigned long)n->start_mark.line + 1 : 0;
    return sai_error_set(p->err, SAI_EINVAL, "%s:%lu: %s: %s", p->name, line,
                         field[0] ? field : "(top level)", why);
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int want_type(parser *p, const yaml_node_t *n, yaml_node_type_t t, const char *field)
{
    static const char *const what[] = {"nothing", "a scalar", "a list", "a mapping"};
    if (n->type != t)
        return fail(p, n, field, "expected %s, found %s", what[t], what[n->type]);
    return 0;
}

/* Identifiers that end up in URLs and file names. */
static bool ident_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static int get_string(parser *p, const yaml_node_t *n, const char *field, char **out,
                      size_t max, bool ident)
{
    int rc = want_type(p, n, YAML_SCALAR_NODE, field);
    if (rc)
        return rc;
    const char *v = scalar(n);
    size_t len = n->data.scalar.length;
    if (len == 0)
        return fail(p, n, field, "must not be empty");
    if (len > max || strlen(v) != len)
        return fail(p, n, field, "longer than %zu bytes or contains NUL", max);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20)
            return fail(p, n, field, "contains a control character");
    if (ident && !ident_ok(v))
        return fail(p, n, field, "'%s' is not a name ([A-Za-z0-9._-], 1-64 characters)", v);
    char *c = strdup(v);
    if (c == NULL)
        return sai_error_set(p->err, SAI_ENOMEM, "out of memory");
    free(*out);
    *out = c;
    return 0;
}

static int get_uint(parser *p, const yaml_node_t *n, const char *field, unsigned *out,
                    unsigned long long lo, unsigned long long hi)
{
    int rc = want_type(p, n, YAML_SCALAR_NODE, field);
    if (rc)
        return rc;
    const char *v = scalar(n);
    if (!isdigit((unsigned char)v[0]))
        return fail(p, n, field, "'%.40s' is not a non-negative integer", v);
    errno = 0;
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0')
        return fail(p, n, field, "'%.40s' is not a non-negative integer", v);
    if (x < lo || x > hi)
        return fail(p, n, field, "%llu is out of range [%llu, %llu]", x, lo, hi);
    *out = (unsigned)x;
    return 0;
}

static int get_u64(parser *p, const yaml_node_t *n, const char *field, uint64_t *out)
{
    int rc = want_type(p, n, YAML_SCALAR_NODE, field);
    if (rc)
        return rc;
    const char *v = scalar(n);
    errno = 0;
    char *end = NULL;
    if (!isdigit((unsigned char)v[0]))
        return fail(p, n, field, "'%.40s' is not a non-negative integer", v);
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0')
        return fail(p, n, field, "'%.40s' is not a 64-bit non-negative integer", v);
    *out = x;
    return 0;
}

static int get_double(parser *p, const yaml_node_t *n, const char *field, double *out,
                      double lo, double hi, bool lo_open)
{
    int rc = want_type(p, n, YAML_SCALAR_NODE, field);
    if (rc)
        return rc;
    const char *v = scalar(n);
    errno = 0;
    char *end = NULL;
    double x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(x))
        return fail(p, n, field, "'%.40s' is not a number", v);
    if ((lo_open ? x <= lo : x < lo) || x > hi)
        return fail(p, n, field, "%g is out of range %s%g, %g]", x, lo_open ? "(" : "[", lo, hi);
    *out = x;
    return 0;
}

static int get_bool(parser *p, const yaml_node_t *n, const char *field, bool *out)
{
    int rc = want_type(p, n, YAML_SCALAR_NODE, field);
    if (rc)
        return rc;
    const char *v = scalar(n);
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
        *out = false;
    else
        return fail(p, n, field, "'%.40s' is not true or false", v);
    return 0;
}

/* Iterate a mapping: for each pair, call fn(field path, key, value). Duplicate keys are
 * an error (YAML says they are; libyaml does not check). */
typedef int (*pair_fn)(parser *p, const char *field, const char *key,
                       yaml_node_t *kn, yaml_node_t *vn, void *ctx);

static int walk_map(parser *p, yaml_node_t *map, const char *prefix, pair_fn fn, void *ctx,
                    const char *const *required, size_t nreq)
{
    int rc = want_type(p, map, YAML_MAPPING_NODE, prefix);
    if (rc)
        return rc;
    uint32_t seen = 0;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *kn = yaml_document_get_node(p->doc, a->key);
        yaml_node_t *vn = yaml_document_get_node(p->doc, a->value);
        if (kn == NULL || vn == NULL || kn->type != YAML_SCALAR_NODE)
            return fail(p, kn != NULL ? kn : map, prefix, "keys must be plain names");
        const char *key = scalar(kn);
        char f[160];   /* the field's dotted path, for the handler and messages */
        if (snprintf(f, sizeof f, "%s%s%s", prefix, prefix[0] ? "." : "", key) >= (int)sizeof f)
            return fail(p, kn, prefix, "field name too long");
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *k2 = yaml_document_get_node(p->doc, b->key);
            if (k2 != NULL && k2->type == YAML_SCALAR_NODE && strcmp(scalar(k2), key) == 0)
                return fail(p, kn, f, "duplicate field");
        }
        for (size_t i = 0; i < nreq && i < 32; i++)
            if (strcmp(required[i], key) == 0)
                seen |= 1u << i;
        rc = fn(p, f, key, kn, vn, ctx);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < nreq && i < 32; i++)
        if (!(seen & (1u << i)))
            return fail(p, map, prefix, "missing field '%s'", required[i]);
    return 0;
}

static int unknown(parser *p, yaml_node_t *kn, const char *field)
{
    return fail(p, kn, field, "unknown field");
}

/* ---- resource {repo, type, tag} ---------------------------------------- */
static int res_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                    yaml_node_t *vn, void *ctx)
{
    sai_kbs_resource *r = ctx;
    if (strcmp(key, "repo") == 0) return get_string(p, vn, f, &r->repo, 64, true);
    if (strcmp(key, "type") == 0) return get_string(p, vn, f, &r->type, 64, true);
    if (strcmp(key, "tag") == 0)  return get_string(p, vn, f, &r->tag, 64, true);
    return unknown(p, kn, f);
}

static int get_resource(parser *p, yaml_node_t *vn, const char *field, sai_kbs_resource *r)
{
    static const char *const req[] = {"repo", "type", "tag"};
    return walk_map(p, vn, field, res_pair, r, req, 3);
}

/* ---- dataset ------------------------------------------------------------- */
static int dataset_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                        yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec *s = ctx;
    if (strcmp(key, "sealed") == 0)
        return get_string(p, vn, f, &s->dataset.sealed_dir, 4096, false);
    if (strcmp(key, "format") == 0) {
        int rc = get_string(p, vn, f, &s->dataset.format, 16, true);
        if (rc == 0 && strcmp(s->dataset.format, "idx") != 0 && strcmp(s->dataset.format, "cifar10") != 0)
            return fail(p, vn, f, "'%s' is not a known format (idx, cifar10)", s->dataset.format);
        return rc;
    }
    if (strcmp(key, "resource") == 0)
        return get_resource(p, vn, f, &s->dataset.key);
    if (strcmp(key, "identity") == 0) {
        int rc = get_string(p, vn, f, &s->dataset.identity, 64, false);
        if (rc)
            return rc;
        uint8_t tmp[32];
        if (strlen(s->dataset.identity) != 64 || sai_hex_decode(tmp, 32, s->dataset.identity, NULL) != 0)
            return fail(p, vn, f, "must be 64 hex digits (the SHA-256 of the dataset manifest)");
        for (char *c = s->dataset.identity; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        return 0;
    }
    return unknown(p, kn, f);
}

/* ---- model ------------------------------------------------------------------ */
static int model_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                      yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec *s = ctx;
    if (strcmp(key, "arch") == 0)
        return get_string(p, vn, f, &s->model.arch, 32, true);
    if (strcmp(key, "classes") == 0)
        return get_uint(p, vn, f, &s->model.classes, 2, 1000);
    if (strcmp(key, "width") == 0)
        return get_uint(p, vn, f, &s->model.width, 1, 512);
    if (strcmp(key, "key") == 0) {
        s->model.has_key = true;
        return get_resource(p, vn, f, &s->model.key);
    }
    if (strcmp(key, "generate_key") == 0)
        return get_bool(p, vn, f, &s->model.generate_key);
    if (strcmp(key, "key_policy") == 0) {
        int rc = get_string(p, vn, f, &s->model.key_policy, 4096, false);
        if (rc)
            return rc;
        /* kept compact, so the measured form does not depend on spacing */
        cJSON *j = cJSON_Parse(s->model.key_policy);
        char *c = cJSON_IsObject(j) ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        if (c == NULL)
            return fail(p, vn, f, "must be a JSON object (a KBS release policy)");
        free(s->model.key_policy);
        s->model.key_policy = c;
        return 0;
    }
    return unknown(p, kn, f);
}

/* ---- hyper ------------------------------------------------------------------ */
static int hyper_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                      yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec *s = ctx;
    if (strcmp(key, "epochs") == 0)       return get_uint(p, vn, f, &s->hyper.epochs, 1, 1000);
    if (strcmp(key, "batch") == 0)        return get_uint(p, vn, f, &s->hyper.batch, 1, 4096);
    if (strcmp(key, "max_steps") == 0)    return get_uint(p, vn, f, &s->hyper.max_steps, 0, 100000000);
    if (strcmp(key, "train_limit") == 0)  return get_uint(p, vn, f, &s->hyper.train_limit, 0, 100000000);
    if (strcmp(key, "test_limit") == 0)   return get_uint(p, vn, f, &s->hyper.test_limit, 0, 100000000);
    if (strcmp(key, "lr") == 0)           return get_double(p, vn, f, &s->hyper.lr, 0, 10, true);
    if (strcmp(key, "momentum") == 0)     return get_double(p, vn, f, &s->hyper.momentum, 0, 0.9999, false);
    if (strcmp(key, "weight_decay") == 0) return get_double(p, vn, f, &s->hyper.weight_decay, 0, 1, false);
    if (strcmp(key, "seed") == 0)         return get_u64(p, vn, f, &s->hyper.seed);
    return unknown(p, kn, f);
}

/* ---- preprocess ------------------------------------------------------------ */
static int pre_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                    yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec *s = ctx;
    if (strcmp(key, "normalize") == 0)
        return get_bool(p, vn, f, &s->preprocess.normalize);
    if (strcmp(key, "augment") == 0) {
        int rc = want_type(p, vn, YAML_SEQUENCE_NODE, f);
        if (rc)
            return rc;
        s->preprocess.flip = s->preprocess.crop = false;
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
            yaml_node_t *en = yaml_document_get_node(p->doc, *it);
            if (en == NULL || en->type != YAML_SCALAR_NODE)
                return fail(p, en ? en : vn, f, "items must be names");
            if (strcmp(scalar(en), "flip") == 0) s->preprocess.flip = true;
            else if (strcmp(scalar(en), "crop") == 0) s->preprocess.crop = true;
            else return fail(p, en, f, "'%.40s' is not an augmentation (flip, crop)", scalar(en));
        }
        return 0;
    }
    return unknown(p, kn, f);
}

/* ---- kbs ---------------------------------------------------------------- */
/* "sha256:<64 hex>", kept in lower case so the measured form is unique. */
static int get_sha256(parser *p, const yaml_node_t *vn, const char *f, char **out)
{
    int rc = get_string(p, vn, f, out, 71, false);
    uint8_t tmp[32];
    if (rc == 0 && (strncmp(*out, "sha256:", 7) != 0 || strlen(*out) != 71 ||
                    sai_hex_decode(tmp, 32, *out + 7, NULL) != 0))
        return fail(p, vn, f, "must be sha256:<64 hex digits>");
    for (char *c = *out + 7; rc == 0 && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return rc;
}

static int kbs_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                    yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec *s = ctx;
    if (strcmp(key, "url") == 0) {
        int rc = get_string(p, vn, f, &s->kbs.url, 256, false);
        if (rc == 0 && strncmp(s->kbs.url, "http://", 7) != 0 && strncmp(s->kbs.url, "https://", 8) != 0)
            return fail(p, vn, f, "'%s' is not an http:// or https:// URL", s->kbs.url);
        return rc;
    }
    if (strcmp(key, "ca") == 0)
        return get_string(p, vn, f, &s->kbs.ca, 4096, false);
    if (strcmp(key, "pin") == 0)
        return get_sha256(p, vn, f, &s->kbs.pin);
    if (strcmp(key, "wrap_key_sha256") == 0)
        return get_sha256(p, vn, f, &s->kbs.wrap_key_sha256);
    if (strcmp(key, "insecure_http") == 0)
        return get_bool(p, vn, f, &s->kbs.insecure_http);
    if (strcmp(key, "retries") == 0)
        return get_uint(p, vn, f, &s->kbs.retries, 0, 10);
    return unknown(p, kn, f);
}

/* ---- outputs ------------------------------------------------------------ */
/* The sealed model's file name, next to the run's other outputs: a plain
 * name (ident_ok: no slash, not . or ..), none of theirs, and not a dot
 * file (the host's temporary files are .<name>.XXXXXX). */
static bool model_name_ok(const char *n)
{
    static const char *const taken[] = {"run.json", "provenance.json", "report.html"};
    if (!ident_ok(n) || n[0] == '.')
        return false;
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++)
        if (strcmp(n, taken[i]) == 0)
            return false;
    return true;
}

static int out_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                    yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec *s = ctx;
    if (strcmp(key, "dir") == 0)
        return get_string(p, vn, f, &s->outputs.dir, 4096, false);
    if (strcmp(key, "model") == 0) {
        int rc = get_string(p, vn, f, &s->outputs.model_name, 64, true);
        if (rc == 0 && !model_name_ok(s->outputs.model_name))
            return fail(p, vn, f, "'%s' is taken by another output of the run (run.json, provenance.json, "
                        "report.html) or starts with a dot: the model would be lost", s->outputs.model_name);
        return rc;
    }
    return unknown(p, kn, f);
}

/* ---- top level -------------------------------------------------------- */
static int top_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                    yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec *s = ctx;
    if (strcmp(key, "version") == 0) {
        int rc = get_uint(p, vn, f, &s->version, 1, 1000);
        if (rc == 0 && s->version != SAI_SPEC_VERSION)
            return fail(p, vn, f, "version %u is not supported (this build reads %d)", s->version,
                        SAI_SPEC_VERSION);
        return rc;
    }
    if (strcmp(key, "name") == 0)
        return get_string(p, vn, f, &s->name, 64, true);
    if (strcmp(key, "tee") == 0) {
        int rc = get_string(p, vn, f, &s->tee, 16, true);
        if (rc)
            return rc;
        if (sai_tee_kind_from_canonical_name(s->tee) != SAI_TEE_NONE)
            return 0;
        return fail(p, vn, f, "'%s' is not a TEE kind (sim, sev-snp, tdx, sgx)", s->tee);
    }
    if (strcmp(key, "stages") == 0) {
        int rc = want_type(p, vn, YAML_SEQUENCE_NODE, f);
        if (rc)
            return rc;
        s->stages = 0;
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
            yaml_node_t *en = yaml_document_get_node(p->doc, *it);
            if (en == NULL || en->type != YAML_SCALAR_NODE)
                return fail(p, en ? en : vn, f, "items must be stage names");
            size_t i = 0;
            while (i < NSTAGES && strcmp(scalar(en), stage_names[i]) != 0)
                i++;
            if (i == NSTAGES)
                return fail(p, en, f, "'%.40s' is not a stage (ingest, preprocess, train, evaluate, infer)",
                            scalar(en));
            if (s->stages & (1u << i))
                return fail(p, en, f, "stage '%s' is listed twice", stage_names[i]);
            /* Stages run in their canonical order; listing them otherwise
             * would suggest an order the runner does not follow. */
            if (s->stages >= (1u << i))
                return fail(p, en, f, "stage '%s' is out of order (ingest, preprocess, train, evaluate, infer)",
                            stage_names[i]);
            s->stages |= 1u << i;
        }
        if (s->stages == 0)
            return fail(p, vn, f, "must list at least one stage");
        return 0;
    }
    if (strcmp(key, "dataset") == 0) {
        static const char *const req[] = {"sealed", "resource"};
        return walk_map(p, vn, f, dataset_pair, s, req, 2);
    }
    if (strcmp(key, "model") == 0) {
        static const char *const req[] = {"arch"};
        return walk_map(p, vn, f, model_pair, s, req, 1);
    }
    if (strcmp(key, "hyper") == 0)
        return walk_map(p, vn, f, hyper_pair, s, NULL, 0);
    if (strcmp(key, "preprocess") == 0)
        return walk_map(p, vn, f, pre_pair, s, NULL, 0);
    if (strcmp(key, "kbs") == 0) {
        static const char *const req[] = {"url"};
        return walk_map(p, vn, f, kbs_pair, s, req, 1);
    }
    if (strcmp(key, "outputs") == 0) {
        static const char *const req[] = {"dir"};
        return walk_map(p, vn, f, out_pair, s, req, 1);
    }
    return unknown(p, kn, f);
}

static int set_default(char **field, const char *v, sai_error *err)
{
    if (*field != NULL)
        return 0;
    *field = strdup(v);
    return *field ? 0 : sai_error_set(err, SAI_ENOMEM, "out of memory");
}

static void spec_defaults(sai_pipeline_spec *s)
{
    s->version = SAI_SPEC_VERSION;
    s->stages = SAI_STAGE_INGEST | SAI_STAGE_PREPROCESS | SAI_STAGE_TRAIN | SAI_STAGE_EVALUATE;
    s->model.classes = 10;
    s->hyper.epochs = 1;
    s->hyper.batch = 64;
    s->hyper.lr = 0.05;
    s->hyper.momentum = 0.9;
    s->hyper.weight_decay = 0.0005;
    s->hyper.seed = 1;
    s->preprocess.normalize = true;
    s->kbs.retries = 4;
}

/* What must hold before any key is fetched (checked at load, so a spec
 * error never costs a training run): where the model key is, and how the
 * enclave trusts the KBS. */
static int spec_check_kbs(const sai_pipeline_spec *s, const char *name, sai_error *err)
{
    if (!s->model.has_key)
        return sai_error_set(err, SAI_EINVAL, "%s: model.key is required (where the model key is in the "
                             "KBS, or where to register a generated one)", name);
    if (s->kbs.pin == NULL && s->kbs.ca == NULL && !s->kbs.insecure_http)
        return sai_error_set(err, SAI_EINVAL, "%s: the KBS must be pinned (kbs.pin) or CA-anchored (kbs.ca); "
                             "plain HTTP to a test KBS needs kbs.insecure_http: true", name);
    if (s->kbs.url != NULL && strncmp(s->kbs.url, "http://", 7) == 0 && !s->kbs.insecure_http)
        return sai_error_set(err, SAI_EINVAL, "%s: kbs.url %s is plain HTTP, which the enclave refuses unless "
                             "the spec says kbs.insecure_http: true", name, s->kbs.url);
    if (s->model.generate_key && s->kbs.wrap_key_sha256 == NULL)
        return sai_error_set(err, SAI_EINVAL, "%s: model.generate_key needs kbs.wrap_key_sha256 (the KBS's "
                             "key-wrapping key, `secureai kbs info`): the generated key travels to the KBS "
                             "wrapped to it", name);
    return 0;
}

static int spec_finish(sai_pipeline_spec *s, sai_error *err)
{
    int rc;
    if ((rc = set_default(&s->tee, "sim", err)) || (rc = set_default(&s->dataset.format, "idx", err)) ||
        (rc = set_default(&s->outputs.model_name, "model.sealed", err)))
        return rc;
    return 0;
}

int sai_pipeline_spec_parse(sai_pipeline_spec **out, const char *name, const char *yaml,
                            size_t len, sai_error *err)
{
    *out = NULL;
    if (name == NULL)
        name = "spec";
    if (len > SAI_SPEC_MAX_BYTES)
        return sai_error_set(err, SAI_ELIMIT, "%s: larger than %u bytes", name, SAI_SPEC_MAX_BYTES);
    yaml_parser_t yp;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&yp))
        return sai_error_set(err, SAI_ENOMEM, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&yp, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&yp, &doc)) {
        int rc = sai_error_set(err, SAI_EINVAL, "%s:%lu: not valid YAML: %s", name,
                               (unsigned long)yp.problem_mark.line + 1,
                               yp.problem ? yp.problem : "parse error");
        yaml_parser_delete(&yp);
        return rc;
    }
    int rc = 0;
    sai_pipeline_spec *s = calloc(1, sizeof *s);
    parser p = {&doc, name, err};
    if (s == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    spec_defaults(s);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "%s:1: the spec is empty", name);
        goto out;
    }
    /* libyaml resolves aliases into shared node ids; refuse them outright. */
    for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++) {
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
            n->data.scalar.style != YAML_SINGLE_QUOTED_SCALAR_STYLE &&
            n->data.scalar.style != YAML_DOUBLE_QUOTED_SCALAR_STYLE) {
            rc = fail(&p, n, "", "block scalars (| and >) are not accepted in a spec");
            goto out;
        }
    }
    {
        /* An alias makes a node the value of two pairs; count references. */
        size_t nn = (size_t)(doc.nodes.top - doc.nodes.start);
        unsigned char *refs = calloc(nn + 1, 1);
        if (refs == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top && rc == 0; n++) {
            if (n->type == YAML_MAPPING_NODE) {
                for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++)
                    if (a->value > 0 && (size_t)a->value <= nn && refs[a->value]++)
                        rc = fail(&p, yaml_document_get_node(&doc, a->value), "",
                                  "aliases (*name) are not accepted in a spec");
            } else if (n->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
                    if (*it > 0 && (size_t)*it <= nn && refs[*it]++)
                        rc = fail(&p, yaml_document_get_node(&doc, *it), "",
                                  "aliases (*name) are not accepted in a spec");
            }
        }
        free(refs);
        if (rc)
            goto out;
    }
    static const char *const req[] = {"version", "name", "dataset", "model", "kbs", "outputs"};
    rc = walk_map(&p, root, "", top_pair, s, req, sizeof req / sizeof req[0]);
    if (rc)
        goto out;
    if (s->hyper.batch > 0 && s->model.classes < 2) {
        rc = sai_error_set(err, SAI_EINVAL, "%s: model.classes must be at least 2", name);
        goto out;
    }
    if (s->model.generate_key != (s->model.key_policy != NULL) ||
        (s->model.generate_key && !s->model.has_key)) {
        rc = sai_error_set(err, SAI_EINVAL, "%s: model.generate_key: true needs model.key (where to "
                           "register it) and model.key_policy (its release policy), and key_policy "
                           "needs generate_key", name);
        goto out;
    }
    if ((rc = spec_check_kbs(s, name, err)))
        goto out;
    rc = spec_finish(s, err);
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    if (rc) {
        sai_pipeline_spec_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int sai_pipeline_spec_load(sai_pipeline_spec **out, const char *path, sai_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = sai_read_file(path, SAI_SPEC_MAX_BYTES, &buf, &len, err);
    if (rc)
        return sai_error_prefix(err, "%s", path);
    rc = sai_pipeline_spec_parse(out, path, (const char *)buf, len, err);
    free(buf);
    if (rc == 0 && ((*out)->source = strdup(path)) == NULL) {
        sai_pipeline_spec_free(*out);
        *out = NULL;
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    return rc;
}

static void free_res(sai_kbs_resource *r)
{
    free(r->repo);
    free(r->type);
    free(r->tag);
}

void sai_pipeline_spec_free(sai_pipeline_spec *s)
{
    if (s == NULL)
        return;
    free(s->name);
    free(s->tee);
    free(s->dataset.sealed_dir);
    free(s->dataset.format);
    free_res(&s->dataset.key);
    free(s->dataset.identity);
    free(s->model.arch);
    free_res(&s->model.key);
    free(s->model.key_policy);
    free(s->kbs.url);
    free(s->kbs.ca);
    free(s->kbs.pin);
    free(s->kbs.wrap_key_sha256);
    free(s->outputs.dir);
    free(s->outputs.model_name);
    free(s->source);
    free(s);
}

/* ---- canonical form ------------------------------------------------------ */

static cJSON *res_json(const sai_kbs_resource *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "repo", r->repo ? r->repo : "");
    cJSON_AddStringToObject(o, "type", r->type ? r->type : "");
    cJSON_AddStringToObject(o, "tag", r->tag ? r->tag : "");
    return o;
}

int sai_pipeline_spec_canonical(const sai_pipeline_spec *s, const uint8_t *ca_sha256,
                                char **out, size_t *len, sai_error *err)
{
    *out = NULL;
    char hex[65];
    char num[64];
    cJSON *o = cJSON_CreateObject(), *a, *d, *m, *h, *pp, *k;
    if (o == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    cJSON_AddNumberToObject(o, "version", s->version);
    cJSON_AddStringToObject(o, "name", s->name ? s->name : "");
    cJSON_AddStringToObject(o, "tee", s->tee ? s->tee : "sim");
    a = cJSON_AddArrayToObject(o, "stages");
    for (size_t i = 0; a && i < NSTAGES; i++)
        if (s->stages & (1u << i))
            cJSON_AddItemToArray(a, cJSON_CreateString(stage_names[i]));
    d = cJSON_AddObjectToObject(o, "dataset");
    if (d) {
        cJSON_AddStringToObject(d, "format", s->dataset.format ? s->dataset.format : "idx");
        cJSON_AddItemToObject(d, "resource", res_json(&s->dataset.key));
        if (s->dataset.identity)
            cJSON_AddStringToObject(d, "identity", s->dataset.identity);
    }
    m = cJSON_AddObjectToObject(o, "model");
    if (m) {
        cJSON_AddStringToObject(m, "arch", s->model.arch ? s->model.arch : "");
        cJSON_AddNumberToObject(m, "classes", s->model.classes);
        cJSON_AddNumberToObject(m, "width", s->model.width);
        if (s->model.has_key)
            cJSON_AddItemToObject(m, "key", res_json(&s->model.key));
        if (s->model.generate_key) {   /* absent otherwise: older specs keep their hash */
            cJSON_AddBoolToObject(m, "generate_key", 1);
            cJSON_AddStringToObject(m, "key_policy", s->model.key_policy ? s->model.key_policy : "");
        }
    }
    h = cJSON_AddObjectToObject(o, "hyper");
    if (h) {
        cJSON_AddNumberToObject(h, "epochs", s->hyper.epochs);
        cJSON_AddNumberToObject(h, "batch", s->hyper.batch);
        cJSON_AddNumberToObject(h, "max_steps", s->hyper.max_steps);
        cJSON_AddNumberToObject(h, "train_limit", s->hyper.train_limit);
        cJSON_AddNumberToObject(h, "test_limit", s->hyper.test_limit);
        /* Doubles as %.17g strings: exact and independent of cJSON's
         * shortest-representation heuristics. */
        snprintf(num, sizeof num, "%.17g", s->hyper.lr);
        cJSON_AddStringToObject(h, "lr", num);
        snprintf(num, sizeof num, "%.17g", s->hyper.momentum);
        cJSON_AddStringToObject(h, "momentum", num);
        snprintf(num, sizeof num, "%.17g", s->hyper.weight_decay);
        cJSON_AddStringToObject(h, "weight_decay", num);
        snprintf(num, sizeof num, "%llu", (unsigned long long)s->hyper.seed);
        cJSON_AddStringToObject(h, "seed", num);
    }
    pp = cJSON_AddObjectToObject(o, "preprocess");
    if (pp) {
        cJSON_AddBoolToObject(pp, "normalize", s->preprocess.normalize);
        cJSON_AddBoolToObject(pp, "flip", s->preprocess.flip);
        cJSON_AddBoolToObject(pp, "crop", s->preprocess.crop);
    }
    k = cJSON_AddObjectToObject(o, "kbs");
    if (k) {
        if (ca_sha256 != NULL) {
            sai_hex_encode(hex, ca_sha256, 32);
            cJSON_AddStringToObject(k, "ca_sha256", hex);
        }
        if (s->kbs.pin)
            cJSON_AddStringToObject(k, "pin", s->kbs.pin);
        /* absent unless set: a pinned spec without them keeps its hash */
        if (s->kbs.wrap_key_sha256)
            cJSON_AddStringToObject(k, "wrap_key_sha256", s->kbs.wrap_key_sha256);
        if (s->kbs.insecure_http)
            cJSON_AddBoolToObject(k, "insecure_http", 1);
        cJSON_AddNumberToObject(k, "retries", s->kbs.retries);
    }
    cJSON_AddStringToObject(o, "model_file", s->outputs.model_name ? s->outputs.model_name : "model.sealed");
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (txt == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for the canonical spec");
    *out = txt;
    if (len)
        *len = strlen(txt);
    return 0;
}

int sai_pipeline_spec_hash(const sai_pipeline_spec *s, const uint8_t *ca_sha256,
                           uint8_t out[static SAI_SHA256_LEN], sai_error *err)
{
    char *c = NULL;
    size_t n = 0;
    int rc = sai_pipeline_spec_canonical(s, ca_sha256, &c, &n, err);
    if (rc)
        return rc;
    rc = sai_hash(SAI_SHA256, out, c, n, err);
    free(c);
    return rc;
}

/* ---- back from canonical JSON (inside the enclave) ------------------------ */

static int jstr(cJSON *o, const char *key, char **out, bool required, sai_error *err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL && !required)
        return 0;
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' is missing or not a string", key);
    if ((*out = strdup(v->valuestring)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}

static int jnum(cJSON *o, const char *key, unsigned *out, sai_error *err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0)
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' is missing or not a count", key);
    *out = (unsigned)v->valuedouble;
    return 0;
}

static int jdbl(cJSON *o, const char *key, double *out, sai_error *err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char *end = NULL;
    if (!cJSON_IsString(v) || (*out = strtod(v->valuestring, &end), *end != '\0'))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' is not a number string", key);
    return 0;
}

static int jres(cJSON *o, const char *key, sai_kbs_resource *r, sai_error *err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int rc;
    if (!cJSON_IsObject(v))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' is not a resource", key);
    if ((rc = jstr(v, "repo", &r->repo, true, err)) || (rc = jstr(v, "type", &r->type, true, err)) ||
        (rc = jstr(v, "tag", &r->tag, true, err)))
        return rc;
    if (!ident_ok(r->repo) || !ident_ok(r->type) || !ident_ok(r->tag))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' has a bad name", key);
    return 0;
}

static bool sha256_ref_ok(const char *v)
{
    uint8_t tmp[32];
    return strncmp(v, "sha256:", 7) == 0 && strlen(v) == 71 && sai_hex_decode(tmp, 32, v + 7, NULL) == 0;
}

int sai_pipeline_spec_from_canonical(sai_pipeline_spec **out, const char *json, size_t len,
                                     sai_error *err)
{
    *out = NULL;
    if (len > SAI_SPEC_MAX_BYTES)
        return sai_error_set(err, SAI_ELIMIT, "canonical spec too large");
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (o == NULL)
        return sai_error_set(err, SAI_EFORMAT, "canonical spec is not JSON");
    sai_pipeline_spec *s = calloc(1, sizeof *s);
    int rc = 0;
    if (s == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "dataset");
    cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hyper");
    cJSON *pp = cJSON_GetObjectItemCaseSensitive(o, "preprocess");
    cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kbs");
    cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "stages");
    if (!cJSON_IsObject(d) || !cJSON_IsObject(m) || !cJSON_IsObject(h) || !cJSON_IsObject(pp) ||
        !cJSON_IsObject(k) || !cJSON_IsArray(st)) {
        rc = sai_error_set(err, SAI_EFORMAT, "canonical spec lacks a section");
        goto out;
    }
    char *seed = NULL;
    if ((rc = jnum(o, "version", &s->version, err)) || (rc = jstr(o, "name", &s->name, true, err)) ||
        (rc = jstr(o, "tee", &s->tee, true, err)) || (rc = jstr(d, "format", &s->dataset.format, true, err)) ||
        (rc = jres(d, "resource", &s->dataset.key, err)) ||
        (rc = jstr(d, "identity", &s->dataset.identity, false, err)) ||
        (rc = jstr(m, "arch", &s->model.arch, true, err)) || (rc = jnum(m, "classes", &s->model.classes, err)) ||
        (rc = jnum(m, "width", &s->model.width, err)) || (rc = jnum(h, "epochs", &s->hyper.epochs, err)) ||
        (rc = jnum(h, "batch", &s->hyper.batch, err)) || (rc = jnum(h, "max_steps", &s->hyper.max_steps, err)) ||
        (rc = jnum(h, "train_limit", &s->hyper.train_limit, err)) ||
        (rc = jnum(h, "test_limit", &s->hyper.test_limit, err)) || (rc = jdbl(h, "lr", &s->hyper.lr, err)) ||
        (rc = jdbl(h, "momentum", &s->hyper.momentum, err)) ||
        (rc = jdbl(h, "weight_decay", &s->hyper.weight_decay, err)) || (rc = jstr(h, "seed", &seed, true, err)) ||
        (rc = jstr(k, "pin", &s->kbs.pin, false, err)) || (rc = jnum(k, "retries", &s->kbs.retries, err)) ||
        (rc = jstr(k, "wrap_key_sha256", &s->kbs.wrap_key_sha256, false, err)) ||
        (rc = jstr(o, "model_file", &s->outputs.model_name, true, err)))
        goto out;
    s->hyper.seed = strtoull(seed, NULL, 10);
    free(seed);
    s->kbs.insecure_http = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k, "insecure_http"));
    const cJSON *cah = cJSON_GetObjectItemCaseSensitive(k, "ca_sha256");
    if (cah != NULL) {
        if (!cJSON_IsString(cah) || strlen(cah->valuestring) != 64 ||
            sai_hex_decode(s->kbs.ca_sha256, 32, cah->valuestring, NULL) != 0) {
            rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: bad kbs.ca_sha256");
            goto out;
        }
        s->kbs.has_ca_sha256 = true;
    }
    if ((s->kbs.pin && !sha256_ref_ok(s->kbs.pin)) ||
        (s->kbs.wrap_key_sha256 && !sha256_ref_ok(s->kbs.wrap_key_sha256))) {
        rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: kbs.pin / kbs.wrap_key_sha256 is not sha256:<hex>");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(m, "key") != NULL) {
        s->model.has_key = true;
        if ((rc = jres(m, "key", &s->model.key, err)))
            goto out;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "generate_key"))) {
        s->model.generate_key = true;
        if ((rc = jstr(m, "key_policy", &s->model.key_policy, true, err)))
            goto out;
        if (!s->model.has_key) {
            rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: generate_key without key");
            goto out;
        }
    }
    s->preprocess.normalize = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "normalize"));
    s->preprocess.flip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "flip"));
    s->preprocess.crop = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "crop"));
    cJSON *it;
    cJSON_ArrayForEach(it, st)
    {
        for (size_t i = 0; i < NSTAGES; i++)
            if (cJSON_IsString(it) && strcmp(it->valuestring, stage_names[i]) == 0)
                s->stages |= 1u << i;
    }
    if (!ident_ok(s->name) || !model_name_ok(s->outputs.model_name) || s->hyper.batch == 0 ||
        s->model.classes < 2) {
        rc = sai_error_set(err, SAI_EFORMAT, "canonical spec has an invalid value");
        goto out;
    }
    /* The same rules as at load (the CA is represented by its hash here). */
    if (!s->model.has_key) {
        rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: no model.key");
        goto out;
    }
    if (s->kbs.pin == NULL && !s->kbs.has_ca_sha256 && !s->kbs.insecure_http) {
        rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: the KBS must be pinned (kbs.pin) or CA-anchored "
                           "(kbs.ca)");
        goto out;
    }
    if (s->model.generate_key && s->kbs.wrap_key_sha256 == NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: generate_key without kbs.wrap_key_sha256");
        goto out;
    }
out:
    cJSON_Delete(o);
    if (rc) {
        sai_pipeline_spec_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- what each TEE kind protects ------------------------------------------ */
const char *sai_pipeline_tee_statement(const char *tee)
{
    switch (tee == NULL ? SAI_TEE_SIM : sai_tee_kind_from_canonical_name(tee)) {
    case SAI_TEE_SIM:
        return "sim: software isolation only. The platform service (its own system user, the only "
               "holder of the platform key) measured and launched the enclave under a separate user with a "
               "fixed environment; the enclave is hardened (not dumpable, no core dumps, seccomp allow-list, "
               "locked and wiped key pages) and the host only moves ciphertext. That keeps the launching user "
               "and every other non-root user outside the boundary; root, the kernel and the hypervisor are "
               "NOT outside it: there is no hardware memory protection, and the evidence is signed by a "
               "simulated platform key that proves nothing about hardware to a third party.";
    case SAI_TEE_SEV_SNP:
        return "sev-snp: the guest's memory is encrypted and integrity-protected by the AMD secure "
               "processor against the hypervisor and host; the evidence chains to AMD's root key.";
    case SAI_TEE_TDX:
        return "tdx: the trust domain's memory is encrypted and integrity-protected by the CPU against "
               "the VMM and host; the evidence is an Intel DCAP quote.";
    case SAI_TEE_SGX:
        return "sgx: the enclave's pages live in encrypted EPC memory that the OS cannot read; the "
               "evidence is an Intel DCAP quote.";
    default:
        return "unknown TEE kind: no protection is claimed.";
    }
}
