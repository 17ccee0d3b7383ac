/*
 * fuzz_nn_parsers.c — libFuzzer target for the engine's parsers of
 * untrusted input: the first byte picks CIFAR-10 batch, IDX (plain or gzip)
 * checkpoint, or a checkpoint whose length field and SHA-256 trailer the
 * harness fixes up (so mutations reach the header and tensor-walk checks
 * behind the checksum); the rest is the file. Checkpoints are loaded into a
 * small model (resnet8 on 1x8x8).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/crypto.h"
#include "secureai/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t kind = data[0] % 4;
    data++;
    size--;
    sai_error_t err;
    if (kind == 0) {
        sai_nn_source_t src;
        sai_nn_source_mem(&src, data, size);
        sai_nn_dataset_t ds;
        sai_nn_dataset_init(&ds);
        (void)sai_nn_dataset_add_cifar10(&ds, &src, &err);
        sai_nn_dataset_free(&ds);
    } else if (kind == 1) {
        uint8_t *out = NULL;
        size_t len;
        int nd;
        uint32_t dims[4];
        if (sai_nn_idx_parse(data, size, &out, &len, &nd, dims, &err) == 0)
            free(out);
    } else {
        static sai_nn_model_t *m;
        uint8_t *fixed = NULL;
        if (kind == 3 && size >= 24 && size < (64u << 20)) {
            fixed = malloc(size + 32);
            if (fixed == NULL)
                return 0;
            memcpy(fixed, data, size);
            uint64_t total = size + 32;
            memcpy(fixed + 16, &total, 8);
            if (sai_hash(SAI_SHA256, fixed + size, fixed, size, &err) != 0)
                abort();
            data = fixed;
            size += 32;
        }
        if (m == NULL && sai_nn_model_create(&m, "resnet8", 1, 8, 8, 10, 1, 1, &err) != 0)
            abort();
        sai_nn_ckpt_meta_t meta;
        (void)sai_nn_ckpt_read_meta(data, size, &meta, &err);
        (void)sai_nn_ckpt_load_mem(m, data, size, &meta, &err);
        free(fixed);
    }
    return 0;
}
