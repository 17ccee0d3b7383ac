/* fuzz_kbs_request.c — the KBS's request parsers on arbitrary bytes: the
 * /auth, /attest and admin put bodies, release policies, resource names,
 * attestation-result tokens and wrapped secrets. The first byte picks the
 * parser. Nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"

static sai_ec_key_t *g_key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (g_key == NULL && sai_ec_generate(&g_key, NULL) != 0)
        return 0;
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    size_t n = size - 1;
    sai_error_t err;
    switch (data[0] % 7) {
    case 0: {
        sai_kbs_auth_req_t r;
        (void)sai_kbs__parse_auth(&r, s, n, &err);
        break;
    }
    case 1: {
        sai_kbs_attest_req_t r;
        if (sai_kbs__parse_attest(&r, s, n, &err) == 0)
            sai_kbs__attest_req_free(&r);
        break;
    }
    case 2: {
        sai_kbs_put_req_t r;
        if (sai_kbs__parse_put(&r, s, n, &err) == 0)
            sai_kbs__put_req_free(&r);
        break;
    }
    case 3: {
        sai_kbs_claims_t c;
        memset(&c, 0, sizeof c);
        if (sai_kbs_policy_validate(s, n, &err) == 0)
            (void)sai_kbs_policy_check(s, &c, &err);
        break;
    }
    case 4:
        (void)sai_kbs__resource_name_ok(s);
        break;
    case 5: {
        sai_kbs_claims_t c;
        sai_ec_key_t *k = NULL;
        if (sai_kbs__token_verify(g_key, s, n, 1800000000, &c, &k, &err) == 0)
            sai_ec_free(k);
        break;
    }
    case 6: {
        sai_secret_t *out = NULL;
        if (sai_kbs_unwrap(&out, g_key, s, n, &err) == 0)
            sai_secret_free(out);
        break;
    }
    }
    free(s);
    return 0;
}
