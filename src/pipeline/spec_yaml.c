/*
 * spec_yaml.c — the pipeline spec's YAML reader: libyaml's document API in,
 * a validated sai_pipeline_spec_t out (sai_pipeline_spec_parse/_load).
 *
 * The YAML is untrusted in the sense that a typo must never turn into a
 * silently different pipeline: every mapping rejects unknown keys, every
 * scalar is type- and range-checked, and every message names the file, the
 * line and the dotted field ("spec.yaml:14: hyper.lr: must be > 0").
 * Aliases and anchors are refused (billion-laughs style growth and spooky
 * action at a distance are not worth the convenience). Fuzzed by
 * fuzz/fuzz_pipeline_spec.c.
 */
#include "pipeline/spec_internal.h"

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

typedef struct parser {
    yaml_document_t *doc;
    const char      *name;
    sai_error_t       *err;
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
    if (ident && !sai_pipeline__spec_ident_ok(v))
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
    sai_kbs_resource_t *r = ctx;
    if (strcmp(key, "repo") == 0) return get_string(p, vn, f, &r->repo, 64, true);
    if (strcmp(key, "type") == 0) return get_string(p, vn, f, &r->type, 64, true);
    if (strcmp(key, "tag") == 0)  return get_string(p, vn, f, &r->tag, 64, true);
    return unknown(p, kn, f);
}

static int get_resource(parser *p, yaml_node_t *vn, const char *field, sai_kbs_resource_t *r)
{
    static const char *const req[] = {"repo", "type", "tag"};
    return walk_map(p, vn, field, res_pair, r, req, 3);
}

/* ---- dataset ------------------------------------------------------------- */
/* A tf.train.Example feature key: printable ASCII without spaces (e.g.
 * "image/encoded"), at most 128 bytes. */
static int get_feature_key(parser *p, const yaml_node_t *n, const char *field, char **out)
{
    int rc = get_string(p, n, field, out, 128, false);
    for (const char *c = rc == 0 ? *out : ""; *c; c++)
        if (*c <= 0x20 || *c > 0x7e)
            return fail(p, n, field, "a feature key is printable ASCII without spaces");
    return rc;
}

static int features_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                         yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec_t *s = ctx;
    if (strcmp(key, "image") == 0)
        return get_feature_key(p, vn, f, &s->dataset.tfrecord.image);
    if (strcmp(key, "label") == 0)
        return get_feature_key(p, vn, f, &s->dataset.tfrecord.label);
    return unknown(p, kn, f);
}

static int splits_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                       yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec_t *s = ctx;
    if (strcmp(key, "train") == 0)
        return get_string(p, vn, f, &s->dataset.tfrecord.train, 64, true);
    if (strcmp(key, "test") == 0)
        return get_string(p, vn, f, &s->dataset.tfrecord.test, 64, true);
    return unknown(p, kn, f);
}

/* shape: [c, h, w], c 1..3, h and w 1..1024 (the engine loader's limits). */
static int get_shape(parser *p, yaml_node_t *vn, const char *f, unsigned shape[3])
{
    int rc = want_type(p, vn, YAML_SEQUENCE_NODE, f);
    if (rc)
        return rc;
    size_t n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
    if (n != 3)
        return fail(p, vn, f, "must be [channels, height, width]");
    for (size_t i = 0; i < 3; i++) {
        yaml_node_t *en = yaml_document_get_node(p->doc, vn->data.sequence.items.start[i]);
        if (en == NULL)
            return fail(p, vn, f, "bad item");
        if ((rc = get_uint(p, en, f, &shape[i], 1, i == 0 ? 3 : 1024)))
            return rc;
    }
    return 0;
}

static int dataset_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                        yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec_t *s = ctx;
    if (strcmp(key, "sealed") == 0)
        return get_string(p, vn, f, &s->dataset.sealed_dir, 4096, false);
    if (strcmp(key, "format") == 0) {
        int rc = get_string(p, vn, f, &s->dataset.format, 16, true);
        if (rc == 0 && strcmp(s->dataset.format, "idx") != 0 && strcmp(s->dataset.format, "cifar10") != 0 &&
            strcmp(s->dataset.format, "tfrecord") != 0)
            return fail(p, vn, f, "'%s' is not a known format (idx, cifar10, tfrecord)", s->dataset.format);
        return rc;
    }
    if (strcmp(key, "features") == 0) {
        static const char *const req[] = {"image", "label"};
        return walk_map(p, vn, f, features_pair, s, req, 2);
    }
    if (strcmp(key, "splits") == 0)
        return walk_map(p, vn, f, splits_pair, s, NULL, 0);
    if (strcmp(key, "shape") == 0)
        return get_shape(p, vn, f, s->dataset.tfrecord.shape);
    if (strcmp(key, "image_scale") == 0)
        return get_double(p, vn, f, &s->dataset.tfrecord.scale, -1e6, 1e6, false);
    if (strcmp(key, "image_offset") == 0)
        return get_double(p, vn, f, &s->dataset.tfrecord.offset, -1e6, 1e6, false);
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
    sai_pipeline_spec_t *s = ctx;
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
    sai_pipeline_spec_t *s = ctx;
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
    sai_pipeline_spec_t *s = ctx;
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
    sai_pipeline_spec_t *s = ctx;
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

/* ---- dist ------------------------------------------------------------------ */
static int dist_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                     yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec_t *s = ctx;
    int rc;
    if (strcmp(key, "workers") == 0)
        return get_uint(p, vn, f, &s->dist.workers, 1, SAI_SPEC_MAX_WORKERS);
    if (strcmp(key, "transport") == 0) {
        if ((rc = get_string(p, vn, f, &s->dist.transport, 8, true)) == 0 &&
            strcmp(s->dist.transport, "tcp") != 0 && strcmp(s->dist.transport, "mpi") != 0)
            return fail(p, vn, f, "'%s' is not a transport (tcp, mpi)", s->dist.transport);
        return rc;
    }
    if (strcmp(key, "algorithm") == 0) {
        if ((rc = get_string(p, vn, f, &s->dist.algorithm, 8, true)) == 0 &&
            strcmp(s->dist.algorithm, "ring") != 0 && strcmp(s->dist.algorithm, "ps") != 0)
            return fail(p, vn, f, "'%s' is not an algorithm (ring, ps)", s->dist.algorithm);
        return rc;
    }
    if (strcmp(key, "servers") == 0)   /* ps only; checked against workers in spec_finish */
        return get_uint(p, vn, f, &s->dist.servers, 1, SAI_SPEC_MAX_PS_WORKERS);
    if (strcmp(key, "checkpoint_every") == 0)
        return get_uint(p, vn, f, &s->dist.checkpoint_every, 1, 1000);
    if (strcmp(key, "rendezvous") == 0) {
        if ((rc = get_string(p, vn, f, &s->dist.rendezvous, 300, false)) == 0 &&
            !sai_pipeline__spec_hostport_ok(s->dist.rendezvous))
            return fail(p, vn, f, "'%s' is not HOST:PORT", s->dist.rendezvous);
        return rc;
    }
    return unknown(p, kn, f);
}

/* ---- outputs ------------------------------------------------------------ */
static int out_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                    yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec_t *s = ctx;
    if (strcmp(key, "dir") == 0)
        return get_string(p, vn, f, &s->outputs.dir, 4096, false);
    if (strcmp(key, "model") == 0) {
        int rc = get_string(p, vn, f, &s->outputs.model_name, 64, true);
        if (rc == 0 && !sai_pipeline__spec_model_name_ok(s->outputs.model_name))
            return fail(p, vn, f, "'%s' is taken by another output of the run (run.json, provenance.json, "
                        "report.html) or starts with a dot: the model would be lost", s->outputs.model_name);
        return rc;
    }
    return unknown(p, kn, f);
}

/* ---- train (framework mode) --------------------------------------------- */
#define SAI_SPEC_MAX_ARGS 64
static int train_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                      yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec_t *s = ctx;
    int rc;
    if (strcmp(key, "framework") == 0) {
        if ((rc = get_string(p, vn, f, &s->framework.framework, 16, true)))
            return rc;
        if (strcmp(s->framework.framework, "pytorch") != 0)
            return fail(p, vn, f, "'%s' is not a supported framework (pytorch)", s->framework.framework);
        return 0;
    }
    if (strcmp(key, "script") == 0)
        return get_string(p, vn, f, &s->framework.script_path, 4096, false);
    if (strcmp(key, "args") == 0) {
        if ((rc = want_type(p, vn, YAML_SEQUENCE_NODE, f)))
            return rc;
        size_t n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
        if (n > SAI_SPEC_MAX_ARGS)
            return fail(p, vn, f, "more than %d arguments", SAI_SPEC_MAX_ARGS);
        s->framework.args = calloc(n ? n : 1, sizeof *s->framework.args);
        if (s->framework.args == NULL)
            return sai_error_set(p->err, SAI_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *en = yaml_document_get_node(p->doc, vn->data.sequence.items.start[i]);
            if (en == NULL)
                return fail(p, vn, f, "bad item");
            if ((rc = get_string(p, en, f, &s->framework.args[i], 1024, false)))
                return rc;
            s->framework.nargs = i + 1;
        }
        return 0;
    }
    return unknown(p, kn, f);
}

/* ---- top level -------------------------------------------------------- */
static int top_pair(parser *p, const char *f, const char *key, yaml_node_t *kn,
                    yaml_node_t *vn, void *ctx)
{
    sai_pipeline_spec_t *s = ctx;
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
            while (i < SAI_SPEC_NSTAGES && strcmp(scalar(en), sai_spec_stage_names[i]) != 0)
                i++;
            if (i == SAI_SPEC_NSTAGES)
                return fail(p, en, f, "'%.40s' is not a stage (ingest, preprocess, train, evaluate, infer; or serve alone)",
                            scalar(en));
            if (s->stages & (1u << i))
                return fail(p, en, f, "stage '%s' is listed twice", sai_spec_stage_names[i]);
            /* Stages run in their canonical order; listing them otherwise
             * would suggest an order the runner does not follow. */
            if (s->stages >= (1u << i))
                return fail(p, en, f, "stage '%s' is out of order (ingest, preprocess, train, evaluate, infer)",
                            sai_spec_stage_names[i]);
            s->stages |= 1u << i;
        }
        if (s->stages == 0)
            return fail(p, vn, f, "must list at least one stage");
        /* Serving is its own enclave (measured as such: a key released to
         * a server is not released to a trainer, docs/serving.md). */
        if ((s->stages & SAI_STAGE_SERVE) && s->stages != SAI_STAGE_SERVE)
            return fail(p, vn, f, "serve is a spec of its own: stages: [serve]");
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
    if (strcmp(key, "dist") == 0)
        return walk_map(p, vn, f, dist_pair, s, NULL, 0);
    if (strcmp(key, "train") == 0) {
        static const char *const req[] = {"framework", "script"};
        return walk_map(p, vn, f, train_pair, s, req, 2);
    }
    if (strcmp(key, "outputs") == 0) {
        static const char *const req[] = {"dir"};
        return walk_map(p, vn, f, out_pair, s, req, 1);
    }
    return unknown(p, kn, f);
}

static int set_default(char **field, const char *v, sai_error_t *err)
{
    if (*field != NULL)
        return 0;
    *field = strdup(v);
    return *field ? 0 : sai_error_set(err, SAI_ENOMEM, "out of memory");
}

static void spec_defaults(sai_pipeline_spec_t *s)
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
    s->dataset.tfrecord.scale = 1.0;
}

/* dataset.format tfrecord needs its feature mapping and shape; the mapping
 * means nothing to another format, so it is refused there rather than
 * silently ignored. */
static int spec_check_dataset(sai_pipeline_spec_t *s, const char *name, sai_error_t *err)
{
    bool tf = strcmp(s->dataset.format, "tfrecord") == 0;
    bool mapped = s->dataset.tfrecord.image != NULL || s->dataset.tfrecord.shape[0] != 0 ||
                  s->dataset.tfrecord.train != NULL || s->dataset.tfrecord.test != NULL ||
                  s->dataset.tfrecord.scale != 1.0 || s->dataset.tfrecord.offset != 0.0;
    if (!tf && mapped)
        return sai_error_set(err, SAI_EINVAL, "%s: dataset.features, shape, splits, image_scale and "
                             "image_offset apply only to dataset.format: tfrecord", name);
    if (!tf)
        return 0;
    if (s->dataset.tfrecord.image == NULL || s->dataset.tfrecord.shape[0] == 0)
        return sai_error_set(err, SAI_EINVAL, "%s: dataset.format tfrecord needs dataset.features {image, "
                             "label} and dataset.shape [c, h, w]", name);
    if (s->model.classes > 256)
        return sai_error_set(err, SAI_EINVAL, "%s: a TFRecord dataset has at most 256 classes", name);
    int rc;
    if ((rc = set_default(&s->dataset.tfrecord.train, "train", err)) ||
        (rc = set_default(&s->dataset.tfrecord.test, "test", err)))
        return rc;
    return 0;
}

/* What must hold before any key is fetched (checked at load, so a spec
 * error never costs a training run): where the model key is, and how the
 * enclave trusts the KBS. */
static int spec_check_kbs(const sai_pipeline_spec_t *s, const char *name, sai_error_t *err)
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

static int spec_finish(sai_pipeline_spec_t *s, sai_error_t *err)
{
    int rc;
    if ((rc = set_default(&s->tee, "sim", err)) || (rc = set_default(&s->dataset.format, "idx", err)) ||
        (rc = set_default(&s->dist.transport, "tcp", err)) || (rc = set_default(&s->dist.algorithm, "ring", err)) ||
        (rc = set_default(&s->outputs.model_name, "model.sealed", err)))
        return rc;
    if (s->dist.checkpoint_every > 0 && s->dist.workers < 2)
        return sai_error_set(err, SAI_EINVAL, "dist.checkpoint_every: only a distributed job (dist.workers >= 2) "
                             "checkpoints");
    /* The parameter-server mode (docs/distributed.md): S servers on ranks
     * 0..S-1, S = workers unless dist.servers says fewer. */
    bool ps = strcmp(s->dist.algorithm, "ps") == 0;
    if (s->dist.servers > 0 && !(ps && s->dist.workers >= 2))
        return sai_error_set(err, SAI_EINVAL, "dist.servers: only the parameter-server mode of a distributed job "
                             "(dist.algorithm: ps, dist.workers >= 2) has servers");
    if (ps && s->dist.workers >= 2) {
        if (s->dist.workers > SAI_SPEC_MAX_PS_WORKERS)
            return sai_error_set(err, SAI_EINVAL, "dist.algorithm ps: at most %u workers (each enclave gets one "
                                 "stream per peer in one message); use ring for %u", SAI_SPEC_MAX_PS_WORKERS,
                                 s->dist.workers);
        if (s->dist.servers == 0)
            s->dist.servers = s->dist.workers;
        if (s->dist.servers > s->dist.workers)
            return sai_error_set(err, SAI_EINVAL, "dist.servers %u: more servers than the %u workers (they run on "
                                 "ranks 0..servers-1)", s->dist.servers, s->dist.workers);
    }
    return 0;
}

int sai_pipeline_spec_parse(sai_pipeline_spec_t **out, const char *name, const char *yaml,
                            size_t len, sai_error_t *err)
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
    sai_pipeline_spec_t *s = calloc(1, sizeof *s);
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
    if ((rc = spec_finish(s, err)) || (rc = spec_check_dataset(s, name, err)))
        goto out;
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

int sai_pipeline_spec_load(sai_pipeline_spec_t **out, const char *path, sai_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = sai_read_file(path, SAI_SPEC_MAX_BYTES, &buf, &len, err);
    if (rc)
        return sai_error_prefix(err, "%s", path);
    rc = sai_pipeline_spec_parse(out, path, (const char *)buf, len, err);
    free(buf);
    /* Framework mode: the script's bytes, the interpreter's and torch's
     * versions and hashes go into the measured spec (framework.c). */
    if (rc == 0 && (*out)->framework.framework != NULL &&
        (rc = sai_pipeline__framework_resolve(*out, path, err)) != 0) {
        sai_pipeline_spec_free(*out);
        *out = NULL;
        return rc;
    }
    if (rc == 0 && ((*out)->source = strdup(path)) == NULL) {
        sai_pipeline_spec_free(*out);
        *out = NULL;
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    return rc;
}
