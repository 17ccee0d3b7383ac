/*
 * attest_glue.c — the KBS's default verifier and attester tables over the
 * attestation module (src/attest) and the TEE backends (src/tee). The KBS
 * itself only sees sai_kbs_verifier / sai_kbs_attester (kbs.h); this file is
 * the one place that knows the attestation API.
 *
 * The verifier appraises evidence with sai_attest_verify_evidence under the
 * attestation policy (YAML; replaceable at run time through the admin API,
 * guarded by a rwlock), and requires the report data to be the session
 * binding. It then reads HOST_DATA from the (now verified) SNP/sim report,
 * which the attestation result does not carry, for the release policies'
 * pipeline_spec_hash rule.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"
#include "secureai/attest.h"
#include "secureai/tee.h"
#include "secureai/util.h"

typedef struct vctx {
    pthread_rwlock_t   lock;
    sai_attest_policy *policy;      /* NULL: the attestation module's default */
    char               policy_id[64];
} vctx;

static int set_policy(void *ctx, const char *text, size_t len, sai_error *err)
{
    vctx *v = ctx;
    sai_attest_policy *p = NULL;
    int rc = sai_attest_policy_load(&p, text, len, err);
    if (rc != 0)
        return sai_error_prefix(err, "attestation policy");
    uint8_t h[32];
    char hex[65];
    if ((rc = sai_hash(SAI_SHA256, h, text, len, err)) != 0) {
        sai_attest_policy_free(p);
        return rc;
    }
    sai_hex_encode(hex, h, 32);
    pthread_rwlock_wrlock(&v->lock);
    sai_attest_policy_free(v->policy);
    v->policy = p;
    snprintf(v->policy_id, sizeof v->policy_id, "sha256:%.16s", hex);
    pthread_rwlock_unlock(&v->lock);
    return 0;
}

static void host_data_of(const char *evidence, size_t len, sai_kbs_claims *c)
{
    sai_evidence ev;
    sai_snp_report r;
    c->host_data[0] = '\0';
    if (sai_evidence_parse(&ev, evidence, len, NULL) != 0)
        return;
    if (ev.report && sai_snp_report_parse(&r, ev.report, ev.report_len, NULL) == 0)
        sai_hex_encode(c->host_data, r.host_data, 32);
    sai_evidence_clear(&ev);
}

static int verify(void *ctx, const char *tee, const char *evidence, size_t len,
                  const uint8_t report_data[static SAI_KBS_REPORT_DATA_LEN],
                  sai_kbs_claims *out, sai_error *err)
{
    vctx *v = ctx;
    sai_attest_result res;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&v->lock);
    int rc = sai_attest_verify_evidence(evidence, len, v->policy, report_data, 0, &res, err);
    snprintf(out->policy_id, sizeof out->policy_id, "%s", v->policy_id);
    pthread_rwlock_unlock(&v->lock);
    if (rc != 0)
        return rc == SAI_ENOMEM || rc == SAI_EIO ? rc : (rc == SAI_EFORMAT ? SAI_EFORMAT : SAI_EPOLICY);
    const char *name = sai_tee_kind_name(res.tee);
    snprintf(out->tee, sizeof out->tee, "%s", name ? name : "?");
    if (res.measurement_len > 0 && res.measurement_len <= 48)
        sai_hex_encode(out->measurement, res.measurement, res.measurement_len);
    static const char *names[4] = {"bl", "tee", "snp", "ucode"};
    for (size_t i = 0; i < res.n_tcb; i++)
        for (int k = 0; k < 4; k++)
            if (strcmp(res.tcb[i].name, names[k]) == 0)
                out->tcb[k] = res.tcb[i].value > 255 ? 255 : (uint8_t)res.tcb[i].value;
    snprintf(out->tcb_status, sizeof out->tcb_status, "%s",
             res.tcb_status[0] ? res.tcb_status : "verified");
    out->debug = res.debug;
    out->simulated = res.is_simulated;
    if (res.tee == SAI_TEE_SIM || res.tee == SAI_TEE_SEV_SNP)
        host_data_of(evidence, len, out);
    (void)tee;
    return 0;
}

int sai_kbs_verifier_default(sai_kbs_verifier *v, const char *policy_path, sai_error *err)
{
    memset(v, 0, sizeof *v);
    vctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_rwlock_init(&c->lock, NULL);
    snprintf(c->policy_id, sizeof c->policy_id, "default");
    if (policy_path) {
        uint8_t *text = NULL;
        size_t len = 0;
        int rc = sai_read_file(policy_path, 256 * 1024, &text, &len, err);
        if (rc == 0)
            rc = set_policy(c, (const char *)text, len, err);
        free(text);
        if (rc != 0) {
            pthread_rwlock_destroy(&c->lock);
            free(c);
            return rc;
        }
    }
    v->ctx = c;
    v->verify = verify;
    v->set_policy = set_policy;
    return 0;
}

void sai_kbs_verifier_release(sai_kbs_verifier *v)
{
    vctx *c = v ? v->ctx : NULL;
    if (c) {
        sai_attest_policy_free(c->policy);
        pthread_rwlock_destroy(&c->lock);
        free(c);
    }
    if (v)
        memset(v, 0, sizeof *v);
}

static int evidence(void *ctx, const uint8_t report_data[static SAI_KBS_REPORT_DATA_LEN],
                    char **json, size_t *len, sai_error *err)
{
    return sai_tee_get_evidence(ctx, report_data, json, len, err);
}

int sai_kbs_attester_open(sai_kbs_attester *a, const char *tee, sai_error *err)
{
    memset(a, 0, sizeof *a);
    sai_tee_kind k = sai_tee_kind_from_name(tee);
    if (k == SAI_TEE_NONE)
        return sai_error_set(err, SAI_EINVAL, "unknown TEE kind \"%s\" (sim, sev-snp, tdx, sgx)", tee);
    sai_tee *t = NULL;
    sai_tee_opts o;
    memset(&o, 0, sizeof o);
    o.psp_fd = -1;
    int rc = sai_tee_open(&t, k, &o, err);
    if (rc != 0)
        return rc;
    a->ctx = t;
    a->tee = sai_tee_kind_name(k);
    a->evidence = evidence;
    return 0;
}

void sai_kbs_attester_close(sai_kbs_attester *a)
{
    if (a && a->ctx)
        sai_tee_close(a->ctx);
    if (a)
        memset(a, 0, sizeof *a);
}
