/*
 * dcap_collateral.c — Intel DCAP collateral: parsing (dcap-qvl style JSON
 * with the exact signed tcbInfo / enclaveIdentity texts, their signatures and
 * issuer chains, the Root CA and PCK CRLs), checking its own signatures
 * against the pinned Intel root (cached), and the TCB appraisal per Intel's
 * rules: the first TCB level whose SGX components, PCESVN and (TDX) TEE TCB
 * SVN components are all <= the platform's; the TDX module identity; the QE
 * identity; status convergence; advisory ids.
 *
 * Everything here comes from untrusted JSON until sai_dcap__collateral_check has
 * verified the signatures; the appraisal only runs after that.
 */
#include "attest/attest_internal.h"
#include "attest/dcap_internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"

#define MAX_LEVELS   128
#define MAX_ADV      SAI_DCAP_MAX_ADVISORIES
#define MAX_MODULES  8

typedef struct {
    char   status[40];
    char   date[32];
    size_t nadv;
    char   adv[MAX_ADV][32];
} level_meta;

typedef struct {
    uint8_t  sgx[16];
    uint16_t pcesvn;
    uint8_t  tdx[16];
    bool     has_tdx;
    level_meta m;
} tcb_level;

typedef struct {
    uint16_t isvsvn;
    level_meta m;
} isv_level;

typedef struct {
    char     id[16];
    uint8_t  mrsigner[48];
    uint8_t  attributes[8], mask[8];
    size_t   nlevels;
    isv_level levels[8];
} tdx_module_id;

struct sai_dcap_collateral_t {
    /* signed texts and their proofs */
    char    *tcb_text, *qe_text;
    uint8_t  tcb_sig[64], qe_sig[64];
    STACK_OF(X509) *tcb_chain, *qe_chain;
    STACK_OF(X509_CRL) *crls;
    X509_STORE *store;

    /* tcbInfo */
    bool     tcb_tdx;
    int      tcb_version;
    uint8_t  fmspc[6], pceid[2];
    time_t   tcb_issue, tcb_next;
    int      tcb_eval;
    size_t   nlevels;
    tcb_level *levels;
    bool     has_tdx_module;
    uint8_t  tdx_mrsigner[48], tdx_attr[8], tdx_mask[8];
    size_t   nmodules;
    tdx_module_id modules[MAX_MODULES];

    /* QE identity */
    char     qe_id[16];
    time_t   qe_issue, qe_next;
    uint32_t qe_misc, qe_misc_mask;
    uint8_t  qe_attr[16], qe_attr_mask[16];
    uint8_t  qe_mrsigner[32];
    uint16_t qe_prodid;
    size_t   nqe;
    isv_level qe_levels[32];

    /* caches */
    pthread_mutex_t lock;
    bool     sigs_ok;
    time_t   sig_from, sig_until;
    dcap_chain_cache cache[DCAP_CHAIN_CACHE];
    unsigned cache_next;
};

X509_STORE *sai_dcap__collateral_store(sai_dcap_collateral_t *c) { return c->store; }
pthread_mutex_t *sai_dcap__collateral_lock(sai_dcap_collateral_t *c) { return &c->lock; }
dcap_chain_cache *sai_dcap__collateral_cache(sai_dcap_collateral_t *c) { return c->cache; }

void sai_dcap_collateral_free(sai_dcap_collateral_t *c)
{
    if (c == NULL)
        return;
    free(c->tcb_text);
    free(c->qe_text);
    sk_X509_pop_free(c->tcb_chain, X509_free);
    sk_X509_pop_free(c->qe_chain, X509_free);
    sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
    X509_STORE_free(c->store);
    free(c->levels);
    for (int i = 0; i < DCAP_CHAIN_CACHE; i++)
        EVP_PKEY_free(c->cache[i].leaf_key);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- small JSON helpers ---- */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jint(const cJSON *o, const char *k, long min, long max, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
        v->valuedouble != (double)(long)v->valuedouble)
        return -1;
    *out = (long)v->valuedouble;
    return 0;
}

static int jhex(const cJSON *o, const char *k, uint8_t *out, size_t n)
{
    const char *s = jstr(o, k);
    return s == NULL ? -1 : sai_hex_decode(out, n, s, NULL);
}

static int jtime(const cJSON *o, const char *k, time_t *out)
{
    *out = sai_dcap__rfc3339(jstr(o, k));
    return *out == (time_t)-1 ? -1 : 0;
}

static const char *const STATUSES[] = {
    "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked",
};

static int level_meta_parse(const cJSON *lv, level_meta *m)
{
    const char *st = jstr(lv, "tcbStatus");
    if (st == NULL)
        return -1;
    bool known = false;
    for (size_t i = 0; i < sizeof STATUSES / sizeof STATUSES[0]; i++)
        known |= strcmp(st, STATUSES[i]) == 0;
    if (!known)
        return -1;
    snprintf(m->status, sizeof m->status, "%s", st);
    const char *d = jstr(lv, "tcbDate");
    snprintf(m->date, sizeof m->date, "%s", d ? d : "");
    const cJSON *adv = cJSON_GetObjectItemCaseSensitive(lv, "advisoryIDs");
    const cJSON *a;
    cJSON_ArrayForEach(a, adv) {
        if (!cJSON_IsString(a) || m->nadv >= MAX_ADV || strlen(a->valuestring) >= 32)
            return -1;
        snprintf(m->adv[m->nadv++], 32, "%s", a->valuestring);
    }
    return 0;
}

static int isv_levels_parse(const cJSON *arr, isv_level *out, size_t max, size_t *n)
{
    const cJSON *lv;
    *n = 0;
    cJSON_ArrayForEach(lv, arr) {
        long svn;
        if (*n >= max || jint(cJSON_GetObjectItemCaseSensitive(lv, "tcb"), "isvsvn", 0, 65535, &svn) != 0 ||
            level_meta_parse(lv, &out[*n].m) != 0)
            return -1;
        out[*n].isvsvn = (uint16_t)svn;
        (*n)++;
    }
    return *n == 0 ? -1 : 0;
}

static int comps_parse(const cJSON *arr, uint8_t out[16])
{
    if (cJSON_GetArraySize(arr) != 16)
        return -1;
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr) {
        long svn;
        if (jint(c, "svn", 0, 255, &svn) != 0)
            return -1;
        out[i++] = (uint8_t)svn;
    }
    return 0;
}

static int parse_tcb_info(sai_dcap_collateral_t *c, const char *text, char *why, size_t wl)
{
    int rc = -1;
    cJSON *j = cJSON_Parse(text);
    if (j == NULL) {
        snprintf(why, wl, "tcb_info is not JSON");
        return -1;
    }
    const char *id = jstr(j, "id");
    long ver, eval, tcb_type;
    if (id == NULL || (strcmp(id, "TDX") != 0 && strcmp(id, "SGX") != 0)) {
        snprintf(why, wl, "tcb_info id is not SGX or TDX");
        goto out;
    }
    c->tcb_tdx = strcmp(id, "TDX") == 0;
    if (jint(j, "version", 0, 100, &ver) != 0 || ver != 3) {
        snprintf(why, wl, "tcb_info version is not 3");
        goto out;
    }
    c->tcb_version = (int)ver;
    if (jtime(j, "issueDate", &c->tcb_issue) || jtime(j, "nextUpdate", &c->tcb_next) ||
        jhex(j, "fmspc", c->fmspc, 6) || jhex(j, "pceId", c->pceid, 2) ||
        jint(j, "tcbEvaluationDataNumber", 0, 1L << 30, &eval) ||
        jint(j, "tcbType", 0, 0, &tcb_type)) {
        snprintf(why, wl, "tcb_info lacks a valid issueDate, nextUpdate, fmspc, pceId, "
                          "tcbEvaluationDataNumber or tcbType 0");
        goto out;
    }
    c->tcb_eval = (int)eval;
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(j, "tdxModule");
    if (mod != NULL) {
        if (jhex(mod, "mrsigner", c->tdx_mrsigner, 48) || jhex(mod, "attributes", c->tdx_attr, 8) ||
            jhex(mod, "attributesMask", c->tdx_mask, 8)) {
            snprintf(why, wl, "tcb_info tdxModule is malformed");
            goto out;
        }
        c->has_tdx_module = true;
    }
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "tdxModuleIdentities");
    const cJSON *m;
    cJSON_ArrayForEach(m, ids) {
        if (c->nmodules >= MAX_MODULES) {
            snprintf(why, wl, "tcb_info has too many tdxModuleIdentities");
            goto out;
        }
        tdx_module_id *t = &c->modules[c->nmodules];
        const char *mid = jstr(m, "id");
        if (mid == NULL || strlen(mid) >= sizeof t->id || jhex(m, "mrsigner", t->mrsigner, 48) ||
            jhex(m, "attributes", t->attributes, 8) || jhex(m, "attributesMask", t->mask, 8) ||
            isv_levels_parse(cJSON_GetObjectItemCaseSensitive(m, "tcbLevels"), t->levels, 8,
                             &t->nlevels) != 0) {
            snprintf(why, wl, "tcb_info tdxModuleIdentities entry %zu is malformed", c->nmodules);
            goto out;
        }
        snprintf(t->id, sizeof t->id, "%s", mid);
        c->nmodules++;
    }
    const cJSON *levels = cJSON_GetObjectItemCaseSensitive(j, "tcbLevels");
    int n = cJSON_GetArraySize(levels);
    if (!cJSON_IsArray(levels) || n < 1 || n > MAX_LEVELS) {
        snprintf(why, wl, "tcb_info tcbLevels missing or too long");
        goto out;
    }
    c->levels = calloc((size_t)n, sizeof *c->levels);
    if (c->levels == NULL) {
        snprintf(why, wl, "out of memory");
        goto out;
    }
    const cJSON *lv;
    cJSON_ArrayForEach(lv, levels) {
        tcb_level *L = &c->levels[c->nlevels];
        const cJSON *tcb = cJSON_GetObjectItemCaseSensitive(lv, "tcb");
        long pcesvn;
        if (comps_parse(cJSON_GetObjectItemCaseSensitive(tcb, "sgxtcbcomponents"), L->sgx) ||
            jint(tcb, "pcesvn", 0, 65535, &pcesvn) || level_meta_parse(lv, &L->m)) {
            snprintf(why, wl, "tcb_info tcbLevels[%zu] is malformed", c->nlevels);
            goto out;
        }
        L->pcesvn = (uint16_t)pcesvn;
        const cJSON *tdx = cJSON_GetObjectItemCaseSensitive(tcb, "tdxtcbcomponents");
        if (c->tcb_tdx) {
            if (comps_parse(tdx, L->tdx) != 0) {
                snprintf(why, wl, "tcb_info tcbLevels[%zu] lacks tdxtcbcomponents", c->nlevels);
                goto out;
            }
            L->has_tdx = true;
        }
        c->nlevels++;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

static int parse_qe_identity(sai_dcap_collateral_t *c, const char *text, char *why, size_t wl)
{
    int rc = -1;
    cJSON *j = cJSON_Parse(text);
    if (j == NULL) {
        snprintf(why, wl, "qe_identity is not JSON");
        return -1;
    }
    const char *id = jstr(j, "id");
    long ver, prod;
    uint8_t misc[4], mmask[4];
    if (id == NULL || (strcmp(id, "QE") != 0 && strcmp(id, "TD_QE") != 0) ||
        jint(j, "version", 0, 100, &ver) || ver != 2) {
        snprintf(why, wl, "qe_identity id is not QE or TD_QE, or version is not 2");
        goto out;
    }
    snprintf(c->qe_id, sizeof c->qe_id, "%s", id);
    if (jtime(j, "issueDate", &c->qe_issue) || jtime(j, "nextUpdate", &c->qe_next) ||
        jhex(j, "miscselect", misc, 4) || jhex(j, "miscselectMask", mmask, 4) ||
        jhex(j, "attributes", c->qe_attr, 16) || jhex(j, "attributesMask", c->qe_attr_mask, 16) ||
        jhex(j, "mrsigner", c->qe_mrsigner, 32) || jint(j, "isvprodid", 0, 65535, &prod) ||
        isv_levels_parse(cJSON_GetObjectItemCaseSensitive(j, "tcbLevels"), c->qe_levels, 32,
                         &c->nqe) != 0) {
        snprintf(why, wl, "qe_identity is malformed");
        goto out;
    }
    /* miscselect is a little-endian u32 written as big-endian hex by Intel */
    c->qe_misc = (uint32_t)misc[0] << 24 | (uint32_t)misc[1] << 16 | (uint32_t)misc[2] << 8 | misc[3];
    c->qe_misc_mask = (uint32_t)mmask[0] << 24 | (uint32_t)mmask[1] << 16 |
                      (uint32_t)mmask[2] << 8 | mmask[3];
    c->qe_prodid = (uint16_t)prod;
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

static int add_crl(sai_dcap_collateral_t *c, const char *hex, char *why, size_t wl, const char *name)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 || n / 2 > SAI_DCAP_COLLATERAL_MAX) {
        snprintf(why, wl, "%s is not hex DER", name);
        return -1;
    }
    uint8_t *der = malloc(n / 2);
    if (der == NULL || sai_hex_decode(der, n / 2, hex, NULL) != 0) {
        free(der);
        snprintf(why, wl, "%s is not hex DER", name);
        return -1;
    }
    const uint8_t *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)(n / 2));
    bool whole = p == der + n / 2;
    free(der);
    if (crl == NULL || !whole || sk_X509_CRL_push(c->crls, crl) <= 0) {
        X509_CRL_free(crl);
        ERR_clear_error();
        snprintf(why, wl, "%s is not a DER CRL", name);
        return -1;
    }
    return 0;
}

int sai_dcap_collateral_parse(const char *json, size_t len, sai_dcap_collateral_t **out,
                              sai_error_t *err)
{
    *out = NULL;
    if (json == NULL || len > SAI_DCAP_COLLATERAL_MAX)
        return sai_error_set(err, SAI_ELIMIT, "collateral: larger than %u bytes",
                             SAI_DCAP_COLLATERAL_MAX);
    /* empty is an error like any other unreadable collateral, said plainly
     * (never "no collateral": that is the caller passing NULL) */
    size_t ws = 0;
    while (ws < len && (json[ws] == ' ' || json[ws] == '\t' || json[ws] == '\n' || json[ws] == '\r'))
        ws++;
    if (ws == len)
        return sai_error_set(err, SAI_EFORMAT, "the collateral is empty (%zu bytes%s)", len,
                             len ? ", all white space" : "");
    char why[200] = "";
    int rc = SAI_EFORMAT;
    sai_dcap_collateral_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    c->crls = sk_X509_CRL_new_null();
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (c->crls == NULL) {
        rc = SAI_ENOMEM;
        snprintf(why, sizeof why, "out of memory");
        goto out;
    }
    if (!cJSON_IsObject(j)) {
        snprintf(why, sizeof why, "not a JSON object");
        goto out;
    }
    const char *tcb = jstr(j, "tcb_info"), *qe = jstr(j, "qe_identity");
    const char *tcb_chain = jstr(j, "tcb_info_issuer_chain");
    const char *qe_chain = jstr(j, "qe_identity_issuer_chain");
    const char *root_crl = jstr(j, "root_ca_crl"), *pck_crl = jstr(j, "pck_crl");
    if (tcb == NULL || qe == NULL || tcb_chain == NULL || qe_chain == NULL || root_crl == NULL ||
        pck_crl == NULL) {
        snprintf(why, sizeof why, "missing one of tcb_info, qe_identity, their issuer chains, "
                                  "root_ca_crl, pck_crl");
        goto out;
    }
    if (jhex(j, "tcb_info_signature", c->tcb_sig, 64) ||
        jhex(j, "qe_identity_signature", c->qe_sig, 64)) {
        snprintf(why, sizeof why, "tcb_info_signature / qe_identity_signature is not 64 bytes of hex");
        goto out;
    }
    if ((c->tcb_text = strdup(tcb)) == NULL || (c->qe_text = strdup(qe)) == NULL) {
        rc = SAI_ENOMEM;
        snprintf(why, sizeof why, "out of memory");
        goto out;
    }
    char cwhy[120];
    if ((c->tcb_chain = sai_dcap__pem_chain((const uint8_t *)tcb_chain, strlen(tcb_chain), cwhy,
                                            sizeof cwhy)) == NULL) {
        snprintf(why, sizeof why, "tcb_info_issuer_chain: %s", cwhy);
        goto out;
    }
    if ((c->qe_chain = sai_dcap__pem_chain((const uint8_t *)qe_chain, strlen(qe_chain), cwhy,
                                           sizeof cwhy)) == NULL) {
        snprintf(why, sizeof why, "qe_identity_issuer_chain: %s", cwhy);
        goto out;
    }
    if (add_crl(c, root_crl, why, sizeof why, "root_ca_crl") ||
        add_crl(c, pck_crl, why, sizeof why, "pck_crl"))
        goto out;
    if (parse_tcb_info(c, c->tcb_text, why, sizeof why) ||
        parse_qe_identity(c, c->qe_text, why, sizeof why))
        goto out;
    if ((c->store = sai_dcap__store_new(c->crls)) == NULL) {
        rc = SAI_ECRYPTO;
        snprintf(why, sizeof why, "could not build the certificate store");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc != 0) {
        sai_dcap_collateral_free(c);
        return sai_error_set(err, rc, "collateral: %s", why);
    }
    *out = c;
    return 0;
}

static void fail(dcap_fail *f, int code, const char *check, const char *fmt, ...)
    SAI_PRINTF(4, 5);
static void fail(dcap_fail *f, int code, const char *check, const char *fmt, ...)
{
    f->code = code;
    snprintf(f->check, sizeof f->check, "%s", check);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof f->detail, fmt, ap);
    va_end(ap);
}

static void narrow(time_t *from, time_t *until, time_t a, time_t b)
{
    if (a != (time_t)-1 && a > *from)
        *from = a;
    if (b != (time_t)-1 && b < *until)
        *until = b;
}

static int check_signed(sai_dcap_collateral_t *c, STACK_OF(X509) *chain, const char *text,
                        const uint8_t sig[64], const char *what, time_t at, time_t *from,
                        time_t *until, dcap_fail *f)
{
    char why[300];
    int rc = sai_dcap__chain_verify(c->store, chain, at, true, from, until, why, sizeof why);
    if (rc != 0) {
        fail(f, rc, "collateral_chain", "%s issuer chain: %s", what, why);
        return rc;
    }
    char cn[96];
    X509 *leaf = sk_X509_value(chain, 0);
    if (sai_dcap__cert_cn(leaf, cn, sizeof cn) != 0 || strcmp(cn, "Intel SGX TCB Signing") != 0) {
        fail(f, SAI_EAUTH, "collateral_chain",
             "%s is signed by \"%s\", not \"Intel SGX TCB Signing\"", what, cn);
        return SAI_EAUTH;
    }
    if (!sai_dcap__p256_verify(X509_get0_pubkey(leaf), sig, text, strlen(text))) {
        fail(f, SAI_EAUTH, "collateral_signature", "%s signature does not verify with the "
                                                   "TCB Signing key", what);
        return SAI_EAUTH;
    }
    return 0;
}

/* t as RFC 3339 into buf, for the validity messages. */
static const char *ts(char buf[SAI_ATTEST_TIME_STR], time_t t)
{
    sai_attest__time_str(buf, (int64_t)t);
    return buf;
}

int sai_dcap__collateral_check(sai_dcap_collateral_t *c, time_t at, time_t *from, time_t *until,
                               dcap_fail *f)
{
    char t1[SAI_ATTEST_TIME_STR], t2[SAI_ATTEST_TIME_STR], t3[SAI_ATTEST_TIME_STR];
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    if (!(c->sigs_ok && at >= c->sig_from && at <= c->sig_until)) {
        time_t a = 0, b = (time_t)INT64_MAX;
        if ((rc = check_signed(c, c->tcb_chain, c->tcb_text, c->tcb_sig, "tcb_info", at, &a, &b,
                               f)) != 0 ||
            (rc = check_signed(c, c->qe_chain, c->qe_text, c->qe_sig, "qe_identity", at, &a, &b,
                               f)) != 0)
            goto out;
        for (int i = 0; i < sk_X509_CRL_num(c->crls); i++) {
            X509_CRL *crl = sk_X509_CRL_value(c->crls, i);
            narrow(&a, &b, sai_dcap__asn1_time(X509_CRL_get0_lastUpdate(crl)),
                   sai_dcap__asn1_time(X509_CRL_get0_nextUpdate(crl)));
        }
        narrow(&a, &b, c->tcb_issue, c->tcb_next);
        narrow(&a, &b, c->qe_issue, c->qe_next);
        c->sigs_ok = true;
        c->sig_from = a;
        c->sig_until = b;
    }
    if (at < c->tcb_issue || at > c->tcb_next) {
        fail(f, SAI_EPOLICY, "tcb_info_validity", "tcb_info is valid %s .. %s, not at %s",
             ts(t1, c->tcb_issue), ts(t2, c->tcb_next), ts(t3, at));
        rc = SAI_EPOLICY;
        goto out;
    }
    if (at < c->qe_issue || at > c->qe_next) {
        fail(f, SAI_EPOLICY, "qe_identity_validity", "qe_identity is valid %s .. %s, not at %s",
             ts(t1, c->qe_issue), ts(t2, c->qe_next), ts(t3, at));
        rc = SAI_EPOLICY;
        goto out;
    }
    /* The CRLs' windows: a cached PCK chain was checked against them at
     * another time, so their validity at `at` is enforced here. */
    if (at < c->sig_from || at > c->sig_until) {
        fail(f, SAI_EPOLICY, "collateral_validity",
             "the collateral (CRLs, issuer chains) is valid %s .. %s, not at %s",
             ts(t1, c->sig_from), ts(t2, c->sig_until), ts(t3, at));
        rc = SAI_EPOLICY;
        goto out;
    }
    narrow(from, until, c->sig_from, c->sig_until);
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---- appraisal ---- */

static void add_adv(sai_dcap_result_t *res, const level_meta *m)
{
    for (size_t i = 0; i < m->nadv; i++) {
        bool dup = false;
        for (size_t k = 0; k < res->n_advisories; k++)
            dup |= strcmp(res->advisory_ids[k], m->adv[i]) == 0;
        if (!dup && res->n_advisories < SAI_DCAP_MAX_ADVISORIES)
            snprintf(res->advisory_ids[res->n_advisories++], 32, "%s", m->adv[i]);
    }
}

/* Intel's convergence of the platform status with an OutOfDate/Revoked
 * QE or TDX module status. */
static void converge(char *status, size_t n, const char *other)
{
    if (strcmp(other, "Revoked") == 0) {
        snprintf(status, n, "Revoked");
    } else if (strcmp(other, "OutOfDate") == 0) {
        if (strcmp(status, "UpToDate") == 0 || strcmp(status, "SWHardeningNeeded") == 0)
            snprintf(status, n, "OutOfDate");
        else if (strcmp(status, "ConfigurationNeeded") == 0 ||
                 strcmp(status, "ConfigurationAndSWHardeningNeeded") == 0)
            snprintf(status, n, "OutOfDateConfigurationNeeded");
    }
}

static const isv_level *isv_match(const isv_level *lv, size_t n, uint16_t svn)
{
    for (size_t i = 0; i < n; i++)
        if (lv[i].isvsvn <= svn)
            return &lv[i];
    return NULL;
}

int sai_dcap__collateral_appraise(sai_dcap_collateral_t *c, const sai_dcap_quote_t *q,
                                  const dcap_pck_info *pck, time_t at, sai_dcap_result_t *res,
                                  dcap_fail *f)
{
    char a[130], b[130];
    bool tdx = q->tee == SAI_DCAP_TDX;
    if (c->tcb_tdx != tdx) {
        fail(f, SAI_EPOLICY, "tcb_info_type", "tcb_info is for %s, the quote is %s",
             c->tcb_tdx ? "TDX" : "SGX", tdx ? "TDX" : "SGX");
        return SAI_EPOLICY;
    }
    if (strcmp(c->qe_id, tdx ? "TD_QE" : "QE") != 0) {
        fail(f, SAI_EPOLICY, "qe_identity", "qe_identity id %s does not fit a %s quote", c->qe_id,
             tdx ? "TDX" : "SGX");
        return SAI_EPOLICY;
    }
    if (memcmp(c->fmspc, pck->fmspc, 6) != 0) {
        sai_hex_encode(a, pck->fmspc, 6);
        sai_hex_encode(b, c->fmspc, 6);
        fail(f, SAI_EPOLICY, "fmspc", "PCK FMSPC %s != tcb_info fmspc %s", a, b);
        return SAI_EPOLICY;
    }
    if (memcmp(c->pceid, pck->pceid, 2) != 0) {
        sai_hex_encode(a, pck->pceid, 2);
        sai_hex_encode(b, c->pceid, 2);
        fail(f, SAI_EPOLICY, "pceid", "PCK PCE-ID %s != tcb_info pceId %s", a, b);
        return SAI_EPOLICY;
    }

    /* QE identity */
    const sai_dcap_sgx_body_t *qe = &q->qe_report;
    if (memcmp(qe->mrsigner, c->qe_mrsigner, 32) != 0) {
        sai_hex_encode(a, qe->mrsigner, 32);
        sai_hex_encode(b, c->qe_mrsigner, 32);
        fail(f, SAI_EPOLICY, "qe_identity", "QE MRSIGNER %s != %s", a, b);
        return SAI_EPOLICY;
    }
    if (qe->isvprodid != c->qe_prodid) {
        fail(f, SAI_EPOLICY, "qe_identity", "QE ISVPRODID %u != %u", qe->isvprodid, c->qe_prodid);
        return SAI_EPOLICY;
    }
    if ((qe->miscselect & c->qe_misc_mask) != (c->qe_misc & c->qe_misc_mask)) {
        fail(f, SAI_EPOLICY, "qe_identity", "QE MISCSELECT 0x%08x does not match 0x%08x/0x%08x",
             qe->miscselect, c->qe_misc, c->qe_misc_mask);
        return SAI_EPOLICY;
    }
    for (int i = 0; i < 16; i++)
        if ((qe->attributes[i] & c->qe_attr_mask[i]) != (c->qe_attr[i] & c->qe_attr_mask[i])) {
            sai_hex_encode(a, qe->attributes, 16);
            fail(f, SAI_EPOLICY, "qe_identity", "QE ATTRIBUTES %s do not match the identity", a);
            return SAI_EPOLICY;
        }
    const isv_level *ql = isv_match(c->qe_levels, c->nqe, qe->isvsvn);
    if (ql == NULL) {
        fail(f, SAI_EPOLICY, "qe_identity", "QE ISVSVN %u is below every QE TCB level (Revoked)",
             qe->isvsvn);
        snprintf(res->qe_tcb_status, sizeof res->qe_tcb_status, "Revoked");
        return SAI_EPOLICY;
    }
    snprintf(res->qe_tcb_status, sizeof res->qe_tcb_status, "%s", ql->m.status);

    /* TDX module */
    const level_meta *mod_meta = NULL;
    bool skip_module_svn = false;
    if (tdx) {
        uint8_t mod_ver = q->td.tee_tcb_svn[1];
        if (mod_ver > 0 && c->nmodules > 0) {
            char id[16];
            snprintf(id, sizeof id, "TDX_%02X", mod_ver);
            const tdx_module_id *t = NULL;
            for (size_t i = 0; i < c->nmodules; i++)
                if (strcmp(c->modules[i].id, id) == 0)
                    t = &c->modules[i];
            if (t == NULL) {
                fail(f, SAI_EPOLICY, "tdx_module", "no TDX module identity %s in tcb_info", id);
                return SAI_EPOLICY;
            }
            if (memcmp(t->mrsigner, q->td.mrsignerseam, 48) != 0) {
                sai_hex_encode(a, q->td.mrsignerseam, 48);
                fail(f, SAI_EPOLICY, "tdx_module", "MRSIGNERSEAM %s != %s's mrsigner", a, id);
                return SAI_EPOLICY;
            }
            for (int i = 0; i < 8; i++)
                if ((q->td.seam_attributes[i] & t->mask[i]) != (t->attributes[i] & t->mask[i])) {
                    fail(f, SAI_EPOLICY, "tdx_module", "SEAM attributes do not match %s", id);
                    return SAI_EPOLICY;
                }
            const isv_level *ml = isv_match(t->levels, t->nlevels, q->td.tee_tcb_svn[0]);
            if (ml == NULL) {
                fail(f, SAI_EPOLICY, "tdx_module", "TDX module %s ISVSVN %u is below every level",
                     id, q->td.tee_tcb_svn[0]);
                return SAI_EPOLICY;
            }
            mod_meta = &ml->m;
            skip_module_svn = true;
            snprintf(res->tdx_module_status, sizeof res->tdx_module_status, "%s", ml->m.status);
        } else if (c->has_tdx_module) {
            if (memcmp(c->tdx_mrsigner, q->td.mrsignerseam, 48) != 0) {
                sai_hex_encode(a, q->td.mrsignerseam, 48);
                sai_hex_encode(b, c->tdx_mrsigner, 48);
                fail(f, SAI_EPOLICY, "tdx_module", "MRSIGNERSEAM %s != tdxModule mrsigner %s", a, b);
                return SAI_EPOLICY;
            }
            for (int i = 0; i < 8; i++)
                if ((q->td.seam_attributes[i] & c->tdx_mask[i]) != (c->tdx_attr[i] & c->tdx_mask[i])) {
                    fail(f, SAI_EPOLICY, "tdx_module", "SEAM attributes do not match tdxModule");
                    return SAI_EPOLICY;
                }
        }
    }

    /* platform TCB level: the first one the platform reaches */
    const tcb_level *hit = NULL;
    for (size_t i = 0; i < c->nlevels && hit == NULL; i++) {
        const tcb_level *L = &c->levels[i];
        bool ok = pck->pcesvn >= L->pcesvn;
        for (int k = 0; k < 16 && ok; k++)
            ok = pck->compsvn[k] >= L->sgx[k];
        for (int k = skip_module_svn ? 2 : 0; tdx && k < 16 && ok; k++)
            ok = q->td.tee_tcb_svn[k] >= L->tdx[k];
        if (ok)
            hit = L;
    }
    if (hit == NULL) {
        sai_hex_encode(a, pck->compsvn, 16);
        sai_hex_encode(b, q->td.tee_tcb_svn, 16);
        const tcb_level *low = &c->levels[c->nlevels - 1];
        char c1[40], c2[40];
        sai_hex_encode(c1, low->sgx, 16);
        sai_hex_encode(c2, low->tdx, 16);
        /* the hint: the first component below even the lowest level */
        char hint[64] = "";
        for (int k = 0; k < 16 && !hint[0]; k++)
            if (pck->compsvn[k] < low->sgx[k])
                snprintf(hint, sizeof hint, "sgx compsvn[%d] %u < %u", k, pck->compsvn[k], low->sgx[k]);
        if (!hint[0] && pck->pcesvn < low->pcesvn)
            snprintf(hint, sizeof hint, "pcesvn %u < %u", pck->pcesvn, low->pcesvn);
        for (int k = skip_module_svn ? 2 : 0; tdx && k < 16 && !hint[0]; k++)
            if (q->td.tee_tcb_svn[k] < low->tdx[k])
                snprintf(hint, sizeof hint, "tee_tcb_svn[%d] %u < %u", k, q->td.tee_tcb_svn[k],
                         low->tdx[k]);
        /* Must fit the 255 characters of a refusal's values (attest.h), or
         * truncation cuts the last vector and its closing parenthesis: the
         * longest TDX message (25-character hint, 5-digit pcesvns) is 250. */
        if (tdx)
            fail(f, SAI_EPOLICY, "tcb_level",
                 "TCB not supported: %s (PCK compsvn %s pcesvn %u, TEE_TCB_SVN %s; "
                 "lowest: compsvn %s pcesvn %u tdx %s)",
                 hint[0] ? hint : "no level matches", a, pck->pcesvn, b, c1, low->pcesvn, c2);
        else
            fail(f, SAI_EPOLICY, "tcb_level",
                 "TCB not supported: %s (PCK compsvn %s pcesvn %u; lowest: compsvn %s "
                 "pcesvn %u)", hint[0] ? hint : "no level matches", a, pck->pcesvn, c1,
                 low->pcesvn);
        return SAI_EPOLICY;
    }
    snprintf(res->tcb_status, sizeof res->tcb_status, "%s", hit->m.status);
    snprintf(res->tcb_date, sizeof res->tcb_date, "%s", hit->m.date);
    add_adv(res, &hit->m);
    if (mod_meta != NULL) {
        converge(res->tcb_status, sizeof res->tcb_status, mod_meta->status);
        add_adv(res, mod_meta);
    }
    converge(res->tcb_status, sizeof res->tcb_status, ql->m.status);
    add_adv(res, &ql->m);
    (void)at;
    return 0;
}
