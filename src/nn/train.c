/*
 * train.c — training and evaluation loops as library calls: the CLI's
 * `secureai train` / `eval` and the pipeline's enclave runtime call these
 * with a dataset they loaded themselves. Buffers for one batch are
 * allocated once per call; the steps themselves allocate nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"
#include "nn/nn_internal.h"

static int check_shapes(const sai_nn_model_t *m, const sai_nn_dataset_t *ds, sai_error_t *err)
{
    if (ds->n <= 0)
        return sai_error_set(err, SAI_EINVAL, "the dataset is empty");
    if (ds->c != m->in_c || ds->h != m->in_h || ds->w != m->in_w)
        return sai_error_set(err, SAI_EINVAL, "dataset images are %dx%dx%d, model '%s' takes "
                             "%dx%dx%d", ds->c, ds->h, ds->w, m->name, m->in_c, m->in_h, m->in_w);
    if (ds->classes > m->classes)
        return sai_error_set(err, SAI_EINVAL, "dataset has %d classes, model only %d",
                             ds->classes, m->classes);
    return 0;
}

/* Measured on Fashion-MNIST, ResNet-8, 3 epochs, batch 128 (docs/engine.md,
 * "Training defaults"): one-cycle to 0.4 over the first 30% of the steps,
 * Nesterov, no augmentation, no label smoothing. CIFAR-10 keeps the
 * settings it had before that sweep (cosine from 0.1, crop 4 + flip): no
 * CIFAR-10 data on the machine the sweep ran on, so nothing was measured
 * for it. */
void sai_nn_train_cfg_defaults(sai_nn_train_cfg_t *cfg, const char *kind)
{
    bool cifar = kind != NULL && strcmp(kind, "cifar10") == 0;
    memset(cfg, 0, sizeof(*cfg));
    cfg->epochs = 1;
    cfg->batch = 128;
    if (cifar) {
        cfg->sgd = (sai_nn_sgd_t){.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = false};
        cfg->sched = (sai_nn_sched_t){.kind = SAI_NN_SCHED_COSINE, .base_lr = 0.1f, .gamma = 0.1f};
        cfg->aug = (sai_nn_augment_t){.crop_pad = 4, .hflip = true};
    } else {
        cfg->sgd = (sai_nn_sgd_t){.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = true};
        cfg->sched = (sai_nn_sched_t){.kind = SAI_NN_SCHED_ONECYCLE, .base_lr = 0.4f,
                                      .gamma = 0.1f, .warmup_frac = 0.3f};
        cfg->aug = (sai_nn_augment_t){.crop_pad = 0, .hflip = false};
    }
    cfg->label_smoothing = 0.0f;
}

void sai_nn_train_plan(const sai_nn_train_cfg_t *cfg, int records, int batch,
                       uint64_t *steps_per_epoch, uint64_t *total, sai_nn_sched_t *sched)
{
    *steps_per_epoch = batch > 0 ? (uint64_t)(records / batch) : 0;
    *total = *steps_per_epoch * cfg->epochs;
    if (cfg->max_steps > 0 && cfg->max_steps < *total)
        *total = cfg->max_steps;
    *sched = cfg->sched;
    if (sched->total_steps == 0)
        sched->total_steps = *total;
    if (sched->warmup_steps == 0 && sched->warmup_frac > 0.0f)
        sched->warmup_steps = (uint64_t)((double)sched->warmup_frac * (double)sched->total_steps + 0.5);
}

void sai_nn_meter_start(sai_nn_meter_t *mt, const sai_nn_train_cfg_t *cfg, uint64_t first_step,
                        uint64_t total)
{
    memset(mt, 0, sizeof *mt);
    mt->cfg = cfg;
    mt->total = total;
    mt->first_step = first_step;
    mt->every = cfg->progress_every ? cfg->progress_every : 50;
    mt->t0 = sai_now();
}

void sai_nn_meter_epoch(sai_nn_meter_t *mt)
{
    mt->ep_loss = 0.0;
    mt->ep_correct = mt->ep_n = mt->ep_steps = 0;
}

void sai_nn_meter_step(sai_nn_meter_t *mt, uint32_t epoch, uint64_t step, float loss, int correct,
                       int n, int images)
{
    const sai_nn_train_cfg_t *cfg = mt->cfg;
    mt->seen += (uint64_t)images;
    mt->iv_loss += loss; mt->iv_correct += (uint64_t)correct; mt->iv_n += (uint64_t)n; mt->iv_steps++;
    mt->ep_loss += loss; mt->ep_correct += (uint64_t)correct; mt->ep_n += (uint64_t)n; mt->ep_steps++;
    if (cfg->progress == NULL || ((step + 1) % mt->every != 0 && step + 1 != mt->total))
        return;
    double el = sai_now() - mt->t0;
    sai_nn_progress_info_t p = {
        .epoch = epoch + 1, .epochs = cfg->epochs, .step = step + 1, .total_steps = mt->total,
        .loss = (float)(mt->iv_loss / (double)mt->iv_steps),
        .accuracy = (float)mt->iv_correct / (float)mt->iv_n,
        .images_per_s = el > 0 ? (double)mt->seen / el : 0.0, .seconds = el,
        .eta_s = el / (double)(step + 1 - mt->first_step) * (double)(mt->total - step - 1),
    };
    cfg->progress(cfg->progress_ctx, &p);
    mt->iv_loss = 0.0;
    mt->iv_correct = mt->iv_n = mt->iv_steps = 0;
}

void sai_nn_meter_pause(sai_nn_meter_t *mt, double seconds)
{
    mt->t0 += seconds;
}

void sai_nn_meter_result(const sai_nn_meter_t *mt, uint64_t steps, uint32_t epochs,
                         sai_nn_train_result_t *res)
{
    res->steps = steps;
    res->epochs = epochs;
    res->seconds = sai_now() - mt->t0;
    res->images_per_s = res->seconds > 0 ? (double)mt->seen / res->seconds : 0.0;
    res->loss = mt->ep_steps ? (float)(mt->ep_loss / (double)mt->ep_steps) : 0.0f;
    res->accuracy = mt->ep_n ? (float)mt->ep_correct / (float)mt->ep_n : 0.0f;
}

int sai_nn_train(sai_nn_model_t *m, const sai_nn_dataset_t *ds, const sai_nn_train_cfg_t *cfg,
                 sai_nn_train_result_t *res, sai_error_t *err)
{
    memset(res, 0, sizeof(*res));
    int rc = check_shapes(m, ds, err);
    if (rc != 0)
        return rc;
    int B = cfg->batch;
    if (B <= 0 || B > m->max_batch)
        return sai_error_set(err, SAI_EINVAL, "batch %d is outside 1..%d", B, m->max_batch);
    if (B > ds->n)
        B = ds->n;
    if (cfg->epochs == 0)
        return sai_error_set(err, SAI_EINVAL, "epochs must be at least 1");
    if (!(cfg->label_smoothing >= 0.0f && cfg->label_smoothing < 1.0f))
        return sai_error_set(err, SAI_EINVAL, "label smoothing must be in [0, 1)");
    if (!(cfg->sched.warmup_frac >= 0.0f && cfg->sched.warmup_frac < 1.0f))
        return sai_error_set(err, SAI_EINVAL, "the warm-up fraction must be in [0, 1)");
    uint64_t spe, total;
    sai_nn_sched_t sched;
    sai_nn_train_plan(cfg, ds->n, B, &spe, &total, &sched);
    size_t img = (size_t)ds->c * ds->h * ds->w;
    int *idx = malloc((size_t)ds->n * sizeof(int));
    int *y = malloc((size_t)B * sizeof(int));
    float *x = sai_nn__aligned_alloc((size_t)B * img * sizeof(float));
    if (idx == NULL || y == NULL || x == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < ds->n; i++)
        idx[i] = i;
    uint64_t rng = cfg->seed * 0x9E3779B97F4A7C15ULL + 1;
    sai_nn_meter_t mt;
    sai_nn_meter_start(&mt, cfg, 0, total);
    uint64_t step = 0;
    uint32_t ep = 0;
    for (ep = 0; ep < cfg->epochs && step < total; ep++) {
        sai_nn_shuffle(idx, ds->n, &rng);
        sai_nn_meter_epoch(&mt);
        for (uint64_t s = 0; s < spe && step < total; s++, step++) {
            const sai_nn_augment_t *aug = (cfg->aug.crop_pad > 0 || cfg->aug.hflip) ? &cfg->aug : NULL;
            sai_nn_dataset_batch(ds, idx + s * (uint64_t)B, B, aug, &rng, x, y);
            sai_nn_forward(m, x, B, true);
            int correct = 0;
            float loss = sai_nn_loss_smoothed(m, y, B, cfg->label_smoothing, &correct);
            sai_nn_zero_grad(m);
            sai_nn_backward(m, B);
            sai_nn_sgd_step(m, &cfg->sgd, sai_nn_sched_lr(&sched, step));
            sai_nn_meter_step(&mt, ep, step, loss, correct, B, B);
        }
        if (cfg->epoch_end != NULL && step < total) {
            double c0 = sai_now();
            if ((rc = cfg->epoch_end(cfg->epoch_ctx, ep + 1, step, err)) != 0)
                goto out;
            sai_nn_meter_pause(&mt, sai_now() - c0);   /* not training time */
        }
    }
    sai_nn_meter_result(&mt, step, ep, res);
    if (cfg->progress != NULL) {
        sai_nn_progress_info_t p = {
            .final = true, .epoch = ep, .epochs = cfg->epochs, .step = step, .total_steps = total,
            .loss = res->loss, .accuracy = res->accuracy, .images_per_s = res->images_per_s,
            .seconds = res->seconds,
        };
        cfg->progress(cfg->progress_ctx, &p);
    }
out:
    free(idx);
    free(y);
    sai_nn__aligned_free(x);
    return rc;
}

int sai_nn_evaluate(sai_nn_model_t *m, const sai_nn_dataset_t *ds, sai_nn_eval_result_t *res,
                    sai_error_t *err)
{
    memset(res, 0, sizeof(*res));
    int rc = check_shapes(m, ds, err);
    if (rc != 0)
        return rc;
    if (m->classes > 16)
        return sai_error_set(err, SAI_EUNSUPP, "evaluation supports up to 16 classes");
    int B = m->max_batch;
    size_t img = (size_t)ds->c * ds->h * ds->w;
    int *idx = malloc((size_t)B * sizeof(int)), *y = malloc((size_t)B * sizeof(int));
    float *x = sai_nn__aligned_alloc((size_t)B * img * sizeof(float));
    if (idx == NULL || y == NULL || x == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    double loss = 0.0;
    for (int s = 0; s < ds->n; s += B) {
        int n = ds->n - s < B ? ds->n - s : B;
        for (int i = 0; i < n; i++)
            idx[i] = s + i;
        sai_nn_dataset_batch(ds, idx, n, NULL, NULL, x, y);
        const float *z = sai_nn_forward(m, x, n, false);
        int correct = 0;
        loss += (double)sai_nn_loss(m, y, n, &correct) * n;
        res->correct += correct;
        for (int i = 0; i < n; i++) {
            int arg = 0;
            for (int j = 1; j < m->classes; j++)
                if (z[(size_t)i * m->classes + j] > z[(size_t)i * m->classes + arg])
                    arg = j;
            res->confusion[y[i]][arg]++;
        }
    }
    res->n = ds->n;
    res->classes = m->classes;
    res->accuracy = (float)res->correct / (float)res->n;
    res->loss = (float)(loss / res->n);
out:
    free(idx);
    free(y);
    sai_nn__aligned_free(x);
    return rc;
}
