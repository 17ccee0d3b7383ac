/*
 * token.c — the KBS's attestation result: a JWT signed ES384 by the KBS's own
 * P-384 key (<data_dir>/signing.key), handed to the TEE after /attest and
 * presented back on /resource. It names the appraised TEE (tee, measurement,
 * host_data, TCB, debug, simulated), the policy that appraised it, the
 * verdict and the TEE's public key ("tee-pubkey", a JWK), so a release needs
 * no server-side session and a token is useless without the TEE's private
 * key. Verification accepts only alg ES384, checks the signature before
 * reading a claim, then exp/iat with 30 s of skew.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

#define TOKEN_MAX (16 * 1024)
#define SKEW_S    30

int64_t sai_kbs__wall_now(void)
{
    return (int64_t)time(NULL);
}

static const char k_hdr[] = "{\"alg\":\"ES384\",\"typ\":\"JWT\",\"kid\":\"kbs\"}";

int sai_kbs__token_issue(char **jwt, const sai_ec_key_t *signer, const sai_kbs_claims_t *c,
                        const char *tee_jwk_json, int64_t now, int ttl_s, sai_error_t *err)
{
    return sai_kbs__token_issue_ex(jwt, signer, c, tee_jwk_json, NULL, now, ttl_s, err);
}

int sai_kbs__token_issue_ex(char **jwt, const sai_ec_key_t *signer, const sai_kbs_claims_t *c,
                           const char *tee_jwk_json, const char *protocol, int64_t now, int ttl_s,
                           sai_error_t *err)
{
    *jwt = NULL;
    int rc = 0;
    char *payload = NULL, *bh = NULL, *bp = NULL, *bs = NULL, *input = NULL;
    uint8_t jti[16], sig[SAI_P384_SIG_LEN];
    char jti_hex[33], tcb[32];
    cJSON *o = cJSON_CreateObject();
    cJSON *jwk = cJSON_Parse(tee_jwk_json);
    if (o == NULL || jwk == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(jwk);
        return sai_error_set(err, SAI_ENOMEM, "cannot build the token");
    }
    if ((rc = sai_random_bytes(jti, sizeof jti, err)) != 0)
        goto out;
    sai_hex_encode(jti_hex, jti, sizeof jti);
    snprintf(tcb, sizeof tcb, "%u.%u.%u.%u", c->tcb[0], c->tcb[1], c->tcb[2], c->tcb[3]);
    cJSON_AddStringToObject(o, "iss", "secureai-kbs");
    cJSON_AddNumberToObject(o, "iat", (double)now);
    cJSON_AddNumberToObject(o, "exp", (double)(now + ttl_s));
    cJSON_AddStringToObject(o, "jti", jti_hex);
    cJSON_AddStringToObject(o, "verdict", "affirming");
    cJSON_AddStringToObject(o, "tee", c->tee);
    cJSON_AddStringToObject(o, "measurement", c->measurement);
    cJSON_AddStringToObject(o, "host_data", c->host_data);
    cJSON_AddStringToObject(o, "tcb", tcb);
    cJSON_AddStringToObject(o, "tcb_status", c->tcb_status);
    cJSON_AddStringToObject(o, "policy_id", c->policy_id);
    cJSON_AddBoolToObject(o, "debug", c->debug);
    cJSON_AddBoolToObject(o, "simulated", c->simulated);
    cJSON_AddBoolToObject(o, "emulated", c->emulated);
    cJSON_AddItemToObject(o, "tee-pubkey", jwk);
    jwk = NULL;
    if (protocol != NULL)
        cJSON_AddStringToObject(o, "kbs-protocol", protocol);
    if ((payload = cJSON_PrintUnformatted(o)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sai_b64url_encode(&bh, (const uint8_t *)k_hdr, sizeof k_hdr - 1, err)) != 0 ||
        (rc = sai_b64url_encode(&bp, (const uint8_t *)payload, strlen(payload), err)) != 0)
        goto out;
    size_t n = strlen(bh) + strlen(bp) + 2;
    if ((input = malloc(n)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(input, n, "%s.%s", bh, bp);
    if ((rc = sai_ecdsa_sign(signer, sig, input, strlen(input), err)) != 0 ||
        (rc = sai_b64url_encode(&bs, sig, sizeof sig, err)) != 0)
        goto out;
    n = strlen(input) + strlen(bs) + 2;
    if ((*jwt = malloc(n)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(*jwt, n, "%s.%s", input, bs);
out:
    cJSON_Delete(o);
    cJSON_Delete(jwk);
    free(payload); free(bh); free(bp); free(bs); free(input);
    return rc;
}

static int copy_str(char *dst, size_t cap, const cJSON *o, const char *name, sai_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return sai_error_set(err, SAI_EFORMAT, "token claim \"%s\" is missing or too long", name);
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

int sai_kbs__token_verify(const sai_ec_key_t *signer, const char *jwt, size_t len, int64_t now,
                         sai_kbs_claims_t *c, sai_ec_key_t **tee_key, sai_error_t *err)
{
    return sai_kbs__token_decode(signer, jwt, len, now, false, c, tee_key, err);
}

int sai_kbs__token_decode(const sai_ec_key_t *signer, const char *jwt, size_t len, int64_t now,
                         bool signature_known_good, sai_kbs_claims_t *c, sai_ec_key_t **tee_key,
                         sai_error_t *err)
{
    return sai_kbs__token_decode_ex(signer, jwt, len, now, signature_known_good, c, tee_key, NULL, err);
}

int sai_kbs__token_decode_ex(const sai_ec_key_t *signer, const char *jwt, size_t len, int64_t now,
                            bool signature_known_good, sai_kbs_claims_t *c, sai_ec_key_t **tee_key,
                            sai_kbs_tkey_t *tkey, sai_error_t *err)
{
    memset(c, 0, sizeof *c);
    *tee_key = NULL;
    if (tkey)
        memset(tkey, 0, sizeof *tkey);
    if (len == 0 || len > TOKEN_MAX)
        return sai_error_set(err, SAI_EAUTH, "the token is empty or too long");
    const char *d1 = memchr(jwt, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)) != NULL)
        return sai_error_set(err, SAI_EAUTH, "the token is not a 3-part JWT");
    uint8_t *hdr = NULL, *pay = NULL, *sig = NULL;
    size_t hl = 0, pl = 0, sl = 0;
    cJSON *h = NULL, *p = NULL;
    int rc = 0;
    if (sai_b64_decode(&hdr, &hl, jwt, (size_t)(d1 - jwt), NULL) != 0 ||
        sai_b64_decode(&sig, &sl, d2 + 1, len - (size_t)(d2 + 1 - jwt), NULL) != 0 ||
        sl != SAI_P384_SIG_LEN) {
        rc = sai_error_set(err, SAI_EAUTH, "the token is malformed");
        goto out;
    }
    h = cJSON_ParseWithLength((const char *)hdr, hl);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "ES384") != 0) {
        rc = sai_error_set(err, SAI_EAUTH, "the token must be signed ES384");
        goto out;
    }
    if (!signature_known_good && sai_ecdsa_verify(signer, sig, jwt, (size_t)(d2 - jwt), NULL) != 0) {
        rc = sai_error_set(err, SAI_EAUTH, "the token's signature does not verify");
        goto out;
    }
    if (sai_b64_decode(&pay, &pl, d1 + 1, (size_t)(d2 - d1 - 1), NULL) != 0 ||
        (p = cJSON_ParseWithLength((const char *)pay, pl)) == NULL) {
        rc = sai_error_set(err, SAI_EAUTH, "the token's payload is malformed");
        goto out;
    }
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(p, "exp");
    const cJSON *iat = cJSON_GetObjectItemCaseSensitive(p, "iat");
    const cJSON *verdict = cJSON_GetObjectItemCaseSensitive(p, "verdict");
    if (!cJSON_IsNumber(exp) || !cJSON_IsNumber(iat)) {
        rc = sai_error_set(err, SAI_EAUTH, "the token has no exp/iat");
        goto out;
    }
    if ((double)now >= exp->valuedouble) {
        rc = sai_error_set(err, SAI_EAUTH, "the token expired %.0f s ago", (double)now - exp->valuedouble);
        goto out;
    }
    if (iat->valuedouble > (double)(now + SKEW_S)) {
        rc = sai_error_set(err, SAI_EAUTH, "the token is issued in the future");
        goto out;
    }
    if (!cJSON_IsString(verdict) || strcmp(verdict->valuestring, "affirming") != 0) {
        rc = sai_error_set(err, SAI_EAUTH, "the token's verdict is not affirming");
        goto out;
    }
    const cJSON *tcb = cJSON_GetObjectItemCaseSensitive(p, "tcb");
    unsigned t[4];
    if ((rc = copy_str(c->tee, sizeof c->tee, p, "tee", err)) != 0 ||
        (rc = copy_str(c->measurement, sizeof c->measurement, p, "measurement", err)) != 0 ||
        (rc = copy_str(c->host_data, sizeof c->host_data, p, "host_data", err)) != 0 ||
        (rc = copy_str(c->tcb_status, sizeof c->tcb_status, p, "tcb_status", err)) != 0 ||
        (rc = copy_str(c->policy_id, sizeof c->policy_id, p, "policy_id", err)) != 0)
        goto out;
    if (!cJSON_IsString(tcb) || sscanf(tcb->valuestring, "%u.%u.%u.%u", &t[0], &t[1], &t[2], &t[3]) != 4 ||
        t[0] > 255 || t[1] > 255 || t[2] > 255 || t[3] > 255) {
        rc = sai_error_set(err, SAI_EFORMAT, "token claim \"tcb\" is malformed");
        goto out;
    }
    for (int i = 0; i < 4; i++)
        c->tcb[i] = (uint8_t)t[i];
    c->debug = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "debug"));
    c->simulated = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p, "simulated"));
    c->emulated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "emulated"));
    /* A token issued in a Trustee session carries a Trustee key (EC P-256 /
     * P-521 or RSA); it is usable only where the caller can wrap to one. */
    const cJSON *proto = cJSON_GetObjectItemCaseSensitive(p, "kbs-protocol");
    if (proto != NULL) {
        if (!cJSON_IsString(proto) || strcmp(proto->valuestring, "trustee") != 0 || tkey == NULL)
            rc = sai_error_set(err, SAI_EAUTH, "the token is for another protocol");
        else
            rc = sai_kbs__tkey_from_json(tkey, cJSON_GetObjectItemCaseSensitive(p, "tee-pubkey"), err);
        goto out;
    }
    uint8_t pt[SAI_P384_POINT_LEN];
    rc = sai_kbs__jwk_from_json(tee_key, cJSON_GetObjectItemCaseSensitive(p, "tee-pubkey"), pt, err);
out:
    cJSON_Delete(h);
    cJSON_Delete(p);
    free(hdr); free(pay); free(sig);
    return rc;
}

/* ---- issued-token memo ----------------------------------------------------- */
#define ISSUED_SLOTS 16384

typedef struct issued_slot {
    uint8_t h[SAI_SHA256_LEN];
    int64_t exp;
} issued_slot;

struct sai_kbs_issued_t {
    pthread_mutex_t mu;
    issued_slot     slot[ISSUED_SLOTS];
};

int sai_kbs__issued_new(sai_kbs_issued_t **out, sai_error_t *err)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

void sai_kbs__issued_free(sai_kbs_issued_t *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static size_t issued_ix(const uint8_t h[SAI_SHA256_LEN])
{
    return ((size_t)h[0] << 8 | h[1]) % ISSUED_SLOTS;
}

void sai_kbs__issued_add(sai_kbs_issued_t *t, const char *jwt, int64_t exp)
{
    uint8_t h[SAI_SHA256_LEN];
    if (sai_hash(SAI_SHA256, h, jwt, strlen(jwt), NULL) != 0)
        return;
    pthread_mutex_lock(&t->mu);
    issued_slot *s = &t->slot[issued_ix(h)];
    memcpy(s->h, h, sizeof h);
    s->exp = exp;
    pthread_mutex_unlock(&t->mu);
}

bool sai_kbs__issued_has(sai_kbs_issued_t *t, const char *jwt, int64_t now)
{
    uint8_t h[SAI_SHA256_LEN];
    if (sai_hash(SAI_SHA256, h, jwt, strlen(jwt), NULL) != 0)
        return false;
    pthread_mutex_lock(&t->mu);
    issued_slot *s = &t->slot[issued_ix(h)];
    bool hit = s->exp > now && sai_ct_equal(s->h, h, sizeof h);
    pthread_mutex_unlock(&t->mu);
    return hit;
}
