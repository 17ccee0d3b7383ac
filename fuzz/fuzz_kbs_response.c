/* fuzz_kbs_response.c — the KBS client's response-head parser
 * (src/kbs/http_response.c) on arbitrary bytes: what the client reads from
 * the KBS over a stream someone else connected. Nothing may crash, leak or
 * read out of bounds, and what it reports must hold together: a complete
 * head lies within the bytes given, has a status a final answer can have,
 * a way to find the body's end and a cookie the client may send back, and
 * the head alone (without what follows it) parses to the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"

static bool same(const sai_kbs_resp_head_t *a, const sai_kbs_resp_head_t *b)
{
    return a->status == b->status && a->has_length == b->has_length && a->content_length == b->content_length &&
           a->close == b->close && a->retry_after == b->retry_after && strcmp(a->cookie, b->cookie) == 0 &&
           a->head_len == b->head_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *b = malloc(size ? size : 1);
    if (b == NULL)
        return 0;
    memcpy(b, data, size);
    sai_kbs_resp_head_t h, again;
    sai_error_t err = {0};
    bool complete = true;
    int rc = sai_kbs__parse_response_head(&h, b, size, &complete, &err);
    if (rc != 0) {
        if (complete || err.msg[0] == '\0' || (rc != SAI_EFORMAT && rc != SAI_ELIMIT && rc != SAI_EUNSUPP))
            abort();
    } else if (!complete) {
        if (size >= SAI_KBS_RESP_HEAD_MAX)
            abort();
    } else {
        size_t cl = strnlen(h.cookie, sizeof h.cookie);
        if (h.head_len > size || h.head_len < 16 || h.head_len > SAI_KBS_RESP_HEAD_MAX ||
            h.status < 200 || h.status > 599 || (!h.has_length && !h.close) ||
            (h.has_length && h.content_length >= 1000000000000000ull) ||
            (h.retry_after < 0 && h.retry_after != -1) || cl >= sizeof h.cookie ||
            strcspn(h.cookie, " \t\";,\\") != cl || memcmp(b + h.head_len - 4, "\r\n\r\n", 4) != 0)
            abort();
        bool c2 = false;
        if (sai_kbs__parse_response_head(&again, b, h.head_len, &c2, &err) != 0 || !c2 || !same(&h, &again))
            abort();
        /* one byte short is never complete */
        if (sai_kbs__parse_response_head(&again, b, h.head_len - 1, &c2, &err) != 0 || c2)
            abort();
    }
    free(b);
    return 0;
}
