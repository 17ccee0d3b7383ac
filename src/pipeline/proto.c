/*
 * proto.c — the typed host<->enclave protocol: one encoder and one decoder
 * per message, into structs that hold decoded values. Both ends call these
 * and nothing else reads a payload, so bytes from the other side are parsed
 * once, at the edge (channel.c frames the packets and passes descriptors).
 *
 *   H->E HELLO       {"spec", "kbs_url", ["kbs_ca"], "threads"}       sai_proto_hello_t
 *   E->H READY       {"dumpable","core","no_new_privs","seccomp"}     sai_sandbox_status_t
 *   H->E SHARD_FDS   {"manifest" (base64), "mac" (hex), "names"}      sai_proto_shards_t
 *                    + one descriptor per shard, then the model's file
 *   E->H OUTPUT      u8 output id || bytes                             sai_proto_output_t
 *   E->H OUTPUT_END  u8 id || SHA-256 [|| u64le sealed length (model)] sai_proto_output_t
 *   E->H DONE        a JSON object with the members run.json takes      (cJSON, checked)
 *   H->E DIST        {"rank", "world"} + the streams to next, from prev  sai_proto_dist_t
 *                     (ps: {"rank", "world", "servers"} + one stream per peer)
 *
 * The JSON objects are strict: every member known, none twice, each of its
 * type and within its cap. The enclave decodes what the host sends (HELLO,
 * SHARD_FDS) and the host what the enclave sends; fuzz/fuzz_proto.c feeds
 * every decoder arbitrary bytes.
 */
#include "pipeline/pipeline_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secureai/nn.h"
#include "secureai/tee.h"
#include "secureai/util.h"

#define URL_MAX  1024
#define NAME_MAX_LEN 255

/* Every member of o is one of names[], and none appears twice. */
static int strict_object(const cJSON *o, const char *const *names, size_t n, const char *what, sai_error_t *err)
{
    if (!cJSON_IsObject(o))
        return sai_error_set(err, SAI_EFORMAT, "%s is not a JSON object", what);
    uint32_t seen = 0;
    for (const cJSON *it = o->child; it != NULL; it = it->next) {
        size_t i = 0;
        while (i < n && (it->string == NULL || strcmp(it->string, names[i]) != 0))
            i++;
        if (i == n)
            return sai_error_set(err, SAI_EFORMAT, "%s has an unknown member", what);
        if (seen & (1u << i))
            return sai_error_set(err, SAI_EFORMAT, "%s has the member '%s' twice", what, names[i]);
        seen |= 1u << i;
    }
    return 0;
}

static const char *bounded_string(const cJSON *o, const char *name, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && strlen(v->valuestring) <= max ? v->valuestring : NULL;
}

static char *dup_or_null(const char *s, size_t *len)
{
    char *c = s ? strdup(s) : NULL;
    if (c && len)
        *len = strlen(c);
    return c;
}

/* ---- HELLO ------------------------------------------------------------------ */

int sai_pipeline__proto_hello_encode(const sai_proto_hello_t *h, char **out, size_t *len, sai_error_t *err)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "spec", h->spec) && cJSON_AddStringToObject(o, "kbs_url", h->kbs_url) &&
              (h->kbs_ca == NULL || cJSON_AddStringToObject(o, "kbs_ca", h->kbs_ca)) &&
              cJSON_AddNumberToObject(o, "threads", h->threads);
    *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (*out == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    *len = strlen(*out);
    if (*len > SAI_CHAN_MAX_PAYLOAD) {
        free(*out);
        *out = NULL;
        return sai_error_set(err, SAI_ELIMIT, "HELLO is larger than one channel packet");
    }
    return 0;
}

int sai_pipeline__proto_hello_decode(sai_proto_hello_t *h, const uint8_t *d, size_t n, sai_error_t *err)
{
    static const char *const names[] = {"spec", "kbs_url", "kbs_ca", "threads"};
    memset(h, 0, sizeof *h);
    cJSON *o = cJSON_ParseWithLength((const char *)d, n);
    int rc = strict_object(o, names, 4, "HELLO", err);
    if (rc)
        goto out;
    const char *spec = bounded_string(o, "spec", SAI_SIM_SPEC_MAX);
    const char *url = bounded_string(o, "kbs_url", URL_MAX);
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(o, "kbs_ca");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(o, "threads");
    if (spec == NULL || url == NULL || (ca != NULL && bounded_string(o, "kbs_ca", SAI_PIPELINE_CA_MAX) == NULL) ||
        !cJSON_IsNumber(thr) || thr->valuedouble < 0 || thr->valuedouble > SAI_NN_THREADS_MAX ||
        thr->valuedouble != (double)(int)thr->valuedouble) {
        rc = sai_error_set(err, SAI_EFORMAT, "HELLO is malformed");
        goto out;
    }
    h->threads = (int)thr->valuedouble;
    if ((h->spec = dup_or_null(spec, &h->spec_len)) == NULL || (h->kbs_url = dup_or_null(url, NULL)) == NULL ||
        (ca != NULL && (h->kbs_ca = dup_or_null(ca->valuestring, &h->kbs_ca_len)) == NULL))
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
out:
    cJSON_Delete(o);
    if (rc)
        sai_pipeline__proto_hello_clear(h);
    return rc;
}

void sai_pipeline__proto_hello_clear(sai_proto_hello_t *h)
{
    free(h->spec);
    free(h->kbs_url);
    free(h->kbs_ca);
    memset(h, 0, sizeof *h);
}

/* ---- READY ------------------------------------------------------------------ */

int sai_pipeline__proto_ready_encode(const sai_sandbox_status_t *st, char *out, size_t cap)
{
    int k = snprintf(out, cap, "{\"dumpable\":%s,\"core\":%s,\"no_new_privs\":%s,\"seccomp\":%s}",
                     st->dumpable_off ? "false" : "true", st->core_off ? "false" : "true",
                     st->no_new_privs ? "true" : "false", st->seccomp ? "true" : "false");
    return k > 0 && (size_t)k < cap ? k : -1;
}

int sai_pipeline__proto_ready_decode(sai_sandbox_status_t *st, const uint8_t *d, size_t n, sai_error_t *err)
{
    static const char *const names[] = {"dumpable", "core", "no_new_privs", "seccomp"};
    memset(st, 0, sizeof *st);
    cJSON *o = cJSON_ParseWithLength((const char *)d, n);
    int rc = strict_object(o, names, 4, "READY", err);
    bool *fields[] = {&st->dumpable_off, &st->core_off, &st->no_new_privs, &st->seccomp};
    for (size_t i = 0; rc == 0 && i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, names[i]);
        if (!cJSON_IsBool(v))
            rc = sai_error_set(err, SAI_EFORMAT, "READY: '%s' is missing or not a boolean", names[i]);
        else   /* the first two say whether the feature is on: "off" is the good state */
            *fields[i] = i < 2 ? cJSON_IsFalse(v) : cJSON_IsTrue(v);
    }
    cJSON_Delete(o);
    return rc;
}

/* ---- SHARD_FDS ------------------------------------------------------------- */

int sai_pipeline__proto_shards_encode(const sai_proto_shards_t *s, char **out, size_t *len, sai_error_t *err)
{
    char *m64 = NULL, mac[65];
    int rc = sai_b64url_encode(&m64, s->manifest, s->manifest_len, err);
    if (rc)
        return rc;
    sai_hex_encode(mac, s->mac, 32);
    cJSON *o = cJSON_CreateObject();
    cJSON *names = o ? cJSON_AddArrayToObject(o, "names") : NULL;
    bool ok = names && cJSON_AddStringToObject(o, "manifest", m64) && cJSON_AddStringToObject(o, "mac", mac);
    for (size_t i = 0; ok && i < s->n; i++)
        ok = cJSON_AddItemToArray(names, cJSON_CreateString(s->names[i]));
    free(m64);
    *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (*out == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    *len = strlen(*out);
    if (*len > SAI_CHAN_MAX_PAYLOAD) {
        free(*out);
        *out = NULL;
        return sai_error_set(err, SAI_ELIMIT, "the manifest does not fit one channel packet");
    }
    return 0;
}

int sai_pipeline__proto_shards_decode(sai_proto_shards_t *s, const uint8_t *d, size_t n, size_t nfds, sai_error_t *err)
{
    static const char *const names[] = {"manifest", "mac", "names"};
    memset(s, 0, sizeof *s);
    cJSON *o = cJSON_ParseWithLength((const char *)d, n);
    int rc = strict_object(o, names, 3, "SHARD_FDS", err);
    if (rc)
        goto out;
    const char *m64 = bounded_string(o, "manifest", SAI_CHAN_MAX_PAYLOAD);
    const char *mac = bounded_string(o, "mac", 64);
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(o, "names");
    /* the shards' descriptors, then the model's */
    if (m64 == NULL || mac == NULL || strlen(mac) != 64 || sai_hex_decode(s->mac, 32, mac, NULL) != 0 ||
        !cJSON_IsArray(jn) || nfds < 1 || (size_t)cJSON_GetArraySize(jn) != nfds - 1) {
        rc = sai_error_set(err, SAI_EFORMAT, "SHARD_FDS is malformed");
        goto out;
    }
    if ((rc = sai_b64_decode(&s->manifest, &s->manifest_len, m64, strlen(m64), err)))
        goto out;
    s->n = nfds - 1;
    if ((s->names = calloc(s->n + 1, sizeof *s->names)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    size_t i = 0;
    for (const cJSON *it = jn->child; it != NULL; it = it->next, i++) {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' || strlen(it->valuestring) > NAME_MAX_LEN ||
            strchr(it->valuestring, '/') != NULL) {
            rc = sai_error_set(err, SAI_EFORMAT, "SHARD_FDS: shard name %zu is not a file name", i);
            goto out;
        }
        if ((s->names[i] = strdup(it->valuestring)) == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
    }
out:
    cJSON_Delete(o);
    if (rc)
        sai_pipeline__proto_shards_clear(s);
    return rc;
}

void sai_pipeline__proto_shards_clear(sai_proto_shards_t *s)
{
    for (size_t i = 0; s->names != NULL && i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    free(s->manifest);
    memset(s, 0, sizeof *s);
}

/* ---- OUTPUT / OUTPUT_END -------------------------------------------------- */

size_t sai_pipeline__proto_output_end_encode(uint8_t out[SAI_PROTO_OUTPUT_END_MAX], sai_proto_out_t id,
                                   const uint8_t sha256[32], uint64_t sealed_len)
{
    out[0] = (uint8_t)id;
    memcpy(out + 1, sha256, 32);
    if (id != SAI_PROTO_OUT_MODEL)
        return 33;
    for (int i = 0; i < 8; i++)
        out[33 + i] = (uint8_t)(sealed_len >> (8 * i));
    return 41;
}

int sai_pipeline__proto_output_decode(sai_proto_output_t *o, bool end, const uint8_t *d, size_t n, sai_error_t *err)
{
    memset(o, 0, sizeof *o);
    if (n < 1 || (d[0] != SAI_PROTO_OUT_MODEL && d[0] != SAI_PROTO_OUT_PROVENANCE))
        return sai_error_set(err, SAI_EFORMAT, "enclave: output for an unknown file");
    o->id = (sai_proto_out_t)d[0];
    o->end = end;
    if (!end) {
        /* The model travels in its descriptor, never through the channel. */
        if (o->id == SAI_PROTO_OUT_MODEL)
            return sai_error_set(err, SAI_EFORMAT, "enclave: unexpected model output message");
        o->data = d + 1;
        o->len = n - 1;
        return 0;
    }
    if (n != (o->id == SAI_PROTO_OUT_MODEL ? 41u : 33u))
        return sai_error_set(err, SAI_EFORMAT, "enclave: OUTPUT_END of the wrong length");
    memcpy(o->sha256, d + 1, 32);
    if (o->id == SAI_PROTO_OUT_MODEL)
        for (int i = 7; i >= 0; i--)
            o->sealed_len = o->sealed_len << 8 | d[33 + i];
    return 0;
}

/* ---- DONE ------------------------------------------------------------------ */

/* "dist": {"rank", "world", "weights_sha256": 64 hex} of a distributed job's DONE */
static int dist_done_check(const cJSON *dist, sai_error_t *err)
{
    static const char *const names[] = {"rank", "world", "weights_sha256"};
    const char *ws = bounded_string(dist, "weights_sha256", 64);
    uint8_t tmp[32];
    int rc = strict_object(dist, names, 3, "DONE's dist", err);
    if (rc == 0 && (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(dist, "rank")) ||
                    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(dist, "world")) || ws == NULL ||
                    strlen(ws) != 64 || sai_hex_decode(tmp, 32, ws, NULL) != 0))
        rc = sai_error_set(err, SAI_EFORMAT, "DONE's dist is malformed");
    return rc;
}

int sai_pipeline__proto_worker_done_decode(cJSON **out, const uint8_t *d, size_t n, sai_error_t *err)
{
    static const char *const names[] = {"dist"};
    cJSON *o = cJSON_ParseWithLength((const char *)d, n);
    int rc = strict_object(o, names, 1, "DONE", err);
    const cJSON *dist = rc == 0 ? cJSON_GetObjectItemCaseSensitive(o, "dist") : NULL;
    if (rc == 0)
        rc = dist ? dist_done_check(dist, err) : sai_error_set(err, SAI_EFORMAT, "a worker's DONE has no dist");
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

int sai_pipeline__proto_done_decode(cJSON **out, const uint8_t *d, size_t n, sai_error_t *err)
{
    static const char *const names[] = {"metrics", "throughput", "timing", "dataset_identity", "sandbox",
                                        "attestation", "dist"};
    static const char *const objects[] = {"metrics", "throughput", "timing", "sandbox", "attestation"};
    cJSON *o = cJSON_ParseWithLength((const char *)d, n);
    int rc = strict_object(o, names, 7, "DONE", err);
    const cJSON *dist = rc == 0 ? cJSON_GetObjectItemCaseSensitive(o, "dist") : NULL;
    if (dist != NULL)   /* worker 0 of a distributed job */
        rc = dist_done_check(dist, err);
    for (size_t i = 0; rc == 0 && i < 5; i++)
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, objects[i])))
            rc = sai_error_set(err, SAI_EFORMAT, "DONE: '%s' is missing or not an object", objects[i]);
    const char *id = rc == 0 ? bounded_string(o, "dataset_identity", 64) : NULL;
    uint8_t tmp[32];
    if (rc == 0 && (id == NULL || strlen(id) != 64 || sai_hex_decode(tmp, 32, id, NULL) != 0))
        rc = sai_error_set(err, SAI_EFORMAT, "DONE: dataset_identity is not 64 hex digits");
    if (rc) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* ---- DIST ------------------------------------------------------------------- */

int sai_pipeline__proto_dist_encode(const sai_proto_dist_t *d, char *out, size_t cap)
{
    int k = d->servers == 0   /* the ring's DIST keeps its bytes */
                ? snprintf(out, cap, "{\"rank\":%u,\"world\":%u,\"ckpt\":%u}", d->rank, d->world, d->ckpt)
                : snprintf(out, cap, "{\"rank\":%u,\"world\":%u,\"servers\":%u,\"ckpt\":%u}", d->rank, d->world,
                           d->servers, d->ckpt);
    return k > 0 && (size_t)k < cap ? k : -1;
}

size_t sai_pipeline__proto_dist_streams(const sai_proto_dist_t *d)
{
    return d->servers == 0 ? 2u : (size_t)d->world - 1;
}

static int u32_member(const cJSON *o, const char *name, uint32_t *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble > SAI_DIST_MAX_WORKERS ||
        j->valuedouble != (double)(uint32_t)j->valuedouble)
        return -1;
    *v = (uint32_t)j->valuedouble;
    return 0;
}

int sai_pipeline__proto_dist_decode(sai_proto_dist_t *d, const uint8_t *b, size_t n, size_t nfds,
                                    unsigned workers, unsigned servers, sai_error_t *err)
{
    static const char *const names[] = {"rank", "world", "ckpt", "servers"};
    memset(d, 0, sizeof *d);
    cJSON *o = cJSON_ParseWithLength((const char *)b, n);
    int rc = strict_object(o, names, 4, "DIST", err);
    bool has_servers = rc == 0 && cJSON_GetObjectItemCaseSensitive(o, "servers") != NULL;
    if (rc == 0 && (u32_member(o, "rank", &d->rank) != 0 || u32_member(o, "world", &d->world) != 0 ||
                    (cJSON_GetObjectItemCaseSensitive(o, "ckpt") != NULL && u32_member(o, "ckpt", &d->ckpt) != 0) ||
                    (has_servers && u32_member(o, "servers", &d->servers) != 0) ||
                    d->ckpt > SAI_PROTO_CKPT_RESUME))
        rc = sai_error_set(err, SAI_EFORMAT, "DIST is malformed");
    cJSON_Delete(o);
    /* The world size and the algorithm are measured (dist.workers,
     * dist.algorithm / servers); the host cannot shrink or grow the job or
     * switch it between ring and mesh, only say which rank this enclave is. */
    if (rc == 0 && (workers < 2 || d->world != workers))
        rc = sai_error_set(err, SAI_EPOLICY, "DIST: the host says %u workers, the measured spec dist.workers %u",
                           d->world, workers);
    if (rc == 0 && (has_servers != (servers != 0) || d->servers != servers))
        rc = servers == 0 ? sai_error_set(err, SAI_EPOLICY, "DIST: the host says parameter-server mode, the "
                                          "measured spec dist.algorithm ring")
                          : sai_error_set(err, SAI_EPOLICY, "DIST: the host says %s, the measured spec "
                                          "dist.algorithm ps with %u servers",
                                          has_servers ? "another number of servers" : "a ring", servers);
    if (rc == 0 && d->rank >= d->world)
        rc = sai_error_set(err, SAI_EPOLICY, "DIST: rank %u is not below the world size %u", d->rank, d->world);
    if (rc == 0 && nfds != sai_pipeline__proto_dist_streams(d) + (d->ckpt ? 1u : 0u)) {
        if (servers == 0)
            rc = sai_error_set(err, SAI_EFORMAT, "DIST carries %zu descriptors, not the two ring streams%s", nfds,
                               d->ckpt ? " and the checkpoint file" : "");
        else
            rc = sai_error_set(err, SAI_EFORMAT, "DIST carries %zu descriptors, not the %u mesh streams (one per "
                               "peer)%s", nfds, d->world - 1, d->ckpt ? " and the checkpoint file" : "");
    }
    if (rc)
        memset(d, 0, sizeof *d);
    return rc;
}
