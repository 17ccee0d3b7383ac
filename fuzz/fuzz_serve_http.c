/* fuzz_serve_http.c — what the model server and its client parse from the
 * other side: the HTTP/1.1 request head (server.c, bytes from anyone who
 * finished a TLS handshake) and the RA-TLS certificate (client.c, from any
 * server a client dials). The first byte picks the parser. Nothing may
 * crash, leak or read out of bounds; a head must never be reported
 * complete beyond the bytes given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_internal.h"

static sai_attest_policy_t *g_ap;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    sai_error_t err;
    if (data[0] & 1) {
        sai_serve_policy_t p;
        memset(&p, 0, sizeof p);
        p.allow_simulated = true;
        if (g_ap == NULL && sai_serve__attest_policy(&p, &g_ap, NULL) != 0)
            return 0;
        sai_serve_verified_t v;
        (void)sai_serve__ratls_check(data + 1, size - 1, &p, g_ap, 0, &v, &err);
        return 0;
    }
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *b = malloc(size - 1 ? size - 1 : 1);
    if (b == NULL)
        return 0;
    memcpy(b, data + 1, size - 1);
    sai_http_req_t r;
    bool complete = false;
    int status = 0;
    int rc = sai_http_parse_head(&r, b, size - 1, &complete, &status, &err);
    if (rc == 0 && complete && (r.head_len > size - 1 || r.head_len < 4))
        abort();
    if (rc != 0 && (status < 400 || status > 505))
        abort();
    free(b);
    return 0;
}
