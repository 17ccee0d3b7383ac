/*
 * fuzz_seal_header.c — libFuzzer target for the two parsers of untrusted
 * sealed-data metadata: the sealed-file header (sai_seal_header_parse) and
 * the dataset manifest (sai_manifest_parse, reached without a key by
 * `secureai inspect`). Properties checked beyond "no crash": a parsed header
 * is self-consistent, and a parsed manifest re-encodes to the exact input
 * bytes (canonical form, so one dataset has one identity).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_seal_header_t h;
    if (sai_seal_header_parse(&h, data, size, NULL) == 0) {
        if (h.header_len > size || h.chunk_size < SAI_SEAL_CHUNK_MIN || h.chunks == 0 ||
            h.sealed_len != h.header_len + h.length + h.chunks * SAI_AEAD_TAG_LEN ||
            !sai_seal_key_id_valid(h.key_id))
            abort();
    }
    sai_manifest_t m;
    if (sai_manifest_parse(&m, data, size, NULL) == 0) {
        char *again = NULL;
        size_t len = 0;
        if (sai_manifest_encode(&m, &again, &len, NULL) != 0 || len != size ||
            memcmp(again, data, size) != 0)
            abort();
        free(again);
        sai_manifest_clear(&m);
    }
    return 0;
}
