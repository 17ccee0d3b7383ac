/*
 * fuzz_dcap_seeds.h — shared by the DCAP fuzz targets: real vectors from
 * $SAI_TEST_DATA_DIR/vectors (when the variable is set; scripts/fuzz.sh sets
 * it to tests/data) are loaded once and
 * used as the base of a structure-aware mode: input byte 0 odd = "take seed
 * data[1] % n and XOR the (u16 offset, u8 value) triples that follow into
 * it", which reaches the signature, chain and TCB code that random bytes
 * never would. Byte 0 even = the rest of the input, raw.
 */
#ifndef FUZZ_DCAP_SEEDS_H
#define FUZZ_DCAP_SEEDS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"

#define FUZZ_MAX_SEEDS 16

typedef struct {
    uint8_t *data[FUZZ_MAX_SEEDS];
    size_t len[FUZZ_MAX_SEEDS];
    size_t n;
} fuzz_seeds;

static void fuzz_seeds_load(fuzz_seeds *s, const char *const *rel)
{
    const char *dir = getenv("SAI_TEST_DATA_DIR");
    if (dir == NULL)
        return;
    for (size_t i = 0; rel[i] != NULL && s->n < FUZZ_MAX_SEEDS; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/vectors/%s", dir, rel[i]);
        uint8_t *buf;
        size_t len;
        if (sai_read_file(path, 1 << 20, &buf, &len, NULL) == 0) {
            s->data[s->n] = buf;
            s->len[s->n++] = len;
        }
    }
}

/* Returns a malloc'ed buffer to feed the target (caller frees), or NULL. */
static uint8_t *fuzz_input(const fuzz_seeds *s, const uint8_t *data, size_t size, size_t *out_len)
{
    if (size < 1)
        return NULL;
    if ((data[0] & 1) == 0 || s->n == 0 || size < 2) {
        uint8_t *b = malloc(size);   /* exact size, so ASan sees overreads */
        if (b == NULL)
            return NULL;
        memcpy(b, data + 1, size - 1);
        *out_len = size - 1;
        return b;
    }
    size_t k = data[1] % s->n;
    uint8_t *b = malloc(s->len[k]);
    if (b == NULL)
        return NULL;
    memcpy(b, s->data[k], s->len[k]);
    for (size_t i = 2; i + 3 <= size; i += 3) {
        size_t off = (size_t)(data[i] | data[i + 1] << 8) % s->len[k];
        b[off] ^= data[i + 2];
    }
    *out_len = s->len[k];
    return b;
}

#endif
