/*
 * dist_ckpt.c — worker 0's sealed checkpoints of a distributed job and the
 * KBS-held counter that refuses a rolled-back one (docs/distributed.md,
 * "Resume").
 *
 * The job's counter (resource <spec name>/dist/group's, src/kbs/counter.c)
 * moves once at the start of every attempt (a fresh start or a resume) and
 * once per checkpoint, each time by compare-and-increment from the value
 * this enclave last moved it to, so it always equals the value in the
 * newest checkpoint's header:
 *
 *   begin  while the enclave still has its own KBS connection: read the
 *          counter v; a resume opens the newest valid checkpoint in the
 *          file and requires its value to equal v (anything older is a
 *          rolled-back checkpoint, refused naming both values); move v ->
 *          v+1; a resume re-seals the loaded checkpoint under v+1 at once,
 *          so an attempt that dies before its first checkpoint resumes.
 *   write  at each checkpoint, after the no-network filter: the client's
 *          connections are streams the host connects (KBS_CONN; the
 *          enclave runs TLS and the pin check itself): move g -> g+1, and
 *          only after the KBS confirmed it seal the checkpoint with g+1
 *          into the other slot and fsync. A failure to move the counter
 *          (KBS unreachable, or it is not g: another attempt moved it)
 *          writes nothing and stops the run.
 *
 * The crash window: between the KBS's confirmation of g+1 and the fsync of
 * the slot carrying g+1 the file's newest checkpoint is g: a resume is
 * refused (clearly, naming g and g+1) and the job starts afresh. The other
 * order (write g+1, then move the counter) would leave a resumable file,
 * but then two checkpoints (g and g+1) are each acceptable while the
 * counter is g, and a host that drops the KBS stream at that moment could
 * choose the older: a rollback. Refusal loses time only, as stopping the
 * job does.
 *
 * The file has two slots, written alternately (a crash while writing one
 * leaves the other); each is
 *
 *   header (64 bytes): "SAIK" | u16 version 1 | u16 0 | u64 g | u32 epoch |
 *                      u32 0 | u64 payload length | nonce (12) | 20 zero bytes
 *   AES-256-GCM(payload) | tag (16)
 *
 * under HKDF-SHA-256(model key, salt = job id, "secureai/dist/v1
 * checkpoint"), the header as AAD. The payload is every tensor's values
 * and momentum in tensor order (enclave_dist.c).
 */
#include "pipeline/pipeline_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secureai/crypto.h"
#include "secureai/kbs.h"
#include "secureai/util.h"

#define HDR 64

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
}
static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t slot_size(size_t payload_len) { return HDR + payload_len + SAI_AEAD_TAG_LEN; }

/* Seal (gen, epoch, payload) into slot `slot` of the file; fsynced. */
static int write_slot(sai_pipeline_dist_ckpt_t *ck, unsigned slot, uint64_t gen, uint32_t epoch,
                      const uint8_t *payload, size_t len, sai_error_t *err)
{
    size_t n = slot_size(len);
    uint8_t *b = calloc(1, n);
    sai_aead_t *a = NULL;
    int rc = 0;
    if (b == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for a checkpoint");
    memcpy(b, "SAIK", 4);
    b[5] = 1;
    put_u64(b + 8, gen);
    put_u32(b + 16, epoch);
    put_u64(b + 24, len);
    if ((rc = sai_random_bytes(b + 32, SAI_AEAD_NONCE_LEN, err)) || (rc = sai_aead_new(&a, ck->key, err)) ||
        (rc = sai_aead_seal(a, b + HDR, b + HDR + len, payload, len, b, HDR, b + 32, err)))
        goto out;
    off_t off = (off_t)slot * (off_t)n;
    for (size_t done = 0; done < n;) {
        ssize_t k = pwrite(ck->fd, b + done, n - done, off + (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = sai_error_set(err, SAI_EIO, "writing the checkpoint: %s", k < 0 ? strerror(errno) : "short write");
            goto out;
        }
        done += (size_t)k;
    }
    if (fdatasync(ck->fd) != 0)
        rc = sai_error_set(err, SAI_EIO, "syncing the checkpoint: %s", strerror(errno));
out:
    sai_aead_free(a);
    free(b);
    return rc;
}

static int read_at(int fd, off_t off, uint8_t *b, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = pread(fd, b + done, n - done, off + (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

/* The header at off: its payload length, or 0 when it is not one. */
static size_t header_len(int fd, off_t off, off_t fsize)
{
    uint8_t h[HDR];
    if (off < 0 || off + HDR > fsize || read_at(fd, off, h, HDR) != 0 || memcmp(h, "SAIK", 4) != 0 || h[4] != 0 ||
        h[5] != 1)
        return 0;
    uint64_t len = get_u64(h + 24);
    return len > 0 && len <= (uint64_t)(fsize - off) ? (size_t)len : 0;
}

/* Open the checkpoint at off: 0 and *gen, *epoch and the payload (*out,
 * malloc'ed, *len), or non-zero when it is absent, torn or not this job's. */
static int read_slot(sai_pipeline_dist_ckpt_t *ck, off_t off, off_t fsize, uint64_t *gen, uint32_t *epoch,
                     uint8_t **out, size_t *len, sai_error_t *err)
{
    size_t pl = header_len(ck->fd, off, fsize);
    *out = NULL;
    if (pl == 0 || off + (off_t)slot_size(pl) > fsize)
        return sai_error_set(err, SAI_EFORMAT, "no checkpoint at offset %lld", (long long)off);
    size_t n = slot_size(pl);
    uint8_t *b = malloc(n), *p = malloc(pl);
    sai_aead_t *a = NULL;
    int rc = 0;
    if (b == NULL || p == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory for a checkpoint");
        goto out;
    }
    if (read_at(ck->fd, off, b, n) != 0) {
        rc = sai_error_set(err, SAI_EIO, "cannot read the checkpoint");
        goto out;
    }
    if ((rc = sai_aead_new(&a, ck->key, err)) ||
        (rc = sai_aead_open(a, p, b + HDR, pl, b + HDR + pl, b, HDR, b + 32, err))) {
        rc = sai_error_set(err, SAI_EAUTH, "the checkpoint at offset %lld does not open under this job's "
                           "checkpoint key", (long long)off);
        goto out;
    }
    *gen = get_u64(b + 8);
    *epoch = get_u32(b + 16);
    *out = p;
    *len = pl;
    p = NULL;
out:
    sai_aead_free(a);
    free(b);
    free(p);   /* wiped by sai_aead_open on failure */
    return rc;
}

int sai_pipeline__dist_ckpt_begin(sai_pipeline_dist_ckpt_t **out, sai_kbs_client_t *kbs,
                                  const sai_kbs_attester_t *att, const char *counter, int fd, bool resume,
                                  unsigned every, const uint8_t model_key[32],
                                  const uint8_t job[SAI_DIST_JOB_ID_LEN], sai_error_t *err)
{
    static const char info[] = "secureai/dist/v1 checkpoint";
    sai_pipeline_dist_ckpt_t *ck = calloc(1, sizeof *ck);
    uint8_t *tmp = NULL;   /* each slot's payload while compared */
    int rc = 0;
    *out = NULL;
    if (ck == NULL) {
        close(fd);
        sai_kbs_client_free(kbs);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    ck->fd = fd;
    ck->every = every;
    ck->kbs = kbs;
    ck->att = att;
    if (strlen(counter) >= sizeof ck->counter) {
        rc = sai_error_set(err, SAI_EINVAL, "the counter's name is too long");
        goto out;
    }
    snprintf(ck->counter, sizeof ck->counter, "%s", counter);
    if ((rc = sai_hkdf_sha256(ck->key, sizeof ck->key, model_key, 32, job, SAI_DIST_JOB_ID_LEN,
                              (const uint8_t *)info, sizeof info - 1, err)))
        goto out;
    if (resume) {
        /* the newest valid slot: highest (counter value, epoch) */
        struct stat stt;
        if (fstat(fd, &stt) != 0) {
            rc = sai_error_set(err, SAI_EIO, "the checkpoint file: %s", strerror(errno));
            goto out;
        }
        size_t l0 = header_len(fd, 0, stt.st_size);
        off_t offs[2] = {0, l0 ? (off_t)slot_size(l0) : stt.st_size / 2};
        sai_error_t why = {0};
        for (unsigned s = 0; s < 2; s++) {
            uint64_t g = 0;
            uint32_t ep = 0;
            size_t pl = 0;
            if (read_slot(ck, offs[s], stt.st_size, &g, &ep, &tmp, &pl, &why) != 0)
                continue;
            if (ck->payload == NULL || g > ck->resume_gen || (g == ck->resume_gen && ep > ck->resume_epoch)) {
                if (ck->payload != NULL) {
                    sai_wipe(ck->payload, ck->payload_len);
                    free(ck->payload);
                }
                ck->payload = tmp;
                ck->payload_len = pl;
                ck->resume_gen = g;
                ck->resume_epoch = ep;
                ck->slot = s;
            } else {
                sai_wipe(tmp, pl);
                free(tmp);
            }
            tmp = NULL;
        }
        if (ck->payload == NULL) {
            rc = sai_error_set(err, SAI_EFORMAT, "no checkpoint to resume from opens (%s)", why.msg);
            goto out;
        }
    }
    /* The job's counter: a resume must hold the newest checkpoint; then
     * this attempt takes the next value. */
    uint64_t v = 0, expect;
    if ((rc = sai_kbs_client_counter(ck->kbs, att, counter, NULL, &v, err)))
        goto out;
    if (resume && ck->resume_gen != v) {
        rc = sai_error_set(err, SAI_EPOLICY, "the checkpoint carries counter value %" PRIu64 " (epoch %u), but the "
                           "job's counter on the KBS is %" PRIu64 ": %s checkpoint is refused%s", ck->resume_gen,
                           ck->resume_epoch, v, ck->resume_gen < v ? "an older (rolled-back)" : "this",
                           ck->resume_gen + 1 == v ? " (or the job stopped while sealing the next one: start "
                                                     "it afresh)" : "");
        goto out;
    }
    expect = v;
    if ((rc = sai_kbs_client_counter(ck->kbs, att, counter, &expect, &v, err)))
        goto out;
    ck->gen = v;
    if (resume) {   /* re-sealed under this attempt's value, in the other slot */
        ck->slot ^= 1u;
        if ((rc = write_slot(ck, ck->slot, ck->gen, ck->resume_epoch, ck->payload, ck->payload_len, err)))
            goto out;
    } else {
        ck->slot = 1;   /* the first checkpoint goes to slot 0 */
    }
    *out = ck;
    ck = NULL;
out:
    sai_pipeline__dist_ckpt_free(ck);
    return rc;
}

int sai_pipeline__dist_ckpt_write(sai_pipeline_dist_ckpt_t *ck, uint32_t epoch, const uint8_t *payload,
                                  size_t len, sai_error_t *err)
{
    if (ck->payload_len == 0)
        ck->payload_len = len;   /* a fresh start: the model's size */
    if (len != ck->payload_len)
        return sai_error_set(err, SAI_EINVAL, "checkpoint of %zu bytes, not %zu", len, ck->payload_len);
    /* The counter first: the checkpoint carries g+1 only once the KBS holds
     * g+1, so at no time are two checkpoints acceptable. */
    uint64_t expect = ck->gen, v = 0;
    int rc = sai_kbs_client_counter(ck->kbs, ck->att, ck->counter, &expect, &v, err);
    sai_kbs_client_disconnect(ck->kbs);   /* the next checkpoint may be minutes away */
    if (rc == SAI_ESTATE)
        return sai_error_prefix(err, "the job's counter moved past %" PRIu64 " without this enclave (another "
                                "attempt of the job runs): no checkpoint is written, this attempt stops",
                                ck->gen);
    if (rc)
        return sai_error_prefix(err, "the job's counter on the KBS did not move from %" PRIu64 ": no checkpoint "
                                "is written, the run stops (the newest checkpoint resumes unless the KBS moved "
                                "the counter before the failure)", ck->gen);
    ck->gen = v;
    ck->slot ^= 1u;
    return write_slot(ck, ck->slot, ck->gen, epoch, payload, len, err);
}

void sai_pipeline__dist_ckpt_free(sai_pipeline_dist_ckpt_t *ck)
{
    if (ck == NULL)
        return;
    if (ck->fd >= 0)
        close(ck->fd);
    sai_kbs_client_free(ck->kbs);
    if (ck->payload != NULL) {
        sai_wipe(ck->payload, ck->payload_len);
        free(ck->payload);
    }
    sai_wipe(ck->key, sizeof ck->key);
    free(ck);
}
