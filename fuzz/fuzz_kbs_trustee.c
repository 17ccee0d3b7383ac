/* fuzz_kbs_trustee.c — the parsers of Trustee's protocol (trustee.c): the
 * /auth and /attest bodies a client sends, the TEE key JWK, the RFC 8785
 * canonicaliser, and the flattened JWE a client unwraps (with fixed P-256,
 * P-521 and RSA keys). The first byte picks the parser. Canonical JSON
 * must be a fixed point: parsing and canonicalising it again gives the
 * same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"

static sai_kbs_tkey_t g_keys[3];
static int g_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_error_t err;
    if (!g_ready) {
        for (int i = 0; i < 3; i++)
            if (sai_kbs__tkey_generate(&g_keys[i], (sai_kbs_tee_key_t)(i + 1), &err) != 0)
                abort();
        g_ready = 1;
    }
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 5;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (mode) {
    case 0: {
        cJSON *j = cJSON_ParseWithLength(text, len);
        char *a = NULL, *b = NULL;
        if (j != NULL && sai_kbs__jcs(j, &a, NULL, &err) == 0) {
            cJSON *k = cJSON_Parse(a);
            if (k == NULL || sai_kbs__jcs(k, &b, NULL, &err) != 0 || strcmp(a, b) != 0)
                abort();
            cJSON_Delete(k);
        }
        free(a);
        free(b);
        cJSON_Delete(j);
        break;
    }
    case 1: {
        sai_kbs_trustee_attest_t r;
        if (sai_kbs__parse_trustee_attest(&r, text, len, &err) == 0) {
            uint8_t rd[SAI_KBS_REPORT_DATA_LEN];
            if (sai_kbs__trustee_report_data(rd, r.nonce, r.key.jwk, r.additional, &err) != 0)
                abort();
            sai_kbs__trustee_attest_free(&r);
        }
        break;
    }
    case 2: {
        sai_kbs_trustee_auth_t r;
        (void)sai_kbs__parse_trustee_auth(&r, text, len, &err);
        break;
    }
    case 3: {
        sai_kbs_tkey_t k;
        if (sai_kbs__tkey_parse(&k, text, len, &err) == 0) {
            sai_kbs_tkey_t back;
            if (sai_kbs__tkey_parse(&back, k.jwk, strlen(k.jwk), &err) != 0 || strcmp(back.jwk, k.jwk) != 0)
                abort();
            sai_kbs__tkey_free(&back);
            sai_kbs__tkey_free(&k);
        }
        break;
    }
    default:
        for (int i = 0; i < 3; i++) {
            sai_secret_t *s = NULL;
            if (sai_kbs__trustee_unwrap(&s, &g_keys[i], text, len, &err) == 0)
                sai_secret_free(s);
        }
    }
    return 0;
}
