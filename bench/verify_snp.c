/*
 * verify_snp.c — SEV-SNP verifications per second: what a KBS sees, and
 * whether anything inside OpenSSL's API makes the one P-384 verify cheaper.
 *
 * 1. One core, thread CPU time (as bench/verify_dcap and `openssl speed`,
 *    whose default divisor is CPU time: the box is shared, and wall time
 *    measures the neighbours):
 *      cached   : sai_snp_verifier_verify(), the VCEK->ASK->ARK chain
 *                 checked once (what a KBS does: VCEKs are cached per
 *                 chip+TCB)
 *      uncached : sai_attest_verify_snp(), the chain re-verified every time
 *                 (two RSA-4096 PSS verifications + parsing)
 * 2. Both cores: N threads (default 2, $SAI_BENCH_THREADS) sharing one
 *    immutable sai_snp_verifier_t, as a KBS's worker threads would, each
 *    verifying for a fixed wall time; the aggregate per wall second (what
 *    clients see) and per thread CPU second (what the cores give when the
 *    box is not shared), with one thread measured in the same way just
 *    before, and the load average printed next to it.
 * 3. The bare P-384 verify of the report's real signature with the VCEK key,
 *    every way OpenSSL 3's API offers (rounds interleaved, best kept):
 *      A  sai_ecdsa_verify as the verifier calls it: SHA-384, r||s -> DER,
 *         a new EVP_PKEY_CTX and EVP_PKEY_verify_init per call
 *      B  one EVP_PKEY_CTX per VCEK, EVP_PKEY_verify_init once; digest and
 *         DER precomputed (the most a cache could keep per VCEK)
 *      C  EVP_DigestVerify (one-shot) on a reused EVP_MD_CTX
 *      D  ECDSA_do_verify on a legacy EC_KEY with a prebuilt ECDSA_SIG and
 *         digest (no DER, no provider dispatch; deprecated API)
 *      E  D with EC_KEY_precompute_mult: a precomputed table of multiples
 *         of the generator (the only precomputation OpenSSL exposes; a
 *         table for the public key Q has no API)
 *      F  E plus the group rebuilt with EC_GFp_nist_method (BN_nist_mod_384
 *         reduction instead of Montgomery)
 *    Batching: OpenSSL has no batch ECDSA verification, and ECDSA as signed
 *    by AMD (r only, no R's y parity) does not batch without recovering R
 *    candidates, so there is nothing to measure.
 *
 * Data: the real Milan vector S2 from tests/data/vectors/sev-snp (see its
 * README), found through $SAI_TEST_DATA_DIR, else $SAI_SOURCE_DIR/tests/data
 * (scripts/bench.sh sets it), else next to this source file.
 * Goal (issue 3): >= 2,000 cached/s.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* D-F measure the legacy EC API on purpose */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/x509.h>

#include "secureai/attest.h"
#include "secureai/crypto.h"
#include "secureai/util.h"

static char g_dir[1024];

static uint8_t *load(const char *name, size_t *len)
{
    char path[1200];
    uint8_t *buf = NULL;
    sai_error_t err;
    snprintf(path, sizeof path, "%s/vectors/sev-snp/%s", g_dir, name);
    if (sai_read_file(path, 1 << 20, &buf, len, &err) != 0) {
        fprintf(stderr, "verify_snp: %s\n", err.msg);
        return NULL;
    }
    return buf;
}

static void find_data_dir(void)
{
    const char *d = getenv("SAI_TEST_DATA_DIR"), *src = getenv("SAI_SOURCE_DIR");
    if (d != NULL) {
        snprintf(g_dir, sizeof g_dir, "%s", d);
    } else if (src != NULL) {
        snprintf(g_dir, sizeof g_dir, "%s/tests/data", src);
    } else {
        /* CMake compiles with the absolute path: <src>/bench/verify_snp.c */
        snprintf(g_dir, sizeof g_dir, "%s", __FILE__);
        char *slash = strrchr(g_dir, '/');
        if (slash == NULL)
            snprintf(g_dir, sizeof g_dir, "tests/data");
        else
            snprintf(slash, sizeof g_dir - (size_t)(slash - g_dir), "/../tests/data");
    }
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- 2. threads sharing one verifier ------------------------------------- */

typedef struct worker {
    const sai_snp_verifier_t *v;
    const uint8_t *rep;
    size_t rl;
    double wall_secs;
    long n;
    double cpu;
    int failed;
} worker;

static atomic_int g_go;

static void *work(void *arg)
{
    worker *w = arg;
    sai_attest_result_t res;
    sai_error_t err;
    while (!atomic_load(&g_go))
        ;
    double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), t0 = clock_s(CLOCK_MONOTONIC);
    do {
        for (int i = 0; i < 10; i++)
            if (sai_snp_verifier_verify(w->v, w->rep, w->rl, &res, &err) != 0)
                w->failed = 1;
        w->n += 10;
    } while (clock_s(CLOCK_MONOTONIC) - t0 < w->wall_secs);
    w->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    return NULL;
}

/* n threads for `secs` of wall time: aggregate per wall s and per CPU s. */
static int threads_run(int n, const sai_snp_verifier_t *v, const uint8_t *rep, size_t rl,
                       double secs, double *per_wall, double *per_cpu)
{
    worker w[16];
    pthread_t t[16];
    if (n < 1 || n > 16)
        return -1;
    atomic_store(&g_go, 0);
    for (int i = 0; i < n; i++) {
        w[i] = (worker){ .v = v, .rep = rep, .rl = rl, .wall_secs = secs };
        if (pthread_create(&t[i], NULL, work, &w[i]) != 0)
            return -1;
    }
    double t0 = clock_s(CLOCK_MONOTONIC);
    atomic_store(&g_go, 1);
    long total = 0;
    double cpu = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        total += w[i].n;
        cpu += w[i].cpu;
        failed |= w[i].failed;
    }
    double wall = clock_s(CLOCK_MONOTONIC) - t0;
    *per_wall = (double)total / wall;
    *per_cpu = (double)total / cpu * n; /* n cores each giving its CPU-time rate */
    return failed ? -1 : 0;
}

/* ---- 3. the bare verify, every way -------------------------------------- */

typedef struct bare {
    const sai_ec_key_t *k;
    EVP_PKEY *pk;
    const uint8_t *msg;
    uint8_t sig[96];
    uint8_t digest[48];
    uint8_t der[128];
    size_t der_len;
    EVP_PKEY_CTX *pctx;     /* B */
    EVP_MD_CTX *mctx;       /* C */
    EC_KEY *ec, *ec_pre, *ec_nist;   /* D, E, F */
    ECDSA_SIG *esig;
} bare;

static int bare_one(bare *b, int kind)
{
    switch (kind) {
    case 0:
        return sai_ecdsa_verify(b->k, b->sig, b->msg, SAI_SNP_SIGNED_LEN, NULL);
    case 1:
        return EVP_PKEY_verify(b->pctx, b->der, b->der_len, b->digest, 48) == 1 ? 0 : -1;
    case 2:
        return EVP_DigestVerifyInit(b->mctx, NULL, EVP_sha384(), NULL, b->pk) == 1 &&
               EVP_DigestVerify(b->mctx, b->der, b->der_len, b->msg, SAI_SNP_SIGNED_LEN) == 1 ? 0 : -1;
    case 3:
        return ECDSA_do_verify(b->digest, 48, b->esig, b->ec) == 1 ? 0 : -1;
    case 4:
        return ECDSA_do_verify(b->digest, 48, b->esig, b->ec_pre) == 1 ? 0 : -1;
    default:
        return ECDSA_do_verify(b->digest, 48, b->esig, b->ec_nist) == 1 ? 0 : -1;
    }
}

/* A legacy EC_KEY holding the VCEK's public point on a group built with
 * `meth` (NULL: the named group) and, if asked, the generator table. */
static EC_KEY *legacy_key(EVP_PKEY *pk, const EC_METHOD *meth, int precompute)
{
    const EC_KEY *src = EVP_PKEY_get0_EC_KEY(pk);
    EC_KEY *k = NULL;
    EC_GROUP *g = NULL;
    BIGNUM *p = BN_new(), *a = BN_new(), *bb = BN_new(), *x = BN_new(), *y = BN_new();
    int ok = 0;
    if (src == NULL || p == NULL || a == NULL || bb == NULL || x == NULL || y == NULL)
        goto out;
    const EC_GROUP *sg = EC_KEY_get0_group(src);
    if (meth == NULL) {
        g = EC_GROUP_new_by_curve_name(EC_GROUP_get_curve_name(sg));
    } else {
        EC_POINT *gen = NULL;
        if (!EC_GROUP_get_curve(sg, p, a, bb, NULL) || (g = EC_GROUP_new(meth)) == NULL ||
            !EC_GROUP_set_curve(g, p, a, bb, NULL) ||
            !EC_POINT_get_affine_coordinates(sg, EC_GROUP_get0_generator(sg), x, y, NULL) ||
            (gen = EC_POINT_new(g)) == NULL ||
            !EC_POINT_set_affine_coordinates(g, gen, x, y, NULL) ||
            !EC_GROUP_set_generator(g, gen, EC_GROUP_get0_order(sg), EC_GROUP_get0_cofactor(sg))) {
            EC_POINT_free(gen);
            goto out;
        }
        EC_POINT_free(gen);
    }
    EC_POINT *q = NULL;
    if (g == NULL || (k = EC_KEY_new()) == NULL || !EC_KEY_set_group(k, g) ||
        !EC_POINT_get_affine_coordinates(sg, EC_KEY_get0_public_key(src), x, y, NULL) ||
        (q = EC_POINT_new(g)) == NULL || !EC_POINT_set_affine_coordinates(g, q, x, y, NULL) ||
        !EC_KEY_set_public_key(k, q)) {
        EC_POINT_free(q);
        goto out;
    }
    EC_POINT_free(q);
    if (precompute && !EC_KEY_precompute_mult(k, NULL))
        goto out;
    ok = 1;
out:
    EC_GROUP_free(g);
    BN_free(p); BN_free(a); BN_free(bb); BN_free(x); BN_free(y);
    if (!ok) {
        EC_KEY_free(k);
        k = NULL;
    }
    return k;
}

static const char *const bare_names[6] = {
    "A sai_ecdsa_verify (hash, DER, new ctx per call)",
    "B EVP_PKEY_verify, ctx + verify_init once per VCEK",
    "C EVP_DigestVerify, reused EVP_MD_CTX",
    "D ECDSA_do_verify, legacy EC_KEY, no DER",
    "E D + EC_KEY_precompute_mult (generator table)",
    "F E on an EC_GFp_nist_method group",
};

int main(void)
{
    find_data_dir();
    size_t rl, vl, cl;
    uint8_t *rep = load("derived_virtee_report_milan.bin", &rl);
    uint8_t *vcek = load("virtee_vcek_milan.der", &vl);
    uint8_t *chain = load("amd_ask_ark_milan.pem", &cl);
    if (rep == NULL || vcek == NULL || chain == NULL)
        return 1;
    sai_error_t err;
    int64_t at;
    if (sai_parse_rfc3339(&at, "2024-01-01T00:00:00Z", &err) != 0)
        return 1;
    sai_snp_verifier_t *v = NULL;
    if (sai_snp_verifier_new(&v, vcek, vl, chain, cl, NULL, 0, at, &err) != 0) {
        fprintf(stderr, "verify_snp: %s\n", err.msg);
        return 1;
    }
    sai_attest_result_t res;
    const double secs = 2.0;
    char load_avg[64] = "?";
    FILE *la = fopen("/proc/loadavg", "r");
    if (la != NULL) {
        if (fgets(load_avg, sizeof load_avg, la) == NULL)
            snprintf(load_avg, sizeof load_avg, "?");
        load_avg[strcspn(load_avg, "\n")] = '\0';
        fclose(la);
    }
    printf("verify_snp: %s, data %s, load average %s\n", OPENSSL_VERSION_TEXT, g_dir, load_avg);

    /* ---- the bare verify's ingredients, from the real report and VCEK ---- */
    bare b;
    memset(&b, 0, sizeof b);
    sai_snp_report_t r;
    if (sai_snp_report_parse(&r, rep, rl, &err) != 0)
        return 1;
    memcpy(b.sig, r.sig_r, 48);
    memcpy(b.sig + 48, r.sig_s, 48);
    b.msg = rep;
    const unsigned char *p = vcek;
    X509 *x = d2i_X509(NULL, &p, (long)vl);
    sai_ec_key_t *k = NULL;
    if (x == NULL || (b.pk = X509_get0_pubkey(x)) == NULL || sai_ec_from_evp(&k, b.pk, &err) != 0)
        return 1;
    b.k = k;
    b.der_len = sizeof b.der;
    if (sai_hash(SAI_SHA384, b.digest, rep, SAI_SNP_SIGNED_LEN, &err) != 0 ||
        sai_ecdsa_raw_to_der(b.der, &b.der_len, b.sig, 48, &err) != 0)
        return 1;
    b.pctx = EVP_PKEY_CTX_new_from_pkey(NULL, b.pk, NULL);
    b.mctx = EVP_MD_CTX_new();
    b.esig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r.sig_r, 48, NULL), *bs = BN_bin2bn(r.sig_s, 48, NULL);
    if (b.pctx == NULL || EVP_PKEY_verify_init(b.pctx) != 1 || b.mctx == NULL ||
        b.esig == NULL || br == NULL || bs == NULL || !ECDSA_SIG_set0(b.esig, br, bs))
        return 1;
    b.ec = legacy_key(b.pk, NULL, 0);
    b.ec_pre = legacy_key(b.pk, NULL, 1);
    b.ec_nist = legacy_key(b.pk, EC_GFp_nist_method(), 1);
    if (b.ec == NULL || b.ec_pre == NULL || b.ec_nist == NULL) {
        fprintf(stderr, "verify_snp: cannot build the legacy EC keys\n");
        return 1;
    }
    for (int kind = 0; kind < 6; kind++)
        if (bare_one(&b, kind) != 0) {
            fprintf(stderr, "verify_snp: variant %s does not verify the real signature\n",
                    bare_names[kind]);
            return 1;
        }

    /* ---- 1 and 3: one core, CPU time, rounds interleaved, best kept ---- */
    double best[8] = { 0 };   /* 0 cached, 1 uncached, 2.. bare A-F */
    for (int round = 0; round < 3; round++) {
        for (int kind = 0; kind < 8; kind++) {
            long n = 0;
            double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID), t;
            double span = kind == 1 ? secs / 8 : secs / 4;
            do {
                int rc = 0;
                for (int i = 0; i < 10 && rc == 0; i++) {
                    if (kind == 0)
                        rc = sai_snp_verifier_verify(v, rep, rl, &res, &err);
                    else if (kind == 1)
                        rc = sai_attest_verify_snp(rep, rl, vcek, vl, chain, cl, NULL, 0, at, &res, &err);
                    else
                        rc = bare_one(&b, kind - 2);
                }
                if (rc != 0) {
                    fprintf(stderr, "verify_snp: kind %d failed\n", kind);
                    return 1;
                }
                n += 10;
                t = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
            } while (t < span);
            double rate = (double)n / t;
            if (rate > best[kind])
                best[kind] = rate;
        }
    }
    printf("verify_snp: cached chain   %8.0f verifications/s (one core, thread CPU time)\n", best[0]);
    printf("verify_snp: uncached chain %8.0f verifications/s\n", best[1]);
    for (int kind = 0; kind < 6; kind++)
        printf("verify_snp: bare %-52s %6.0f/s  %.2fx A\n", bare_names[kind], best[2 + kind],
               best[2 + kind] / best[2]);
    printf("verify_snp: cached / bare A = %.2f (1.00 = no overhead beyond the signature)\n",
           best[0] / best[2]);

    /* ---- 2: threads sharing the verifier, wall time ---- */
    int nthreads = 2;
    const char *ts = getenv("SAI_BENCH_THREADS");
    if (ts != NULL)
        nthreads = atoi(ts);
    double w1, c1, wn, cn;
    if (threads_run(1, v, rep, rl, secs, &w1, &c1) != 0 ||
        threads_run(nthreads, v, rep, rl, secs, &wn, &cn) != 0) {
        fprintf(stderr, "verify_snp: threaded run failed\n");
        return 1;
    }
    printf("verify_snp: 1 thread   %8.0f/s wall, %8.0f/s per CPU second\n", w1, c1);
    printf("verify_snp: %d threads  %8.0f/s wall (%.2fx 1 thread), %8.0f/s = %d x per-thread CPU rate\n",
           nthreads, wn, wn / w1, cn, nthreads);
    printf("verify_snp: goal >= 2000/s: one core %s; %d cores %s (CPU-time rate), %s (wall, shared box)\n",
           best[0] >= 2000 ? "met" : "NOT met", nthreads, cn >= 2000 ? "met" : "NOT met",
           wn >= 2000 ? "met" : "NOT met");

    ECDSA_SIG_free(b.esig);
    EC_KEY_free(b.ec); EC_KEY_free(b.ec_pre); EC_KEY_free(b.ec_nist);
    EVP_PKEY_CTX_free(b.pctx);
    EVP_MD_CTX_free(b.mctx);
    sai_ec_free(k);
    X509_free(x);
    sai_snp_verifier_free(v);
    free(rep); free(vcek); free(chain);
    return 0;
}
