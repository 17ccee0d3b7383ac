/*
 * test_dist_frame.c — the dist frame format and key schedule
 * (docs/distributed.md, "Frames" and "Key schedule"): a frame opens only
 * once, in order, on the link and in the job and step it was sealed for;
 * each refusal names the peer and the step; a header edited to look
 * right still fails, because the nonce comes from the receiver's counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "secureai/dist.h"

static const uint8_t job_a[SAI_DIST_JOB_ID_LEN] = "job-aaaaaaaaaaa";
static const uint8_t job_b[SAI_DIST_JOB_ID_LEN] = "job-bbbbbbbbbbb";
static const uint8_t key1[32] = {1, 2, 3};
static const uint8_t key2[32] = {9, 9, 9};

#define PAY 1000
#define FLEN (PAY + SAI_DIST_FRAME_OVERHEAD)

typedef struct {
    sai_dist_link_t *tx, *rx;
    uint8_t frames[4][FLEN];
    uint8_t pay[4][PAY];
} fixture;

/* Seal 4 frames of step 5 from worker 1 to worker 2. */
static void setup_frames(fixture *f, const uint8_t *rx_job, const uint8_t *rx_key)
{
    sai_error_t err = {0};
    assert_int_equal(sai_dist_link_new(&f->tx, key1, job_a, 1, 2, false, &err), 0);
    assert_int_equal(sai_dist_link_new(&f->rx, rx_key, rx_job, 1, 2, false, &err), 0);
    assert_int_equal(sai_dist_link_begin_step(f->tx, 5, &err), 0);
    assert_int_equal(sai_dist_link_begin_step(f->rx, 5, &err), 0);
    for (int i = 0; i < 4; i++) {
        memset(f->pay[i], 'a' + i, PAY);
        assert_int_equal(sai_dist_frame_seal(f->tx, f->frames[i], f->pay[i], PAY, &err), 0);
        /* ciphertext, not the payload, is on the wire */
        assert_memory_not_equal(f->frames[i] + SAI_DIST_FRAME_HDR_LEN, f->pay[i], PAY);
    }
}

static void teardown_frames(fixture *f)
{
    sai_dist_link_free(f->tx);
    sai_dist_link_free(f->rx);
}

/* The refusal names worker 1 and step 5; the link is dead afterwards. */
static void assert_refused(fixture *f, const uint8_t *frame, int code, const char *why)
{
    sai_error_t err = {0};
    uint8_t out[PAY];
    memset(out, 0x5a, sizeof out);
    assert_int_equal(sai_dist_frame_open(f->rx, out, frame, FLEN, &err), code);
    assert_non_null(strstr(err.msg, "worker 1"));
    assert_non_null(strstr(err.msg, "step 5"));
    if (why != NULL && strstr(err.msg, why) == NULL)
        fail_msg("refusal \"%s\" does not say \"%s\"", err.msg, why);
    /* nothing unauthenticated is left in the output */
    uint8_t zero[PAY] = {0};
    if (memcmp(out, zero, PAY) != 0 && code == SAI_EAUTH)
        fail_msg("plaintext buffer not wiped after a tag failure");
    assert_int_equal(sai_dist_frame_open(f->rx, out, f->frames[0], FLEN, &err), SAI_ESTATE);
}

static void test_roundtrip_in_order(void **state)
{
    (void)state;
    fixture f;
    setup_frames(&f, job_a, key1);
    sai_error_t err = {0};
    uint8_t out[PAY];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sai_dist_frame_open(f.rx, out, f.frames[i], FLEN, &err), 0);
        assert_memory_equal(out, f.pay[i], PAY);
    }
    /* the next step starts again at chunk 0; an older step is refused */
    assert_int_equal(sai_dist_link_begin_step(f.tx, 6, &err), 0);
    assert_int_equal(sai_dist_link_begin_step(f.rx, 6, &err), 0);
    assert_int_equal(sai_dist_link_begin_step(f.rx, 6, &err), SAI_ESTATE);
    assert_int_equal(sai_dist_link_begin_step(f.rx, 2, &err), SAI_ESTATE);
    assert_int_equal(sai_dist_frame_seal(f.tx, f.frames[0], f.pay[0], PAY, &err), 0);
    assert_int_equal(sai_dist_frame_open(f.rx, out, f.frames[0], FLEN, &err), 0);
    assert_memory_equal(out, f.pay[0], PAY);
    teardown_frames(&f);
}

static void test_tampered(void **state)
{
    (void)state;
    static const size_t offsets[] = {SAI_DIST_FRAME_HDR_LEN + 10, FLEN - 1};
    for (size_t k = 0; k < 2; k++) {
        fixture f;
        setup_frames(&f, job_a, key1);
        f.frames[0][offsets[k]] ^= 0x01;   /* ciphertext, then tag */
        assert_refused(&f, f.frames[0], SAI_EAUTH, "tag does not verify");
        teardown_frames(&f);
    }
}

static void test_replayed(void **state)
{
    (void)state;
    fixture f;
    setup_frames(&f, job_a, key1);
    sai_error_t err = {0};
    uint8_t out[PAY];
    assert_int_equal(sai_dist_frame_open(f.rx, out, f.frames[0], FLEN, &err), 0);
    assert_int_equal(sai_dist_frame_open(f.rx, out, f.frames[1], FLEN, &err), 0);
    assert_refused(&f, f.frames[1], SAI_EPOLICY, "replayed");
    teardown_frames(&f);

    /* a frame of an earlier step, replayed into a later one */
    setup_frames(&f, job_a, key1);
    assert_int_equal(sai_dist_link_begin_step(f.rx, 6, &err), 0);
    err.msg[0] = '\0';
    assert_int_equal(sai_dist_frame_open(f.rx, out, f.frames[0], FLEN, &err), SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "worker 1"));
    assert_non_null(strstr(err.msg, "step 6"));
    assert_non_null(strstr(err.msg, "step 5 (replayed)"));
    teardown_frames(&f);
}

static void test_reordered_and_dropped(void **state)
{
    (void)state;
    fixture f;
    setup_frames(&f, job_a, key1);
    assert_refused(&f, f.frames[1], SAI_EPOLICY, "reordered, or a frame was dropped");
    teardown_frames(&f);
    setup_frames(&f, job_a, key1);
    sai_error_t err = {0};
    uint8_t out[PAY];
    assert_int_equal(sai_dist_frame_open(f.rx, out, f.frames[0], FLEN, &err), 0);
    assert_refused(&f, f.frames[2], SAI_EPOLICY, "chunk 2");   /* frame 1 dropped */
    teardown_frames(&f);
}

/* A header rewritten to the expected counters still fails: the nonce is the
 * receiver's (step, chunk), not the wire's, and the header is the AAD. */
static void test_header_rewrite_fails_the_tag(void **state)
{
    (void)state;
    fixture f;
    setup_frames(&f, job_a, key1);
    f.frames[1][40 + 3] = 0;   /* chunk 1 -> 0 */
    assert_refused(&f, f.frames[1], SAI_EAUTH, "tag does not verify");
    teardown_frames(&f);
}

static void test_cross_job_and_misrouted(void **state)
{
    (void)state;
    fixture f;
    /* a receiver of job B refuses job A's frame by its header ... */
    setup_frames(&f, job_b, key1);
    assert_refused(&f, f.frames[0], SAI_EPOLICY, "another job");
    teardown_frames(&f);
    /* ... and, header edited to say job B, by its tag (other job, other key) */
    setup_frames(&f, job_b, key2);
    memcpy(f.frames[0] + 8, job_b, SAI_DIST_JOB_ID_LEN);
    assert_refused(&f, f.frames[0], SAI_EAUTH, "tag does not verify");
    teardown_frames(&f);
    /* a frame for another receiver */
    sai_error_t err = {0};
    sai_dist_link_t *tx, *rx;
    uint8_t fr[FLEN], out[PAY], pay[PAY] = {0};
    assert_int_equal(sai_dist_link_new(&tx, key1, job_a, 1, 3, false, &err), 0);
    assert_int_equal(sai_dist_link_new(&rx, key1, job_a, 1, 2, false, &err), 0);
    assert_int_equal(sai_dist_link_begin_step(tx, 5, &err), 0);
    assert_int_equal(sai_dist_link_begin_step(rx, 5, &err), 0);
    assert_int_equal(sai_dist_frame_seal(tx, fr, pay, PAY, &err), 0);
    assert_int_equal(sai_dist_frame_open(rx, out, fr, FLEN, &err), SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "from worker 1 to worker 3"));
    sai_dist_link_free(tx);
    sai_dist_link_free(rx);
}

static void test_limits(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_dist_link_t *l;
    uint8_t fr[SAI_DIST_FRAME_OVERHEAD], out[1];
    assert_int_equal(sai_dist_link_new(&l, key1, job_a, 0, 1, false, &err), 0);
    /* no step begun */
    assert_int_equal(sai_dist_frame_seal(l, fr, NULL, 0, &err), SAI_ESTATE);
    assert_int_equal(sai_dist_link_begin_step(l, 0, &err), 0);
    assert_int_equal(sai_dist_frame_seal(l, fr, out, SAI_DIST_MAX_PAYLOAD + 1, &err), SAI_ELIMIT);
    assert_int_equal(sai_dist_frame_open(l, out, fr, SAI_DIST_FRAME_OVERHEAD - 1, &err),
                     SAI_EFORMAT);
    sai_dist_link_free(l);
}

static void test_key_schedule(void **state)
{
    (void)state;
    sai_error_t err = {0};
    uint8_t gs[32] = {7}, gs2[32] = {8}, ecdh[48] = {1}, tr[32] = {2}, tr2[32] = {3};
    uint8_t k[2][32], c[2][32], k2[2][32], c2[2][32];
    assert_int_equal(sai_dist_derive_keys(k, c, gs, ecdh, 48, tr, job_a, 0, 1, &err), 0);
    assert_int_equal(sai_dist_derive_keys(k2, c2, gs, ecdh, 48, tr, job_a, 0, 1, &err), 0);
    assert_memory_equal(k, k2, sizeof k);   /* both ends agree */
    assert_memory_not_equal(k[0], k[1], 32);
    assert_memory_not_equal(k[0], c[0], 32);
    /* every input changes every key */
    assert_int_equal(sai_dist_derive_keys(k2, c2, gs2, ecdh, 48, tr, job_a, 0, 1, &err), 0);
    assert_memory_not_equal(k[0], k2[0], 32);
    assert_int_equal(sai_dist_derive_keys(k2, c2, gs, ecdh, 48, tr2, job_a, 0, 1, &err), 0);
    assert_memory_not_equal(k[0], k2[0], 32);
    assert_int_equal(sai_dist_derive_keys(k2, c2, gs, ecdh, 48, tr, job_b, 0, 1, &err), 0);
    assert_memory_not_equal(k[0], k2[0], 32);
    assert_int_equal(sai_dist_derive_keys(k2, c2, gs, ecdh, 48, tr, job_a, 0, 2, &err), 0);
    assert_memory_not_equal(k[0], k2[0], 32);
    ecdh[47] ^= 1;
    assert_int_equal(sai_dist_derive_keys(k2, c2, gs, ecdh, 48, tr, job_a, 0, 1, &err), 0);
    assert_memory_not_equal(k[0], k2[0], 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_in_order),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_replayed),
        cmocka_unit_test(test_reordered_and_dropped),
        cmocka_unit_test(test_header_rewrite_fails_the_tag),
        cmocka_unit_test(test_cross_job_and_misrouted),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_key_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
