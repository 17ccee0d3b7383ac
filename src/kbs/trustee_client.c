/*
 * trustee_client.c — the client side of Trustee's KBS protocol 0.4.0 (as
 * confidential-containers' kbs_protocol speaks it), over the same
 * connection and retry logic as SecureAI's flow (client.c): auth with the
 * kbs-session-id cookie, a fresh EC P-256 / P-521 or RSA key, evidence
 * over SHA-384 of the canonical runtime data, attest, and a resource in
 * flattened JWE JSON unwrapped with OpenSSL (trustee.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

/* A non-200 answer as an error with the KBS's ErrorInformation detail. */
static int answer_error(const char *what, int status, const char *resp, size_t len, sai_error_t *err)
{
    cJSON *o = cJSON_ParseWithLength(resp, len);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "detail");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    int rc = status == 401 ? SAI_EAUTH : status == 403 ? SAI_EPOLICY : status == 404 ? SAI_ENOTFOUND
           : status == 429 ? SAI_ELIMIT : SAI_ENET;
    rc = sai_error_set(err, rc, "%s: the KBS answered %d: %s%s%s%s", what, status,
                       cJSON_IsString(d) ? d->valuestring : "(no ErrorInformation)",
                       cJSON_IsString(t) ? " (" : "", cJSON_IsString(t) ? t->valuestring : "",
                       cJSON_IsString(t) ? ")" : "");
    cJSON_Delete(o);
    return rc;
}

/* One JSON exchange; *j is the parsed body of a 200. */
static int exchange(sai_kbs_client_t *c, const char *what, const char *method, const char *path,
                    const char *hdr, const char *body, cJSON **j, sai_error_t *err)
{
    int status = 0;
    char *resp = NULL;
    size_t len = 0;
    *j = NULL;
    int rc = sai_kbs_client_request(c, method, path, hdr, body, body ? strlen(body) : 0, &status, &resp,
                                    &len, err);
    if (rc != 0)
        return sai_error_prefix(err, "%s", what);
    if (status != 200)
        rc = answer_error(what, status, resp, len, err);
    else if ((*j = cJSON_ParseWithLength(resp, len)) == NULL)
        rc = sai_error_set(err, SAI_EFORMAT, "%s: the KBS's answer is not JSON", what);
    free(resp);
    return rc;
}

int sai_kbs_client_get_resource_trustee(sai_kbs_client_t *c, const sai_kbs_attester_t *att,
                                        const char *resource, sai_kbs_tee_key_t key, bool bearer,
                                        sai_secret_t **secret, sai_error_t *err)
{
    *secret = NULL;
    if (!sai_kbs__resource_name_ok(resource))
        return sai_error_set(err, SAI_EINVAL, "resource \"%s\" is not repo/type/tag", resource);
    const char *tname = sai_kbs__trustee_tee_name(att->tee);
    if (tname == NULL)
        return sai_error_set(err, SAI_EUNSUPP, "TEE %s has no name in Trustee's protocol", att->tee);
    sai_kbs_tkey_t k = {0};
    cJSON *j = NULL, *body = NULL, *rt = NULL, *te = NULL;
    char req[256], cookie[80], *evidence = NULL, *text = NULL, *hdr = NULL, *nonce = NULL;
    char path[300];
    size_t ev_len = 0;
    uint8_t rd[SAI_KBS_REPORT_DATA_LEN];
    int rc;

    /* kbs_protocol lists every hash it has; this one has only the one the
     * KBS uses unless it selects another. */
    snprintf(req, sizeof req, "{\"version\":\"" SAI_KBS_TRUSTEE_VERSION "\",\"tee\":\"%s\","
             "\"extra-params\":{\"supported-hash-algorithms\":[\"sha384\"]}}", tname);
    if ((rc = exchange(c, "auth", "POST", "/kbs/v0/auth", NULL, req, &j, err)) != 0)
        goto out;
    const char *id = sai_kbs__client_cookie(c);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "nonce");
    const cJSON *xp = cJSON_GetObjectItemCaseSensitive(j, "extra-params");
    const cJSON *sel = cJSON_IsObject(xp) ? cJSON_GetObjectItemCaseSensitive(xp, "selected-hash-algorithm") : NULL;
    if (strlen(id) != 32 || !cJSON_IsString(n) || strlen(n->valuestring) > 95 ||
        (nonce = strdup(n->valuestring)) == NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "auth: the KBS sent no " SAI_KBS_TRUSTEE_COOKIE " cookie or nonce");
        goto out;
    }
    if (sel != NULL && (!cJSON_IsString(sel) || strcasecmp(sel->valuestring, "sha384") != 0)) {
        rc = sai_error_set(err, SAI_EUNSUPP, "auth: the KBS selected a hash other than sha384");
        goto out;
    }
    snprintf(cookie, sizeof cookie, "Cookie: " SAI_KBS_TRUSTEE_COOKIE "=%s", id);
    /* A fresh key per flow: the CEK is wrapped to it and it dies with us. */
    if ((rc = sai_kbs__tkey_generate(&k, key, err)) != 0 ||
        (rc = sai_kbs__trustee_report_data(rd, nonce, k.jwk, "", err)) != 0)
        goto out;
    if ((rc = att->evidence(att->ctx, rd, &evidence, &ev_len, err)) != 0) {
        sai_error_prefix(err, "evidence from the %s TEE", att->tee);
        goto out;
    }
    body = cJSON_CreateObject();
    rt = cJSON_AddObjectToObject(body, "runtime-data");
    te = cJSON_AddObjectToObject(body, "tee-evidence");
    cJSON *ev = cJSON_ParseWithLength(evidence, ev_len);
    if (ev == NULL)
        ev = cJSON_CreateString(evidence);
    if (rt == NULL || te == NULL || ev == NULL) {
        cJSON_Delete(ev);
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_AddStringToObject(rt, "nonce", nonce);
    cJSON_AddItemToObject(rt, "tee-pubkey", cJSON_Parse(k.jwk));
    cJSON_AddItemToObject(te, "primary_evidence", ev);
    cJSON_AddStringToObject(te, "additional_evidence", "");
    if ((text = cJSON_PrintUnformatted(body)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_Delete(j);
    j = NULL;
    if ((rc = exchange(c, "attest", "POST", "/kbs/v0/attest", cookie, text, &j, err)) != 0)
        goto out;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
    if (!cJSON_IsString(t)) {
        rc = sai_error_set(err, SAI_EFORMAT, "attest: the KBS sent no token");
        goto out;
    }
    if (bearer) {
        size_t hl = strlen(t->valuestring) + 32;
        if ((hdr = malloc(hl)) == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        snprintf(hdr, hl, "Authorization: Bearer %s", t->valuestring);
    }
    cJSON_Delete(j);
    j = NULL;
    snprintf(path, sizeof path, "/kbs/v0/resource/%s", resource);
    int status = 0;
    char *resp = NULL;
    size_t len = 0;
    if ((rc = sai_kbs_client_request(c, "GET", path, bearer ? hdr : cookie, NULL, 0, &status, &resp, &len,
                                     err)) != 0) {
        sai_error_prefix(err, "resource");
        goto out;
    }
    if (status != 200)
        rc = answer_error("resource", status, resp, len, err);
    else if ((rc = sai_kbs__trustee_unwrap(secret, &k, resp, len, err)) != 0)
        sai_error_prefix(err, "resource %s", resource);
    free(resp);
out:
    cJSON_Delete(j);
    cJSON_Delete(body);
    sai_kbs__tkey_free(&k);
    free(evidence); free(text); free(hdr); free(nonce);
    return rc;
}
