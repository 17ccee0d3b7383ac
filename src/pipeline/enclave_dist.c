/*
 * enclave_dist.c — the enclave's side of a distributed job
 * (docs/distributed.md): joining the ring its host formed, and the
 * data-parallel training loop the stages run in place of sai_nn_train.
 *
 *   join   the peers' policy from this worker's own evidence (same TEE kind,
 *          same root: the platform that launched it; dist_glue.c), then the
 *          handshake over the two ring streams (dist.algorithm ps: over the
 *          mesh, one stream per peer) with the group secret from the
 *          KBS, evidence bound to each handshake, peers held to this
 *          launch's measurement and spec hash. Worker 0's initial weights
 *          are broadcast (every worker built them from the same seed; the
 *          broadcast makes that a fact, not an assumption).
 *   train  every global batch B of one permutation per epoch (the same on
 *          every worker, from the seed) is cut into N slices of B/N; worker
 *          r computes the gradient of slice r (its own augmentation rng from
 *          seed and rank), the gradients are averaged by the fixed-order
 *          ring (or parameter-server) all-reduce, every worker takes the same SGD step at the
 *          learning rate sai_nn_train would use, and the BN running
 *          statistics are copied from worker 0. At the end every worker
 *          hashes its weights; worker 0's hash is broadcast and compared,
 *          and a mismatch flag is all-reduced, so a worker that diverged
 *          fails the run on every worker.
 *   evidence  after training each worker binds its evidence to (job, rank,
 *          world, weights hash), and the evidence of ranks 1..N-1 travels
 *          to worker 0 (broadcasts: round the ring, or straight over the
 *          mesh) for its provenance statement.
 */
#include "pipeline/pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secureai/attest.h"
#include "secureai/crypto.h"
#include "secureai/util.h"

#define DIST_TIMEOUT_MS 60000

int sai_pipeline__dist_join(sai_pipeline_dist_run_t **out, struct sai_tee_t *tee,
                            const uint8_t measurement[SAI_MEASUREMENT_LEN], const uint8_t spec_hash[32],
                            const uint8_t group_secret[SAI_DIST_SECRET_LEN], uint32_t rank, uint32_t world,
                            uint32_t servers, int *fds, size_t nfds, sai_error_t *err)
{
    int rc;
    int *mesh = NULL;   /* ps: the streams indexed by peer rank */
    sai_pipeline_dist_run_t *d = calloc(1, sizeof *d);
    *out = NULL;
    if (d == NULL || (servers > 0 && (mesh = malloc(world * sizeof *mesh)) == NULL)) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if (nfds != (servers == 0 ? 2u : (size_t)world - 1) || rank >= world) {
        rc = sai_error_set(err, SAI_EINVAL, "%zu streams for worker %u of a %s of %u", nfds, rank,
                           servers ? "mesh" : "ring", world);
        goto out;
    }
    d->rank = rank;
    d->world = world;
    d->member.tee = tee;
    memcpy(d->member.measurement, measurement, SAI_MEASUREMENT_LEN);
    memcpy(d->member.spec_hash, spec_hash, 32);
    if ((rc = sai_pipeline__dist_peer_policy(&d->member, &d->policy, err)))
        goto out;
    d->member.policy = d->policy;
    sai_dist_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    if ((rc = sai_pipeline__dist_job_id(cfg.job_id, spec_hash, err)))
        goto out;
    memcpy(d->job_id, cfg.job_id, SAI_DIST_JOB_ID_LEN);
    cfg.group_secret = group_secret;
    cfg.rank = rank;
    cfg.world = world;
    cfg.get_evidence = sai_pipeline__dist_get_evidence;
    cfg.evidence_ctx = &d->member;
    cfg.verify_peer = sai_pipeline__dist_verify_peer;
    cfg.verify_ctx = &d->member;
    cfg.timeout_ms = DIST_TIMEOUT_MS;
    if (servers == 0) {
        rc = sai_dist_comm_stream(&d->comm, &cfg, fds[0], fds[1], err);
    } else {
        /* The parameter-server mode (docs/distributed.md): S servers on
         * ranks 0..S-1 over the full mesh, everything else as on the ring. */
        cfg.algorithm = SAI_DIST_PS;
        cfg.servers = servers;
        for (uint32_t q = 0, j = 0; q < world; q++)
            mesh[q] = q == rank ? -1 : fds[j++];
        rc = sai_dist_comm_mesh_stream(&d->comm, &cfg, mesh, err);
    }
    for (size_t i = 0; i < nfds; i++)   /* taken, whatever happened */
        fds[i] = -1;
    if (rc)
        goto out;
    *out = d;
    d = NULL;
out:
    if (rc)
        sai_error_prefix(err, "worker %u of %u: joining the %s", rank, world,
                         servers ? "parameter-server mesh" : "ring");
    free(mesh);
    sai_pipeline__dist_leave(d);
    return rc;
}

void sai_pipeline__dist_leave(sai_pipeline_dist_run_t *d)
{
    if (d == NULL)
        return;
    sai_dist_comm_free(d->comm);
    sai_pipeline__dist_ckpt_free(d->ckpt);
    sai_attest_policy_free(d->policy);
    for (uint32_t i = 0; i < d->n_evidence; i++)
        free(d->evidence[i]);
    free(d->evidence);
    free(d->evidence_len);
    free(d);
}

/* SHA-256 over every tensor's values in tensor order (weights and BN buffers). */
static int weights_sha256(sai_nn_model_t *m, uint8_t out[32], sai_error_t *err)
{
    sai_hash_ctx_t *h = NULL;
    int rc = sai_hash_new(&h, SAI_SHA256, err);
    for (int i = 0; rc == 0 && i < sai_nn_model_num_tensors(m); i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        rc = sai_hash_update(h, ti.data, ti.numel * sizeof(float), err);
    }
    if (rc == 0)
        rc = sai_hash_final(h, out, err);
    sai_hash_free(h);
    return rc;
}

/* Every tensor's values, then its momentum (when it has one), in tensor
 * order: a checkpoint's payload (dist_ckpt.c). to: model -> buf; else
 * buf -> model. The size when buf is NULL. */
static size_t model_blob(sai_nn_model_t *m, uint8_t *buf, bool to)
{
    size_t off = 0;
    for (int i = 0; i < sai_nn_model_num_tensors(m); i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        float *parts[2] = {ti.data, ti.momentum};
        for (int k = 0; k < 2; k++) {
            if (parts[k] == NULL)
                continue;
            size_t n = ti.numel * sizeof(float);
            if (buf != NULL && to)
                memcpy(buf + off, parts[k], n);
            else if (buf != NULL)
                memcpy(parts[k], buf + off, n);
            off += n;
        }
    }
    return off;
}

/* Worker 0 at the end of an epoch of a checkpointing job. */
static int write_checkpoint(sai_pipeline_dist_run_t *d, sai_nn_model_t *m, uint32_t epoch, sai_error_t *err)
{
    size_t n = model_blob(m, NULL, true);
    uint8_t *b = malloc(n);
    if (b == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for a checkpoint");
    model_blob(m, b, true);
    int rc = sai_pipeline__dist_ckpt_write(d->ckpt, epoch, b, n, err);
    sai_wipe(b, n);
    free(b);
    return rc ? sai_error_prefix(err, "worker 0: the checkpoint after epoch %u", epoch) : 0;
}

/* A worker's augmentation draws for an epoch: from (seed, rank, epoch), so a
 * resumed job draws what an uninterrupted one would have. */
static uint64_t aug_seed(uint64_t seed, uint32_t rank, uint32_t epoch)
{
    return (seed ^ (0xD1B54A32D192ED03ULL * ((uint64_t)rank + 1)) ^ (0x94D049BB133111EBULL * ((uint64_t)epoch + 1))) *
               0x9E3779B97F4A7C15ULL + 1;
}

int sai_pipeline__dist_train(void *ctx, sai_nn_model_t *m, const sai_nn_dataset_t *ds,
                             const sai_nn_train_cfg_t *cfg, sai_nn_train_result_t *res, sai_error_t *err)
{
    sai_pipeline_dist_run_t *d = ctx;
    const uint32_t N = d->world, r = d->rank;
    int *idx = NULL, *y = NULL;
    float *x = NULL, *scratch = NULL;
    int rc = 0;
    uint64_t comm_step = d->next_step;
    memset(res, 0, sizeof *res);
    int B = cfg->batch;
    if (B > ds->n)
        B = ds->n;
    if (B <= 0 || cfg->epochs == 0 || B % (int)N != 0 || B > sai_nn_model_max_batch(m))
        return sai_error_set(err, SAI_EINVAL, "worker %u: the global batch %d must be a positive multiple of "
                             "the %u workers (each takes batch/workers records of every batch)", r, B, N);
    int b = B / (int)N;
    /* steps and the learning rate exactly as sai_nn_train plans them */
    uint64_t spe, total;
    sai_nn_sched_t sched;
    sai_nn_train_plan(cfg, ds->n, B, &spe, &total, &sched);
    size_t img = (size_t)ds->c * ds->h * ds->w;
    idx = malloc((size_t)ds->n * sizeof *idx);
    y = malloc((size_t)b * sizeof *y);
    x = malloc((size_t)b * img * sizeof *x);
    scratch = malloc((sai_nn_model_num_params(m) + 1) * sizeof *scratch);
    if (idx == NULL || y == NULL || x == NULL || scratch == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < ds->n; i++)
        idx[i] = i;
    /* one permutation per epoch, the same on every worker; augmentation
     * drawn per worker */
    uint64_t perm_rng = cfg->seed * 0x9E3779B97F4A7C15ULL + 1;
    uint64_t aug_rng = 0;
    const sai_nn_augment_t *aug = (cfg->aug.crop_pad > 0 || cfg->aug.hflip) ? &cfg->aug : NULL;
    uint64_t step = 0;

    /* A resume: worker 0 loads its checkpoint (every tensor and momentum)
     * and every worker starts after the checkpoint's epoch. */
    uint32_t start = 0;
    if (d->ckpt != NULL && d->ckpt->resume_epoch > 0) {
        if (d->ckpt->payload_len != model_blob(m, NULL, false) || d->ckpt->resume_epoch >= cfg->epochs) {
            rc = sai_error_set(err, SAI_EFORMAT, "worker 0: the checkpoint (epoch %u, %zu bytes) is not one of "
                               "this model and schedule", d->ckpt->resume_epoch, d->ckpt->payload_len);
            goto out;
        }
        model_blob(m, d->ckpt->payload, false);
        start = d->ckpt->resume_epoch;
    }
    /* worker 0's initial weights (and momentum, BN buffers) everywhere, and
     * the epoch to start at */
    if ((rc = sai_dist_step_begin(d->comm, comm_step++, err)) ||
        (rc = sai_dist_broadcast_model(d->comm, m, 0, err)) ||
        (rc = sai_dist_broadcast(d->comm, 0, &start, sizeof start, err)))
        goto out;
    if (start >= cfg->epochs) {
        rc = sai_error_set(err, SAI_EFORMAT, "worker %u: worker 0 says to start at epoch %u of %u", r, start,
                           cfg->epochs);
        goto out;
    }
    /* the epochs before it: their permutations drawn, their steps counted */
    for (uint32_t e0 = 0; e0 < start; e0++)
        sai_nn_shuffle(idx, ds->n, &perm_rng);
    step = (uint64_t)start * spe;
    if (step > total)
        step = total;
    sai_nn_meter_t mt;
    sai_nn_meter_start(&mt, cfg, step, total);
    uint32_t ep;
    for (ep = start; ep < cfg->epochs && step < total; ep++) {
        sai_nn_shuffle(idx, ds->n, &perm_rng);
        aug_rng = aug_seed(cfg->seed, r, ep);
        sai_nn_meter_epoch(&mt);
        for (uint64_t s = 0; s < spe && step < total; s++, step++) {
            sai_nn_dataset_batch(ds, idx + s * (uint64_t)B + (uint64_t)r * (uint64_t)b, b, aug, &aug_rng, x, y);
            sai_nn_forward(m, x, b, true);
            int correct = 0;
            float loss = sai_nn_loss_smoothed(m, y, b, cfg->label_smoothing, &correct);
            sai_nn_zero_grad(m);
            sai_nn_backward(m, b);
            if ((rc = sai_dist_step_begin(d->comm, comm_step++, err)) ||
                (rc = sai_dist_allreduce_grads(d->comm, m, scratch, err)))
                goto step_failed;
            sai_nn_sgd_step(m, &cfg->sgd, sai_nn_sched_lr(&sched, step));
            if ((rc = sai_dist_broadcast_buffers(d->comm, m, 0, err)))
                goto step_failed;
            /* the loss and accuracy of this worker's slice; images/s of the global batch */
            sai_nn_meter_step(&mt, ep, step, loss, correct, b, B);
        }
        if (d->ckpt != NULL && step < total && (ep + 1) % d->ckpt->every == 0 &&
            (rc = write_checkpoint(d, m, ep + 1, err)))
            goto out;
        if (cfg->epoch_end != NULL && step < total) {
            double c0 = sai_now();
            if ((rc = cfg->epoch_end(cfg->epoch_ctx, ep + 1, step, err)))
                goto out;
            sai_nn_meter_pause(&mt, sai_now() - c0);
        }
    }
    sai_nn_meter_result(&mt, step, ep, res);

    /* The final check: worker 0's weight hash against everyone's, and a
     * mismatch anywhere fails every worker. */
    uint8_t mine[32], root[32];
    float bad;
    if ((rc = weights_sha256(m, mine, err)))
        goto out;
    memcpy(root, mine, 32);
    if ((rc = sai_dist_step_begin(d->comm, comm_step++, err)) ||
        (rc = sai_dist_broadcast(d->comm, 0, root, 32, err)))
        goto out;
    bad = sai_ct_equal(root, mine, 32) ? 0.0f : 1.0f;
    if ((rc = sai_dist_allreduce_avg(d->comm, &bad, 1, err)))
        goto out;
    if (bad != 0.0f) {
        rc = sai_error_set(err, SAI_EAUTH, "worker %u: the workers' weights differ after training (%s): "
                           "no model is sealed", r, sai_ct_equal(root, mine, 32) ? "another worker's differ"
                                                                                  : "this worker's differ from worker 0's");
        goto out;
    }
    memcpy(d->weights_sha256, mine, 32);
    d->trained = true;
    if (cfg->progress != NULL) {
        sai_nn_progress_info_t p = {
            .final = true, .epoch = ep, .epochs = cfg->epochs, .step = step, .total_steps = total,
            .loss = res->loss, .accuracy = res->accuracy, .images_per_s = res->images_per_s,
            .seconds = res->seconds,
        };
        cfg->progress(cfg->progress_ctx, &p);
    }
    goto out;
step_failed:   /* a collective of a training step: name the step (the peer is named by the ring) */
    sai_error_prefix(err, "worker %u of %u: training step %llu of %llu (epoch %u)", r, N,
                     (unsigned long long)step + 1, (unsigned long long)total, ep + 1);
out:
    d->next_step = comm_step;
    if (rc && !(err && strstr(err->msg, "worker") == err->msg))
        sai_error_prefix(err, "worker %u of %u", r, N);
    if (x != NULL) {
        sai_wipe(x, (size_t)b * img * sizeof *x);
        free(x);
    }
    free(idx);
    free(y);
    free(scratch);
    return rc;
}

int sai_pipeline__dist_worker_report_data(uint8_t rd[64], const uint8_t job[SAI_DIST_JOB_ID_LEN], uint32_t rank,
                                          uint32_t world, const uint8_t weights_sha256[32], sai_error_t *err)
{
    static const char label[] = "secureai/dist/v1 worker";
    uint8_t buf[sizeof label - 1 + SAI_DIST_JOB_ID_LEN + 8 + 32], *p = buf;
    memcpy(p, label, sizeof label - 1);
    p += sizeof label - 1;
    memcpy(p, job, SAI_DIST_JOB_ID_LEN);
    p += SAI_DIST_JOB_ID_LEN;
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(rank >> (8 * i));
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(world >> (8 * i));
    memcpy(p, weights_sha256, 32);
    return sai_hash(SAI_SHA512, rd, buf, sizeof buf, err);
}

int sai_pipeline__dist_finish(sai_pipeline_dist_run_t *d, sai_error_t *err)
{
    uint8_t rd[64], *mine = NULL;
    size_t mine_len = 0;
    int rc;
    if (!d->trained)
        return sai_error_set(err, SAI_ESTATE, "worker %u: no trained model to attest", d->rank);
    if (d->rank == 0 && (d->evidence = calloc(d->world, sizeof *d->evidence)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (d->rank == 0 && (d->evidence_len = calloc(d->world, sizeof *d->evidence_len)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    d->n_evidence = d->rank == 0 ? d->world : 0;
    if ((rc = sai_pipeline__dist_worker_report_data(rd, d->job_id, d->rank, d->world, d->weights_sha256, err)) ||
        (d->rank != 0 && (rc = sai_pipeline__dist_get_evidence(&d->member, rd, &mine, &mine_len, err))))
        goto out;
    /* ranks 1..N-1 in turn: the length, then the bytes, round the ring */
    for (uint32_t root = 1; root < d->world; root++) {
        uint8_t lenb[4] = {0};
        uint8_t *buf = NULL;
        size_t n = 0;
        if (d->rank == root)
            for (int i = 0; i < 4; i++)
                lenb[i] = (uint8_t)(mine_len >> (8 * (3 - i)));
        if ((rc = sai_dist_step_begin(d->comm, d->next_step++, err)) ||
            (rc = sai_dist_broadcast(d->comm, root, lenb, 4, err)))
            goto out;
        n = (size_t)lenb[0] << 24 | (size_t)lenb[1] << 16 | (size_t)lenb[2] << 8 | lenb[3];
        if (n == 0 || n > SAI_EVIDENCE_MAX) {
            rc = sai_error_set(err, SAI_EFORMAT, "worker %u's evidence is %zu bytes", root, n);
            goto out;
        }
        buf = d->rank == root ? mine : malloc(n);
        if (buf == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        rc = sai_dist_broadcast(d->comm, root, buf, n, err);
        if (d->rank == 0 && rc == 0) {
            d->evidence[root] = buf;
            d->evidence_len[root] = n;
        } else if (buf != mine) {
            free(buf);
        }
        if (rc)
            goto out;
    }
out:
    free(mine);
    if (rc)
        sai_error_prefix(err, "worker %u of %u: gathering the workers' evidence", d->rank, d->world);
    return rc;
}

size_t sai_pipeline__dist_worker_done(const sai_pipeline_dist_run_t *d, char *out, size_t cap)
{
    char hex[65];
    sai_hex_encode(hex, d->weights_sha256, 32);
    int k = snprintf(out, cap, "{\"dist\":{\"rank\":%u,\"world\":%u,\"weights_sha256\":\"%s\"}}", d->rank,
                     d->world, hex);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

void sai_pipeline__dist_facts(const sai_pipeline_dist_run_t *d, sai_provenance_facts_t *f)
{
    f->dist_world = d->world;
    memcpy(f->dist_weights_sha256, d->weights_sha256, 32);
    f->dist_evidence = (const uint8_t *const *)d->evidence;
    f->dist_evidence_len = d->evidence_len;
}
