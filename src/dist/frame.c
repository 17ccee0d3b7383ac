/*
 * frame.c — the distributed frame format and the per-connection key schedule.
 *
 * frame = header[48] | ciphertext[length] | tag[16]
 * header = "SAIF" | u16 version | u16 flags | job[16] | u32 sender |
 *          u32 receiver | u64 step | u32 chunk | u32 length   (big-endian)
 * nonce  = u64 step | u32 chunk; AAD = the whole header.
 *
 * Why the receiver checks the header before the tag: the tag alone would
 * refuse a replayed or reordered frame too (its nonce is rebuilt from the
 * receiver's own counters, not read from the wire), but only a header check
 * can say *what* was wrong. The counters, not the header, decide: a frame
 * is opened under the nonce the receiver expects, so an attacker who edits
 * the header fields gets a tag failure at worst.
 *
 * Callers: comm.c (collectives), handshake.c (links from the derived keys),
 * tests/dist/test_dist_frame.c.
 */
#include "dist/dist_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"

void sai_dist_link_free(sai_dist_link_t *l)
{
    if (l == NULL)
        return;
    sai_aead_free(l->aead);
    sai_wipe(l, sizeof *l);
    free(l);
}

int sai_dist_link_new(sai_dist_link_t **out, const uint8_t key[static 32],
                      const uint8_t job_id[static SAI_DIST_JOB_ID_LEN], uint32_t sender,
                      uint32_t receiver, bool plaintext, sai_error_t *err)
{
    *out = NULL;
    sai_dist_link_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = sai_aead_new(&l->aead, key, err);
    if (rc) {
        free(l);
        return rc;
    }
    memcpy(l->job, job_id, SAI_DIST_JOB_ID_LEN);
    l->sender = sender;
    l->receiver = receiver;
    l->plaintext = plaintext;
    *out = l;
    return 0;
}

int sai_dist_link_begin_step(sai_dist_link_t *l, uint64_t step, sai_error_t *err)
{
    if (l->dead)
        return sai_error_set(err, SAI_ESTATE, "the link from worker %u to worker %u failed earlier",
                             l->sender, l->receiver);
    if (l->have_step && step <= l->step)
        return sai_error_set(err, SAI_ESTATE,
                             "step %llu does not follow step %llu (steps only move forward)",
                             (unsigned long long)step, (unsigned long long)l->step);
    l->have_step = true;
    l->step = step;
    l->chunk = 0;
    return 0;
}

static void build_header(const sai_dist_link_t *l, uint8_t *h, uint32_t len)
{
    memcpy(h, SAI_DIST_FRAME_MAGIC, 4);
    h[4] = 0;
    h[5] = SAI_DIST_FRAME_VERSION;
    h[6] = 0;
    h[7] = l->plaintext ? SAI_DIST_FLAG_PLAINTEXT : 0;
    memcpy(h + 8, l->job, SAI_DIST_JOB_ID_LEN);
    sai_dist__put32(h + 24, l->sender);
    sai_dist__put32(h + 28, l->receiver);
    sai_dist__put64(h + 32, l->step);
    sai_dist__put32(h + 40, l->chunk);
    sai_dist__put32(h + 44, len);
}

static void build_nonce(const sai_dist_link_t *l, uint8_t nonce[SAI_AEAD_NONCE_LEN])
{
    sai_dist__put64(nonce, l->step);
    sai_dist__put32(nonce + 8, l->chunk);
}

int sai_dist_frame_seal(sai_dist_link_t *l, uint8_t *frame, const void *payload, size_t len,
                        sai_error_t *err)
{
    if (l->dead)
        return sai_error_set(err, SAI_ESTATE, "the link to worker %u failed earlier", l->receiver);
    if (!l->have_step)
        return sai_error_set(err, SAI_ESTATE, "no step begun on the link to worker %u",
                             l->receiver);
    if (len > SAI_DIST_MAX_PAYLOAD)
        return sai_error_set(err, SAI_ELIMIT, "frame payload of %zu bytes is over the cap", len);
    if (l->chunk == UINT32_MAX)
        return sai_error_set(err, SAI_ELIMIT, "too many frames in step %llu",
                             (unsigned long long)l->step);
    uint8_t nonce[SAI_AEAD_NONCE_LEN];
    build_header(l, frame, (uint32_t)len);
    build_nonce(l, nonce);
    uint8_t *ct = frame + SAI_DIST_FRAME_HDR_LEN;
    uint8_t *tag = ct + len;
    if (l->plaintext) {
        if (len > 0)
            memcpy(ct, payload, len);
        memset(tag, 0, SAI_DIST_FRAME_TAG_LEN);
    } else {
        double t0 = sai_now();
        int rc = sai_aead_seal(l->aead, ct, tag, payload, len, frame, SAI_DIST_FRAME_HDR_LEN,
                               nonce, err);
        l->crypto_s += sai_now() - t0;
        if (rc)
            return rc;
    }
    l->chunk++;
    return 0;
}

/* Refuse: kill the link and name the peer and the step. */
static int refuse(sai_dist_link_t *l, void *payload, size_t len, sai_error_t *err, int code,
                  const char *why)
{
    l->dead = true;
    if (payload != NULL && len > 0)
        sai_wipe(payload, len);
    return sai_error_set(err, code, "frame from worker %u at step %llu (chunk %u) refused: %s",
                         l->sender, (unsigned long long)l->step, l->chunk, why);
}

int sai_dist_frame_open(sai_dist_link_t *l, void *payload, const uint8_t *frame,
                        size_t frame_len, sai_error_t *err)
{
    if (l->dead)
        return sai_error_set(err, SAI_ESTATE, "the link from worker %u failed earlier", l->sender);
    if (!l->have_step)
        return sai_error_set(err, SAI_ESTATE, "no step begun on the link from worker %u",
                             l->sender);
    if (frame_len < SAI_DIST_FRAME_OVERHEAD ||
        frame_len - SAI_DIST_FRAME_OVERHEAD > SAI_DIST_MAX_PAYLOAD)
        return refuse(l, NULL, 0, err, SAI_EFORMAT, "bad frame length");
    size_t len = frame_len - SAI_DIST_FRAME_OVERHEAD;
    const uint8_t *h = frame;
    char why[160];
    if (memcmp(h, SAI_DIST_FRAME_MAGIC, 4) != 0 || h[4] != 0 || h[5] != SAI_DIST_FRAME_VERSION)
        return refuse(l, payload, len, err, SAI_EFORMAT, "not a version 1 frame");
    if (h[6] != 0 || h[7] != (l->plaintext ? SAI_DIST_FLAG_PLAINTEXT : 0))
        return refuse(l, payload, len, err, SAI_EFORMAT, "unexpected frame flags");
    if (!sai_ct_equal(h + 8, l->job, SAI_DIST_JOB_ID_LEN))
        return refuse(l, payload, len, err, SAI_EPOLICY, "it belongs to another job");
    uint32_t snd = sai_dist__get32(h + 24), rcv = sai_dist__get32(h + 28);
    if (snd != l->sender || rcv != l->receiver) {
        snprintf(why, sizeof why, "it claims to be from worker %u to worker %u", snd, rcv);
        return refuse(l, payload, len, err, SAI_EPOLICY, why);
    }
    uint64_t step = sai_dist__get64(h + 32);
    uint32_t chunk = sai_dist__get32(h + 40);
    if (step != l->step) {
        snprintf(why, sizeof why, "it is for step %llu (%s)", (unsigned long long)step,
                 step < l->step ? "replayed" : "from the future");
        return refuse(l, payload, len, err, SAI_EPOLICY, why);
    }
    if (chunk != l->chunk) {
        snprintf(why, sizeof why, "it is chunk %u (%s)", chunk,
                 chunk < l->chunk ? "replayed" : "reordered, or a frame was dropped");
        return refuse(l, payload, len, err, SAI_EPOLICY, why);
    }
    if (sai_dist__get32(h + 44) != len)
        return refuse(l, payload, len, err, SAI_EFORMAT, "its length field does not match");
    uint8_t nonce[SAI_AEAD_NONCE_LEN];
    build_nonce(l, nonce);
    const uint8_t *ct = frame + SAI_DIST_FRAME_HDR_LEN;
    if (l->plaintext) {
        if (len > 0)
            memcpy(payload, ct, len);
    } else {
        double t0 = sai_now();
        sai_error_t e2 = {0};
        int rc = sai_aead_open(l->aead, payload, ct, len, ct + len, frame,
                               SAI_DIST_FRAME_HDR_LEN, nonce, &e2);
        l->crypto_s += sai_now() - t0;
        if (rc == SAI_EAUTH)
            return refuse(l, payload, len, err, SAI_EAUTH,
                          "its tag does not verify (tampered, or not keyed for this link)");
        if (rc)
            return refuse(l, payload, len, err, rc, e2.msg);
    }
    l->chunk++;
    return 0;
}

/* ---- key schedule ---------------------------------------------------------- */

static int expand(uint8_t out[32], const uint8_t *ikm, size_t ikm_len,
                  const uint8_t transcript[32], const char *label,
                  const uint8_t job[SAI_DIST_JOB_ID_LEN], uint32_t a, uint32_t b, sai_error_t *err)
{
    uint8_t info[64];
    size_t ll = strlen(label);
    memcpy(info, label, ll);
    memcpy(info + ll, job, SAI_DIST_JOB_ID_LEN);
    sai_dist__put32(info + ll + SAI_DIST_JOB_ID_LEN, a);
    sai_dist__put32(info + ll + SAI_DIST_JOB_ID_LEN + 4, b);
    return sai_hkdf_sha256(out, 32, ikm, ikm_len, transcript, 32, info,
                           ll + SAI_DIST_JOB_ID_LEN + 8, err);
}

int sai_dist_derive_keys(uint8_t keys[2][32], uint8_t confirm[2][32],
                         const uint8_t group_secret[static SAI_DIST_SECRET_LEN],
                         const uint8_t *ecdh, size_t ecdh_len, const uint8_t transcript[static 32],
                         const uint8_t job_id[static SAI_DIST_JOB_ID_LEN], uint32_t initiator,
                         uint32_t responder, sai_error_t *err)
{
    uint8_t ikm[SAI_DIST_SECRET_LEN + 64];
    int rc = 0;
    if (ecdh_len > 64)
        return sai_error_set(err, SAI_EINVAL, "ECDH secret too long");
    memcpy(ikm, group_secret, SAI_DIST_SECRET_LEN);
    memcpy(ikm + SAI_DIST_SECRET_LEN, ecdh, ecdh_len);
    size_t n = SAI_DIST_SECRET_LEN + ecdh_len;
    static const char kkey[] = "secureai/dist/v1 key", kfin[] = "secureai/dist/v1 confirm";
    if ((rc = expand(keys[0], ikm, n, transcript, kkey, job_id, initiator, responder, err)) ||
        (rc = expand(keys[1], ikm, n, transcript, kkey, job_id, responder, initiator, err)) ||
        (rc = expand(confirm[0], ikm, n, transcript, kfin, job_id, initiator, responder, err)) ||
        (rc = expand(confirm[1], ikm, n, transcript, kfin, job_id, responder, initiator, err)))
        goto out;
out:
    sai_wipe(ikm, sizeof ikm);
    if (rc) {
        sai_wipe(keys, 2 * 32);
        sai_wipe(confirm, 2 * 32);
    }
    return rc;
}
