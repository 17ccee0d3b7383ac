/*
 * fuzz_seal_reader.c — libFuzzer target for the sealed-file reader over
 * arbitrary bytes with a fixed key (0x42 x 32; the seeds in
 * fuzz/corpus/fuzz_seal_reader/ are small files sealed under it, so the
 * fuzzer starts from inputs that get past the tags). The reader must never
 * crash, and must never return data unless the bytes authenticate; when
 * open succeeds, reads of ranges picked from the input are exercised.
 * Each input goes through both readers: over memory, and over a file
 * descriptor (a memfd), which takes the batched preadv path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "secureai/seal.h"

static const uint8_t key[SAI_SEAL_KEY_LEN] = {
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};

static void exercise(sai_seal_reader_t *r, size_t size)
{
    uint64_t n = sai_seal_size(r);
    if (n > size)
        abort();   /* plaintext cannot be longer than the file */
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL)
        abort();
    uint64_t x = size;
    for (int k = 0; k < 8; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t off = n ? (x >> 11) % (n + 1) : 0;
        uint64_t len = (n - off) ? (x >> 37) % (n - off + 1) : 0;
        (void)sai_seal_read_at(r, off, buf, (size_t)len, NULL);
    }
    (void)sai_seal_read_at(r, 0, buf, (size_t)n, NULL);
    (void)sai_seal_read_at(r, n, buf, 1, NULL);   /* past the end: refused */
    (void)sai_seal_verify(r, NULL, NULL);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_seal_reader_t *r = NULL;
    if (sai_seal_open_mem(&r, data, size, "fuzz", key, NULL, NULL) == 0) {
        exercise(r, size);
        sai_seal_close(r);
    }
    int fd = memfd_create("fuzz-sealed", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        abort();
    if (sai_seal_open_fd(&r, fd, "fuzz", key, NULL, NULL) == 0) {
        exercise(r, size);
        sai_seal_close(r);
    }
    close(fd);
    return 0;
}
