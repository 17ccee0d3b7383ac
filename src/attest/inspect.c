/*
 * inspect.c — parsed fields as JSON (`secureai inspect-evidence`, and the
 * --json output of verify-evidence). Works on unverified input: nothing
 * printed here is trusted until verification says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attest_int.h"
#include "secureai/util.h"

static int hexstr(cJSON *o, const char *name, const uint8_t *b, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (hex == NULL)
        return -1;
    sai_hex_encode(hex, b, n);
    cJSON *s = cJSON_AddStringToObject(o, name, hex);
    free(hex);
    return s ? 0 : -1;
}

static int tcb_obj(cJSON *o, const char *name, uint64_t raw, sai_snp_product p)
{
    sai_snp_tcb t;
    sai_snp_tcb_decode(&t, raw, p);
    cJSON *x = cJSON_AddObjectToObject(o, name);
    char rawhex[24];
    snprintf(rawhex, sizeof rawhex, "0x%016llx", (unsigned long long)raw);
    if (x == NULL || !cJSON_AddStringToObject(x, "raw", rawhex) ||
        !cJSON_AddNumberToObject(x, "bl", t.bl) || !cJSON_AddNumberToObject(x, "tee", t.tee) ||
        !cJSON_AddNumberToObject(x, "snp", t.snp) || !cJSON_AddNumberToObject(x, "ucode", t.ucode))
        return -1;
    if (p == SAI_SNP_PRODUCT_TURIN && !cJSON_AddNumberToObject(x, "fmc", t.fmc))
        return -1;
    return 0;
}

static int snp_fields(cJSON *o, const uint8_t *rep, size_t len, sai_error *err)
{
    sai_snp_report r;
    int rc = sai_snp_report_parse(&r, rep, len, err);
    if (rc != 0)
        return rc;
    char buf[32];
    sai_snp_product p = r.cpuid_product;
    int bad = 0;
    bad |= !cJSON_AddNumberToObject(o, "version", r.version);
    bad |= !cJSON_AddNumberToObject(o, "guest_svn", r.guest_svn);
    snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)r.policy);
    bad |= !cJSON_AddStringToObject(o, "policy", buf);
    bad |= !cJSON_AddBoolToObject(o, "debug", r.debug);
    bad |= !cJSON_AddBoolToObject(o, "smt_allowed", (r.policy >> 16) & 1);
    bad |= !cJSON_AddBoolToObject(o, "migrate_ma_allowed", (r.policy >> 18) & 1);
    bad |= !cJSON_AddNumberToObject(o, "vmpl", r.vmpl);
    bad |= !cJSON_AddNumberToObject(o, "signature_algo", r.sig_algo);
    snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)r.platform_info);
    bad |= !cJSON_AddStringToObject(o, "platform_info", buf);
    bad |= !cJSON_AddStringToObject(o, "signing_key", r.vlek ? "VLEK" : "VCEK");
    bad |= hexstr(o, "family_id", r.family_id, 16);
    bad |= hexstr(o, "image_id", r.image_id, 16);
    bad |= hexstr(o, "report_data", r.report_data, 64);
    bad |= hexstr(o, "measurement", r.measurement, 48);
    bad |= hexstr(o, "host_data", r.host_data, 32);
    bad |= hexstr(o, "id_key_digest", r.id_key_digest, 48);
    bad |= hexstr(o, "author_key_digest", r.author_key_digest, 48);
    bad |= hexstr(o, "report_id", r.report_id, 32);
    bad |= hexstr(o, "report_id_ma", r.report_id_ma, 32);
    bad |= hexstr(o, "chip_id", r.chip_id, 64);
    bad |= !cJSON_AddStringToObject(o, "cpuid_product", sai_snp_product_name(p));
    bad |= !cJSON_AddNumberToObject(o, "cpuid_fam", r.cpuid_fam);
    bad |= !cJSON_AddNumberToObject(o, "cpuid_mod", r.cpuid_mod);
    bad |= !cJSON_AddNumberToObject(o, "cpuid_step", r.cpuid_step);
    bad |= tcb_obj(o, "current_tcb", r.current_tcb_raw, p);
    bad |= tcb_obj(o, "reported_tcb", r.reported_tcb_raw, p);
    bad |= tcb_obj(o, "committed_tcb", r.committed_tcb_raw, p);
    bad |= tcb_obj(o, "launch_tcb", r.launch_tcb_raw, p);
    snprintf(buf, sizeof buf, "%u.%u build %u", r.current_major, r.current_minor, r.current_build);
    bad |= !cJSON_AddStringToObject(o, "current_firmware", buf);
    snprintf(buf, sizeof buf, "%u.%u build %u", r.committed_major, r.committed_minor, r.committed_build);
    bad |= !cJSON_AddStringToObject(o, "committed_firmware", buf);
    if (bad)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}

static int finish(char **json, cJSON *o, sai_error *err)
{
    *json = cJSON_Print(o);
    cJSON_Delete(o);
    return *json ? 0 : sai_error_set(err, SAI_ENOMEM, "out of memory");
}

int sai_attest_inspect_json(char **json, const sai_evidence *ev, sai_error *err)
{
    cJSON *o = cJSON_CreateObject();
    *json = NULL;
    if (o == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    cJSON_AddStringToObject(o, "tee", sai_tee_kind_name(ev->tee));
    cJSON_AddBoolToObject(o, "simulated_claimed", ev->simulated);
    if (ev->generated_at)
        cJSON_AddNumberToObject(o, "generated_at", (double)ev->generated_at);
    if (ev->report != NULL) {
        int rc = snp_fields(o, ev->report, ev->report_len, err);
        if (rc != 0) {
            cJSON_Delete(o);
            return rc;
        }
    }
    if (ev->quote != NULL) {
        cJSON_AddNumberToObject(o, "quote_len", (double)ev->quote_len);
        if (ev->quote_len >= 48) {
            cJSON_AddNumberToObject(o, "quote_version", ev->quote[0] | ev->quote[1] << 8);
            cJSON_AddStringToObject(o, "note", "TDX/SGX quote fields are decoded by the dcap component");
        }
    }
    int ncert = 0;
    for (const char *c = ev->certs; c != NULL && (c = strstr(c, "-----BEGIN CERTIFICATE-----")) != NULL; c++)
        ncert++;
    cJSON_AddNumberToObject(o, "certificates", ncert);
    return finish(json, o, err);
}

int sai_attest_result_json(char **json, const sai_attest_result *res, sai_error *err)
{
    cJSON *o = cJSON_CreateObject();
    *json = NULL;
    if (o == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    const char *k = sai_tee_kind_name(res->tee);
    cJSON_AddStringToObject(o, "verdict", sai_verdict_name(res->verdict));
    cJSON_AddStringToObject(o, "tee", k ? k : "none");
    cJSON_AddBoolToObject(o, "simulated", res->is_simulated);
    if (res->is_simulated)
        cJSON_AddStringToObject(o, "notice", "SIMULATED TEE: not hardware-backed");
    if (res->product[0])
        cJSON_AddStringToObject(o, "product", res->product);
    if (res->measurement_len)
        hexstr(o, "measurement", res->measurement, res->measurement_len);
    hexstr(o, "report_data", res->report_data, 64);
    hexstr(o, "chip_id", res->chip_id, 64);
    cJSON *t = cJSON_AddObjectToObject(o, "tcb");
    for (size_t i = 0; t && i < res->n_tcb; i++)
        cJSON_AddNumberToObject(t, res->tcb[i].name, res->tcb[i].value);
    if (res->tcb_status[0])
        cJSON_AddStringToObject(o, "tcb_status", res->tcb_status);
    cJSON_AddBoolToObject(o, "debug", res->debug);
    cJSON_AddNumberToObject(o, "vmpl", res->vmpl);
    cJSON_AddNumberToObject(o, "report_version", res->report_version);
    cJSON_AddStringToObject(o, "signing_key", res->vlek ? "VLEK" : "VCEK");
    cJSON_AddNumberToObject(o, "verified_at", (double)res->verified_at);
    if (res->verdict != SAI_VERDICT_AFFIRMING && res->rule[0]) {
        cJSON_AddStringToObject(o, "rule", res->rule);
        cJSON_AddStringToObject(o, "values", res->values);
        if (res->hint[0])
            cJSON_AddStringToObject(o, "hint", res->hint);
    }
    return finish(json, o, err);
}
