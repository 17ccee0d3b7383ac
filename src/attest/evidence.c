/*
 * evidence.c — parsing the self-describing evidence envelope (JSON; its
 * format and builder belong to its producer, src/tee/evidence.c) and the
 * top-level sai_attest_verify_evidence(): parse, dispatch on the TEE kind
 * (SNP/sim: snp_verify.c; TDX/SGX: intel.c), verify, appraise.
 *
 * The envelope is untrusted input (fuzz/fuzz_evidence_envelope.c): every
 * field is type-checked and size-capped, unknown fields are ignored, and
 * nothing in it is believed without a signature. In particular "simulated"
 * and "tee" are hints for humans: whether evidence is simulated is decided
 * by the trust anchor its chain ends in, never by the envelope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "attest/attest_internal.h"
#include "secureai/util.h"

void sai_evidence_clear(sai_evidence_t *ev)
{
    if (ev == NULL)
        return;
    free(ev->report);
    free(ev->quote);
    free(ev->certs);
    free(ev->collateral);
    memset(ev, 0, sizeof *ev);
}

static int get_b64(cJSON *o, const char *name, size_t cap, uint8_t **out, size_t *len,
                   sai_error_t *err)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (it == NULL || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsString(it))
        return sai_error_set(err, SAI_EFORMAT, "evidence field \"%s\" is not a string", name);
    size_t n = strlen(it->valuestring);
    if (n > cap * 4 / 3 + 8)
        return sai_error_set(err, SAI_ELIMIT, "evidence field \"%s\" is too long", name);
    int rc = sai_b64_decode(out, len, it->valuestring, n, err);
    if (rc != 0)
        return sai_error_prefix(err, "evidence field \"%s\"", name);
    return 0;
}

int sai_evidence_parse(sai_evidence_t *ev, const char *json, size_t len, sai_error_t *err)
{
    int rc = SAI_EFORMAT;
    memset(ev, 0, sizeof *ev);
    if (json == NULL || len == 0)
        return sai_error_set(err, SAI_EFORMAT, "empty evidence");
    if (len > SAI_EVIDENCE_MAX)
        return sai_error_set(err, SAI_ELIMIT, "evidence of %zu bytes exceeds %u", len,
                             SAI_EVIDENCE_MAX);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        rc = sai_error_set(err, SAI_EFORMAT, "evidence is not a JSON object");
        goto out;
    }
    cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SAI_EVIDENCE_FORMAT) != 0) {
        rc = sai_error_set(err, SAI_EFORMAT, "evidence \"format\" is not \"%s\"", SAI_EVIDENCE_FORMAT);
        goto out;
    }
    cJSON *tee = cJSON_GetObjectItemCaseSensitive(root, "tee");
    if (!cJSON_IsString(tee) || (ev->tee = sai_tee_kind_from_name(tee->valuestring)) == SAI_TEE_NONE) {
        rc = sai_error_set(err, SAI_EFORMAT, "evidence \"tee\" is missing or unknown");
        goto out;
    }
    ev->simulated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "simulated"));
    cJSON *ga = cJSON_GetObjectItemCaseSensitive(root, "generated_at");
    if (cJSON_IsNumber(ga) && ga->valuedouble > 0 && ga->valuedouble < 1e12)
        ev->generated_at = (int64_t)ga->valuedouble;
    if ((rc = get_b64(root, "report", 8192, &ev->report, &ev->report_len, err)) != 0 ||
        (rc = get_b64(root, "quote", 64 * 1024, &ev->quote, &ev->quote_len, err)) != 0)
        goto out;
    cJSON *certs = cJSON_GetObjectItemCaseSensitive(root, "certs");
    if (certs != NULL) {
        if (!cJSON_IsArray(certs) || cJSON_GetArraySize(certs) > 8) {
            rc = sai_error_set(err, SAI_EFORMAT, "evidence \"certs\" must be an array of at most 8 PEM strings");
            goto out;
        }
        size_t total = 0;
        cJSON *c;
        cJSON_ArrayForEach(c, certs) {
            if (!cJSON_IsString(c) || strlen(c->valuestring) > SAI_SNP_CERT_MAX) {
                rc = sai_error_set(err, SAI_EFORMAT, "evidence \"certs\" entry is not a PEM string");
                goto out;
            }
            total += strlen(c->valuestring) + 1;
        }
        if (total > 0) {
            ev->certs = malloc(total + 1);
            if (ev->certs == NULL) {
                rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
                goto out;
            }
            ev->certs[0] = '\0';
            size_t off = 0;
            cJSON_ArrayForEach(c, certs) {
                size_t n = strlen(c->valuestring);
                memcpy(ev->certs + off, c->valuestring, n);
                off += n;
                ev->certs[off++] = '\n';
            }
            ev->certs[off] = '\0';
            ev->certs_len = off;
        }
    }
    cJSON *coll = cJSON_GetObjectItemCaseSensitive(root, "collateral");
    if (coll != NULL && !cJSON_IsNull(coll)) {
        ev->collateral = cJSON_PrintUnformatted(coll);
        if (ev->collateral == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        ev->collateral_len = strlen(ev->collateral);
    }
    if (ev->tee == SAI_TEE_SIM || ev->tee == SAI_TEE_SEV_SNP) {
        if (ev->report == NULL) {
            rc = sai_error_set(err, SAI_EFORMAT, "%s evidence has no \"report\"",
                               sai_tee_kind_name(ev->tee));
            goto out;
        }
    } else if (ev->quote == NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "%s evidence has no \"quote\"",
                           sai_tee_kind_name(ev->tee));
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc != 0)
        sai_evidence_clear(ev);
    return rc;
}

/* ---- the top-level verifier ------------------------------------------------ */

int sai_attest_verify_evidence(const char *json, size_t len, const sai_attest_policy_t *policy,
                               const uint8_t *expected_report_data, int64_t at,
                               sai_attest_result_t *res, sai_error_t *err)
{
    return sai_attest_verify_envelope(json, len, NULL, 0, policy, expected_report_data, at, res,
                                      err);
}

int sai_attest_verify_envelope(const char *json, size_t len, const char *collateral_json,
                               size_t collateral_len, const sai_attest_policy_t *policy,
                               const uint8_t *expected_report_data, int64_t at,
                               sai_attest_result_t *res, sai_error_t *err)
{
    sai_evidence_t ev;
    sai_attest_policy_t *defpol = NULL;
    int rc;
    memset(res, 0, sizeof *res);
    if (at == 0)
        at = (int64_t)time(NULL);
    res->verified_at = at;
    if ((rc = sai_evidence_parse(&ev, json, len, err)) != 0) {
        sai_attest__refuse(res, NULL, rc, "format", NULL, "%s", err ? err->msg : "bad evidence");
        return rc;
    }
    if (policy == NULL) {
        if ((rc = sai_attest_policy_default(&defpol, err)) != 0)
            goto out;
        policy = defpol;
    }
    if (ev.tee == SAI_TEE_SIM || ev.tee == SAI_TEE_SEV_SNP) {
        const uint8_t (*roots)[32] = NULL;
        size_t n_roots = 0;
        uint8_t local[1][32];
        sai_attest_policy_sim_roots(policy, &roots, &n_roots);
        if (n_roots == 0 && sai_sim_platform_ark_fingerprint(NULL, local[0], NULL) == 0) {
            roots = (const uint8_t (*)[32])local;
            n_roots = 1;
        }
        if (ev.certs == NULL) {
            rc = sai_attest__refuse(res, err, SAI_EFORMAT, "chain",
                                   "collect evidence with the certificate table (configfs auxblob / extended report), or use --vcek and --chain",
                                   "evidence carries no VCEK/VLEK certificate");
            goto out;
        }
        rc = sai_attest_verify_snp(ev.report, ev.report_len, (const uint8_t *)ev.certs,
                                   ev.certs_len, NULL, 0, roots, n_roots, at, res, err);
    } else {
        if (collateral_json == NULL) {
            collateral_json = ev.collateral;
            collateral_len = ev.collateral_len;
        }
        rc = sai_attest_verify_quote(ev.tee, ev.quote, ev.quote_len, collateral_json,
                                     collateral_len, at, res, err);
    }
    res->evidence_time = ev.generated_at;
    res->verified_at = at;
    if (rc != 0)
        goto out;
    rc = sai_attest_policy_appraise(policy, res, expected_report_data, at, err);
out:
    if (rc != 0 && res->verdict == SAI_VERDICT_NONE)
        sai_attest__refuse(res, NULL, rc, "verification", NULL, "%s", err ? err->msg : "");
    sai_attest_policy_free(defpol);
    sai_evidence_clear(&ev);
    return rc;
}

/* ---- time ------------------------------------------------------------------ */

int sai_parse_rfc3339(int64_t *out, const char *s, sai_error_t *err)
{
    int Y, M, D, h, m, sec, n = 0;
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 ||
        M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970)
        return sai_error_set(err, SAI_EINVAL, "'%s' is not an RFC 3339 time (e.g. 2025-09-12T00:00:00Z)",
                             s ? s : "");
    const char *p = s + n;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
            return sai_error_set(err, SAI_EINVAL, "'%s': bad UTC offset", s);
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 1 + k;
    } else {
        return sai_error_set(err, SAI_EINVAL, "'%s': missing time zone (Z or +hh:mm)", s);
    }
    if (*p != '\0')
        return sai_error_set(err, SAI_EINVAL, "'%s': trailing characters", s);
    /* days from civil (Howard Hinnant) */
    int y = Y - (M <= 2);
    int era = y / 400;
    int yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + m * 60 + sec - off;
    return 0;
}
