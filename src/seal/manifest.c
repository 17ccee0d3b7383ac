/*
 * manifest.c — the sealed-dataset manifest: canonical JSON (cJSON, fixed
 * key order, no whitespace), its parser and its MAC.
 *
 *   {"type":"secureai-dataset","version":1,"key_id":"...","chunk_size":65536,
 *    "shards":[{"name":"...","size":N,"sha256":"<hex>","format":"idx.gz",
 *               "records":N}, ...]}
 *
 * The dataset identity is SHA-256 of exactly these bytes, so the parser
 * accepts only the canonical encoding: it re-encodes what it parsed and
 * requires byte equality (no second spelling of the same manifest can
 * exist, hence no second identity). Shard names are relative paths checked
 * here (no "/" prefix, no "." or ".." or empty component), sorted, unique.
 * The parser runs on untrusted bytes (inspect without a key, and the
 * fuzzer); sai_dataset_open checks the MAC before calling it.
 */
#include "seal/seal_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define NUM_MAX 9007199254740992.0   /* 2^53: exact in a double */

void sai_manifest_clear(sai_manifest_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_shards; i++)
        free(m->shards[i].name);
    free(m->shards);
    memset(m, 0, sizeof *m);
}

bool sai_seal__name_ok(const char *s)
{
    size_t n = strnlen(s, SAI_DATASET_NAME_MAX + 1);
    if (n == 0 || n > SAI_DATASET_NAME_MAX || s[0] == '/')
        return false;
    const char *c = s;
    for (;;) {
        const char *e = strchr(c, '/');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (e == NULL)
            break;
        c = e + 1;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            return false;
    return true;
}

int sai_manifest_encode(const sai_manifest_t *m, char **out, size_t *len, sai_error_t *err)
{
    *out = NULL;
    *len = 0;
    int rc = sai_error_set(err, SAI_ENOMEM, "out of memory building the manifest");
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    if (root == NULL)
        return rc;
    if (!cJSON_AddStringToObject(root, "type", "secureai-dataset") ||
        !cJSON_AddNumberToObject(root, "version", 1) ||
        !cJSON_AddStringToObject(root, "key_id", m->key_id) ||
        !cJSON_AddNumberToObject(root, "chunk_size", m->chunk_size) ||
        (arr = cJSON_AddArrayToObject(root, "shards")) == NULL)
        goto out;
    for (size_t i = 0; i < m->n_shards; i++) {
        const sai_dataset_shard_t *s = &m->shards[i];
        char hex[2 * SAI_SHA256_LEN + 1];
        sai_hex_encode(hex, s->sha256, SAI_SHA256_LEN);
        cJSON *o = cJSON_CreateObject();
        if (o == NULL)
            goto out;
        cJSON_AddItemToArray(arr, o);
        if (!cJSON_AddStringToObject(o, "name", s->name) ||
            !cJSON_AddNumberToObject(o, "size", (double)s->size) ||
            !cJSON_AddStringToObject(o, "sha256", hex) ||
            !cJSON_AddStringToObject(o, "format", sai_record_format_name(s->format)) ||
            !cJSON_AddNumberToObject(o, "records", (double)s->records))
            goto out;
    }
    char *txt = cJSON_PrintUnformatted(root);
    if (txt == NULL)
        goto out;
    *out = txt;
    *len = strlen(txt);
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc == 0 && err != NULL)
        sai_error_clear(err);
    return rc;
}

static const cJSON *field(const cJSON *o, const char *k, bool str)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (v == NULL || (str ? !cJSON_IsString(v) : !cJSON_IsNumber(v)))
        return NULL;
    if (!str && (v->valuedouble < 0 || v->valuedouble > NUM_MAX ||
                 v->valuedouble != (double)(uint64_t)v->valuedouble))
        return NULL;
    return v;
}

int sai_manifest_parse(sai_manifest_t *m, const uint8_t *buf, size_t len, sai_error_t *err)
{
    memset(m, 0, sizeof *m);
    if (len > SAI_DATASET_MANIFEST_MAX)
        return sai_error_set(err, SAI_ELIMIT, "manifest larger than %u bytes",
                             SAI_DATASET_MANIFEST_MAX);
    int rc = SAI_EFORMAT;
    char *again = NULL;
    size_t again_len = 0;
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    const cJSON *v, *arr;
    if (root == NULL || !cJSON_IsObject(root)) {
        sai_error_set(err, SAI_EFORMAT, "manifest is not a JSON object");
        goto out;
    }
    if ((v = field(root, "type", true)) == NULL || strcmp(v->valuestring, "secureai-dataset") != 0 ||
        (v = field(root, "version", false)) == NULL || v->valuedouble != 1) {
        sai_error_set(err, SAI_EFORMAT, "not a secureai-dataset manifest of version 1");
        goto out;
    }
    if ((v = field(root, "key_id", true)) == NULL || !sai_seal_key_id_valid(v->valuestring)) {
        sai_error_set(err, SAI_EFORMAT, "manifest key_id missing or invalid");
        goto out;
    }
    memcpy(m->key_id, v->valuestring, strlen(v->valuestring) + 1);
    if ((v = field(root, "chunk_size", false)) == NULL || v->valuedouble < SAI_SEAL_CHUNK_MIN ||
        v->valuedouble > SAI_SEAL_CHUNK_MAX) {
        sai_error_set(err, SAI_EFORMAT, "manifest chunk_size missing or out of range");
        goto out;
    }
    m->chunk_size = (uint32_t)v->valuedouble;
    arr = cJSON_GetObjectItemCaseSensitive(root, "shards");
    if (!cJSON_IsArray(arr)) {
        sai_error_set(err, SAI_EFORMAT, "manifest has no shards array");
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > SAI_DATASET_SHARDS_MAX) {
        rc = sai_error_set(err, SAI_ELIMIT, "manifest lists more than %u shards",
                           SAI_DATASET_SHARDS_MAX);
        goto out;
    }
    m->shards = calloc(n ? n : 1, sizeof *m->shards);
    if (m->shards == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        sai_dataset_shard_t *s = &m->shards[m->n_shards];
        const cJSON *nm = field(o, "name", true), *sz = field(o, "size", false),
                    *h = field(o, "sha256", true), *f = field(o, "format", true),
                    *r = field(o, "records", false);
        if (!cJSON_IsObject(o) || nm == NULL || sz == NULL || h == NULL || f == NULL || r == NULL) {
            sai_error_set(err, SAI_EFORMAT, "manifest shard %zu is missing a field", m->n_shards);
            goto out;
        }
        if (!sai_seal__name_ok(nm->valuestring)) {
            sai_error_set(err, SAI_EFORMAT, "manifest shard %zu has an unsafe name", m->n_shards);
            goto out;
        }
        if (m->n_shards > 0 && strcmp(m->shards[m->n_shards - 1].name, nm->valuestring) >= 0) {
            sai_error_set(err, SAI_EFORMAT, "manifest shards are not sorted and unique at %zu",
                          m->n_shards);
            goto out;
        }
        if (strlen(h->valuestring) != 2 * SAI_SHA256_LEN ||
            sai_hex_decode(s->sha256, SAI_SHA256_LEN, h->valuestring, NULL) != 0 ||
            sai_record_format_parse(f->valuestring, &s->format) != 0) {
            sai_error_set(err, SAI_EFORMAT, "manifest shard %zu has a bad sha256 or format",
                          m->n_shards);
            goto out;
        }
        s->size = (uint64_t)sz->valuedouble;
        s->records = (uint64_t)r->valuedouble;
        if ((s->name = strdup(nm->valuestring)) == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        m->n_shards++;
    }
    /* canonical form only: one manifest, one spelling, one identity */
    if ((rc = sai_manifest_encode(m, &again, &again_len, err)) != 0)
        goto out;
    rc = SAI_EFORMAT;
    if (again_len != len || memcmp(again, buf, len) != 0) {
        sai_error_set(err, SAI_EFORMAT, "manifest is not in canonical form");
        goto out;
    }
    rc = 0;
out:
    cJSON_free(again);
    cJSON_Delete(root);
    if (rc != 0)
        sai_manifest_clear(m);
    return rc;
}

int sai_manifest_mac(uint8_t mac[static SAI_SHA256_LEN], const uint8_t key[static SAI_SEAL_KEY_LEN],
                     const uint8_t *bytes, size_t len, sai_error_t *err)
{
    uint8_t mk[32];
    int rc = sai_hkdf_sha256(mk, sizeof mk, key, SAI_SEAL_KEY_LEN, NULL, 0,
                             (const uint8_t *)SAI_SEAL_INFO_MANIFEST,
                             strlen(SAI_SEAL_INFO_MANIFEST), err);
    if (rc == 0)
        rc = sai_hmac_sha256(mac, mk, sizeof mk, bytes, len, err);
    sai_wipe(mk, sizeof mk);
    return rc;
}
