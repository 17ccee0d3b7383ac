/*
 * dcap_json.c — a sai_dcap_result as JSON, for `secureai inspect-evidence`,
 * `verify-evidence --json` and the claims the attest module builds. Hex is
 * lower case; times are RFC 3339 UTC; fields of the other TEE are omitted.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/dcap.h"
#include "secureai/util.h"

static void add_hex(cJSON *o, const char *k, const uint8_t *p, size_t n)
{
    char h[2 * 64 + 1];
    sai_hex_encode(h, p, n);
    cJSON_AddStringToObject(o, k, h);
}

static void add_time(cJSON *o, const char *k, time_t t)
{
    char buf[32];
    struct tm tm;
    if (t <= 0 || t >= (time_t)253402300799LL || gmtime_r(&t, &tm) == NULL)
        return;
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, k, buf);
}

int sai_dcap_result_json(const sai_dcap_result *r, char **out, sai_error *err)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    cJSON_AddStringToObject(o, "tee", r->tee == SAI_DCAP_TDX ? "tdx" : "sgx");
    cJSON_AddNumberToObject(o, "quote_version", r->version);
    cJSON_AddNumberToObject(o, "body_type", r->body_type);
    cJSON_AddStringToObject(o, "verdict", sai_dcap_verdict_name(r->verdict));
    if (r->verdict == SAI_DCAP_CONTRAINDICATED) {
        cJSON_AddStringToObject(o, "failed_check", r->failed_check);
        cJSON_AddStringToObject(o, "failed_detail", r->failed_detail);
    }
    if (r->tee == SAI_DCAP_TDX) {
        add_hex(o, "mrtd", r->mrtd, 48);
        for (int i = 0; i < 4; i++) {
            char k[8];
            snprintf(k, sizeof k, "rtmr%d", i);
            add_hex(o, k, r->rtmr[i], 48);
        }
        add_hex(o, "mrseam", r->mrseam, 48);
        add_hex(o, "mrsignerseam", r->mrsignerseam, 48);
        add_hex(o, "td_attributes", r->td_attributes, 8);
        add_hex(o, "xfam", r->xfam, 8);
        add_hex(o, "tee_tcb_svn", r->tee_tcb_svn, 16);
    } else {
        add_hex(o, "mrenclave", r->mrenclave, 32);
        add_hex(o, "mrsigner", r->mrsigner, 32);
        cJSON_AddNumberToObject(o, "isv_prodid", r->isv_prodid);
        cJSON_AddNumberToObject(o, "isv_svn", r->isv_svn);
        add_hex(o, "attributes", r->sgx_attributes, 16);
    }
    cJSON_AddBoolToObject(o, "debug", r->debug);
    add_hex(o, "report_data", r->report_data, 64);
    add_hex(o, "fmspc", r->fmspc, 6);
    add_hex(o, "pceid", r->pceid, 2);
    add_hex(o, "cpusvn", r->cpusvn, 16);
    add_hex(o, "pck_tcb_components", r->pck_compsvn, 16);
    cJSON_AddNumberToObject(o, "pck_pcesvn", r->pck_pcesvn);
    cJSON_AddNumberToObject(o, "qe_isvsvn", r->qe_isvsvn);
    cJSON_AddStringToObject(o, "tcb_status", r->tcb_status);
    cJSON_AddStringToObject(o, "qe_tcb_status", r->qe_tcb_status);
    if (r->tdx_module_status[0])
        cJSON_AddStringToObject(o, "tdx_module_status", r->tdx_module_status);
    if (r->tcb_date[0])
        cJSON_AddStringToObject(o, "tcb_date", r->tcb_date);
    cJSON *adv = cJSON_AddArrayToObject(o, "advisory_ids");
    for (size_t i = 0; adv != NULL && i < r->n_advisories; i++)
        cJSON_AddItemToArray(adv, cJSON_CreateString(r->advisory_ids[i]));
    add_time(o, "valid_from", r->valid_from);
    add_time(o, "valid_until", r->valid_until);
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (*out == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}
