/*
 * test_seal.c — the sealed-file format: round trips, random access, and
 * every tampering the format claims to catch (docs/format.md maps each
 * claim to the test here that proves it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secureai/seal.h"

static char g_dir[64];
static uint8_t g_key[32], g_key2[32];

/* deterministic bytes: a cheap xorshift keyed by a seed */
static void fill(uint8_t *p, size_t n, uint64_t seed, uint64_t pos)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = (pos + i) * 0x9E3779B97F4A7C15ull ^ seed;
        x ^= x >> 29;
        x *= 0xBF58476D1CE4E5B9ull;
        x ^= x >> 32;
        p[i] = (uint8_t)x;
    }
}

static char *path_of(const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* Seal n bytes (pattern seed) with chunk size cs; return the sealed bytes. */
static uint8_t *seal_buf(const char *name, const uint8_t *pt, size_t n, uint32_t cs,
                         const char *kid, const uint8_t *key, size_t *out_len)
{
    sai_error_t err;
    sai_seal_writer_t *w = NULL;
    sai_seal_params_t p = {.key_id = kid, .chunk_size = cs};
    assert_int_equal(sai_seal_writer_new(&w, path_of(name), key, &p, n, &err), 0);
    /* feed in odd pieces to exercise buffering */
    size_t off = 0, step = 1;
    while (off < n) {
        size_t t = n - off < step ? n - off : step;
        assert_int_equal(sai_seal_writer_write(w, pt + off, t, &err), 0);
        off += t;
        step = step * 3 + 1;
        if (step > 300000)
            step = 7;
    }
    assert_int_equal(sai_seal_writer_finish(w, NULL, &err), 0);
    sai_seal_writer_free(w);
    uint8_t *buf = NULL;
    assert_int_equal(sai_read_file(path_of(name), 1u << 30, &buf, out_len, &err), 0);
    return buf;
}

/* Open over memory and read everything; 0 when all of it authenticates. */
static int read_all_mem(const uint8_t *ct, size_t len, size_t pt_len, const uint8_t *key,
                        sai_error_t *err)
{
    sai_seal_reader_t *r = NULL;
    int rc = sai_seal_open_mem(&r, ct, len, "mem.sealed", key, NULL, err);
    if (rc != 0)
        return rc;
    uint8_t *out = malloc(pt_len + 1);
    rc = sai_seal_read_at(r, 0, out, pt_len, err);
    if (rc == 0)
        rc = sai_seal_verify(r, NULL, err);
    if (rc == 0 && sai_seal_size(r) != pt_len)
        rc = -100;
    free(out);
    sai_seal_close(r);
    return rc;
}

static void check_round_trip(size_t n, uint32_t cs)
{
    sai_error_t err;
    uint8_t *pt = calloc(1, n + 1);
    fill(pt, n, n * 31 + cs, 0);
    size_t clen;
    uint8_t *ct = seal_buf("rt.sealed", pt, n, cs, NULL, g_key, &clen);
    uint64_t chunks = n == 0 ? 1 : (n + cs - 1) / cs;
    assert_int_equal(clen, 56 + strlen(SAI_SEAL_DEFAULT_KEY_ID) + n + 16 * chunks);

    sai_seal_reader_t *r = NULL;
    assert_int_equal(sai_seal_open(&r, path_of("rt.sealed"), g_key, NULL, &err), 0);
    assert_int_equal(sai_seal_size(r), n);
    uint8_t *out = malloc(n + 1);
    assert_int_equal(sai_seal_read_at(r, 0, out, n, &err), 0);
    if (n)
        assert_memory_equal(out, pt, n);
    /* random ranges, crossing chunk boundaries, through file and memory */
    sai_seal_reader_t *m = NULL, *mp = NULL;
    sai_seal_open_opts_t mo = {.map = true};
    assert_int_equal(sai_seal_open_mem(&m, ct, clen, "mem", g_key, NULL, &err), 0);
    assert_int_equal(sai_seal_open(&mp, path_of("rt.sealed"), g_key, &mo, &err), 0);
    uint64_t s = n + 7;
    for (int k = 0; k < 200 && n > 0; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t off = (size_t)((s >> 20) % n);
        size_t len = (size_t)((s >> 40) % (n - off + 1));
        memset(out, 0, n);
        assert_int_equal(sai_seal_read_at(r, off, out, len, &err), 0);
        if (len)
            assert_memory_equal(out, pt + off, len);
        memset(out, 0, n);
        assert_int_equal(sai_seal_read_at(m, off, out, len, &err), 0);
        if (len)
            assert_memory_equal(out, pt + off, len);
        memset(out, 0, n);
        assert_int_equal(sai_seal_read_at(mp, off, out, len, &err), 0);
        if (len)
            assert_memory_equal(out, pt + off, len);
    }
    sai_seal_close(mp);
    /* past the end */
    assert_int_equal(sai_seal_read_at(r, n, out, 1, &err), SAI_EINVAL);
    assert_int_equal(sai_seal_read_at(r, n + 1, out, 0, &err), SAI_EINVAL);
    assert_int_equal(sai_seal_read_at(r, n, out, 0, &err), 0);
    assert_int_equal(sai_seal_verify(r, NULL, &err), 0);
    sai_seal_close(r);
    sai_seal_close(m);
    /* unseal to a file */
    assert_int_equal(sai_unseal_file(path_of("rt.sealed"), path_of("rt.out"), g_key, false,
                                     NULL, &err), 0);
    uint8_t *back = NULL;
    size_t blen = 0;
    assert_int_equal(sai_read_file(path_of("rt.out"), 1u << 30, &back, &blen, &err), 0);
    assert_int_equal(blen, n);
    if (n)
        assert_memory_equal(back, pt, n);
    struct stat st;
    assert_int_equal(stat(path_of("rt.out"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(back);
    free(out);
    free(ct);
    free(pt);
    unlink(path_of("rt.sealed"));
    unlink(path_of("rt.out"));
}

static void test_round_trip_sizes(void **state)
{
    (void)state;
    const size_t cs = SAI_SEAL_CHUNK_DEFAULT;
    const size_t sizes[] = {0, 1, cs - 1, cs, cs + 1, 5 * cs + 123, 8 * cs};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_round_trip(sizes[i], SAI_SEAL_CHUNK_DEFAULT);
}

static void test_round_trip_odd_chunks(void **state)
{
    (void)state;
    const uint32_t chunks[] = {16, 17, 31, 1000, 4097, 65537};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        uint32_t cs = chunks[c];
        const size_t sizes[] = {0, 1, cs - 1, cs, cs + 1, 3 * cs + 5};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            check_round_trip(sizes[i], cs);
    }
}

/* 100 MiB through the streaming writer and the reader, compared piecewise
 * (constant memory on both sides). */
static void test_round_trip_100mib(void **state)
{
    (void)state;
    sai_error_t err;
    const uint64_t n = 100ull << 20;
    const size_t bl = (1u << 20) + 333;   /* not a multiple of the chunk */
    uint8_t *a = malloc(bl), *b = malloc(bl);
    sai_seal_writer_t *w = NULL;
    assert_int_equal(sai_seal_writer_new(&w, path_of("big.sealed"), g_key, NULL, n, &err), 0);
    for (uint64_t off = 0; off < n;) {
        size_t t = n - off < bl ? (size_t)(n - off) : bl;
        fill(a, t, 42, off);
        assert_int_equal(sai_seal_writer_write(w, a, t, &err), 0);
        off += t;
    }
    assert_int_equal(sai_seal_writer_finish(w, NULL, &err), 0);
    sai_seal_writer_free(w);
    sai_seal_reader_t *r = NULL;
    assert_int_equal(sai_seal_open(&r, path_of("big.sealed"), g_key, NULL, &err), 0);
    assert_int_equal(sai_seal_size(r), n);
    for (uint64_t off = 0; off < n;) {
        size_t t = n - off < bl ? (size_t)(n - off) : bl;
        fill(a, t, 42, off);
        assert_int_equal(sai_seal_read_at(r, off, b, t, &err), 0);
        assert_memory_equal(a, b, t);
        off += t;
    }
    sai_seal_close(r);
    unlink(path_of("big.sealed"));
    free(a);
    free(b);
}

/* Every single-byte change at every offset (header, ciphertext, tags) of a
 * small multi-chunk file is rejected, for three different changes. */
static void test_every_byte_flip_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[100];
    fill(pt, sizeof pt, 7, 0);
    size_t clen;
    uint8_t *ct = seal_buf("flip.sealed", pt, sizeof pt, 32, "k1", g_key, &clen);
    assert_int_equal(read_all_mem(ct, clen, sizeof pt, g_key, &err), 0);
    const uint8_t deltas[] = {0x01, 0x80, 0xff};
    for (size_t off = 0; off < clen; off++) {
        for (size_t d = 0; d < sizeof deltas; d++) {
            ct[off] ^= deltas[d];
            int rc = read_all_mem(ct, clen, sizeof pt, g_key, &err);
            if (rc == 0)
                fail_msg("change 0x%02x at offset %zu was accepted", deltas[d], off);
            ct[off] ^= deltas[d];
        }
    }
    free(ct);
}

static void test_truncation_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[200];
    fill(pt, sizeof pt, 9, 0);
    size_t clen;
    uint8_t *ct = seal_buf("trunc.sealed", pt, sizeof pt, 64, NULL, g_key, &clen);
    /* every shorter length: each chunk boundary and every mid-chunk point */
    for (size_t l = 0; l < clen; l++) {
        int rc = read_all_mem(ct, l, sizeof pt, g_key, &err);
        assert_true(rc == SAI_EAUTH || rc == SAI_EFORMAT);
    }
    /* the message names the file and the chunk */
    size_t hl = 56 + strlen(SAI_SEAL_DEFAULT_KEY_ID);
    assert_int_equal(read_all_mem(ct, hl + 2 * (64 + 16), sizeof pt, g_key, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "mem.sealed"));
    assert_non_null(strstr(err.msg, "chunk 2 of 4"));
    /* on disk too */
    assert_int_equal(truncate(path_of("trunc.sealed"), (off_t)(clen - 10)), 0);
    sai_seal_reader_t *r = NULL;
    assert_int_equal(sai_seal_open(&r, path_of("trunc.sealed"), g_key, NULL, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "trunc.sealed"));
    assert_non_null(strstr(err.msg, "chunk 3 of 4"));
    free(ct);
}

/* A truncation that also rewrites the length in the header to match: the
 * sizes agree, but the header is AAD and the new last chunk lacks the flag. */
static void test_truncation_with_forged_length(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[200];
    fill(pt, sizeof pt, 10, 0);
    size_t clen;
    uint8_t *ct = seal_buf("forge.sealed", pt, sizeof pt, 64, NULL, g_key, &clen);
    size_t hl = 56 + strlen(SAI_SEAL_DEFAULT_KEY_ID);
    /* keep 2 full chunks, claim length 128 */
    memset(ct + 16, 0, 8);
    ct[16 + 7] = 128;
    assert_int_equal(read_all_mem(ct, hl + 2 * 80, 128, g_key, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "chunk 1 of 2"));
    free(ct);
}

static void test_appended_bytes_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[150];
    fill(pt, sizeof pt, 11, 0);
    size_t clen;
    uint8_t *ct = seal_buf("app.sealed", pt, sizeof pt, 64, NULL, g_key, &clen);
    const size_t extra[] = {1, 16, 80, 1000};
    for (size_t i = 0; i < 4; i++) {
        uint8_t *big = calloc(1, clen + extra[i]);
        memcpy(big, ct, clen);
        assert_int_equal(read_all_mem(big, clen + extra[i], sizeof pt, g_key, &err), SAI_EAUTH);
        assert_non_null(strstr(err.msg, "unexpected bytes after the last chunk"));
        /* appending a whole valid-looking chunk (a copy of chunk 0) */
        free(big);
    }
    free(ct);
}

static void test_chunks_swapped_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[64 * 4];
    fill(pt, sizeof pt, 12, 0);
    size_t clen;
    uint8_t *ct = seal_buf("swap.sealed", pt, sizeof pt, 64, NULL, g_key, &clen);
    size_t hl = 56 + strlen(SAI_SEAL_DEFAULT_KEY_ID), cl = 64 + 16;
    uint8_t tmp[80];
    /* swap chunks 0 and 1 (same length, neither last) */
    memcpy(tmp, ct + hl, cl);
    memcpy(ct + hl, ct + hl + cl, cl);
    memcpy(ct + hl + cl, tmp, cl);
    sai_seal_reader_t *r = NULL;
    assert_int_equal(sai_seal_open_mem(&r, ct, clen, "swap.sealed", g_key, NULL, &err), 0);
    uint8_t out[sizeof pt];
    memset(out, 0, sizeof out);
    assert_int_equal(sai_seal_read_at(r, 0, out, sizeof out, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "swap.sealed: chunk 0 of 4"));
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0);
    sai_seal_close(r);
    /* swap chunks 1 and 2: chunk 0 decrypts, chunk 1 fails, and read_at
     * wipes what chunk 0 had released: nothing comes back from a failed read */
    uint8_t *c2 = malloc(clen);
    memcpy(c2, ct, clen);
    memcpy(c2 + hl, ct + hl + cl, cl);
    memcpy(c2 + hl + cl, ct + hl, cl);   /* undo the first swap */
    memcpy(tmp, c2 + hl + cl, cl);
    memcpy(c2 + hl + cl, c2 + hl + 2 * cl, cl);
    memcpy(c2 + hl + 2 * cl, tmp, cl);
    assert_int_equal(sai_seal_open_mem(&r, c2, clen, "swap.sealed", g_key, NULL, &err), 0);
    memset(out, 0, sizeof out);
    assert_int_equal(sai_seal_read_at(r, 0, out, sizeof out, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "swap.sealed: chunk 1 of 4"));
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0);
    assert_int_equal(sai_seal_read_at(r, 0, out, 64, &err), 0);
    assert_memory_equal(out, pt, 64);
    sai_seal_close(r);
    free(c2);
    /* swap chunk 2 with the last chunk 3 */
    memcpy(tmp, ct + hl, cl);
    memcpy(ct + hl, ct + hl + cl, cl);
    memcpy(ct + hl + cl, tmp, cl);
    assert_int_equal(read_all_mem(ct, clen, sizeof pt, g_key, &err), 0);
    memcpy(tmp, ct + hl + 2 * cl, cl);
    memcpy(ct + hl + 2 * cl, ct + hl + 3 * cl, cl);
    memcpy(ct + hl + 3 * cl, tmp, cl);
    assert_int_equal(read_all_mem(ct, clen, sizeof pt, g_key, &err), SAI_EAUTH);
    free(ct);
}

/* The fd reader reads runs of whole chunks with one preadv per batch and
 * decrypts them in place: a chunk modified in the middle of a batch fails
 * the whole read_at naming that chunk, and the caller's buffer is wiped
 * (the chunks before it had been decrypted, those after it not checked). */
static void test_batched_read_tamper_wipes(void **state)
{
    (void)state;
    sai_error_t err;
    enum { CS = 4096, N = 100 };               /* two batches and a bit */
    size_t n = (size_t)CS * N - 123;           /* short last chunk */
    uint8_t *pt = malloc(n), *out = malloc(n);
    fill(pt, n, 77, 0);
    size_t clen;
    uint8_t *ct = seal_buf("batch.sealed", pt, n, CS, NULL, g_key, &clen);
    size_t hl = 56 + strlen(SAI_SEAL_DEFAULT_KEY_ID);
    sai_seal_reader_t *r = NULL;
    /* untouched: one read of everything, and one starting mid-chunk */
    assert_int_equal(sai_seal_open(&r, path_of("batch.sealed"), g_key, NULL, &err), 0);
    assert_int_equal(sai_seal_read_at(r, 0, out, n, &err), 0);
    assert_memory_equal(out, pt, n);
    assert_int_equal(sai_seal_read_at(r, 100, out, n - 100, &err), 0);
    assert_memory_equal(out, pt + 100, n - 100);
    sai_seal_close(r);
    for (int k = 0; k < 3; k++) {
        uint64_t bad = k == 0 ? 37 : k == 1 ? 70 : N - 1;   /* batch 0, batch 1, last */
        uint8_t *c2 = malloc(clen);
        memcpy(c2, ct, clen);
        c2[hl + bad * (CS + 16) + (k == 2 ? 5 : CS / 2)] ^= 0x40;
        FILE *f = fopen(path_of("batch2.sealed"), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(c2, 1, clen, f), clen);
        fclose(f);
        int orc = sai_seal_open(&r, path_of("batch2.sealed"), g_key, NULL, &err);
        if (k == 2) {                          /* open authenticates the last chunk */
            assert_int_equal(orc, SAI_EAUTH);
            free(c2);
            continue;
        }
        assert_int_equal(orc, 0);
        memset(out, 0, n);
        assert_int_equal(sai_seal_read_at(r, 0, out, n, &err), SAI_EAUTH);
        char want[64];
        snprintf(want, sizeof want, "chunk %llu of %d", (unsigned long long)bad, N);
        assert_non_null(strstr(err.msg, want));
        for (size_t i = 0; i < n; i++)
            assert_int_equal(out[i], 0);
        /* the chunks before it still read, a range after it too */
        assert_int_equal(sai_seal_read_at(r, 0, out, bad * CS, &err), 0);
        assert_memory_equal(out, pt, bad * CS);
        assert_int_equal(sai_seal_read_at(r, (bad + 1) * CS, out, n - (bad + 1) * CS, &err), 0);
        assert_memory_equal(out, pt + (bad + 1) * CS, n - (bad + 1) * CS);
        sai_seal_close(r);
        free(c2);
    }
    free(ct);
    free(pt);
    free(out);
}

/* A chunk copied from another file sealed with the same key, key id and
 * chunk size, at the same index: the per-file salt gives it another key. */
static void test_chunk_from_other_file_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[64 * 3];
    fill(pt, sizeof pt, 13, 0);
    size_t al, bl;
    uint8_t *a = seal_buf("a.sealed", pt, sizeof pt, 64, NULL, g_key, &al);
    uint8_t *b = seal_buf("b.sealed", pt, sizeof pt, 64, NULL, g_key, &bl);
    assert_int_equal(al, bl);
    size_t hl = 56 + strlen(SAI_SEAL_DEFAULT_KEY_ID), cl = 64 + 16;
    memcpy(a + hl + cl, b + hl + cl, cl);   /* chunk 1 of b into a */
    sai_seal_reader_t *r = NULL;
    assert_int_equal(sai_seal_open_mem(&r, a, al, "a.sealed", g_key, NULL, &err), 0);
    uint8_t out[64];
    assert_int_equal(sai_seal_read_at(r, 0, out, 64, &err), 0);
    assert_int_equal(sai_seal_read_at(r, 64, out, 64, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "chunk 1 of 3"));
    sai_seal_close(r);
    /* the same splice on disk, read through a mapped reader */
    assert_int_equal(sai_write_file_atomic(path_of("a.sealed"), a, al, 0644, false, &err), 0);
    sai_seal_open_opts_t mo = {.map = true};
    assert_int_equal(sai_seal_open(&r, path_of("a.sealed"), g_key, &mo, &err), 0);
    assert_int_equal(sai_seal_read_at(r, 0, out, 64, &err), 0);
    assert_int_equal(sai_seal_read_at(r, 64, out, 64, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "a.sealed: chunk 1 of 3"));
    sai_seal_close(r);
    /* b's header on a's body: every chunk fails */
    memcpy(a, b, hl);
    assert_int_equal(read_all_mem(a, al, sizeof pt, g_key, &err), SAI_EAUTH);
    free(a);
    free(b);
}

static void test_wrong_key_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[100];
    fill(pt, sizeof pt, 14, 0);
    size_t clen;
    uint8_t *ct = seal_buf("wk.sealed", pt, sizeof pt, 64, NULL, g_key, &clen);
    sai_seal_reader_t *r = NULL;
    assert_int_equal(sai_seal_open(&r, path_of("wk.sealed"), g_key2, NULL, &err), SAI_EAUTH);
    assert_null(r);
    assert_non_null(strstr(err.msg, "wk.sealed: chunk 1 of 2"));
    free(ct);
}

static void test_wrong_key_id_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[100];
    fill(pt, sizeof pt, 15, 0);
    size_t clen;
    uint8_t *ct = seal_buf("kid.sealed", pt, sizeof pt, 64, "tenant-a", g_key, &clen);
    /* the reader was told which key id to expect */
    sai_seal_reader_t *r = NULL;
    sai_seal_open_opts_t o = {.expect_key_id = "tenant-b"};
    assert_int_equal(sai_seal_open_mem(&r, ct, clen, "kid.sealed", g_key, &o, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "key id 'tenant-a'"));
    o.expect_key_id = "tenant-a";
    assert_int_equal(sai_seal_open_mem(&r, ct, clen, "kid.sealed", g_key, &o, &err), 0);
    sai_seal_close(r);
    /* the key id rewritten in the header (same length): another file key */
    memcpy(ct + 56, "tenant-b", 8);
    assert_int_equal(read_all_mem(ct, clen, sizeof pt, g_key, &err), SAI_EAUTH);
    free(ct);
}

static void test_header_parser(void **state)
{
    (void)state;
    sai_error_t err;
    uint8_t pt[10] = {0};
    size_t clen;
    uint8_t *ct = seal_buf("hdr.sealed", pt, sizeof pt, 16, "id", g_key, &clen);
    sai_seal_header_t h;
    assert_int_equal(sai_seal_header_parse(&h, ct, clen, &err), 0);
    assert_int_equal(h.chunk_size, 16);
    assert_int_equal(h.length, 10);
    assert_string_equal(h.key_id, "id");
    assert_int_equal(h.header_len, 58);
    assert_int_equal(h.sealed_len, clen);
    for (size_t l = 0; l < h.header_len; l++)
        assert_int_not_equal(sai_seal_header_parse(&h, ct, l, &err), 0);
    ct[0] ^= 1;
    assert_int_equal(sai_seal_header_parse(&h, ct, clen, &err), SAI_EFORMAT);
    ct[0] ^= 1;
    ct[9] = 2;   /* version */
    assert_int_equal(sai_seal_header_parse(&h, ct, clen, &err), SAI_EFORMAT);
    ct[9] = 1;
    ct[11] = 1;  /* reserved */
    assert_int_equal(sai_seal_header_parse(&h, ct, clen, &err), SAI_EFORMAT);
    ct[11] = 0;
    ct[15] = 8;  /* chunk size 8 < minimum */
    assert_int_equal(sai_seal_header_parse(&h, ct, clen, &err), SAI_EFORMAT);
    ct[15] = 16;
    ct[56] = ' '; /* key id alphabet */
    assert_int_equal(sai_seal_header_parse(&h, ct, clen, &err), SAI_EFORMAT);
    free(ct);
    assert_false(sai_seal_key_id_valid(""));
    assert_false(sai_seal_key_id_valid("a b"));
    assert_true(sai_seal_key_id_valid("kbs:repo/key/tag-1.0"));
}

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The writer never leaves a partial file: short input, long input and an
 * abandoned writer all leave the directory as it was. */
static void test_writer_failures_leave_nothing(void **state)
{
    (void)state;
    sai_error_t err;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/w", g_dir);
    mkdir(sub, 0700);
    char out[160];
    snprintf(out, sizeof out, "%s/x.sealed", sub);
    uint8_t buf[100] = {0};
    sai_seal_writer_t *w = NULL;
    assert_int_equal(sai_seal_writer_new(&w, out, g_key, NULL, 100, &err), 0);
    assert_int_equal(sai_seal_writer_write(w, buf, 99, &err), 0);
    assert_int_equal(sai_seal_writer_finish(w, NULL, &err), SAI_EINVAL);
    sai_seal_writer_free(w);
    assert_int_equal(count_entries(sub), 0);
    assert_int_equal(sai_seal_writer_new(&w, out, g_key, NULL, 10, &err), 0);
    assert_int_equal(sai_seal_writer_write(w, buf, 11, &err), SAI_EINVAL);
    sai_seal_writer_free(w);
    assert_int_equal(count_entries(sub), 0);
    sai_seal_params_t p = {.chunk_size = 8};
    assert_int_equal(sai_seal_writer_new(&w, out, g_key, &p, 10, &err), SAI_EINVAL);
    p = (sai_seal_params_t){.key_id = "bad id"};
    assert_int_equal(sai_seal_writer_new(&w, out, g_key, &p, 10, &err), SAI_EINVAL);
    /* excl refuses to overwrite */
    assert_int_equal(sai_write_file_atomic(out, "x", 1, 0644, false, &err), 0);
    p = (sai_seal_params_t){.excl = true};
    assert_int_equal(sai_seal_writer_new(&w, out, g_key, &p, 10, &err), SAI_EEXIST);
    /* a failed unseal leaves no output */
    char in[160], res[160];
    snprintf(in, sizeof in, "%s/y.sealed", sub);
    snprintf(res, sizeof res, "%s/y.out", sub);
    assert_int_equal(sai_seal_writer_new(&w, in, g_key, NULL, 100000, &err), 0);
    uint8_t big[100000] = {0};
    assert_int_equal(sai_seal_writer_write(w, big, sizeof big, &err), 0);
    assert_int_equal(sai_seal_writer_finish(w, NULL, &err), 0);
    sai_seal_writer_free(w);
    int fd = open(in, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 200), 1);
    b ^= 1;
    assert_int_equal(pwrite(fd, &b, 1, 200), 1);
    close(fd);
    assert_int_equal(sai_unseal_file(in, res, g_key, true, NULL, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "chunk 0 of 2"));
    assert_int_equal(count_entries(sub), 2);   /* x.sealed, y.sealed */
    unlink(in);
    unlink(out);
}

/* Fault injection: the file-size limit makes a write fail part-way (EFBIG)
 * in the sealer, the unsealer and the dataset sealer; each must fail and
 * leave nothing behind: no output, no temp file. */
static void test_io_failure_leaves_nothing(void **state)
{
    (void)state;
    sai_error_t err;
    char sub[128], in[160], out[160], cmd[300];
    snprintf(sub, sizeof sub, "%s/io", g_dir);
    mkdir(sub, 0700);
    snprintf(in, sizeof in, "%s/in.bin", sub);
    uint8_t *big = malloc(1u << 20);
    fill(big, 1u << 20, 99, 0);
    assert_int_equal(sai_write_file_atomic(in, big, 1u << 20, 0644, false, &err), 0);
    snprintf(out, sizeof out, "%s/in.sealed", sub);
    assert_int_equal(sai_seal_file(in, out, g_key, NULL, NULL, NULL, &err), 0);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 300000;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char o2[160], o3[160], o4[160];
    snprintf(o2, sizeof o2, "%s/again.sealed", sub);
    snprintf(o3, sizeof o3, "%s/plain.out", sub);
    snprintf(o4, sizeof o4, "%s/ds", sub);
    int rc1 = sai_seal_file(in, o2, g_key, NULL, NULL, NULL, &err);
    char m1[SAI_ERROR_MAX];
    memcpy(m1, err.msg, sizeof m1);
    int rc2 = sai_unseal_file(out, o3, g_key, true, NULL, &err);
    /* a dataset of the input directory: the 1 MiB shard cannot be written */
    char dsin[160];
    snprintf(dsin, sizeof dsin, "%s/dsin", g_dir);
    mkdir(dsin, 0700);
    char dsf[200];
    snprintf(dsf, sizeof dsf, "%s/f.bin", dsin);
    int rc0 = sai_write_file_atomic(dsf, big, 200000, 0644, false, &err);
    FILE *f = fopen(dsf, "ab");
    size_t wr = f ? fwrite(big, 1, 100000, f) : 0;   /* 300000 bytes: at the limit */
    if (f) fclose(f);
    int rc3 = sai_dataset_seal_dir(dsin, o4, g_key, NULL, NULL, NULL, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(rc0, 0);
    assert_int_equal(wr, 100000);
    assert_int_equal(rc1, SAI_EIO);
    assert_non_null(strstr(m1, "again.sealed"));
    assert_int_equal(rc2, SAI_EIO);
    assert_int_equal(rc3, SAI_EIO);
    /* only the two inputs remain */
    assert_int_equal(count_entries(sub), 2);
    assert_int_not_equal(access(o4, F_OK), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", sub, dsin);
    assert_int_equal(system(cmd), 0);
    free(big);
}

static void test_key_files(void **state)
{
    (void)state;
    sai_error_t err;
    sai_secret_t *k = NULL;
    assert_int_equal(sai_seal_keygen(path_of("key"), &err), 0);
    struct stat st;
    assert_int_equal(stat(path_of("key"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(sai_seal_keygen(path_of("key"), &err), SAI_EEXIST);
    assert_int_equal(sai_seal_key_load(&k, path_of("key"), &err), 0);
    assert_int_equal(k->len, 32);
    sai_secret_free(k);
    chmod(path_of("key"), 0644);
    assert_int_equal(sai_seal_key_load(&k, path_of("key"), &err), SAI_EPOLICY);
    assert_int_equal(sai_write_file_atomic(path_of("key31"), g_key, 31, 0600, false, &err), 0);
    assert_int_equal(sai_seal_key_load(&k, path_of("key31"), &err), SAI_EFORMAT);
    assert_null(k);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/sai-seal-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    fill(g_key, 32, 1, 0);
    fill(g_key2, 32, 2, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_sizes),
        cmocka_unit_test(test_round_trip_odd_chunks),
        cmocka_unit_test(test_round_trip_100mib),
        cmocka_unit_test(test_every_byte_flip_rejected),
        cmocka_unit_test(test_truncation_rejected),
        cmocka_unit_test(test_truncation_with_forged_length),
        cmocka_unit_test(test_appended_bytes_rejected),
        cmocka_unit_test(test_chunks_swapped_rejected),
        cmocka_unit_test(test_chunk_from_other_file_rejected),
        cmocka_unit_test(test_wrong_key_rejected),
        cmocka_unit_test(test_wrong_key_id_rejected),
        cmocka_unit_test(test_header_parser),
        cmocka_unit_test(test_writer_failures_leave_nothing),
        cmocka_unit_test(test_io_failure_leaves_nothing),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_batched_read_tamper_wipes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
