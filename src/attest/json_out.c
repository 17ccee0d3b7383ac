/*
 * json_out.c — the JSON output helpers shared by the SNP and DCAP paths
 * (inspect-evidence, verify-evidence --json, token claims, the dcap result):
 * one way to write bytes as lower-case hex and a time as RFC 3339 UTC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "attest/attest_internal.h"
#include "secureai/util.h"

int sai_attest__json_add_hex(cJSON *o, const char *name, const uint8_t *b, size_t n)
{
    char small[2 * 64 + 1];
    char *hex = n <= 64 ? small : malloc(2 * n + 1);
    if (hex == NULL)
        return -1;
    sai_hex_encode(hex, b, n);
    cJSON *s = cJSON_AddStringToObject(o, name, hex);
    if (hex != small)
        free(hex);
    return s != NULL ? 0 : -1;
}

void sai_attest__time_str(char out[SAI_ATTEST_TIME_STR], int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t < -62135596800LL || t > 253402300799LL || gmtime_r(&tt, &tm) == NULL ||
        strftime(out, SAI_ATTEST_TIME_STR, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, SAI_ATTEST_TIME_STR, "@%lld", (long long)t);
}

int sai_attest__json_add_time(cJSON *o, const char *name, int64_t t)
{
    char buf[SAI_ATTEST_TIME_STR];
    if (t <= 0 || t >= 253402300799LL)
        return 0;   /* absent or out of range: omitted */
    sai_attest__time_str(buf, t);
    return cJSON_AddStringToObject(o, name, buf) != NULL ? 0 : -1;
}

int sai_attest__json_add_intel_claims(cJSON *o, const sai_attest_result_t *res)
{
    static const char *const rn[4] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };
    int bad = 0;
    if (res->has_td) {
        bad |= sai_attest__json_add_hex(o, "mrtd", res->mrtd, 48);
        for (int i = 0; i < 4; i++)
            bad |= sai_attest__json_add_hex(o, rn[i], res->rtmr[i], 48);
    }
    if (res->has_sgx) {
        bad |= sai_attest__json_add_hex(o, "mrenclave", res->mrenclave, 32);
        bad |= sai_attest__json_add_hex(o, "mrsigner", res->mrsigner, 32);
        bad |= !cJSON_AddNumberToObject(o, "isv_prodid", res->isv_prodid);
        bad |= !cJSON_AddNumberToObject(o, "isv_svn", res->isv_svn);
    }
    if (res->has_td || res->has_sgx) {
        cJSON *adv = cJSON_AddArrayToObject(o, "advisory_ids");
        bad |= adv == NULL;
        for (size_t i = 0; adv != NULL && i < res->n_advisories; i++)
            bad |= !cJSON_AddItemToArray(adv, cJSON_CreateString(res->advisory_ids[i]));
    }
    return bad ? -1 : 0;
}
