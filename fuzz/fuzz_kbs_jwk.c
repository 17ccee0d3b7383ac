/* fuzz_kbs_jwk.c — the JWK parser (the TEE's public key in /attest, the
 * ephemeral key in a wrapped secret). A key that parses must format and
 * parse back to the same point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_ec_key_t *k = NULL, *back = NULL;
    sai_error_t err;
    if (sai_kbs_jwk_parse(&k, (const char *)data, size, &err) != 0)
        return 0;
    char *json = NULL;
    uint8_t a[SAI_P384_POINT_LEN], b[SAI_P384_POINT_LEN];
    if (sai_kbs_jwk_format(k, &json, &err) != 0 ||
        sai_kbs_jwk_parse(&back, json, strlen(json), &err) != 0 ||
        sai_ec_public_raw(k, a, &err) != 0 || sai_ec_public_raw(back, b, &err) != 0 ||
        memcmp(a, b, sizeof a) != 0)
        abort();
    free(json);
    sai_ec_free(k);
    sai_ec_free(back);
    return 0;
}
