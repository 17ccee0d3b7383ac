/*
 * stages.c — the pipeline's stages over plaintext byte sources: ingest
 * (decode IDX / CIFAR-10 records from the sources), preprocess
 * (normalisation, augmentation settings), train, evaluate, infer, and the
 * plaintext checkpoint. The enclave calls this with sources that decrypt
 * sealed shards on demand (enclave.c); the plain baseline with plaintext
 * files (plain.c) — the same code on both sides, so the overhead measured
 * between them is the security machinery's alone.
 */
#include "pipeline/pipeline_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "secureai/tfrecord.h"
#include "secureai/util.h"

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* u = after - before (getrusage(RUSAGE_SELF): every thread of the process). */
static void usage_delta(sai_train_usage_t *u, const struct rusage *a, const struct rusage *b)
{
    u->sys_s = tv_s(b->ru_stime) - tv_s(a->ru_stime);
    u->cpu_s = tv_s(b->ru_utime) - tv_s(a->ru_utime) + u->sys_s;
    u->minflt = b->ru_minflt - a->ru_minflt;
    u->nvcsw = b->ru_nvcsw - a->ru_nvcsw;
    u->nivcsw = b->ru_nivcsw - a->ru_nivcsw;
}

static const sai_stage_file_t *find(const sai_stage_file_t *f, size_t n, const char *prefix)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(f[i].name, prefix, strlen(prefix)) == 0)
            return &f[i];
    return NULL;
}

/* Per-channel mean and standard deviation of pixel/255 over the split: a
 * TFRecord dataset has no known constants (the test split takes the train
 * split's, see sai_pipeline__stages). */
static void data_norm(sai_nn_dataset_t *ds)
{
    size_t hw = (size_t)ds->h * (size_t)ds->w;
    for (int c = 0; c < ds->c && c < 3; c++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < ds->n; i++) {
            const uint8_t *p = ds->pixels + ((size_t)i * (size_t)ds->c + (size_t)c) * hw;
            for (size_t k = 0; k < hw; k++) {
                double v = p[k] / 255.0;
                sum += v;
                sq += v * v;
            }
        }
        double cnt = (double)ds->n * (double)hw, mean = cnt > 0 ? sum / cnt : 0;
        double var = cnt > 0 ? sq / cnt - mean * mean : 1;
        ds->mean[c] = (float)mean;
        ds->std[c] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
}

/* The shards of a TFRecord split: those whose names start with its prefix
 * (dataset.splits, measured), decoded by the feature mapping. */
static int load_tfrecord(const sai_pipeline_spec_t *s, const sai_stage_file_t *f, size_t n, bool train,
                         sai_nn_dataset_t *ds, sai_error_t *err)
{
    const char *prefix = train ? s->dataset.tfrecord.train : s->dataset.tfrecord.test;
    sai_nn_tfrecord_map_t map = {
        .image = s->dataset.tfrecord.image, .label = s->dataset.tfrecord.label,
        .c = (int)s->dataset.tfrecord.shape[0], .h = (int)s->dataset.tfrecord.shape[1],
        .w = (int)s->dataset.tfrecord.shape[2], .classes = (int)s->model.classes,
        .scale = (float)s->dataset.tfrecord.scale, .offset = (float)s->dataset.tfrecord.offset,
        .compression = SAI_TFRECORD_NONE,
    };
    bool any = false;
    int rc;
    for (size_t i = 0; i < n; i++) {
        if (prefix == NULL || strncmp(f[i].name, prefix, strlen(prefix)) != 0)
            continue;
        if ((rc = sai_nn_dataset_add_tfrecord(ds, &f[i].src, &map, err)))
            return rc;   /* the loader names the shard and the record */
        any = true;
    }
    if (!any)
        return sai_error_set(err, SAI_ENOTFOUND, "the dataset has no TFRecord shard named %s*", prefix ? prefix : "?");
    snprintf(ds->kind, sizeof ds->kind, "tfrecord");
    return 0;
}

int sai_pipeline__stage_load(const sai_pipeline_spec_t *s, const sai_stage_file_t *f, size_t n, bool train,
                             sai_nn_dataset_t *ds, sai_error_t *err)
{
    int rc;
    if (strcmp(s->dataset.format, "tfrecord") == 0) {
        if ((rc = load_tfrecord(s, f, n, train, ds, err)))
            return rc;
        unsigned lim = train ? s->hyper.train_limit : s->hyper.test_limit;
        if (lim > 0 && (unsigned)ds->n > lim)
            ds->n = (int)lim;
        data_norm(ds);
        return 0;
    }
    const char *kind = strcmp(s->dataset.format, "cifar10") == 0 ? "cifar10" : "fashion-mnist";
    if ((rc = sai_nn_dataset_set_norm(ds, kind, err)))
        return rc;
    if (strcmp(kind, "cifar10") == 0) {
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            bool is_train = strncmp(f[i].name, "data_batch_", 11) == 0;
            bool is_test = strncmp(f[i].name, "test_batch", 10) == 0;
            if ((train && is_train) || (!train && is_test)) {
                if ((rc = sai_nn_dataset_add_cifar10(ds, &f[i].src, err)))
                    return sai_error_prefix(err, "%s", f[i].name);
                any = true;
            }
        }
        if (!any)
            return sai_error_set(err, SAI_ENOTFOUND, "the dataset has no %s shard",
                                 train ? "data_batch_*.bin" : "test_batch.bin");
    } else {
        const sai_stage_file_t *im = find(f, n, train ? "train-images" : "t10k-images");
        const sai_stage_file_t *lb = find(f, n, train ? "train-labels" : "t10k-labels");
        if (im == NULL || lb == NULL)
            return sai_error_set(err, SAI_ENOTFOUND, "the dataset has no %s-images/-labels shards",
                                 train ? "train" : "t10k");
        if ((rc = sai_nn_dataset_add_idx(ds, &im->src, &lb->src, err)))
            return sai_error_prefix(err, "%s", im->name);
    }
    /* Limits keep the leading records (tests and quick runs). */
    unsigned lim = train ? s->hyper.train_limit : s->hyper.test_limit;
    if (lim > 0 && (unsigned)ds->n > lim)
        ds->n = (int)lim;
    return 0;
}

typedef struct pctx {
    sai_stage_progress_fn fn;
    void *ctx;
} pctx;

static void on_progress(void *ctx, const sai_nn_progress_info_t *p)
{
    pctx *pc = ctx;
    if (pc->fn == NULL || p->final)
        return;
    char line[256];
    snprintf(line, sizeof line,
             "{\"epoch\":%u,\"step\":%llu,\"total_steps\":%llu,\"loss\":%.5f,\"train_acc\":%.5f,"
             "\"images_per_s\":%.1f,\"seconds\":%.3f}",
             p->epoch, (unsigned long long)p->step, (unsigned long long)p->total_steps, p->loss,
             p->accuracy, p->images_per_s, p->seconds);
    pc->fn(pc->ctx, line);
}

void sai_pipeline__stage_result_clear(sai_stage_result_t *r)
{
    if (r->ckpt != NULL) {
        sai_wipe(r->ckpt, r->ckpt_len);
        free(r->ckpt);
    }
    free(r->epochs_json);
    memset(r, 0, sizeof *r);
}

/* The per-epoch test curve: appended as JSON text, one entry per epoch. */
typedef struct epochs {
    sai_nn_model_t          *m;
    const sai_nn_dataset_t  *test;
    sai_buf_t                  json;   /* uncapped, as before: one short entry per epoch */
    double                   eval_s;
} epochs;

static int epochs_add(epochs *e, uint32_t epoch, uint64_t step, double acc, double loss, sai_error_t *err)
{
    char one[160];
    int n = snprintf(one, sizeof one, "%s{\"epoch\":%u,\"step\":%llu,\"test_accuracy\":%.5f,\"test_loss\":%.5f}",
                     e->json.len ? "," : "[", epoch, (unsigned long long)step, acc, loss);
    if (n < 0 || (size_t)n >= sizeof one)
        return sai_error_set(err, SAI_EINVAL, "epoch entry too long");
    if (sai_buf_append(&e->json, one, (size_t)n) != 0)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}

static int on_epoch_end(void *ctx, uint32_t epoch, uint64_t step, sai_error_t *err)
{
    epochs *e = ctx;
    sai_nn_eval_result_t ev;
    double t = sai_now();
    int rc = sai_nn_evaluate(e->m, e->test, &ev, err);
    e->eval_s += sai_now() - t;
    return rc ? rc : epochs_add(e, epoch, step, ev.accuracy, ev.loss, err);
}

int sai_pipeline__stages(const sai_pipeline_spec_t *s, const sai_stage_file_t *files, size_t n,
                         sai_stage_progress_fn progress, void *ctx, sai_stage_result_t *res,
                         sai_error_t *err)
{
    return sai_pipeline__stages_ex(s, files, n, progress, ctx, NULL, NULL, res, err);
}

int sai_pipeline__stages_ex(const sai_pipeline_spec_t *s, const sai_stage_file_t *files, size_t n,
                            sai_stage_progress_fn progress, void *ctx, sai_stage_train_fn train_fn,
                            void *train_ctx, sai_stage_result_t *res, sai_error_t *err)
{
    memset(res, 0, sizeof *res);
    sai_nn_dataset_t train, test;
    sai_nn_dataset_init(&train);
    sai_nn_dataset_init(&test);
    sai_nn_model_t *m = NULL;
    int rc = 0;
    float *x = NULL;
    epochs eps = {0};
    sai_buf_init(&eps.json, SIZE_MAX);
    double t = sai_now();
    bool want_train = s->stages & SAI_STAGE_TRAIN;
    bool want_test = s->stages & (SAI_STAGE_EVALUATE | SAI_STAGE_INFER);

    /* ingest */
    if (!(s->stages & SAI_STAGE_INGEST))
        return sai_error_set(err, SAI_EINVAL, "a pipeline without the ingest stage has no data");
    if ((want_train && (rc = sai_pipeline__stage_load(s, files, n, true, &train, err))) ||
        (want_test && (rc = sai_pipeline__stage_load(s, files, n, false, &test, err))))
        goto out;
    /* A TFRecord test split is normalised like the data the model learnt. */
    if (want_train && want_test && strcmp(s->dataset.format, "tfrecord") == 0) {
        memcpy(test.mean, train.mean, sizeof test.mean);
        memcpy(test.std, train.std, sizeof test.std);
    }
    res->ingest_s = sai_now() - t;
    res->train_n = train.n;
    res->test_n = test.n;

    /* preprocess: normalisation constants are the dataset's; augmentation
     * is applied per batch by the engine. Without the stage, identity
     * normalisation. */
    if (!(s->stages & SAI_STAGE_PREPROCESS) || !s->preprocess.normalize) {
        for (int c = 0; c < 3; c++) {
            train.mean[c] = test.mean[c] = 0.0f;
            train.std[c] = test.std[c] = 1.0f;
        }
    }
    const sai_nn_dataset_t *shape = want_train ? &train : &test;
    if ((rc = sai_nn_model_create(&m, s->model.arch, shape->c, shape->h, shape->w, (int)s->model.classes,
                                  (int)s->hyper.batch, s->hyper.seed, err)))
        goto out;

    /* train */
    if (want_train) {
        sai_nn_train_cfg_t cfg = {0};
        pctx pc = {progress, ctx};
        cfg.epochs = s->hyper.epochs;
        cfg.batch = (int)s->hyper.batch;
        cfg.max_steps = s->hyper.max_steps;
        cfg.sgd.momentum = (float)s->hyper.momentum;
        cfg.sgd.weight_decay = (float)s->hyper.weight_decay;
        cfg.sched.kind = SAI_NN_SCHED_COSINE;
        cfg.sched.base_lr = (float)s->hyper.lr;
        cfg.sched.min_lr = 0.0f;
        if (s->stages & SAI_STAGE_PREPROCESS) {
            cfg.aug.hflip = s->preprocess.flip;
            cfg.aug.crop_pad = s->preprocess.crop ? (shape->h >= 32 ? 4 : 2) : 0;
        }
        cfg.seed = s->hyper.seed;
        cfg.progress_every = 50;
        cfg.progress = on_progress;
        cfg.progress_ctx = &pc;
        eps.m = m;
        eps.test = &test;
        if ((s->stages & SAI_STAGE_EVALUATE) && test.n > 0) {
            cfg.epoch_end = on_epoch_end;
            cfg.epoch_ctx = &eps;
        }
        sai_nn_train_result_t tr;
        struct rusage ru0, ru1;
        int have_ru = getrusage(RUSAGE_SELF, &ru0) == 0;
        t = sai_now();
        if ((rc = train_fn ? train_fn(train_ctx, m, &train, &cfg, &tr, err) : sai_nn_train(m, &train, &cfg, &tr, err)))
            goto out;
        res->train_s = sai_now() - t - eps.eval_s;
        res->epoch_eval_s = eps.eval_s;
        if (have_ru && getrusage(RUSAGE_SELF, &ru1) == 0)
            usage_delta(&res->train_usage, &ru0, &ru1);
        res->train_loss = tr.loss;
        res->train_accuracy = tr.accuracy;
        res->train_images_per_s = tr.images_per_s;
        res->steps = tr.steps;
    }

    /* evaluate */
    if (s->stages & SAI_STAGE_EVALUATE) {
        sai_nn_eval_result_t ev;
        t = sai_now();
        if ((rc = sai_nn_evaluate(m, &test, &ev, err)))
            goto out;
        res->evaluate_s = sai_now() - t + eps.eval_s;
        res->test_accuracy = ev.accuracy;
        res->test_loss = ev.loss;
        if (want_train) {
            /* The last epoch's point is this evaluation (same model). */
            uint32_t last = s->hyper.epochs;
            uint64_t spe = train.n > 0 && s->hyper.batch > 0
                               ? (uint64_t)train.n / (s->hyper.batch < (unsigned)train.n ? s->hyper.batch : (unsigned)train.n)
                               : 0;
            if (spe > 0 && res->steps < spe * last)
                last = (uint32_t)((res->steps + spe - 1) / spe);
            if ((rc = epochs_add(&eps, last, res->steps, ev.accuracy, ev.loss, err)))
                goto out;
            if (sai_buf_append(&eps.json, "]", 1) != 0) {
                rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
                goto out;
            }
            res->epochs_json = (char *)sai_buf_take(&eps.json, NULL);
        }
    }

    /* infer: batched forward passes over (up to 2000) test images; the
     * predictions stay in the enclave, only the throughput leaves. */
    if (s->stages & SAI_STAGE_INFER) {
        int B = (int)s->hyper.batch, total = test.n < 2000 ? test.n : 2000, done = 0;
        size_t img = (size_t)test.c * test.h * test.w;
        x = malloc((size_t)B * img * sizeof(float));
        int *idx = malloc((size_t)B * sizeof(int)), *y = malloc((size_t)B * sizeof(int));
        if (x == NULL || idx == NULL || y == NULL) {
            free(idx);
            free(y);
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory for inference");
            goto out;
        }
        t = sai_now();
        while (done < total) {
            int k = total - done < B ? total - done : B;
            for (int i = 0; i < k; i++)
                idx[i] = done + i;
            sai_nn_dataset_batch(&test, idx, k, NULL, NULL, x, y);
            (void)sai_nn_forward(m, x, k, false);
            done += k;
        }
        res->infer_s = sai_now() - t;
        res->infer_images_per_s = res->infer_s > 0 ? total / res->infer_s : 0;
        free(idx);
        free(y);
    }

    /* the checkpoint (plaintext; the caller seals and wipes it) */
    sai_nn_ckpt_meta_t meta = {0};
    snprintf(meta.dataset, sizeof meta.dataset, "%s", train.kind[0] ? train.kind : test.kind);
    meta.step = res->steps;
    meta.epoch = s->hyper.epochs;
    meta.sgd.momentum = (float)s->hyper.momentum;
    meta.sgd.weight_decay = (float)s->hyper.weight_decay;
    meta.lr = (float)s->hyper.lr;
    rc = sai_nn_ckpt_save_mem(m, &meta, &res->ckpt, &res->ckpt_len, err);
out:
    sai_buf_free(&eps.json);
    if (x != NULL) {
        sai_wipe(x, (size_t)s->hyper.batch * (size_t)test.c * test.h * test.w * sizeof(float));
        free(x);
    }
    /* The decoded images are plaintext data: wipe before returning memory. */
    if (train.pixels)
        sai_wipe(train.pixels, (size_t)train.n * train.c * train.h * train.w);
    if (test.pixels)
        sai_wipe(test.pixels, (size_t)test.n * test.c * test.h * test.w);
    sai_nn_dataset_free(&train);
    sai_nn_dataset_free(&test);
    sai_nn_model_free(m);
    if (rc)
        sai_pipeline__stage_result_clear(res);
    return rc;
}
