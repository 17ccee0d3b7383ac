/*
 * handshake.c — one connection's key agreement between two workers of a job.
 *
 *   initiator -> responder : hello_i   (ephemeral P-384 key, evidence)
 *   responder -> initiator : hello_r, finish_r
 *   initiator -> responder : finish_i
 *
 * transcript = SHA-256("secureai/dist/v1 handshake" | hello_i | hello_r);
 * keys from sai_dist_derive_keys (group secret || ECDH, salted with the
 * transcript). A finish is HMAC-SHA-256(confirm key of its sender,
 * transcript): it proves the sender holds the group secret and saw the same
 * hellos, so a worker without the secret, or a host that altered a hello
 * (ranks, job, evidence, ephemeral key), is refused before any frame moves.
 *
 * This file builds and checks messages; the transport (tcp.c) moves them.
 */
#include "dist/dist_internal.h"

#include <stdlib.h>
#include <string.h>

static const char hs_label[] = "secureai/dist/v1 handshake";
static const char ev_label[] = "secureai/dist/v1 evidence";

/* The report data a hello's evidence must carry (dist.h). */
static int report_data(uint8_t out[64], const uint8_t *hello, sai_error_t *err)
{
    uint8_t buf[sizeof ev_label - 1 + SAI_DIST_HELLO_FIXED - 4];
    memcpy(buf, ev_label, sizeof ev_label - 1);
    memcpy(buf + sizeof ev_label - 1, hello, SAI_DIST_HELLO_FIXED - 4);
    return sai_hash(SAI_SHA512, out, buf, sizeof buf, err);
}

void sai_dist__hs_clear(sai_dist_hs_t *hs)
{
    sai_ec_free(hs->eph);
    free(hs->mine);
    free(hs->theirs);
    sai_wipe(hs, sizeof *hs);
}

int sai_dist__hs_start(sai_dist_hs_t *hs, const sai_dist_cfg_t *cfg, bool initiator, uint32_t peer,
                       sai_error_t *err)
{
    memset(hs, 0, sizeof *hs);
    hs->cfg = cfg;
    hs->initiator = initiator;
    hs->peer = peer;
    int rc = sai_ec_generate(&hs->eph, err);
    if (rc)
        return rc;
    uint8_t fixed[SAI_DIST_HELLO_FIXED], rd[64];
    uint8_t *ev_owned = NULL;
    const uint8_t *ev = cfg->evidence;
    size_t ev_len = cfg->evidence != NULL ? cfg->evidence_len : 0;
    uint8_t *p = fixed;
    memcpy(p, "SAIH", 4);
    p[4] = 0;
    p[5] = SAI_DIST_FRAME_VERSION;
    p[6] = 0;
    p[7] = cfg->insecure_plaintext ? SAI_DIST_FLAG_PLAINTEXT : 0;
    memcpy(p + 8, cfg->job_id, SAI_DIST_JOB_ID_LEN);
    sai_dist__put32(p + 24, cfg->rank);
    sai_dist__put32(p + 28, peer);
    sai_dist__put32(p + 32, cfg->world);
    if ((rc = sai_ec_public_raw(hs->eph, p + 36, err)))
        return rc;
    if (cfg->get_evidence != NULL) {
        if ((rc = report_data(rd, fixed, err)))
            return rc;
        if ((rc = cfg->get_evidence(cfg->evidence_ctx, rd, &ev_owned, &ev_len, err)))
            return sai_error_prefix(err, "cannot produce this worker's evidence");
        ev = ev_owned;
    }
    if (ev_len > SAI_DIST_MAX_EVIDENCE) {
        free(ev_owned);
        return sai_error_set(err, SAI_ELIMIT, "evidence of %zu bytes is over the cap", ev_len);
    }
    sai_dist__put32(p + 36 + SAI_P384_POINT_LEN, (uint32_t)ev_len);
    hs->mine_len = SAI_DIST_HELLO_FIXED + ev_len;
    if ((hs->mine = malloc(hs->mine_len)) == NULL) {
        free(ev_owned);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    memcpy(hs->mine, fixed, SAI_DIST_HELLO_FIXED);
    if (ev_len > 0)
        memcpy(hs->mine + SAI_DIST_HELLO_FIXED, ev, ev_len);
    free(ev_owned);
    return 0;
}

int sai_dist__hello_parse(sai_dist_hello_t *h, const uint8_t *p, sai_error_t *err)
{
    if (memcmp(p, "SAIH", 4) != 0 || p[4] != 0 || p[5] != SAI_DIST_FRAME_VERSION)
        return sai_error_set(err, SAI_EFORMAT, "not a version 1 SecureAI dist hello");
    h->flags = (uint16_t)(p[6] << 8 | p[7]);
    memcpy(h->job, p + 8, SAI_DIST_JOB_ID_LEN);
    h->sender = sai_dist__get32(p + 24);
    h->receiver = sai_dist__get32(p + 28);
    h->world = sai_dist__get32(p + 32);
    memcpy(h->point, p + 36, SAI_P384_POINT_LEN);
    h->evidence_len = sai_dist__get32(p + 36 + SAI_P384_POINT_LEN);
    if (h->evidence_len > SAI_DIST_MAX_EVIDENCE)
        return sai_error_set(err, SAI_ELIMIT, "worker %u sent %u bytes of evidence (cap %u)",
                             h->sender, h->evidence_len, SAI_DIST_MAX_EVIDENCE);
    return 0;
}

int sai_dist__hs_peer_hello(sai_dist_hs_t *hs, const uint8_t *buf, size_t len, sai_error_t *err)
{
    const sai_dist_cfg_t *cfg = hs->cfg;
    sai_dist_hello_t h;
    sai_ec_key_t *peer = NULL;
    sai_hash_ctx_t *hc = NULL;
    uint8_t shared[SAI_ECDH_P384_LEN];
    int rc;
    if (len < SAI_DIST_HELLO_FIXED)
        return sai_error_set(err, SAI_EFORMAT, "short hello");
    if ((rc = sai_dist__hello_parse(&h, buf, err)))
        return rc;
    if (len != SAI_DIST_HELLO_FIXED + h.evidence_len)
        return sai_error_set(err, SAI_EFORMAT, "hello of worker %u has a bad length", h.sender);
    if (!sai_ct_equal(h.job, cfg->job_id, SAI_DIST_JOB_ID_LEN))
        return sai_error_set(err, SAI_EPOLICY,
                             "worker %u belongs to another job: refused", h.sender);
    if (h.sender != hs->peer || h.receiver != cfg->rank)
        return sai_error_set(err, SAI_EPOLICY,
                             "expected worker %u, got a hello from worker %u for worker %u",
                             hs->peer, h.sender, h.receiver);
    if (h.world != cfg->world)
        return sai_error_set(err, SAI_EPOLICY, "worker %u thinks the job has %u workers, not %u",
                             h.sender, h.world, cfg->world);
    if (((h.flags & SAI_DIST_FLAG_PLAINTEXT) != 0) != cfg->insecure_plaintext || (h.flags & ~1u))
        return sai_error_set(err, SAI_EPOLICY, "worker %u wants other frame flags (0x%x)",
                             h.sender, h.flags);
    uint8_t rd[64];
    if (cfg->verify_peer != NULL && (rc = report_data(rd, buf, err)))
        return rc;
    if (cfg->verify_peer != NULL &&
        (rc = cfg->verify_peer(cfg->verify_ctx, h.sender, buf + SAI_DIST_HELLO_FIXED,
                               h.evidence_len, rd, err))) {
        sai_error_prefix(err, "evidence of worker %u refused", h.sender);
        return rc < 0 ? rc : SAI_EPOLICY;
    }
    if ((hs->theirs = malloc(len)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    memcpy(hs->theirs, buf, len);
    hs->theirs_len = len;

    if ((rc = sai_ec_from_public_raw(&peer, h.point, SAI_P384_POINT_LEN, err)) ||
        (rc = sai_ecdh(hs->eph, peer, shared, err)))
        goto out;
    const uint8_t *hi = hs->initiator ? hs->mine : hs->theirs;
    const uint8_t *hr = hs->initiator ? hs->theirs : hs->mine;
    size_t li = hs->initiator ? hs->mine_len : hs->theirs_len;
    size_t lr = hs->initiator ? hs->theirs_len : hs->mine_len;
    if ((rc = sai_hash_new(&hc, SAI_SHA256, err)) ||
        (rc = sai_hash_update(hc, hs_label, sizeof hs_label - 1, err)) ||
        (rc = sai_hash_update(hc, hi, li, err)) || (rc = sai_hash_update(hc, hr, lr, err)) ||
        (rc = sai_hash_final(hc, hs->transcript, err)))
        goto out;
    uint32_t ini = hs->initiator ? cfg->rank : hs->peer;
    uint32_t rsp = hs->initiator ? hs->peer : cfg->rank;
    rc = sai_dist_derive_keys(hs->keys, hs->confirm, cfg->group_secret, shared, sizeof shared,
                              hs->transcript, cfg->job_id, ini, rsp, err);
out:
    sai_wipe(shared, sizeof shared);
    sai_hash_free(hc);
    sai_ec_free(peer);
    return rc;
}

/* mine = the finish I send; otherwise the one I expect from the peer. */
void sai_dist__hs_finish_msg(const sai_dist_hs_t *hs, uint8_t out[SAI_DIST_FIN_LEN], bool mine)
{
    /* confirm[0] is the initiator's key, confirm[1] the responder's */
    int idx = (hs->initiator == mine) ? 0 : 1;
    memcpy(out, "SAIC", 4);
    if (sai_hmac_sha256(out + 4, hs->confirm[idx], 32, hs->transcript, 32, NULL) != 0)
        memset(out + 4, 0, 32);   /* cannot verify against anything real */
}

int sai_dist__hs_check_finish(const sai_dist_hs_t *hs, const uint8_t msg[SAI_DIST_FIN_LEN],
                              sai_error_t *err)
{
    uint8_t want[SAI_DIST_FIN_LEN];
    sai_dist__hs_finish_msg(hs, want, false);
    int ok = sai_ct_equal(want, msg, SAI_DIST_FIN_LEN);
    sai_wipe(want, sizeof want);
    if (!ok)
        return sai_error_set(err, SAI_EAUTH,
                             "worker %u failed key confirmation (it does not hold the job's "
                             "group secret, or the handshake was altered)", hs->peer);
    return 0;
}

int sai_dist__hs_link(sai_dist_hs_t *hs, sai_dist_link_t **out, bool send, sai_error_t *err)
{
    /* keys[0]: initiator -> responder */
    int idx = (hs->initiator == send) ? 0 : 1;
    uint32_t me = hs->cfg->rank;
    return sai_dist_link_new(out, hs->keys[idx], hs->cfg->job_id, send ? me : hs->peer,
                             send ? hs->peer : me, hs->cfg->insecure_plaintext, err);
}
