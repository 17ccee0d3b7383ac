/*
 * token.c — signed attestation results: a JWT (JWS compact, ES384) whose
 * claims follow the IETF EAR shape (draft-fv-rats-ear): eat_profile, iat,
 * exp, ear.verifier-id and one submodule per TEE with ear.status and the
 * annotated evidence the relying party needs (measurement, report data,
 * chip id, TCB, simulated).
 *
 * ES384's JWS signature is raw r||s, which is what crypto.h produces, so no
 * DER conversion happens here. Verification accepts alg ES384 only ("none",
 * HS*, RS* and anything else are refused before any crypto) and checks exp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attest/attest_internal.h"
#include "secureai/crypto.h"
#include "secureai/util.h"

#define EAR_PROFILE "tag:github.com,2023:veraison/ear"
#define JWT_MAX     (64 * 1024)

const char *sai_verdict_name(sai_verdict_t v)
{
    switch (v) {
    case SAI_VERDICT_AFFIRMING:       return "affirming";
    case SAI_VERDICT_CONTRAINDICATED: return "contraindicated";
    default:                          return "none";
    }
}

int sai_attest_token_sign(char **jwt, const sai_attest_result_t *res, const sai_ec_key_t *key,
                          int64_t iat, int64_t ttl, sai_error_t *err)
{
    int rc = SAI_ENOMEM;
    char *claims = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL;
    cJSON *root = cJSON_CreateObject(), *vid, *sub, *mod, *ev;
    *jwt = NULL;
    if (root == NULL)
        goto oom;
    const char *kind = sai_tee_kind_name(res->tee);
    if (kind == NULL)
        kind = "none";
    if (!cJSON_AddStringToObject(root, "eat_profile", EAR_PROFILE) ||
        !cJSON_AddNumberToObject(root, "iat", (double)iat) ||
        !cJSON_AddNumberToObject(root, "exp", (double)(iat + ttl)) ||
        (vid = cJSON_AddObjectToObject(root, "ear.verifier-id")) == NULL ||
        !cJSON_AddStringToObject(vid, "developer", "secureai") ||
        !cJSON_AddStringToObject(vid, "build", "secureai " SAI_VERSION) ||
        (sub = cJSON_AddObjectToObject(root, "submods")) == NULL ||
        (mod = cJSON_AddObjectToObject(sub, kind)) == NULL ||
        !cJSON_AddStringToObject(mod, "ear.status", sai_verdict_name(res->verdict)) ||
        (ev = cJSON_AddObjectToObject(mod, "ear.veraison.annotated-evidence")) == NULL ||
        !cJSON_AddStringToObject(ev, "tee", kind) ||
        !cJSON_AddBoolToObject(ev, "simulated", res->is_simulated) ||
        !cJSON_AddBoolToObject(ev, "debug", res->debug) ||
        sai_attest__json_add_hex(ev, "measurement", res->measurement, res->measurement_len) != 0 ||
        sai_attest__json_add_hex(ev, "report_data", res->report_data, 64) != 0 ||
        sai_attest__json_add_hex(ev, "chip_id", res->chip_id, 64) != 0)
        goto oom;
    if (res->is_simulated &&
        !cJSON_AddStringToObject(root, "secureai.notice",
                                 res->is_emulated ? "EMULATED SEV-SNP platform (test root): not hardware-backed"
                                                  : "SIMULATED TEE: not hardware-backed"))
        goto oom;
    if (res->is_emulated && !cJSON_AddBoolToObject(ev, "emulated", true))
        goto oom;
    if (res->product[0] && !cJSON_AddStringToObject(ev, "product", res->product))
        goto oom;
    if (res->tcb_status[0] && !cJSON_AddStringToObject(ev, "tcb_status", res->tcb_status))
        goto oom;
    if (sai_attest__json_add_intel_claims(ev, res) != 0)
        goto oom;
    cJSON *tcb = cJSON_AddObjectToObject(ev, "tcb");
    if (tcb == NULL)
        goto oom;
    for (size_t i = 0; i < res->n_tcb; i++)
        if (!cJSON_AddNumberToObject(tcb, res->tcb[i].name, res->tcb[i].value))
            goto oom;
    if (res->verdict != SAI_VERDICT_AFFIRMING && res->rule[0] &&
        (!cJSON_AddStringToObject(mod, "secureai.rule", res->rule) ||
         !cJSON_AddStringToObject(mod, "secureai.values", res->values)))
        goto oom;
    claims = cJSON_PrintUnformatted(root);
    if (claims == NULL)
        goto oom;
    static const char header[] = "{\"alg\":\"ES384\",\"typ\":\"JWT\"}";
    if ((rc = sai_b64url_encode(&h64, (const uint8_t *)header, strlen(header), err)) != 0 ||
        (rc = sai_b64url_encode(&c64, (const uint8_t *)claims, strlen(claims), err)) != 0)
        goto out;
    size_t in_len = strlen(h64) + 1 + strlen(c64);
    input = malloc(in_len + 1);
    if (input == NULL)
        goto oom;
    snprintf(input, in_len + 1, "%s.%s", h64, c64);
    uint8_t sig[SAI_P384_SIG_LEN];
    if ((rc = sai_ecdsa_sign(key, sig, input, in_len, err)) != 0 ||
        (rc = sai_b64url_encode(&s64, sig, sizeof sig, err)) != 0)
        goto out;
    size_t total = in_len + 1 + strlen(s64) + 1;
    *jwt = malloc(total);
    if (*jwt == NULL)
        goto oom;
    snprintf(*jwt, total, "%s.%s", input, s64);
    rc = 0;
    goto out;
oom:
    rc = sai_error_set(err, SAI_ENOMEM, "out of memory building the token");
out:
    cJSON_Delete(root);
    free(claims); free(h64); free(c64); free(s64); free(input);
    return rc;
}

static int hex_field(uint8_t *out, size_t cap, size_t *len, cJSON *o, const char *name)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(it))
        return -1;
    size_t n = strlen(it->valuestring);
    if (n % 2 || n / 2 > cap || sai_hex_decode(out, n / 2, it->valuestring, NULL) != 0)
        return -1;
    if (len)
        *len = n / 2;
    return 0;
}

int sai_attest_token_verify(sai_attest_token_t *out, const char *jwt, size_t len,
                            const sai_ec_key_t *pub, int64_t now, sai_error_t *err)
{
    int rc = SAI_EFORMAT;
    uint8_t *hdr = NULL, *body = NULL, *sig = NULL;
    size_t hdr_len, body_len, sig_len;
    cJSON *h = NULL, *c = NULL;
    memset(out, 0, sizeof *out);
    if (jwt == NULL || len == 0 || len > JWT_MAX)
        return sai_error_set(err, SAI_EFORMAT, "token is empty or too large");
    const char *d1 = memchr(jwt, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)) != NULL)
        return sai_error_set(err, SAI_EFORMAT, "token is not a JWS compact serialisation");
    if (sai_b64_decode(&hdr, &hdr_len, jwt, (size_t)(d1 - jwt), NULL) != 0 ||
        sai_b64_decode(&body, &body_len, d1 + 1, (size_t)(d2 - d1 - 1), NULL) != 0 ||
        sai_b64_decode(&sig, &sig_len, d2 + 1, len - (size_t)(d2 + 1 - jwt), NULL) != 0) {
        rc = sai_error_set(err, SAI_EFORMAT, "token is not base64url");
        goto out;
    }
    h = cJSON_ParseWithLength((const char *)hdr, hdr_len);
    cJSON *alg = h ? cJSON_GetObjectItemCaseSensitive(h, "alg") : NULL;
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "ES384") != 0) {
        rc = sai_error_set(err, SAI_EAUTH, "token algorithm is not ES384");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(h, "crit") != NULL) {
        rc = sai_error_set(err, SAI_EAUTH, "token has critical header parameters");
        goto out;
    }
    if (sig_len != SAI_P384_SIG_LEN ||
        sai_ecdsa_verify(pub, sig, jwt, (size_t)(d2 - jwt), NULL) != 0) {
        rc = sai_error_set(err, SAI_EAUTH, "token signature does not verify");
        goto out;
    }
    c = cJSON_ParseWithLength((const char *)body, body_len);
    cJSON *iat = c ? cJSON_GetObjectItemCaseSensitive(c, "iat") : NULL;
    cJSON *exp = c ? cJSON_GetObjectItemCaseSensitive(c, "exp") : NULL;
    cJSON *prof = c ? cJSON_GetObjectItemCaseSensitive(c, "eat_profile") : NULL;
    cJSON *sub = c ? cJSON_GetObjectItemCaseSensitive(c, "submods") : NULL;
    if (!cJSON_IsNumber(iat) || !cJSON_IsNumber(exp) || !cJSON_IsString(prof) ||
        strcmp(prof->valuestring, EAR_PROFILE) != 0 || !cJSON_IsObject(sub) ||
        cJSON_GetArraySize(sub) != 1) {
        rc = sai_error_set(err, SAI_EFORMAT, "token claims are not an EAR with one submodule");
        goto out;
    }
    out->iat = (int64_t)iat->valuedouble;
    out->exp = (int64_t)exp->valuedouble;
    if (now >= out->exp) {
        rc = sai_error_set(err, SAI_EAUTH, "token expired at %lld (now %lld)",
                           (long long)out->exp, (long long)now);
        goto out;
    }
    if (out->iat > now + 60) {
        rc = sai_error_set(err, SAI_EAUTH, "token issued in the future");
        goto out;
    }
    cJSON *mod = sub->child;
    out->tee = sai_tee_kind_from_name(mod->string);
    cJSON *st = cJSON_GetObjectItemCaseSensitive(mod, "ear.status");
    cJSON *ev = cJSON_GetObjectItemCaseSensitive(mod, "ear.veraison.annotated-evidence");
    if (!cJSON_IsString(st) || !cJSON_IsObject(ev)) {
        rc = sai_error_set(err, SAI_EFORMAT, "token submodule lacks ear.status");
        goto out;
    }
    out->verdict = !strcmp(st->valuestring, "affirming") ? SAI_VERDICT_AFFIRMING
                   : !strcmp(st->valuestring, "contraindicated") ? SAI_VERDICT_CONTRAINDICATED
                   : SAI_VERDICT_NONE;
    out->simulated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "simulated"));
    if (hex_field(out->measurement, 48, &out->measurement_len, ev, "measurement") != 0)
        out->measurement_len = 0;
    out->has_report_data = hex_field(out->report_data, 64, NULL, ev, "report_data") == 0;
    rc = 0;
out:
    cJSON_Delete(h);
    cJSON_Delete(c);
    free(hdr); free(body); free(sig);
    return rc;
}
