/*
 * provenance.c — the provenance statement of a pipeline run: what code
 * (launch measurement, spec hash, engine version) ran on which data (dataset
 * identity) inside which kind of TEE, and what came out (the sealed model's
 * SHA-256, metrics).
 *
 * Format: an in-toto Statement v1 inside a DSSE envelope, signed ES384 (raw
 * r||s, base64url) by a P-384 key the enclave generated. The key is tied to
 * the enclave by attestation evidence whose report data is
 *
 *     SHA-512("secureai/v1/provenance" || 0x00 || raw public point)
 *
 * and the statement carries both the key and the evidence, so `secureai
 * verify` needs nothing but the statement, the model file and a policy.
 *
 * Verification order (first failure wins, one line): envelope shape (no
 * duplicate key at any level of envelope or statement: cJSON reads the first
 * of two "payload" keys, other parsers the last; no unknown envelope field)
 * -> statement shape -> signature by the embedded key -> evidence (chain,
 * signature, policy: the attestation module) -> evidence.format is the
 * evidence's own -> key binding -> measurement (evidence = statement =
 * expected) -> TEE kind -> insecure-dev marker -> spec hash (= the
 * evidence's HOST_DATA, always; = the expected one when given) -> freshness
 * -> dataset identity -> model hash. Tests: tests/pipeline/test_provenance.c,
 * tests/redteam/test_rt_verify.sh.
 */
#include "pipeline/pipeline_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/weaken.h"
#include "secureai/attest.h"
#include "secureai/dcap.h"
#include "secureai/util.h"

static const char binding_label[] = "secureai/v1/provenance";

int sai_provenance_report_data(uint8_t out[static 64], const uint8_t pub[static SAI_P384_POINT_LEN],
                               sai_error_t *err)
{
    uint8_t buf[sizeof binding_label + SAI_P384_POINT_LEN];
    memcpy(buf, binding_label, sizeof binding_label);   /* with the NUL separator */
    memcpy(buf + sizeof binding_label, pub, SAI_P384_POINT_LEN);
    return sai_hash(SAI_SHA512, out, buf, sizeof buf, err);
}


int sai_provenance_evidence_info_get(sai_provenance_evidence_info_t *info, const uint8_t *evidence,
                                     size_t len, sai_error_t *err)
{
    memset(info, 0, sizeof *info);
    sai_evidence_t ev;
    int rc = sai_evidence_parse(&ev, (const char *)evidence, len, err);
    if (rc)
        return sai_error_prefix(err, "not a secureai-evidence/v1 envelope");
    const char *kind = sai_tee_kind_name(ev.tee);
    snprintf(info->tee, sizeof info->tee, "%s", kind ? kind : "?");
    snprintf(info->format, sizeof info->format, "secureai-evidence/v1:%s", info->tee);
    info->simulated = ev.simulated || ev.tee == SAI_TEE_SIM;
    info->generated_at = ev.generated_at;
    if (ev.tee == SAI_TEE_SEV_SNP) {
        /* Claimed SEV-SNP: hardware only if its certificates chain to a
         * pinned AMD root. Anything else (an emulation's test root, no
         * certificates) is labelled EMULATED and counts as simulated in
         * every output, whatever a verifier was told to trust. */
        sai_snp_verifier_t *sv = NULL;
        int64_t at = ev.generated_at > 0 ? ev.generated_at : (int64_t)time(NULL);
        if (ev.certs == NULL ||
            sai_snp_verifier_new(&sv, (const uint8_t *)ev.certs, ev.certs_len, NULL, 0, NULL, 0, at, NULL) != 0)
            info->emulated = info->simulated = true;
        sai_snp_verifier_free(sv);
    }
    if (ev.report != NULL) {
        sai_snp_report_t r;
        if ((rc = sai_snp_report_parse(&r, ev.report, ev.report_len, err)) != 0) {
            sai_evidence_clear(&ev);
            return sai_error_prefix(err, "the evidence's report");
        }
        info->has_host_data = true;
        memcpy(info->host_data, r.host_data, 32);
        if (info->simulated) {
            uint8_t marker[16] = {0}, zero[16] = {0};
            memcpy(marker, SAI_PROVENANCE_INSECURE_DEV_FAMILY, sizeof SAI_PROVENANCE_INSECURE_DEV_FAMILY - 1);
            info->insecure_dev = memcmp(r.family_id, marker, 16) == 0;
            info->family_unknown = !info->insecure_dev && memcmp(r.family_id, zero, 16) != 0;
        }
    } else if (ev.tee == SAI_TEE_TDX && ev.quote != NULL) {
        /* MRCONFIGID = SHA-256(spec) || 16 zero bytes (confidential-VM mode,
         * docs/hardware.md); any other MRCONFIGID binds no spec. */
        sai_dcap_quote_t q;
        static const uint8_t zero[16];
        if (sai_dcap_quote_parse(ev.quote, ev.quote_len, &q, NULL) == 0 && q.tee == SAI_DCAP_TDX &&
            memcmp(q.td.mrconfigid + 32, zero, 16) == 0) {
            info->has_host_data = true;
            memcpy(info->host_data, q.td.mrconfigid, 32);
        }
    }
    sai_evidence_clear(&ev);
    return 0;
}

/* The protection line of a statement / verify output / report: from the
 * evidence, never from what a statement claims. */
static const char *protection_text(const sai_provenance_evidence_info_t *in)
{
    if (in->insecure_dev || in->family_unknown)
        return SAI_PROVENANCE_INSECURE_DEV_TEXT;
    if (in->emulated)
        return SAI_PROVENANCE_EMULATED_TEXT;
    if (in->simulated)
        return SAI_PROVENANCE_SIM_TEXT;
    return sai_pipeline_tee_statement(in->tee);
}

/* DSSE pre-authentication encoding. *out malloc'ed. */
static int pae(uint8_t **out, size_t *out_len, const char *type, const uint8_t *body, size_t blen,
               sai_error_t *err)
{
    char head[160];
    int h = snprintf(head, sizeof head, "DSSEv1 %zu %s %zu ", strlen(type), type, blen);
    if (h < 0 || (size_t)h >= sizeof head)
        return sai_error_set(err, SAI_EINVAL, "payload type too long");
    uint8_t *p = malloc((size_t)h + blen + 1);
    if (p == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    memcpy(p, head, (size_t)h);
    if (blen)
        memcpy(p + h, body, blen);
    *out = p;
    *out_len = (size_t)h + blen;
    return 0;
}

static void add_hex(cJSON *o, const char *k, const uint8_t *b, size_t n)
{
    char hex[2 * 64 + 1];
    sai_hex_encode(hex, b, n);
    cJSON_AddStringToObject(o, k, hex);
}

/* predicate.dist: the job's size, the weights hash every worker ended with,
 * and every other worker's evidence bound to it. */
static int add_dist(cJSON *pr, const sai_provenance_facts_t *f, sai_error_t *err)
{
    if (f->dist_world > SAI_DIST_MAX_WORKERS || f->dist_evidence == NULL || f->dist_evidence_len == NULL)
        return sai_error_set(err, SAI_EINVAL, "provenance: a distributed job without its workers' evidence");
    cJSON *d = cJSON_AddObjectToObject(pr, "dist");
    cJSON_AddNumberToObject(d, "workers", f->dist_world);
    add_hex(d, "weights_sha256", f->dist_weights_sha256, 32);
    cJSON_AddStringToObject(d, "report_data", "SHA-512(\"secureai/dist/v1 worker\" || job || u32 rank || u32 "
                                              "workers || weights_sha256), job = SHA-256(\"secureai/dist/v1 job\" "
                                              "|| spec_sha256)[0..16)");
    cJSON *arr = cJSON_AddArrayToObject(d, "worker_evidence");
    for (uint32_t r = 1; r < f->dist_world; r++) {
        sai_provenance_evidence_info_t info;
        char *b64 = NULL;
        int rc = sai_provenance_evidence_info_get(&info, f->dist_evidence[r], f->dist_evidence_len[r], err);
        if (rc == 0)
            rc = sai_b64url_encode(&b64, f->dist_evidence[r], f->dist_evidence_len[r], err);
        if (rc)
            return sai_error_prefix(err, "provenance: worker %u's evidence", r);
        cJSON *w = cJSON_CreateObject();
        cJSON_AddNumberToObject(w, "rank", r);
        cJSON_AddStringToObject(w, "format", info.format);
        cJSON_AddStringToObject(w, "data", b64);
        cJSON_AddItemToArray(arr, w);
        free(b64);
    }
    return 0;
}

int sai_provenance_sign(char **envelope, size_t *len, const sai_provenance_facts_t *f,
                        const sai_ec_key_t *key, sai_error_t *err)
{
    *envelope = NULL;
    int rc = 0;
    char *stmt = NULL, *b64 = NULL, *sig64 = NULL, *ev64 = NULL, *pub64 = NULL, *out = NULL;
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    uint8_t pub[SAI_P384_POINT_LEN], sig[SAI_P384_SIG_LEN], kid[32];
    cJSON *s = NULL, *env = NULL;
    sai_provenance_evidence_info_t info;

    if ((rc = sai_provenance_evidence_info_get(&info, f->evidence, f->evidence_len, err)) != 0) {
        sai_error_prefix(err, "provenance: evidence");
        goto out;
    }
    if ((rc = sai_ec_public_raw(key, pub, err)) || (rc = sai_hash(SAI_SHA256, kid, pub, sizeof pub, err)) ||
        (rc = sai_b64url_encode(&pub64, pub, sizeof pub, err)) ||
        (rc = sai_b64url_encode(&ev64, f->evidence, f->evidence_len, err)))
        goto out;
    cJSON *metrics = f->metrics_json ? cJSON_Parse(f->metrics_json) : cJSON_CreateObject();
    if (metrics == NULL || !cJSON_IsObject(metrics)) {
        cJSON_Delete(metrics);
        rc = sai_error_set(err, SAI_EINVAL, "provenance: metrics are not a JSON object");
        goto out;
    }
    if (f->epochs_json != NULL) {
        cJSON *eps = cJSON_Parse(f->epochs_json);
        if (!cJSON_IsArray(eps)) {
            cJSON_Delete(eps);
            cJSON_Delete(metrics);
            rc = sai_error_set(err, SAI_EINVAL, "provenance: the per-epoch metrics are not a JSON array");
            goto out;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(metrics, "epochs");
        cJSON_AddItemToObject(metrics, "epochs", eps);
    }
    s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "_type", "https://in-toto.io/Statement/v1");
    cJSON *subj = cJSON_AddArrayToObject(s, "subject");
    cJSON *one = cJSON_CreateObject();
    cJSON_AddStringToObject(one, "name", f->subject_name);
    cJSON *dg = cJSON_AddObjectToObject(one, "digest");
    add_hex(dg, "sha256", f->subject_sha256, 32);
    cJSON_AddItemToArray(subj, one);
    cJSON_AddStringToObject(s, "predicateType", SAI_PROVENANCE_PREDICATE);
    cJSON *pr = cJSON_AddObjectToObject(s, "predicate");
    cJSON *ds = cJSON_AddObjectToObject(pr, "dataset");
    add_hex(ds, "identity", f->dataset_identity, 32);
    cJSON_AddStringToObject(ds, "resource", f->dataset_resource ? f->dataset_resource : "");
    add_hex(pr, "launch_measurement", f->measurement, SAI_MEASUREMENT_LEN);
    add_hex(pr, "spec_sha256", f->spec_hash, 32);
    cJSON *eng = cJSON_AddObjectToObject(pr, "engine");
    cJSON_AddStringToObject(eng, "name", "secureai");
    cJSON_AddStringToObject(eng, "version", f->engine_version ? f->engine_version : SAI_VERSION);
    cJSON_AddItemToObject(pr, "metrics", metrics);
    cJSON_AddStringToObject(pr, "tee", f->tee);
    cJSON_AddStringToObject(pr, "time", f->time ? f->time : "");
    cJSON_AddStringToObject(pr, "protection", protection_text(&info));
    if (f->kbs_channel)
        cJSON_AddStringToObject(pr, "kbs_channel", f->kbs_channel);
    cJSON *sk = cJSON_AddObjectToObject(pr, "signing_key");
    cJSON_AddStringToObject(sk, "alg", "ES384");
    cJSON_AddStringToObject(sk, "public", pub64);
    cJSON *ev = cJSON_AddObjectToObject(pr, "evidence");
    cJSON_AddStringToObject(ev, "format", info.format);
    cJSON_AddStringToObject(ev, "report_data",
                            "SHA-512(\"secureai/v1/provenance\" || 0x00 || signing_key.public)");
    cJSON_AddStringToObject(ev, "data", ev64);
    if (f->dist_world >= 2 && (rc = add_dist(pr, f, err)))
        goto out;
    stmt = cJSON_PrintUnformatted(s);
    if (stmt == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = pae(&msg, &msg_len, SAI_PROVENANCE_PAYLOAD_TYPE, (const uint8_t *)stmt, strlen(stmt), err)) ||
        (rc = sai_ecdsa_sign(key, sig, msg, msg_len, err)) ||
        (rc = sai_b64url_encode(&b64, (const uint8_t *)stmt, strlen(stmt), err)) ||
        (rc = sai_b64url_encode(&sig64, sig, sizeof sig, err)))
        goto out;
    env = cJSON_CreateObject();
    cJSON_AddStringToObject(env, "payloadType", SAI_PROVENANCE_PAYLOAD_TYPE);
    cJSON_AddStringToObject(env, "payload", b64);
    cJSON *sigs = cJSON_AddArrayToObject(env, "signatures");
    cJSON *s1 = cJSON_CreateObject();
    char kidhex[65 + 7] = "sha256:";
    sai_hex_encode(kidhex + 7, kid, 32);
    cJSON_AddStringToObject(s1, "keyid", kidhex);
    cJSON_AddStringToObject(s1, "sig", sig64);
    cJSON_AddItemToArray(sigs, s1);
    out = cJSON_Print(env);
    if (out == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    *envelope = out;
    if (len)
        *len = strlen(out);
out:
    cJSON_Delete(s);
    cJSON_Delete(env);
    free(stmt);
    free(b64);
    free(sig64);
    free(ev64);
    free(pub64);
    free(msg);
    return rc;
}

/* ---- verification ---------------------------------------------------------- */

#define VFAIL(code, ...) do { rc = sai_error_set(err, (code), __VA_ARGS__); goto out; } while (0)

static const char *jget_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int hex_field(const cJSON *o, const char *k, uint8_t *out, size_t n)
{
    const char *s = jget_str(o, k);
    return s != NULL && strlen(s) == 2 * n && sai_hex_decode(out, n, s, NULL) == 0 ? 0 : -1;
}

/* cJSON keeps every member of an object in its list and looks up the first:
 * a second "payload" would be what another parser (last wins) reads. The
 * first duplicate name found at any depth, or NULL. */
static const char *dup_key(const cJSON *o)
{
    const cJSON *c;
    if (cJSON_IsObject(o)) {
        for (c = o->child; c != NULL; c = c->next)
            for (const cJSON *d = c->next; d != NULL; d = d->next)
                if (c->string != NULL && d->string != NULL && strcmp(c->string, d->string) == 0)
                    return c->string;
    }
    if (cJSON_IsObject(o) || cJSON_IsArray(o))
        for (c = o->child; c != NULL; c = c->next) {
            const char *k = dup_key(c);
            if (k != NULL)
                return k;
        }
    return NULL;
}

/* A member name from untrusted JSON as an error message may show it: at
 * most 40 printable ASCII characters, anything else as '?' (a message is
 * always one line). */
static const char *shown_key(char out[48], const char *k)
{
    size_t i = 0;
    for (; k[i] != '\0' && i < 40; i++)
        out[i] = k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' && k[i] != '\\' ? k[i] : '?';
    if (k[i] != '\0')
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = '\0';
    return out;
}

/* The first member of o whose name is not in allowed[], or NULL. */
static const char *unknown_key(const cJSON *o, const char *const *allowed, size_t n)
{
    for (const cJSON *c = o ? o->child : NULL; c != NULL; c = c->next) {
        size_t i = 0;
        while (i < n && strcmp(c->string ? c->string : "", allowed[i]) != 0)
            i++;
        if (i == n)
            return c->string ? c->string : "";
    }
    return NULL;
}

static void fmt_time(char *out, size_t cap, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "(time %lld)", (long long)t);
}

static void fmt_age(char *out, size_t cap, int64_t s)
{
    if (s % 86400 == 0 && s >= 86400)
        snprintf(out, cap, "%lldd", (long long)(s / 86400));
    else if (s % 3600 == 0 && s >= 3600)
        snprintf(out, cap, "%lldh", (long long)(s / 3600));
    else if (s % 60 == 0 && s >= 60)
        snprintf(out, cap, "%lldm", (long long)(s / 60));
    else
        snprintf(out, cap, "%llds", (long long)s);
}

/* Freshness of one time (what = "the statement" / "the evidence"). */
static int check_time(const char *what, int64_t t, int64_t now, int64_t max_age, sai_error_t *err)
{
    char ts[40], ns[40], as[32];
    fmt_time(ts, sizeof ts, t);
    fmt_time(ns, sizeof ns, now);
    if (t > now + SAI_PROVENANCE_MAX_SKEW_S)
        return sai_error_set(err, SAI_EPOLICY, "freshness: %s is dated %s, in the future (verification time %s)",
                             what, ts, ns);
    if (max_age > 0 && now - t > max_age) {
        fmt_age(as, sizeof as, max_age);
        return sai_error_set(err, SAI_EPOLICY, "freshness: %s is dated %s, older than max_age %s "
                             "(verification time %s)", what, ts, as, ns);
    }
    return 0;
}

/* predicate.dist (docs/distributed.md, "Provenance of a distributed job"):
 * ranks 1..N-1 each once, each worker's evidence verified by v, of the
 * same launch (measurement, TEE kind, HOST_DATA = the statement's spec) as
 * worker 0's, not of an --insecure-dev launch unless allowed, fresh, and
 * bound to this job, its rank, N and the weights hash. */
static int verify_workers(const cJSON *dj, const sai_evidence_verifier_t *v, const uint8_t meas0[SAI_MEASUREMENT_LEN],
                          const char *tee0, const uint8_t spec_hash[32], const sai_provenance_expect_t *exp,
                          int64_t now, unsigned *n_out, sai_error_t *err)
{
    int rc = 0;
    uint8_t ws[32], job[SAI_DIST_JOB_ID_LEN], *evb = NULL;
    size_t evl = 0;
    const cJSON *wn = cJSON_GetObjectItemCaseSensitive(dj, "workers");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(dj, "worker_evidence");
    if (!cJSON_IsObject(dj) || !cJSON_IsNumber(wn) || wn->valuedouble < 2 || wn->valuedouble > SAI_DIST_MAX_WORKERS ||
        wn->valuedouble != (double)(unsigned)wn->valuedouble || hex_field(dj, "weights_sha256", ws, 32) != 0 ||
        !cJSON_IsArray(arr))
        return sai_error_set(err, SAI_EFORMAT, "dist: malformed (workers, weights_sha256, worker_evidence)");
    unsigned n = (unsigned)wn->valuedouble;
    if ((unsigned)cJSON_GetArraySize(arr) != n - 1)
        return sai_error_set(err, SAI_EAUTH, "dist: %u workers but %d workers' evidence (every worker but 0 must "
                             "be listed)", n, cJSON_GetArraySize(arr));
    if ((rc = sai_pipeline__dist_job_id(job, spec_hash, err)))
        return rc;
    unsigned want = 1;
    const cJSON *w;
    cJSON_ArrayForEach(w, arr) {
        const cJSON *rk = cJSON_GetObjectItemCaseSensitive(w, "rank");
        const char *d64 = jget_str(w, "data"), *fmt = jget_str(w, "format");
        if (!cJSON_IsNumber(rk) || rk->valuedouble != (double)want)
            VFAIL(SAI_EAUTH, "dist: the workers' evidence is not ranks 1..%u in order (expected rank %u)", n - 1, want);
        free(evb);
        evb = NULL;
        if (d64 == NULL || fmt == NULL || sai_b64_decode(&evb, &evl, d64, strlen(d64), NULL) != 0)
            VFAIL(SAI_EFORMAT, "dist: worker %u's evidence is missing or not base64", want);
        uint8_t rd[64], m[SAI_MEASUREMENT_LEN], rd_want[64];
        char tee[32] = "";
        sai_error_t verr = {0};
        if (v->verify(v->ctx, evb, evl, rd, m, tee, sizeof tee, &verr) != 0)
            VFAIL(verr.code ? verr.code : SAI_EAUTH, "dist: worker %u's evidence: %s", want,
                  verr.msg[0] ? verr.msg : "rejected");
        sai_provenance_evidence_info_t info;
        if (sai_provenance_evidence_info_get(&info, evb, evl, &verr) != 0)
            VFAIL(SAI_EFORMAT, "dist: worker %u's evidence: %s", want, verr.msg);
        if (strcmp(fmt, info.format) != 0)
            VFAIL(SAI_EAUTH, "dist: worker %u's evidence is '%s', not the '%s' the statement says", want, info.format,
                  fmt);
        if (!sai_ct_equal(m, meas0, SAI_MEASUREMENT_LEN))
            VFAIL(SAI_EAUTH, "dist: worker %u ran another launch measurement than worker 0", want);
        if (strcmp(tee, tee0) != 0)
            VFAIL(SAI_EAUTH, "dist: worker %u's TEE is '%s', worker 0's '%s'", want, tee, tee0);
        if (!info.has_host_data || !sai_ct_equal(info.host_data, spec_hash, 32))
            VFAIL(SAI_EAUTH, "dist: worker %u's HOST_DATA is not the statement's spec", want);
        if ((info.insecure_dev || info.family_unknown) && !exp->allow_insecure_dev)
            VFAIL(SAI_EPOLICY, "dist: worker %u: %s", want, SAI_PROVENANCE_INSECURE_DEV_TEXT);
        if ((rc = sai_pipeline__dist_worker_report_data(rd_want, job, want, n, ws, err)))
            goto out;
        if (!sai_ct_equal(rd, rd_want, 64))
            VFAIL(SAI_EAUTH, "dist: worker %u's evidence is not bound to this job, its rank, %u workers and the "
                  "weights hash (another job's or a replayed report)", want, n);
        if (!SAI_WEAKENED("freshness") && info.generated_at != 0 &&
            (rc = check_time("a worker's evidence", info.generated_at, now, exp->max_age, err)))
            goto out;
        want++;
    }
    *n_out = n;
out:
    free(evb);
    return rc;
}

int sai_provenance_verify(const char *envelope, size_t len, const sai_provenance_expect_t *exp,
                          const sai_evidence_verifier_t *v, sai_provenance_result_t *res, sai_error_t *err)
{
    int rc = 0;
    char kb[48];
    cJSON *env = NULL, *st = NULL;
    uint8_t *payload = NULL, *sig = NULL, *pub = NULL, *evidence = NULL, *msg = NULL;
    size_t payload_len = 0, sig_len = 0, pub_len = 0, ev_len = 0, msg_len = 0;
    sai_ec_key_t *key = NULL;
    sai_provenance_result_t local;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    const char *k;

    if (len > SAI_PROVENANCE_MAX_BYTES)
        VFAIL(SAI_ELIMIT, "statement: larger than %u bytes", SAI_PROVENANCE_MAX_BYTES);
    env = cJSON_ParseWithLength(envelope, len);
    if (!cJSON_IsObject(env))
        VFAIL(SAI_EFORMAT, "statement: not a JSON DSSE envelope");
    bool strict = !SAI_WEAKENED("dsse_dupkeys");
    static const char *const env_keys[] = {"payloadType", "payload", "signatures"};
    static const char *const sig_keys[] = {"keyid", "sig"};
    if (strict && (k = dup_key(env)) != NULL)
        VFAIL(SAI_EFORMAT, "statement: the envelope has the key \"%s\" twice (refused: parsers disagree on "
              "which one counts)", shown_key(kb, k));
    if (strict && (k = unknown_key(env, env_keys, 3)) != NULL)
        VFAIL(SAI_EFORMAT, "statement: unknown envelope field \"%s\" (a DSSE envelope has payloadType, payload, "
              "signatures)", shown_key(kb, k));
    const char *ptype = jget_str(env, "payloadType");
    const char *p64 = jget_str(env, "payload");
    const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(env, "signatures");
    if (ptype == NULL || strcmp(ptype, SAI_PROVENANCE_PAYLOAD_TYPE) != 0)
        VFAIL(SAI_EFORMAT, "statement: payloadType is not %s", SAI_PROVENANCE_PAYLOAD_TYPE);
    if (p64 == NULL || !cJSON_IsArray(sigs) || cJSON_GetArraySize(sigs) != 1)
        VFAIL(SAI_EFORMAT, "statement: the envelope needs a payload and exactly one signature");
    if (strict && (k = unknown_key(cJSON_GetArrayItem(sigs, 0), sig_keys, 2)) != NULL)
        VFAIL(SAI_EFORMAT, "statement: unknown signature field \"%s\" (keyid, sig)", shown_key(kb, k));
    const char *s64 = jget_str(cJSON_GetArrayItem(sigs, 0), "sig");
    if (s64 == NULL || sai_b64_decode(&sig, &sig_len, s64, strlen(s64), NULL) != 0 || sig_len != SAI_P384_SIG_LEN)
        VFAIL(SAI_EFORMAT, "statement: the signature is not a 96-byte ES384 signature");
    if (sai_b64_decode(&payload, &payload_len, p64, strlen(p64), NULL) != 0)
        VFAIL(SAI_EFORMAT, "statement: the payload is not base64");
    st = cJSON_ParseWithLength((const char *)payload, payload_len);
    if (!cJSON_IsObject(st))
        VFAIL(SAI_EFORMAT, "statement: the payload is not a JSON object");
    static const char *const st_keys[] = {"_type", "subject", "predicateType", "predicate"};
    if (strict && (k = dup_key(st)) != NULL)
        VFAIL(SAI_EFORMAT, "statement: the in-toto statement has the key \"%s\" twice (refused: parsers "
              "disagree on which one counts)", shown_key(kb, k));
    if (strict && (k = unknown_key(st, st_keys, 4)) != NULL)
        VFAIL(SAI_EFORMAT, "statement: unknown in-toto statement field \"%s\"", shown_key(kb, k));
    const char *t = jget_str(st, "_type"), *pt = jget_str(st, "predicateType");
    const cJSON *subj = cJSON_GetObjectItemCaseSensitive(st, "subject");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(st, "predicate");
    if (t == NULL || strcmp(t, "https://in-toto.io/Statement/v1") != 0 || pt == NULL ||
        strcmp(pt, SAI_PROVENANCE_PREDICATE) != 0 || !cJSON_IsArray(subj) ||
        cJSON_GetArraySize(subj) != 1 || !cJSON_IsObject(pr))
        VFAIL(SAI_EFORMAT, "statement: not a SecureAI in-toto provenance statement");

    /* Signature by the embedded key. */
    const cJSON *sk = cJSON_GetObjectItemCaseSensitive(pr, "signing_key");
    const char *alg = jget_str(sk, "alg"), *pk64 = jget_str(sk, "public");
    if (alg == NULL || strcmp(alg, "ES384") != 0 || pk64 == NULL ||
        sai_b64_decode(&pub, &pub_len, pk64, strlen(pk64), NULL) != 0 || pub_len != SAI_P384_POINT_LEN ||
        sai_ec_from_public_raw(&key, pub, pub_len, NULL) != 0)
        VFAIL(SAI_EFORMAT, "statement: signing_key is not an ES384 public key");
    if ((rc = pae(&msg, &msg_len, ptype, payload, payload_len, err)))
        goto out;
    if (sai_ecdsa_verify(key, sig, msg, msg_len, NULL) != 0)
        VFAIL(SAI_EAUTH, "signature: the statement is not signed by its signing key (altered after signing?)");

    /* Evidence, through the attestation module. */
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(pr, "evidence");
    const char *ev64 = jget_str(ev, "data"), *evfmt = jget_str(ev, "format");
    if (ev64 == NULL || evfmt == NULL || sai_b64_decode(&evidence, &ev_len, ev64, strlen(ev64), NULL) != 0)
        VFAIL(SAI_EFORMAT, "evidence: missing or not base64");
    if (v == NULL || v->verify == NULL)
        VFAIL(SAI_EUNSUPP, "evidence: no verifier for format '%s'", evfmt);
    if (v->format != NULL && strcmp(v->format, evfmt) != 0)
        VFAIL(SAI_EPOLICY, "evidence: format '%s' does not match the verifier's '%s'", evfmt, v->format);
    uint8_t rd[64], ev_meas[SAI_MEASUREMENT_LEN];
    char ev_tee[32] = "";
    sai_error_t verr = {0};
    if (v->verify(v->ctx, evidence, ev_len, rd, ev_meas, ev_tee, sizeof ev_tee, &verr) != 0)
        VFAIL(verr.code ? verr.code : SAI_EAUTH, "evidence: %s", verr.msg[0] ? verr.msg : "rejected");
    /* What the (now verified) evidence itself says: its format, HOST_DATA,
     * the insecure-dev marker. The same bytes, the same parser. */
    sai_provenance_evidence_info_t info;
    if (sai_provenance_evidence_info_get(&info, evidence, ev_len, &verr) != 0)
        VFAIL(SAI_EFORMAT, "evidence: %s", verr.msg);
    if (ev_tee[0] != '\0' && strcmp(ev_tee, "sim") == 0)
        info.simulated = true;
    if (strcmp(evfmt, info.format) != 0 && !SAI_WEAKENED("evidence_format"))
        VFAIL(SAI_EAUTH, "evidence: the statement says format '%s' but the evidence is '%s'", evfmt, info.format);

    /* The key binding. */
    uint8_t want_rd[64];
    if ((rc = sai_provenance_report_data(want_rd, pub, err)))
        goto out;
    if (!sai_ct_equal(rd, want_rd, 64))
        VFAIL(SAI_EAUTH, "binding: the signing key is not the one bound in the evidence's report data");

    /* Measurement: evidence = statement = expected. */
    uint8_t st_meas[SAI_MEASUREMENT_LEN];
    if (hex_field(pr, "launch_measurement", st_meas, sizeof st_meas) != 0)
        VFAIL(SAI_EFORMAT, "statement: launch_measurement is not 96 hex digits");
    if (!sai_ct_equal(st_meas, ev_meas, sizeof st_meas))
        VFAIL(SAI_EAUTH, "measurement: the statement's launch measurement differs from the evidence's");
    if (exp == NULL || exp->measurement == NULL)
        VFAIL(SAI_EINVAL, "measurement: no expected measurement given");
    if (!sai_ct_equal(ev_meas, exp->measurement, SAI_MEASUREMENT_LEN)) {
        char h[97];
        sai_hex_encode(h, ev_meas, 16);
        VFAIL(SAI_EPOLICY, "measurement: %s... is not the expected launch measurement", h);
    }
    const char *tee = jget_str(pr, "tee");
    if (tee == NULL || (ev_tee[0] != '\0' && strcmp(tee, ev_tee) != 0))
        VFAIL(SAI_EAUTH, "tee: the statement says '%s' but the evidence is '%s'", tee ? tee : "?", ev_tee);

    /* A sim report of an --insecure-dev launch proves nothing: the launcher
     * held the platform key. Only a policy that says so accepts it, and
     * never for anything but sim. */
    if ((info.insecure_dev || info.family_unknown) && !exp->allow_insecure_dev)
        VFAIL(SAI_EPOLICY, "insecure-dev: %s (the sim report's FAMILY_ID is %s; the verify policy does not say "
              "allow_insecure_dev: true)", SAI_PROVENANCE_INSECURE_DEV_TEXT,
              info.insecure_dev ? "\"INSECURE-DEV\"" : "not the platform service's");

    /* The spec: always the one the TEE bound at launch (HOST_DATA). */
    uint8_t sh[32];
    if (hex_field(pr, "spec_sha256", sh, 32) != 0)
        VFAIL(SAI_EFORMAT, "statement: spec_sha256 is not 64 hex digits");
    if (!info.has_host_data)
        VFAIL(SAI_EUNSUPP, "spec: %s evidence carries no HOST_DATA, so the spec is not bound", info.tee);
    if (!sai_ct_equal(sh, info.host_data, 32)) {
        char h1[17], h2[17];
        sai_hex_encode(h1, sh, 8);
        sai_hex_encode(h2, info.host_data, 8);
        VFAIL(SAI_EAUTH, "spec: the statement's spec_sha256 %s... is not the evidence's HOST_DATA %s... "
              "(the enclave ran another spec than the one launched)", h1, h2);
    }
    if (exp->spec_hash != NULL && !sai_ct_equal(sh, exp->spec_hash, 32))
        VFAIL(SAI_EPOLICY, "spec: the statement's spec hash is not the expected one");

    /* Freshness: the statement's time (signed) and the evidence's. */
    const char *tm = jget_str(pr, "time");
    int64_t st_time = 0, now = exp->now ? exp->now : (int64_t)time(NULL);
    if (tm == NULL || sai_parse_rfc3339(&st_time, tm, NULL) != 0)
        VFAIL(SAI_EFORMAT, "statement: time is not an RFC 3339 time");
    if (!SAI_WEAKENED("freshness")) {
        if ((rc = check_time("the statement", st_time, now, exp->max_age, err)) ||
            (info.generated_at != 0 && (rc = check_time("the evidence", info.generated_at, now, exp->max_age, err))))
            goto out;
    }

    /* A distributed job: every other worker's evidence. */
    const cJSON *dj = cJSON_GetObjectItemCaseSensitive(pr, "dist");
    if (dj != NULL && (rc = verify_workers(dj, v, ev_meas, ev_tee, sh, exp, now, &res->dist_workers, err)))
        goto out;

    /* Dataset identity. */
    uint8_t ds[32];
    const cJSON *dsj = cJSON_GetObjectItemCaseSensitive(pr, "dataset");
    if (hex_field(dsj, "identity", ds, 32) != 0)
        VFAIL(SAI_EFORMAT, "statement: dataset.identity is not 64 hex digits");
    if (exp->dataset_identity == NULL)
        VFAIL(SAI_EINVAL, "dataset: no expected dataset identity given");
    if (!sai_ct_equal(ds, exp->dataset_identity, 32))
        VFAIL(SAI_EPOLICY, "dataset: the model was trained on a different dataset than the expected one");

    /* The model. */
    const cJSON *s0 = cJSON_GetArrayItem(subj, 0);
    uint8_t want_model[32], got_model[32];
    const char *sname = jget_str(s0, "name");
    if (sname == NULL || hex_field(cJSON_GetObjectItemCaseSensitive(s0, "digest"), "sha256", want_model, 32) != 0)
        VFAIL(SAI_EFORMAT, "statement: subject needs a name and a sha256 digest");
    if (exp->model == NULL)
        VFAIL(SAI_EINVAL, "model: no model bytes given");
    if ((rc = sai_hash(SAI_SHA256, got_model, exp->model, exp->model_len, err)))
        goto out;
    if (!sai_ct_equal(want_model, got_model, 32))
        VFAIL(SAI_EAUTH, "model: the file's SHA-256 is not the statement's subject digest");

    snprintf(res->tee, sizeof res->tee, "%s", tee);
    snprintf(res->subject_name, sizeof res->subject_name, "%s", sname);
    snprintf(res->time, sizeof res->time, "%s", tm);
    snprintf(res->evidence_format, sizeof res->evidence_format, "%s", info.format);
    const char *kc = jget_str(pr, "kbs_channel");
    snprintf(res->kbs_channel, sizeof res->kbs_channel, "%s", kc ? kc : "");
    res->simulated = info.simulated;
    res->emulated = info.emulated;
    res->insecure_dev = info.insecure_dev || info.family_unknown;
    res->protection = protection_text(&info);
    char *m = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(pr, "metrics"));
    if (m != NULL)
        snprintf(res->metrics, sizeof res->metrics, "%s", m);
    free(m);
    rc = 0;
out:
    cJSON_Delete(env);
    cJSON_Delete(st);
    free(payload);
    free(sig);
    free(pub);
    free(evidence);
    free(msg);
    sai_ec_free(key);
    return rc;
}

cJSON *sai_provenance_payload(const char *envelope, size_t len)
{
    cJSON *env = cJSON_ParseWithLength(envelope, len), *st = NULL;
    const char *p64 = jget_str(env, "payload");
    uint8_t *pl = NULL;
    size_t pn = 0;
    if (p64 != NULL && sai_b64_decode(&pl, &pn, p64, strlen(p64), NULL) == 0)
        st = cJSON_ParseWithLength((const char *)pl, pn);
    free(pl);
    cJSON_Delete(env);
    if (st != NULL && !cJSON_IsObject(st)) {
        cJSON_Delete(st);
        st = NULL;
    }
    return st;
}

/* ---- verify policy and the whole of `secureai verify` -------------------- */

int sai_parse_duration(int64_t *secs, const char *s, sai_error_t *err)
{
    char *end = NULL;
    errno = 0;
    long long v = s != NULL && *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : -1;
    long long mul = 0;
    if (v >= 0 && errno == 0 && end != NULL) {
        if (*end == '\0' || strcmp(end, "s") == 0)
            mul = 1;
        else if (strcmp(end, "m") == 0)
            mul = 60;
        else if (strcmp(end, "h") == 0)
            mul = 3600;
        else if (strcmp(end, "d") == 0)
            mul = 86400;
    }
    if (mul == 0 || v <= 0 || v > (1LL << 40) / mul)
        return sai_error_set(err, SAI_EINVAL, "'%s' is not a duration (seconds, or a number with s, m, h or d: "
                             "3600, 90m, 24h, 7d)", s ? s : "");
    *secs = (int64_t)(v * mul);
    return 0;
}

static int policy_hex(const cJSON *o, const char *k, uint8_t *out, size_t n, bool required, bool *present,
                      const char *path, sai_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *present = false;
    if (v == NULL && !required)
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 2 * n || sai_hex_decode(out, n, v->valuestring, NULL) != 0)
        return sai_error_set(err, SAI_EINVAL, "policy %s: \"%s\" must be %zu hex digits%s", path, k, 2 * n,
                             required ? " (required)" : "");
    *present = true;
    return 0;
}

static int policy_bool(const cJSON *o, const char *k, bool *out, const char *path, sai_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = false;
    if (v == NULL)
        return 0;
    if (!cJSON_IsBool(v))
        return sai_error_set(err, SAI_EINVAL, "policy %s: \"%s\" must be true or false", path, k);
    *out = cJSON_IsTrue(v);
    return 0;
}

int sai_verify_policy_load(sai_verify_policy_t *p, const char *path, sai_error_t *err)
{
    memset(p, 0, sizeof *p);
    uint8_t *txt = NULL;
    size_t n = 0;
    cJSON *pj = NULL;
    bool present;
    int rc = sai_read_file(path, 1 << 20, &txt, &n, err);
    if (rc)
        return sai_error_prefix(err, "policy %s", path);
    static const char *const keys[] = {"measurement", "dataset_identity", "spec_sha256", "allow_simulated",
                                       "allow_insecure_dev", "max_age", "attestation_policy"};
    const char *k;
    pj = cJSON_ParseWithLength((const char *)txt, n);
    if (!cJSON_IsObject(pj)) {
        rc = sai_error_set(err, SAI_EFORMAT, "policy %s: not a JSON object", path);
        goto out;
    }
    if ((k = dup_key(pj)) != NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "policy %s: the key \"%s\" appears twice", path, k);
        goto out;
    }
    if ((k = unknown_key(pj, keys, sizeof keys / sizeof keys[0])) != NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "policy %s: unknown key \"%s\" (known: measurement, dataset_identity, "
                           "spec_sha256, allow_simulated, allow_insecure_dev, max_age, attestation_policy)", path, k);
        goto out;
    }
    if ((rc = policy_hex(pj, "measurement", p->measurement, SAI_MEASUREMENT_LEN, true, &present, path, err)) ||
        (rc = policy_hex(pj, "dataset_identity", p->dataset_identity, 32, true, &present, path, err)) ||
        (rc = policy_hex(pj, "spec_sha256", p->spec_sha256, 32, false, &p->has_spec_sha256, path, err)) ||
        (rc = policy_bool(pj, "allow_simulated", &p->allow_simulated, path, err)) ||
        (rc = policy_bool(pj, "allow_insecure_dev", &p->allow_insecure_dev, path, err)))
        goto out;
    const cJSON *ma = cJSON_GetObjectItemCaseSensitive(pj, "max_age");
    if (cJSON_IsNumber(ma)) {
        if (ma->valuedouble < 1 || ma->valuedouble > (double)(1LL << 40) || ma->valuedouble != (double)(int64_t)ma->valuedouble) {
            rc = sai_error_set(err, SAI_EINVAL, "policy %s: \"max_age\" must be a positive number of seconds", path);
            goto out;
        }
        p->max_age = (int64_t)ma->valuedouble;
    } else if (cJSON_IsString(ma)) {
        if ((rc = sai_parse_duration(&p->max_age, ma->valuestring, err)))
            goto out;
    } else if (ma != NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "policy %s: \"max_age\" must be seconds or a duration like \"24h\"", path);
        goto out;
    }
    const cJSON *ap = cJSON_GetObjectItemCaseSensitive(pj, "attestation_policy");
    if (cJSON_IsString(ap)) {
        int w;
        if (ap->valuestring[0] == '/') {
            w = snprintf(p->attestation_policy, sizeof p->attestation_policy, "%s", ap->valuestring);
        } else {
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s", path);
            w = snprintf(p->attestation_policy, sizeof p->attestation_policy, "%s/%s", dirname(tmp), ap->valuestring);
        }
        if (w < 0 || (size_t)w >= sizeof p->attestation_policy) {
            rc = sai_error_set(err, SAI_EINVAL, "policy %s: attestation_policy path too long", path);
            goto out;
        }
    } else if (ap != NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "policy %s: \"attestation_policy\" must be a file name", path);
        goto out;
    }
out:
    cJSON_Delete(pj);
    free(txt);
    return rc;
}

int sai_provenance_verify_files(const char *model_path, const uint8_t *statement, size_t len,
                                const sai_verify_policy_t *pol, int64_t max_age, int64_t at,
                                sai_provenance_result_t *res, sai_error_t *err)
{
    uint8_t *model = NULL;
    size_t model_len = 0;
    sai_evidence_verifier_t v = {0};
    int rc = sai_read_file(model_path, (size_t)3 << 30, &model, &model_len, err);
    if (rc) {
        sai_error_prefix(err, "model %s", model_path);
        goto out;
    }
    if ((rc = sai_pipeline_verifier_new(&v, pol->attestation_policy[0] ? pol->attestation_policy : NULL,
                                        pol->allow_simulated, err)))
        goto out;
    sai_pipeline_verifier_set_time(&v, at);
    sai_provenance_expect_t e = {0};
    e.model = model;
    e.model_len = model_len;
    e.dataset_identity = pol->dataset_identity;
    e.measurement = pol->measurement;
    e.spec_hash = pol->has_spec_sha256 ? pol->spec_sha256 : NULL;
    e.now = at;
    e.max_age = max_age > 0 ? max_age : pol->max_age;
    e.allow_insecure_dev = pol->allow_insecure_dev;
    rc = sai_provenance_verify((const char *)statement, len, &e, &v, res, err);
out:
    sai_pipeline_verifier_release(&v);
    free(model);
    return rc;
}
