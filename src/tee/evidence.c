/*
 * evidence.c — building the self-describing evidence envelope (JSON). The
 * producer owns its format (SAI_EVIDENCE_FORMAT, tee.h); attest only parses
 * and verifies it (src/attest/evidence.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "tee/tee_internal.h"
#include "secureai/util.h"

/* Split a PEM bundle into the JSON array of single certificates. */
static int add_certs(cJSON *arr, const char *pem)
{
    const char *end_marker = "-----END CERTIFICATE-----";
    const char *p = pem;
    while ((p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL) {
        const char *e = strstr(p, end_marker);
        if (e == NULL)
            return -1;
        e += strlen(end_marker);
        size_t n = (size_t)(e - p);
        char *one = malloc(n + 2);
        if (one == NULL)
            return -1;
        memcpy(one, p, n);
        one[n] = '\n';
        one[n + 1] = '\0';
        cJSON *s = cJSON_CreateString(one);
        free(one);
        if (s == NULL || !cJSON_AddItemToArray(arr, s))
            return -1;
        p = e;
    }
    return 0;
}

int sai_evidence_build(char **json, size_t *json_len, const sai_evidence_parts_t *parts,
                       sai_error_t *err)
{
    const uint8_t *report = parts->report, *quote = parts->quote;
    const char *certs_pem = parts->certs_pem, *collateral_json = parts->collateral_json;
    bool simulated = parts->simulated;
    int rc = SAI_ENOMEM;
    char *b64 = NULL;
    cJSON *root = cJSON_CreateObject();
    *json = NULL;
    if (root == NULL)
        goto oom;
    if (!cJSON_AddStringToObject(root, "format", SAI_EVIDENCE_FORMAT) ||
        !cJSON_AddStringToObject(root, "tee", sai_tee_kind_name(parts->tee)) ||
        !cJSON_AddBoolToObject(root, "simulated", simulated))
        goto oom;
    if (simulated &&
        !cJSON_AddStringToObject(root, "notice",
                                 "SIMULATED TEE: this evidence was produced by the secureai sim platform, not by TEE hardware"))
        goto oom;
    if (report != NULL) {
        if ((rc = sai_b64url_encode(&b64, report, parts->report_len, err)) != 0)
            goto out;
        if (!cJSON_AddStringToObject(root, "report", b64))
            goto oom;
        free(b64);
        b64 = NULL;
    }
    if (quote != NULL) {
        if ((rc = sai_b64url_encode(&b64, quote, parts->quote_len, err)) != 0)
            goto out;
        if (!cJSON_AddStringToObject(root, "quote", b64))
            goto oom;
        free(b64);
        b64 = NULL;
    }
    if (certs_pem != NULL) {
        cJSON *arr = cJSON_AddArrayToObject(root, "certs");
        if (arr == NULL || add_certs(arr, certs_pem) != 0)
            goto oom;
    }
    if (collateral_json != NULL) {
        cJSON *c = cJSON_Parse(collateral_json);
        if (c == NULL) {
            rc = sai_error_set(err, SAI_EFORMAT, "collateral is not JSON");
            goto out;
        }
        cJSON_AddItemToObject(root, "collateral", c);
    }
    if (!cJSON_AddNumberToObject(root, "generated_at", (double)time(NULL)))
        goto oom;
    *json = cJSON_Print(root);
    if (*json == NULL)
        goto oom;
    *json_len = strlen(*json);
    rc = 0;
    goto out;
oom:
    rc = sai_error_set(err, SAI_ENOMEM, "out of memory building evidence");
out:
    free(b64);
    cJSON_Delete(root);
    return rc;
}
