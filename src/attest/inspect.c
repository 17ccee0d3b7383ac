/*
 * inspect.c — parsed fields as JSON (`secureai inspect-evidence`, and the
 * --json output of verify-evidence). Works on unverified input: nothing
 * printed here is trusted until verification says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attest/attest_internal.h"
#include "secureai/dcap.h"
#include "secureai/util.h"

static int tcb_obj(cJSON *o, const char *name, uint64_t raw, sai_snp_product_t p)
{
    sai_snp_tcb_t t;
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

static int snp_fields(cJSON *o, const uint8_t *rep, size_t len, sai_error_t *err)
{
    sai_snp_report_t r;
    int rc = sai_snp_report_parse(&r, rep, len, err);
    if (rc != 0)
        return rc;
    char buf[32];
    sai_snp_product_t p = r.cpuid_product;
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
    bad |= sai_attest__json_add_hex(o, "family_id", r.family_id, 16);
    bad |= sai_attest__json_add_hex(o, "image_id", r.image_id, 16);
    bad |= sai_attest__json_add_hex(o, "report_data", r.report_data, 64);
    bad |= sai_attest__json_add_hex(o, "measurement", r.measurement, 48);
    bad |= sai_attest__json_add_hex(o, "host_data", r.host_data, 32);
    bad |= sai_attest__json_add_hex(o, "id_key_digest", r.id_key_digest, 48);
    bad |= sai_attest__json_add_hex(o, "author_key_digest", r.author_key_digest, 48);
    bad |= sai_attest__json_add_hex(o, "report_id", r.report_id, 32);
    bad |= sai_attest__json_add_hex(o, "report_id_ma", r.report_id_ma, 32);
    bad |= sai_attest__json_add_hex(o, "chip_id", r.chip_id, 64);
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

static int sgx_body(cJSON *o, const sai_dcap_sgx_body_t *b)
{
    int bad = 0;
    bad |= sai_attest__json_add_hex(o, "cpusvn", b->cpusvn, 16);
    bad |= !cJSON_AddNumberToObject(o, "miscselect", b->miscselect);
    bad |= sai_attest__json_add_hex(o, "isvextprodid", b->isvextprodid, 16);
    bad |= sai_attest__json_add_hex(o, "attributes", b->attributes, 16);
    bad |= !cJSON_AddBoolToObject(o, "debug", (b->attributes[0] & 0x02) != 0);
    bad |= sai_attest__json_add_hex(o, "mrenclave", b->mrenclave, 32);
    bad |= sai_attest__json_add_hex(o, "mrsigner", b->mrsigner, 32);
    bad |= sai_attest__json_add_hex(o, "configid", b->configid, 64);
    bad |= !cJSON_AddNumberToObject(o, "isv_prodid", b->isvprodid);
    bad |= !cJSON_AddNumberToObject(o, "isv_svn", b->isvsvn);
    bad |= !cJSON_AddNumberToObject(o, "configsvn", b->configsvn);
    bad |= sai_attest__json_add_hex(o, "isvfamilyid", b->isvfamilyid, 16);
    bad |= sai_attest__json_add_hex(o, "report_data", b->report_data, 64);
    return bad;
}

/* The fields of a DCAP quote (layout parse only, see dcap.h). */
static int quote_fields(cJSON *o, const uint8_t *buf, size_t len, sai_error_t *err)
{
    sai_dcap_quote_t q;
    int rc = sai_dcap_quote_parse(buf, len, &q, err);
    if (rc != 0)
        return rc;
    int bad = 0;
    bad |= !cJSON_AddNumberToObject(o, "quote_version", q.version);
    bad |= !cJSON_AddStringToObject(o, "quote_tee", q.tee == SAI_DCAP_TDX ? "tdx" : "sgx");
    bad |= !cJSON_AddNumberToObject(o, "att_key_type", q.att_key_type);
    bad |= !cJSON_AddNumberToObject(o, "body_type", q.body_type);
    if (q.version == 3) {
        bad |= !cJSON_AddNumberToObject(o, "qe_svn", q.qe_svn);
        bad |= !cJSON_AddNumberToObject(o, "pce_svn", q.pce_svn);
    }
    bad |= sai_attest__json_add_hex(o, "qe_vendor_id", q.qe_vendor_id, 16);
    bad |= sai_attest__json_add_hex(o, "user_data", q.user_data, 20);
    if (q.tee == SAI_DCAP_TDX) {
        static const char *const rn[4] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };
        const sai_dcap_td_body_t *t = &q.td;
        bad |= sai_attest__json_add_hex(o, "tee_tcb_svn", t->tee_tcb_svn, 16);
        bad |= sai_attest__json_add_hex(o, "mrseam", t->mrseam, 48);
        bad |= sai_attest__json_add_hex(o, "mrsignerseam", t->mrsignerseam, 48);
        bad |= sai_attest__json_add_hex(o, "seam_attributes", t->seam_attributes, 8);
        bad |= sai_attest__json_add_hex(o, "td_attributes", t->td_attributes, 8);
        bad |= !cJSON_AddBoolToObject(o, "debug", (t->td_attributes[0] & 0x01) != 0);
        bad |= sai_attest__json_add_hex(o, "xfam", t->xfam, 8);
        bad |= sai_attest__json_add_hex(o, "mrtd", t->mrtd, 48);
        bad |= sai_attest__json_add_hex(o, "mrconfigid", t->mrconfigid, 48);
        bad |= sai_attest__json_add_hex(o, "mrowner", t->mrowner, 48);
        bad |= sai_attest__json_add_hex(o, "mrownerconfig", t->mrownerconfig, 48);
        for (int i = 0; i < 4; i++)
            bad |= sai_attest__json_add_hex(o, rn[i], t->rtmr[i], 48);
        bad |= sai_attest__json_add_hex(o, "report_data", t->report_data, 64);
        if (t->v15) {
            bad |= sai_attest__json_add_hex(o, "tee_tcb_svn2", t->tee_tcb_svn2, 16);
            bad |= sai_attest__json_add_hex(o, "mrservicetd", t->mrservicetd, 48);
        }
    } else {
        bad |= sgx_body(o, &q.sgx);
    }
    cJSON *qe = cJSON_AddObjectToObject(o, "qe_report");
    bad |= qe == NULL || sgx_body(qe, &q.qe_report);
    bad |= !cJSON_AddNumberToObject(o, "cert_data_type", q.cert_type);
    int ncert = 0;
    for (size_t i = 0; i + 27 <= q.cert_len; i++)
        ncert += memcmp(q.cert_data + i, "-----BEGIN CERTIFICATE-----", 27) == 0;
    bad |= !cJSON_AddNumberToObject(o, "pck_chain_certificates", ncert);
    if (bad)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}

static int finish(char **json, cJSON *o, sai_error_t *err)
{
    *json = cJSON_Print(o);
    cJSON_Delete(o);
    return *json ? 0 : sai_error_set(err, SAI_ENOMEM, "out of memory");
}

int sai_attest_inspect_json(char **json, const sai_evidence_t *ev, sai_error_t *err)
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
        int rc = quote_fields(o, ev->quote, ev->quote_len, err);
        if (rc != 0) {
            cJSON_Delete(o);
            return rc;
        }
        if (ev->collateral != NULL)
            cJSON_AddBoolToObject(o, "collateral", true);
    }
    int ncert = 0;
    for (const char *c = ev->certs; c != NULL && (c = strstr(c, "-----BEGIN CERTIFICATE-----")) != NULL; c++)
        ncert++;
    cJSON_AddNumberToObject(o, "certificates", ncert);
    return finish(json, o, err);
}

int sai_attest_result_json(char **json, const sai_attest_result_t *res, sai_error_t *err)
{
    cJSON *o = cJSON_CreateObject();
    *json = NULL;
    if (o == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    const char *k = sai_tee_kind_name(res->tee);
    cJSON_AddStringToObject(o, "verdict", sai_verdict_name(res->verdict));
    cJSON_AddStringToObject(o, "tee", k ? k : "none");
    cJSON_AddBoolToObject(o, "simulated", res->is_simulated);
    if (res->is_emulated)
        cJSON_AddBoolToObject(o, "emulated", true);
    if (res->is_simulated)
        cJSON_AddStringToObject(o, "notice", res->is_emulated
                                                 ? "EMULATED SEV-SNP platform (test root): not hardware-backed"
                                                 : "SIMULATED TEE: not hardware-backed");
    if (res->product[0])
        cJSON_AddStringToObject(o, "product", res->product);
    if (res->measurement_len)
        sai_attest__json_add_hex(o, "measurement", res->measurement, res->measurement_len);
    sai_attest__json_add_hex(o, "report_data", res->report_data, 64);
    bool intel = res->tee == SAI_TEE_TDX || res->tee == SAI_TEE_SGX;
    if (!intel)
        sai_attest__json_add_hex(o, "chip_id", res->chip_id, 64);
    sai_attest__json_add_intel_claims(o, res);
    cJSON *t = cJSON_AddObjectToObject(o, "tcb");
    for (size_t i = 0; t && i < res->n_tcb; i++)
        cJSON_AddNumberToObject(t, res->tcb[i].name, res->tcb[i].value);
    if (res->tcb_status[0])
        cJSON_AddStringToObject(o, "tcb_status", res->tcb_status);
    cJSON_AddBoolToObject(o, "debug", res->debug);
    cJSON_AddNumberToObject(o, "report_version", res->report_version);
    if (!intel) {
        cJSON_AddNumberToObject(o, "vmpl", res->vmpl);
        cJSON_AddStringToObject(o, "signing_key", res->vlek ? "VLEK" : "VCEK");
    }
    cJSON_AddNumberToObject(o, "verified_at", (double)res->verified_at);
    if (res->verdict != SAI_VERDICT_AFFIRMING && res->rule[0]) {
        cJSON_AddStringToObject(o, "rule", res->rule);
        cJSON_AddStringToObject(o, "values", res->values);
        if (res->hint[0])
            cJSON_AddStringToObject(o, "hint", res->hint);
    }
    return finish(json, o, err);
}

static const char *ratls_kind_name(sai_ratls_kind_t k)
{
    switch (k) {
    case SAI_RATLS_GRAMINE_LEGACY: return "gramine-legacy";
    case SAI_RATLS_INTEL_SDK:      return "intel-sgx-sdk";
    case SAI_RATLS_TCG_DICE:       return "tcg-dice";
    default:                       return "unknown";
    }
}

int sai_attest_inspect_ratls_json(char **json, const uint8_t *cert, size_t len, sai_error_t *err)
{
    sai_ratls_t r;
    *json = NULL;
    int rc = sai_dcap_ratls_extract(cert, len, &r, err);
    if (rc != 0)
        return rc;
    cJSON *o = cJSON_CreateObject(), *arr = NULL;
    int bad = o == NULL;
    if (!bad) {
        bad |= !cJSON_AddStringToObject(o, "evidence", "ra-tls");
        bad |= sai_attest__json_add_hex(o, "spki_sha256", r.spki_sha256, 32);
        bad |= !cJSON_AddBoolToObject(o, "self_signature_ok", r.self_signature_ok);
        bad |= sai_attest__json_add_time(o, "not_before", (int64_t)r.not_before);
        bad |= sai_attest__json_add_time(o, "not_after", (int64_t)r.not_after);
        bad |= (arr = cJSON_AddArrayToObject(o, "quotes")) == NULL;
    }
    for (size_t i = 0; !bad && rc == 0 && i < r.n; i++) {
        cJSON *q = cJSON_CreateObject();
        if (q == NULL || !cJSON_AddItemToArray(arr, q)) {
            cJSON_Delete(q);
            bad = 1;
            break;
        }
        bad |= !cJSON_AddStringToObject(q, "kind", ratls_kind_name(r.ev[i].kind));
        bad |= !cJSON_AddBoolToObject(q, "binding_ok", r.ev[i].binding_ok);
        bad |= !cJSON_AddStringToObject(q, "binding", r.ev[i].binding);
        bad |= !cJSON_AddNumberToObject(q, "quote_len", (double)r.ev[i].quote_len);
        rc = quote_fields(q, r.ev[i].quote, r.ev[i].quote_len, err);
    }
    sai_dcap_ratls_free(&r);
    if (bad && rc == 0)
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (rc != 0) {
        cJSON_Delete(o);
        return rc;
    }
    return finish(json, o, err);
}
