/*
 * spec_canon.c — the pipeline spec's canonical form: compact JSON with a
 * fixed key order, whose hash is measured (sai_pipeline_spec_canonical,
 * _hash), and the way back from it inside the enclave
 * (sai_pipeline_spec_from_canonical), which applies the load-time rules
 * again.
 *
 * The canonical form holds only what the enclave acts on; host-side paths
 * (sealed_dir, outputs) and the KBS address are left out so that the
 * untrusted host choosing where files live cannot change the measurement,
 * while anything that changes what the code does with the data
 * (hyper-parameters, stages, key resources, CA, pin) does.
 */
#include "pipeline/spec_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"

static cJSON *res_json(const sai_kbs_resource_t *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "repo", r->repo ? r->repo : "");
    cJSON_AddStringToObject(o, "type", r->type ? r->type : "");
    cJSON_AddStringToObject(o, "tag", r->tag ? r->tag : "");
    return o;
}

/* train: the framework, the script (name, SHA-256, bytes), its arguments,
 * the interpreter (path, SHA-256, version), torch's version and the
 * runtime's hash: everything the enclave checks before running a line. */
static int framework_json(cJSON *o, const sai_pipeline_spec_t *s, sai_error_t *err)
{
    const sai_pipeline_framework_t *f = &s->framework;
    if (f->script == NULL || f->script_name == NULL || f->python_sha256 == NULL || f->python_version == NULL ||
        f->torch_version == NULL || f->runtime_sha256 == NULL)
        return sai_error_set(err, SAI_EINVAL, "framework mode: the script and the runtime are resolved when "
                             "the spec is loaded from its file (sai_pipeline_spec_load)");
    uint8_t h[32];
    char hex[65], *b64 = NULL;
    int rc;
    if ((rc = sai_hash(SAI_SHA256, h, f->script, f->script_len, err)) ||
        (rc = sai_b64url_encode(&b64, f->script, f->script_len, err)))
        return rc;
    sai_hex_encode(hex, h, 32);
    cJSON *t = cJSON_AddObjectToObject(o, "train"), *sc, *a, *py, *tc;
    if (t == NULL || (sc = cJSON_AddObjectToObject(t, "script")) == NULL) {
        free(b64);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    cJSON_AddStringToObject(t, "framework", f->framework);
    cJSON_AddStringToObject(sc, "name", f->script_name);
    cJSON_AddStringToObject(sc, "sha256", hex);
    cJSON_AddStringToObject(sc, "bytes", b64);
    free(b64);
    a = cJSON_AddArrayToObject(t, "args");
    for (size_t i = 0; a && i < f->nargs; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(f->args[i]));
    if ((py = cJSON_AddObjectToObject(t, "python")) != NULL) {
        cJSON_AddStringToObject(py, "path", SAI_FRAMEWORK_PYTHON);
        cJSON_AddStringToObject(py, "sha256", f->python_sha256);
        cJSON_AddStringToObject(py, "version", f->python_version);
    }
    if ((tc = cJSON_AddObjectToObject(t, "torch")) != NULL)
        cJSON_AddStringToObject(tc, "version", f->torch_version);
    cJSON_AddStringToObject(t, "runtime_sha256", f->runtime_sha256);
    return 0;
}

static bool hex64_ok(const char *v)
{
    uint8_t tmp[32];
    return v != NULL && strlen(v) == 64 && sai_hex_decode(tmp, 32, v, NULL) == 0;
}

int sai_pipeline_spec_canonical(const sai_pipeline_spec_t *s, const uint8_t *ca_sha256,
                                char **out, size_t *len, sai_error_t *err)
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
    for (size_t i = 0; a && i < SAI_SPEC_NSTAGES; i++)
        if (s->stages & (1u << i))
            cJSON_AddItemToArray(a, cJSON_CreateString(sai_spec_stage_names[i]));
    d = cJSON_AddObjectToObject(o, "dataset");
    if (d) {
        cJSON_AddStringToObject(d, "format", s->dataset.format ? s->dataset.format : "idx");
        cJSON_AddItemToObject(d, "resource", res_json(&s->dataset.key));
        if (s->dataset.identity)
            cJSON_AddStringToObject(d, "identity", s->dataset.identity);
        /* absent for the other formats: their specs keep their hash */
        cJSON *tf = s->dataset.format && strcmp(s->dataset.format, "tfrecord") == 0
                        ? cJSON_AddObjectToObject(d, "tfrecord") : NULL;
        if (tf) {
            cJSON_AddStringToObject(tf, "image", s->dataset.tfrecord.image ? s->dataset.tfrecord.image : "");
            cJSON_AddStringToObject(tf, "label", s->dataset.tfrecord.label ? s->dataset.tfrecord.label : "");
            cJSON *sh = cJSON_AddArrayToObject(tf, "shape");
            for (int i = 0; sh && i < 3; i++)
                cJSON_AddItemToArray(sh, cJSON_CreateNumber(s->dataset.tfrecord.shape[i]));
            snprintf(num, sizeof num, "%.17g", s->dataset.tfrecord.scale);
            cJSON_AddStringToObject(tf, "scale", num);
            snprintf(num, sizeof num, "%.17g", s->dataset.tfrecord.offset);
            cJSON_AddStringToObject(tf, "offset", num);
            cJSON_AddStringToObject(tf, "train", s->dataset.tfrecord.train ? s->dataset.tfrecord.train : "train");
            cJSON_AddStringToObject(tf, "test", s->dataset.tfrecord.test ? s->dataset.tfrecord.test : "test");
        }
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
    if (s->dist.workers >= 2) {   /* absent otherwise: single-enclave specs keep their hash */
        cJSON *ds = cJSON_AddObjectToObject(o, "dist");
        if (ds) {
            cJSON_AddNumberToObject(ds, "workers", s->dist.workers);
            cJSON_AddStringToObject(ds, "transport", s->dist.transport ? s->dist.transport : "tcp");
            cJSON_AddStringToObject(ds, "algorithm", s->dist.algorithm ? s->dist.algorithm : "ring");
            if (s->dist.servers > 0)   /* ps only: ring specs keep their hash */
                cJSON_AddNumberToObject(ds, "servers", s->dist.servers);
            if (s->dist.checkpoint_every > 0)   /* absent unless set: earlier specs keep their hash */
                cJSON_AddNumberToObject(ds, "checkpoint_every", s->dist.checkpoint_every);
        }
    }
    if (s->framework.framework) {   /* absent otherwise: engine specs keep their hash */
        int rc = framework_json(o, s, err);
        if (rc) {
            cJSON_Delete(o);
            return rc;
        }
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

int sai_pipeline_spec_hash(const sai_pipeline_spec_t *s, const uint8_t *ca_sha256,
                           uint8_t out[static SAI_SHA256_LEN], sai_error_t *err)
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

static int jstr(cJSON *o, const char *key, char **out, bool required, sai_error_t *err)
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

static int jnum(cJSON *o, const char *key, unsigned *out, sai_error_t *err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0)
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' is missing or not a count", key);
    *out = (unsigned)v->valuedouble;
    return 0;
}

static int jdbl(cJSON *o, const char *key, double *out, sai_error_t *err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char *end = NULL;
    if (!cJSON_IsString(v) || (*out = strtod(v->valuestring, &end), *end != '\0'))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' is not a number string", key);
    return 0;
}

static int jres(cJSON *o, const char *key, sai_kbs_resource_t *r, sai_error_t *err)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int rc;
    if (!cJSON_IsObject(v))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' is not a resource", key);
    if ((rc = jstr(v, "repo", &r->repo, true, err)) || (rc = jstr(v, "type", &r->type, true, err)) ||
        (rc = jstr(v, "tag", &r->tag, true, err)))
        return rc;
    if (!sai_pipeline__spec_ident_ok(r->repo) || !sai_pipeline__spec_ident_ok(r->type) || !sai_pipeline__spec_ident_ok(r->tag))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: '%s' has a bad name", key);
    return 0;
}

static bool sha256_ref_ok(const char *v)
{
    uint8_t tmp[32];
    return strncmp(v, "sha256:", 7) == 0 && strlen(v) == 71 && sai_hex_decode(tmp, 32, v + 7, NULL) == 0;
}

/* dataset.tfrecord: present exactly when the format is tfrecord. */
static int tfrecord_from_canonical(sai_pipeline_spec_t *s, cJSON *d, sai_error_t *err)
{
    cJSON *tf = cJSON_GetObjectItemCaseSensitive(d, "tfrecord");
    bool is_tf = strcmp(s->dataset.format, "tfrecord") == 0;
    int rc;
    if (!is_tf && tf == NULL)
        return strcmp(s->dataset.format, "idx") == 0 || strcmp(s->dataset.format, "cifar10") == 0
                   ? 0 : sai_error_set(err, SAI_EFORMAT, "canonical spec: unknown dataset format");
    if (!is_tf || !cJSON_IsObject(tf))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: dataset.tfrecord goes with format tfrecord");
    if ((rc = jstr(tf, "image", &s->dataset.tfrecord.image, true, err)) ||
        (rc = jstr(tf, "label", &s->dataset.tfrecord.label, true, err)) ||
        (rc = jdbl(tf, "scale", &s->dataset.tfrecord.scale, err)) ||
        (rc = jdbl(tf, "offset", &s->dataset.tfrecord.offset, err)) ||
        (rc = jstr(tf, "train", &s->dataset.tfrecord.train, true, err)) ||
        (rc = jstr(tf, "test", &s->dataset.tfrecord.test, true, err)))
        return rc;
    cJSON *sh = cJSON_GetObjectItemCaseSensitive(tf, "shape");
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) != 3)
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: dataset.tfrecord.shape is not [c,h,w]");
    for (int i = 0; i < 3; i++) {
        cJSON *v = cJSON_GetArrayItem(sh, i);
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > (i == 0 ? 3 : 1024))
            return sai_error_set(err, SAI_EFORMAT, "canonical spec: dataset.tfrecord.shape out of range");
        s->dataset.tfrecord.shape[i] = (unsigned)v->valuedouble;
    }
    if (s->dataset.tfrecord.image[0] == '\0' || s->dataset.tfrecord.label[0] == '\0' ||
        !sai_pipeline__spec_ident_ok(s->dataset.tfrecord.train) || !sai_pipeline__spec_ident_ok(s->dataset.tfrecord.test))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: bad dataset.tfrecord mapping");
    return 0;
}

static int framework_from_canonical(sai_pipeline_spec_t *s, cJSON *o, sai_error_t *err)
{
    cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "train");
    if (t == NULL)
        return 0;
    cJSON *sc = cJSON_GetObjectItemCaseSensitive(t, "script"), *a = cJSON_GetObjectItemCaseSensitive(t, "args");
    cJSON *py = cJSON_GetObjectItemCaseSensitive(t, "python"), *tc = cJSON_GetObjectItemCaseSensitive(t, "torch");
    if (!cJSON_IsObject(t) || !cJSON_IsObject(sc) || !cJSON_IsArray(a) || !cJSON_IsObject(py) || !cJSON_IsObject(tc))
        return sai_error_set(err, SAI_EFORMAT, "canonical spec: bad train section");
    sai_pipeline_framework_t *f = &s->framework;
    char *b64 = NULL, *sha = NULL, *path = NULL;
    int rc;
    if ((rc = jstr(t, "framework", &f->framework, true, err)) || (rc = jstr(sc, "name", &f->script_name, true, err)) ||
        (rc = jstr(sc, "sha256", &sha, true, err)) || (rc = jstr(sc, "bytes", &b64, true, err)) ||
        (rc = jstr(py, "path", &path, true, err)) || (rc = jstr(py, "sha256", &f->python_sha256, true, err)) ||
        (rc = jstr(py, "version", &f->python_version, true, err)) ||
        (rc = jstr(tc, "version", &f->torch_version, true, err)) ||
        (rc = jstr(t, "runtime_sha256", &f->runtime_sha256, true, err)))
        goto out;
    if (strcmp(f->framework, "pytorch") != 0 || strcmp(path, SAI_FRAMEWORK_PYTHON) != 0 || !hex64_ok(sha) ||
        !hex64_ok(f->python_sha256) || !hex64_ok(f->runtime_sha256) || cJSON_GetArraySize(a) > 64) {
        rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: bad train section");
        goto out;
    }
    if ((rc = sai_b64_decode(&f->script, &f->script_len, b64, strlen(b64), err)))
        goto out;
    uint8_t h[32], want[32];
    if ((rc = sai_hash(SAI_SHA256, h, f->script, f->script_len, err)))
        goto out;
    if (sai_hex_decode(want, 32, sha, NULL) != 0 || !sai_ct_equal(h, want, 32) ||
        f->script_len > SAI_FRAMEWORK_SCRIPT_MAX) {
        rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: train.script's bytes do not match its sha256");
        goto out;
    }
    int na = cJSON_GetArraySize(a);
    f->args = calloc(na > 0 ? (size_t)na : 1, sizeof *f->args);
    if (f->args == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < na; i++) {
        cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsString(v) || (f->args[i] = strdup(v->valuestring)) == NULL) {
            rc = sai_error_set(err, SAI_EFORMAT, "canonical spec: train.args must be strings");
            goto out;
        }
        f->nargs = (size_t)i + 1;
    }
out:
    free(b64);
    free(sha);
    free(path);
    return rc;
}

int sai_pipeline_spec_from_canonical(sai_pipeline_spec_t **out, const char *json, size_t len,
                                     sai_error_t *err)
{
    *out = NULL;
    if (len > SAI_SPEC_MAX_BYTES)
        return sai_error_set(err, SAI_ELIMIT, "canonical spec too large");
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (o == NULL)
        return sai_error_set(err, SAI_EFORMAT, "canonical spec is not JSON");
    sai_pipeline_spec_t *s = calloc(1, sizeof *s);
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
    if ((rc = tfrecord_from_canonical(s, d, err)) || (rc = framework_from_canonical(s, o, err)))
        goto out;
    cJSON *ds = cJSON_GetObjectItemCaseSensitive(o, "dist");
    if (ds != NULL) {
        if (!cJSON_IsObject(ds) || (rc = jnum(ds, "workers", &s->dist.workers, err)) ||
            (rc = jstr(ds, "transport", &s->dist.transport, true, err)) ||
            (rc = jstr(ds, "algorithm", &s->dist.algorithm, true, err)) || s->dist.workers < 2 ||
            s->dist.workers > SAI_SPEC_MAX_WORKERS ||
            (strcmp(s->dist.transport, "tcp") != 0 && strcmp(s->dist.transport, "mpi") != 0) ||
            (strcmp(s->dist.algorithm, "ring") != 0 && strcmp(s->dist.algorithm, "ps") != 0) ||
            /* servers: present exactly for ps, 1..workers */
            ((cJSON_GetObjectItemCaseSensitive(ds, "servers") != NULL) != (strcmp(s->dist.algorithm, "ps") == 0)) ||
            (strcmp(s->dist.algorithm, "ps") == 0 &&
             ((rc = jnum(ds, "servers", &s->dist.servers, err)) || s->dist.servers < 1 ||
              s->dist.servers > s->dist.workers || s->dist.workers > SAI_SPEC_MAX_PS_WORKERS)) ||
            (cJSON_GetObjectItemCaseSensitive(ds, "checkpoint_every") != NULL &&
             ((rc = jnum(ds, "checkpoint_every", &s->dist.checkpoint_every, err)) || s->dist.checkpoint_every < 1 ||
              s->dist.checkpoint_every > 1000))) {
            rc = rc ? rc : sai_error_set(err, SAI_EFORMAT, "canonical spec: bad dist section");
            goto out;
        }
    }
    s->preprocess.normalize = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "normalize"));
    s->preprocess.flip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "flip"));
    s->preprocess.crop = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "crop"));
    cJSON *it;
    cJSON_ArrayForEach(it, st)
    {
        for (size_t i = 0; i < SAI_SPEC_NSTAGES; i++)
            if (cJSON_IsString(it) && strcmp(it->valuestring, sai_spec_stage_names[i]) == 0)
                s->stages |= 1u << i;
    }
    if (!sai_pipeline__spec_ident_ok(s->name) || !sai_pipeline__spec_model_name_ok(s->outputs.model_name) || s->hyper.batch == 0 ||
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
