/*
 * attest_glue.c — the KBS's default verifier and attester tables over the
 * attestation module (src/attest) and the TEE backends (src/tee). The KBS
 * itself only sees sai_kbs_verifier_t / sai_kbs_attester_t (kbs.h); this file is
 * the one place that knows the attestation API.
 *
 * The verifier appraises evidence with sai_attest_verify_evidence under the
 * attestation policy (YAML; replaceable at run time through the admin API,
 * guarded by a rwlock), and requires the report data to be the session
 * binding. It then reads HOST_DATA from the (now verified) SNP/sim report,
 * which the attestation result does not carry, for the release policies'
 * pipeline_spec_hash rule.
 *
 * Chain cache: a KBS sees the same platform certificate chain (VCEK -> ASK
 * -> ARK) over and over; walking it costs several P-384 verifications per
 * request. Checked chains are kept (attest's immutable, thread-safe
 * sai_snp_verifier_t) keyed by the SHA-256 of the certificate bundle, for at
 * most 10 minutes, and dropped whenever the policy changes; the report's own
 * signature, TCB, report data and the whole appraisal still run per request.
 * The result is the one sai_attest_verify_evidence gives (same two calls);
 * test_kbs_server checks refusals through this path.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"
#include "secureai/attest.h"
#include "secureai/tee.h"
#include "secureai/util.h"

#define CHAIN_SLOTS 8
#define CHAIN_TTL_S 600

typedef struct chain {
    uint8_t           key[32];
    sai_snp_verifier_t *v;
    int64_t           created;
    int               refs;       /* users + 1 while cached */
} chain;

typedef struct vctx {
    pthread_rwlock_t   lock;
    sai_attest_policy_t *policy;      /* the default policy until one is set */
    char               policy_id[64];
    pthread_mutex_t    cmu;
    chain             *slots[CHAIN_SLOTS];
} vctx;

static void chain_put(vctx *v, chain *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&v->cmu);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&v->cmu);
    if (last) {
        sai_snp_verifier_free(c->v);
        free(c);
    }
}

static void chain_flush(vctx *v)
{
    for (int i = 0; i < CHAIN_SLOTS; i++) {
        chain *c = v->slots[i];
        v->slots[i] = NULL;
        chain_put(v, c);
    }
}

/* A checked chain for this certificate bundle (cached or new); the caller
 * releases it with chain_put. Called with v->lock held for reading. */
static int chain_get(vctx *v, const sai_evidence_t *ev, int64_t now, chain **out, sai_error_t *err)
{
    uint8_t key[32];
    *out = NULL;
    int rc = sai_hash(SAI_SHA256, key, ev->certs, ev->certs_len, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&v->cmu);
    for (int i = 0; i < CHAIN_SLOTS; i++) {
        chain *c = v->slots[i];
        if (c && memcmp(c->key, key, 32) == 0 && now - c->created < CHAIN_TTL_S) {
            c->refs++;
            *out = c;
            break;
        }
    }
    pthread_mutex_unlock(&v->cmu);
    if (*out)
        return 0;
    const uint8_t (*roots)[32] = NULL;
    size_t n_roots = 0;
    uint8_t local[1][32];
    sai_attest_policy_sim_roots(v->policy, &roots, &n_roots);
    if (n_roots == 0 && sai_sim_platform_ark_fingerprint(NULL, local[0], NULL) == 0) {
        roots = (const uint8_t (*)[32])local;
        n_roots = 1;
    }
    chain *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    rc = sai_snp_verifier_new(&c->v, (const uint8_t *)ev->certs, ev->certs_len, NULL, 0, roots,
                              n_roots, now, err);
    if (rc != 0) {
        free(c);
        return rc;
    }
    memcpy(c->key, key, 32);
    c->created = now;
    c->refs = 2;   /* the cache and the caller */
    pthread_mutex_lock(&v->cmu);
    int slot = 0;
    for (int i = 0; i < CHAIN_SLOTS; i++) {
        if (v->slots[i] == NULL) {
            slot = i;
            break;
        }
        if (v->slots[i]->created < v->slots[slot]->created)
            slot = i;
    }
    chain *old = v->slots[slot];
    v->slots[slot] = c;
    pthread_mutex_unlock(&v->cmu);
    chain_put(v, old);
    *out = c;
    return 0;
}

static int set_policy(void *ctx, const char *text, size_t len, sai_error_t *err)
{
    vctx *v = ctx;
    sai_attest_policy_t *p = NULL;
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
    chain_flush(v);     /* the trusted roots may have changed */
    snprintf(v->policy_id, sizeof v->policy_id, "sha256:%.16s", hex);
    pthread_rwlock_unlock(&v->lock);
    return 0;
}

/* The cached-chain path for sim / SEV-SNP evidence; the envelope already parsed. */
static int verify_snp_cached(vctx *v, const sai_evidence_t *ev, const uint8_t *rd, int64_t now,
                             sai_attest_result_t *res, sai_error_t *err)
{
    chain *c = NULL;
    memset(res, 0, sizeof *res);
    if (ev->certs == NULL || ev->report == NULL)
        return sai_error_set(err, SAI_EFORMAT, "evidence carries no report or no VCEK certificate");
    int rc = chain_get(v, ev, now, &c, err);
    if (rc != 0)
        return rc;
    rc = sai_snp_verifier_verify(c->v, ev->report, ev->report_len, res, err);
    chain_put(v, c);
    if (rc != 0)
        return rc;
    res->evidence_time = ev->generated_at;
    res->verified_at = now;
    return sai_attest_policy_appraise(v->policy, res, rd, now, err);
}

static int verify(void *ctx, const char *tee, const char *evidence, size_t len,
                  const uint8_t report_data[static SAI_KBS_REPORT_DATA_LEN],
                  sai_kbs_claims_t *out, sai_error_t *err)
{
    vctx *v = ctx;
    sai_attest_result_t res;
    sai_evidence_t ev;
    sai_snp_report_t r;
    int64_t now = sai_kbs__wall_now();
    memset(out, 0, sizeof *out);
    int rc = sai_evidence_parse(&ev, evidence, len, err);
    if (rc != 0)
        return SAI_EFORMAT;
    pthread_rwlock_rdlock(&v->lock);
    if (ev.tee == SAI_TEE_SIM || ev.tee == SAI_TEE_SEV_SNP)
        rc = verify_snp_cached(v, &ev, report_data, now, &res, err);
    else
        rc = sai_attest_verify_evidence(evidence, len, v->policy, report_data, now, &res, err);
    snprintf(out->policy_id, sizeof out->policy_id, "%s", v->policy_id);
    pthread_rwlock_unlock(&v->lock);
    if (rc == 0 && ev.report && sai_snp_report_parse(&r, ev.report, ev.report_len, NULL) == 0)
        sai_hex_encode(out->host_data, r.host_data, 32);
    sai_evidence_clear(&ev);
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
    out->emulated = res.is_emulated;
    (void)tee;
    return 0;
}

int sai_kbs_verifier_default(sai_kbs_verifier_t *v, const char *policy_path, sai_error_t *err)
{
    memset(v, 0, sizeof *v);
    vctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_rwlock_init(&c->lock, NULL);
    pthread_mutex_init(&c->cmu, NULL);
    snprintf(c->policy_id, sizeof c->policy_id, "default");
    int drc = sai_attest_policy_default(&c->policy, err);
    if (drc != 0) {
        free(c);
        return drc;
    }
    if (policy_path) {
        uint8_t *text = NULL;
        size_t len = 0;
        int rc = sai_read_file(policy_path, 256 * 1024, &text, &len, err);
        if (rc == 0)
            rc = set_policy(c, (const char *)text, len, err);
        free(text);
        if (rc != 0) {
            sai_attest_policy_free(c->policy);
            pthread_rwlock_destroy(&c->lock);
            pthread_mutex_destroy(&c->cmu);
            free(c);
            return rc;
        }
    }
    v->ctx = c;
    v->verify = verify;
    v->set_policy = set_policy;
    return 0;
}

void sai_kbs_verifier_release(sai_kbs_verifier_t *v)
{
    vctx *c = v ? v->ctx : NULL;
    if (c) {
        chain_flush(c);
        sai_attest_policy_free(c->policy);
        pthread_mutex_destroy(&c->cmu);
        pthread_rwlock_destroy(&c->lock);
        free(c);
    }
    if (v)
        memset(v, 0, sizeof *v);
}

static int evidence(void *ctx, const uint8_t report_data[static SAI_KBS_REPORT_DATA_LEN],
                    char **json, size_t *len, sai_error_t *err)
{
    return sai_tee_get_evidence(ctx, report_data, json, len, err);
}

int sai_kbs_attester_open(sai_kbs_attester_t *a, const char *tee, sai_error_t *err)
{
    memset(a, 0, sizeof *a);
    sai_tee_kind_t k = sai_tee_kind_from_name(tee);
    if (k == SAI_TEE_NONE)
        return sai_error_set(err, SAI_EINVAL, "unknown TEE kind \"%s\" (sim, sev-snp, tdx, sgx)", tee);
    sai_tee_t *t = NULL;
    sai_tee_opts_t o;
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

void sai_kbs_attester_borrow(sai_kbs_attester_t *a, struct sai_tee_t *t)
{
    memset(a, 0, sizeof *a);
    a->ctx = t;
    a->tee = sai_tee_kind_name(sai_tee_kind_of(t));
    a->evidence = evidence;
    a->borrowed = true;
}

void sai_kbs_attester_close(sai_kbs_attester_t *a)
{
    if (a && a->ctx && !a->borrowed)
        sai_tee_close(a->ctx);
    if (a)
        memset(a, 0, sizeof *a);
}
