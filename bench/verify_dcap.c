/*
 * verify_dcap.c — TDX quote verifications per second on one core, with the
 * collateral parsed once and its signatures and the PCK chain cached (the
 * way a KBS verifies a stream of quotes from a fleet). Goal >= 1,000/s
 * (published reference: ~0.5 ms per TDX quote with cached collateral).
 *
 * Printed against two baselines measured in the same run: the goal, and one
 * OpenSSL ECDSA P-256 verification (a quote needs at least two: the quote
 * signature and the QE report signature). Also printed for information: the
 * same quote with no collateral (chain cached process-wide), and the cold
 * path (collateral parsed and every signature and chain checked each time).
 *
 * Vectors: $SAI_SHARED_DIR, else $SAI_SOURCE_DIR/../shared, else ../shared.
 */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secureai/crypto.h"
#include "secureai/dcap.h"
#include "secureai/util.h"

#define GOAL_PER_SEC 1000.0
#define SECONDS      2.0

static uint8_t *load(const char *rel, size_t *len)
{
    const char *dirs[3] = { getenv("SAI_SHARED_DIR"), NULL, "../shared" };
    char src[900];
    const char *s = getenv("SAI_SOURCE_DIR");
    if (s != NULL) {
        snprintf(src, sizeof src, "%s/../shared", s);
        dirs[1] = src;
    }
    for (int i = 0; i < 3; i++) {
        if (dirs[i] == NULL)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/vectors/%s", dirs[i], rel);
        uint8_t *buf;
        if (sai_read_file(path, 1 << 20, &buf, len, NULL) == 0)
            return buf;
    }
    fprintf(stderr, "verify_dcap: cannot find vectors/%s (set SAI_SHARED_DIR)\n", rel);
    exit(1);
}

/* This thread's CPU time: the box is shared, wall time would measure the
 * neighbours; CPU time on one thread is exactly "one core". */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run fn until SECONDS of CPU time have passed; return calls per second. */
static double rate(int (*fn)(void *), void *arg)
{
    double t0 = cpu_now(), t;
    long n = 0;
    do {
        for (int i = 0; i < 50; i++)
            if (fn(arg) != 0) {
                fprintf(stderr, "verify_dcap: verification failed during the benchmark\n");
                exit(1);
            }
        n += 50;
        t = cpu_now();
    } while (t - t0 < SECONDS);
    return (double)n / (t - t0);
}

typedef struct {
    const uint8_t *q;
    size_t n;
    sai_dcap_collateral_t *c;
    time_t at;
} job;

static int one_quote(void *arg)
{
    job *j = arg;
    sai_dcap_result_t r;
    sai_error_t err = { 0 };
    int rc = sai_dcap_verify_bytes(j->q, j->n, j->c, j->at, &r, &err);
    if (rc != 0)
        fprintf(stderr, "verify_dcap: %s\n", err.msg);
    return rc;
}

typedef struct {
    const uint8_t *q, *cj;
    size_t qn, cn;
} cold_job;

static int one_cold(void *arg)
{
    cold_job *j = arg;
    sai_dcap_collateral_t *c = NULL;
    sai_error_t err = { 0 };
    int rc = sai_dcap_collateral_parse((const char *)j->cj, j->cn, &c, &err);
    if (rc == 0) {
        sai_dcap_result_t r;
        rc = sai_dcap_verify_bytes(j->q, j->qn, c, 1752919234, &r, &err);
    }
    if (rc != 0)
        fprintf(stderr, "verify_dcap: %s\n", err.msg);
    sai_dcap_collateral_free(c);
    return rc;
}

typedef struct {
    EVP_PKEY *key;
    uint8_t sig[80];
    size_t sig_len;
    uint8_t msg[632];
} ecdsa_job;

static int one_ecdsa(void *arg)
{
    ecdsa_job *e = arg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, e->key) == 1 &&
             EVP_DigestVerify(md, e->sig, e->sig_len, e->msg, sizeof e->msg) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

int main(void)
{
    size_t qn, cn;
    uint8_t *q = load("tdx/dcapqvl_tdx_quote.dat", &qn);
    uint8_t *cj = load("tdx/dcapqvl_tdx_quote_collateral.json", &cn);
    sai_dcap_collateral_t *c = NULL;
    sai_error_t err = { 0 };
    if (sai_dcap_collateral_parse((const char *)cj, cn, &c, &err) != 0) {
        fprintf(stderr, "verify_dcap: %s\n", err.msg);
        return 1;
    }
    job cached = { q, qn, c, 1752919234 };
    if (one_quote(&cached) != 0) /* warm: fills the caches */
        return 1;

    ecdsa_job e = { 0 };
    e.key = EVP_EC_gen("P-256");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    e.sig_len = sizeof e.sig;
    memcpy(e.msg, q, sizeof e.msg);
    if (e.key == NULL || md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, e.key) != 1 ||
        EVP_DigestSign(md, e.sig, &e.sig_len, e.msg, sizeof e.msg) != 1)
        return 1;
    EVP_MD_CTX_free(md);

    double ecdsa = rate(one_ecdsa, &e);
    double with = rate(one_quote, &cached);
    job bare = { q, qn, NULL, 1752919234 };
    double without = rate(one_quote, &bare);
    cold_job cold = { q, cj, qn, cn };
    double cold_rate = rate(one_cold, &cold);

    printf("dcap: TDX quote (dcapqvl_tdx_quote.dat, v4) verify + TCB appraisal, cached collateral/chain, 1 core (thread CPU time)\n");
    printf("  %.0f verifications/s (%.3f ms each); goal %.0f/s: ratio %.2fx\n", with,
           1000.0 / with, GOAL_PER_SEC, with / GOAL_PER_SEC);
    printf("  baseline ECDSA P-256 verify: %.0f/s; one quote costs %.2f ECDSA verifies\n", ecdsa,
           ecdsa / with);
    printf("  no collateral (TCB unknown), chain cached: %.0f/s (%.2fx goal)\n", without,
           without / GOAL_PER_SEC);
    printf("  cold: collateral parsed, every chain/CRL/signature checked: %.0f/s (%.2fx goal)\n",
           cold_rate, cold_rate / GOAL_PER_SEC);
    EVP_PKEY_free(e.key);
    sai_dcap_collateral_free(c);
    free(q);
    free(cj);
    return 0;
}
