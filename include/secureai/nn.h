/*
 * nn.h — the training and inference engine (src/nn/).
 *
 * A small C engine in the spirit of llm.c: float32 NCHW tensors, 64-byte
 * aligned, owned by one arena per model (parameters, gradients, momentum,
 * activations, their gradients and all scratch), so a training step
 * allocates nothing. Convolutions are im2col + OpenBLAS sgemm (1x1 stride-1
 * convolutions go straight to sgemm). Non-GEMM kernels are loops parallel
 * over the batch or the channels (the engine's own pool, threads.c); OpenBLAS is pinned to one thread
 * so the two never oversubscribe the cores.
 *
 * Models: "resnet8", "resnet20", "resnet56" (CIFAR style, 16-32-64),
 * "resnet18", "resnet50" (CIFAR variants: 3x3 stem, no max pool) and
 * "smallcnn". Data: CIFAR-10 binary batches and IDX (plain or gzip), read
 * through a random-access callback (sai_nn_source_t) so a caller can feed
 * records from sealed files. Checkpoints: versioned binary format with a
 * SHA-256 trailer, to/from memory buffers or files.
 */
#ifndef SECUREAI_NN_H
#define SECUREAI_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"

/* ---- threads ------------------------------------------------------------ */

/* The one limit on engine threads: every command's --threads takes
 * 0..SAI_NN_THREADS_MAX (0 = every online CPU), and so does the pipeline's
 * HELLO message. */
#define SAI_NN_THREADS_MAX 64

/* Engine threads for the non-GEMM kernels and the per-image GEMM loops
 * (src/nn/threads.c holds the setting; sai_nn_forward, sai_nn_backward and
 * sai_nn_sgd_step read it once per call and pass it to the kernels).
 * OpenBLAS is set to one thread (the engine parallelises around it).
 * threads <= 0 means the number of online CPUs; more than
 * SAI_NN_THREADS_MAX is clamped. A model sizes its per-thread scratch for
 * the setting at sai_nn_model_create and never uses more threads. */
void sai_nn_set_threads(int threads);
int  sai_nn_get_threads(void);
/* threads as sai_nn_set_threads would resolve it (<= 0: online CPUs,
 * capped at SAI_NN_THREADS_MAX), without changing the setting. */
int  sai_nn_threads_resolve(int threads);

/* ---- models ------------------------------------------------------------- */

typedef struct sai_nn_model sai_nn_model_t;

/* One named tensor of the model: a trainable parameter (weight, bias, BN
 * gamma/beta) or a buffer (BN running mean/var). Pointers are borrowed from
 * the model's arena and live as long as the model. */
typedef struct sai_nn_tensor_info {
    const char *name;
    int         ndim;
    int         shape[4];
    size_t      numel;
    float      *data;
    float      *grad;       /* NULL for buffers */
    float      *momentum;   /* NULL for buffers */
    bool        trainable;
} sai_nn_tensor_info_t;

/* Build a model. name: see above. Input is in_c x in_h x in_w, output
 * num_classes logits; max_batch bounds the batch of every later call (the
 * arena is sized for it). seed makes the Kaiming initialisation
 * reproducible. *out is owned by the caller: sai_nn_model_free. */
int sai_nn_model_create(sai_nn_model_t **out, const char *name, int in_c, int in_h,
                        int in_w, int num_classes, int max_batch, uint64_t seed,
                        sai_error_t *err) SAI_MUST_CHECK;
void sai_nn_model_free(sai_nn_model_t *m);

/* Flags for sai_nn_model_create_ex. */
#define SAI_NN_INFERENCE_ONLY 1u   /* no gradients, momentum or backward scratch:
                                    * forward and checkpoint load only */
#define SAI_NN_NO_WINOGRAD    2u   /* 3x3 stride-1 convolutions by im2col + sgemm
                                    * instead of Winograd F(2x2,3x3) (tests and
                                    * benchmarks compare the two) */
#define SAI_NN_NO_EVAL_CACHE  4u   /* evaluation runs batch norm as its own op, with
                                    * the trained weights (no folded copies): the
                                    * unfused reference for tests and benchmarks */
int sai_nn_model_create_ex(sai_nn_model_t **out, const char *name, int in_c, int in_h,
                           int in_w, int num_classes, int max_batch, uint64_t seed,
                           unsigned flags, sai_error_t *err) SAI_MUST_CHECK;

/* Evaluation-mode forwards run every convolution followed by batch norm
 * with the BN folded in (weights scaled per output channel, a bias, and
 * for Winograd layers the transformed weights), cached in memory the model
 * allocates at its first evaluation forward and recomputed whenever the
 * weights may have changed: after sai_nn_sgd_step, a checkpoint load, a
 * training-mode forward (running statistics), and any sai_nn_model_tensor
 * call (its data pointer is writable). A caller that keeps a data pointer
 * across forwards and writes through it later calls this first. */
void sai_nn_model_weights_changed(sai_nn_model_t *m);

/* True when name is a model this engine can build. */
bool        sai_nn_model_known(const char *name);
const char *sai_nn_model_name(const sai_nn_model_t *m);
int         sai_nn_model_max_batch(const sai_nn_model_t *m);
void        sai_nn_model_input(const sai_nn_model_t *m, int *c, int *h, int *w);
int         sai_nn_model_classes(const sai_nn_model_t *m);
size_t      sai_nn_model_num_params(const sai_nn_model_t *m);   /* trainable scalars */
size_t      sai_nn_model_arena_bytes(const sai_nn_model_t *m);
/* Multiply-adds of one forward pass for one image (x2 = FLOPs). */
double      sai_nn_model_macs(const sai_nn_model_t *m);

int  sai_nn_model_num_tensors(const sai_nn_model_t *m);
void sai_nn_model_tensor(const sai_nn_model_t *m, int i, sai_nn_tensor_info_t *info);

/* Forward pass of n <= max_batch images x[n][c][h][w]. train selects batch
 * statistics for batch norm (and updates the running statistics). Returns
 * the logits [n][classes], borrowed from the arena, valid until the next
 * forward. */
const float *sai_nn_forward(sai_nn_model_t *m, const float *x, int n, bool train);

/* Softmax cross-entropy (mean over the batch) of the last forward's logits.
 * Stores dloss/dlogits for sai_nn_backward. *correct (may be NULL) gets the
 * number of arg-max hits. */
float sai_nn_loss(sai_nn_model_t *m, const int *labels, int n, int *correct);

/* The same with label smoothing eps in [0, 1): the target is
 * (1 - eps) * onehot + eps / classes, as torch.nn.CrossEntropyLoss(
 * label_smoothing=eps); the returned loss is the smoothed one. */
float sai_nn_loss_smoothed(sai_nn_model_t *m, const int *labels, int n, float eps, int *correct);

/* Zero every parameter gradient. */
void sai_nn_zero_grad(sai_nn_model_t *m);
/* Backward pass of the last forward (which must have used train=true) from
 * the gradient stored by sai_nn_loss; accumulates into parameter grads. */
void sai_nn_backward(sai_nn_model_t *m, int n);

/* Gradient w.r.t. the input of the last backward: computed only after
 * sai_nn_set_input_grad(m, true) (tests); NULL otherwise. */
void sai_nn_set_input_grad(sai_nn_model_t *m, bool on);
const float *sai_nn_input_grad(const sai_nn_model_t *m);

/* ---- optimizer and schedules -------------------------------------------- */

typedef struct sai_nn_sgd {
    float momentum;       /* 0.9 typical; 0 = plain SGD */
    float weight_decay;   /* L2, added to the gradient (PyTorch semantics) */
    bool  nesterov;
} sai_nn_sgd_t;

/* One SGD step with learning rate lr over every trainable tensor. Same
 * update rule as torch.optim.SGD (dampening 0). */
void sai_nn_sgd_step(sai_nn_model_t *m, const sai_nn_sgd_t *opt, float lr);

typedef enum {
    SAI_NN_SCHED_CONST = 0,
    SAI_NN_SCHED_STEP,     /* lr *= gamma every step_size steps */
    SAI_NN_SCHED_COSINE,   /* cosine from lr to min_lr over total_steps */
    SAI_NN_SCHED_ONECYCLE, /* PyTorch's OneCycleLR (cosine annealing, no momentum
                            * cycling): the warm-up rises by half a cosine from
                            * base_lr/25 to base_lr, then a cosine falls to min_lr
                            * at total_steps */
} sai_nn_sched_kind_t;

typedef struct sai_nn_sched {
    sai_nn_sched_kind_t kind;
    float    base_lr;
    float    min_lr;        /* cosine floor */
    float    gamma;         /* step decay factor */
    uint64_t step_size;     /* step: steps between decays */
    uint64_t total_steps;   /* cosine: length */
    uint64_t warmup_steps;  /* linear warm-up from 0 to base_lr (onecycle: the
                             * rising phase), then the schedule */
    float    warmup_frac;   /* sai_nn_train: when warmup_steps is 0, warm up for
                             * this fraction of the run's steps (0 = none) */
} sai_nn_sched_t;

/* Learning rate at step (0-based). */
float sai_nn_sched_lr(const sai_nn_sched_t *s, uint64_t step);

/* ---- data --------------------------------------------------------------- */

/* A random-access byte source: read exactly len bytes at off into buf.
 * Returns 0 or a negative SAI_E* (short reads are errors). size is the total
 * length of the source. The pipeline implements it over sealed files. */
typedef int (*sai_nn_read_at_fn)(void *ctx, uint64_t off, void *buf, size_t len,
                                 sai_error_t *err);
typedef struct sai_nn_source {
    sai_nn_read_at_fn read_at;
    void             *ctx;
    uint64_t          size;
    const char       *name;   /* for messages; may be NULL */
} sai_nn_source_t;

/* A source over a plain file (opened with open(2), read with pread(2)).
 * Close it with sai_nn_source_file_close. */
int  sai_nn_source_file(sai_nn_source_t *src, const char *path, sai_error_t *err) SAI_MUST_CHECK;
void sai_nn_source_file_close(sai_nn_source_t *src);
/* A source over a memory buffer (borrowed: must outlive the source). */
void sai_nn_source_mem(sai_nn_source_t *src, const void *buf, size_t len);

#define SAI_NN_CIFAR_RECORD   3073u      /* 1 label byte + 3x32x32 pixels */
#define SAI_NN_DATA_MAX_BYTES (1ull << 30) /* cap on one decoded source */

/* A labelled image set held as uint8 CHW pixels. */
typedef struct sai_nn_dataset {
    int      n, c, h, w, classes;
    uint8_t *pixels;     /* n * c*h*w, owned */
    uint8_t *labels;     /* n, owned */
    float    mean[3], std[3];   /* per-channel normalisation of pixel/255 */
    char     kind[16];   /* "cifar10" or "fashion-mnist" */
} sai_nn_dataset_t;

void sai_nn_dataset_init(sai_nn_dataset_t *ds);
void sai_nn_dataset_free(sai_nn_dataset_t *ds);
/* Append every record of a CIFAR-10 binary batch. Fails on a size that is
 * not a multiple of 3073 or a label > 9. */
int sai_nn_dataset_add_cifar10(sai_nn_dataset_t *ds, const sai_nn_source_t *src,
                               sai_error_t *err) SAI_MUST_CHECK;
/* Load IDX images (magic 0x803, u8) and labels (0x801), plain or gzip. */
int sai_nn_dataset_add_idx(sai_nn_dataset_t *ds, const sai_nn_source_t *images,
                           const sai_nn_source_t *labels, sai_error_t *err) SAI_MUST_CHECK;
/* Parse an in-memory IDX file (plain or gzip): *out malloc'ed u8 payload,
 * dims[] filled (up to 4). Exposed for the fuzzer. */
int sai_nn_idx_parse(const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len,
                     int *ndim, uint32_t dims[4], sai_error_t *err) SAI_MUST_CHECK;
/* Load the train or test split of a dataset directory: "cifar10"
 * (data_batch_1..5.bin / test_batch.bin) or "fashion-mnist" (train-/t10k-
 * images-idx3-ubyte[.gz] and labels). */
int sai_nn_dataset_load_dir(sai_nn_dataset_t *ds, const char *kind, const char *dir,
                            bool train, sai_error_t *err) SAI_MUST_CHECK;
/* Class name k of a dataset kind ("cifar10", "fashion-mnist"); "?" if unknown. */
const char *sai_nn_class_name(const char *kind, int k);
/* Set mean/std for a dataset kind (known constants). */
int sai_nn_dataset_set_norm(sai_nn_dataset_t *ds, const char *kind, sai_error_t *err);

typedef struct sai_nn_augment {
    int  crop_pad;    /* random crop after zero padding by this many pixels; 0 = off */
    bool hflip;       /* random horizontal flip */
} sai_nn_augment_t;

/* Fill x[n][c][h][w] (normalised) and y[n] from records idx[0..n-1].
 * rng (may be NULL when aug is NULL) drives the augmentation. */
void sai_nn_dataset_batch(const sai_nn_dataset_t *ds, const int *idx, int n,
                          const sai_nn_augment_t *aug, uint64_t *rng, float *x, int *y);

/* Write CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin,
 * batches.meta.txt) with n training and n/5 (at least 10) test records of
 * synthetic, learnable images (a class-dependent pattern plus noise). */
int sai_nn_gen_cifar10(const char *dir, int n, uint64_t seed, sai_error_t *err) SAI_MUST_CHECK;

/* ---- random numbers ----------------------------------------------------- */
uint64_t sai_nn_rng_next(uint64_t *state);      /* splitmix64 */
float    sai_nn_rng_uniform(uint64_t *state);   /* [0,1) */
void     sai_nn_shuffle(int *idx, int n, uint64_t *state);

/* ---- checkpoints -------------------------------------------------------- */

#define SAI_NN_CKPT_MAGIC   "SAINNCK\x01"
#define SAI_NN_CKPT_VERSION 1u
#define SAI_NN_CKPT_MAX     (2ull << 30)

typedef struct sai_nn_ckpt_meta {
    char     model[32];
    char     dataset[16];
    int      in_c, in_h, in_w, classes;
    uint64_t step;
    uint32_t epoch;
    sai_nn_sgd_t sgd;
    float    lr;
} sai_nn_ckpt_meta_t;

/* Serialise every tensor (data, and momentum for trainable ones) and meta
 * (model/input fields are taken from m). *buf malloc'ed, caller frees. */
int sai_nn_ckpt_save_mem(const sai_nn_model_t *m, const sai_nn_ckpt_meta_t *meta,
                         uint8_t **buf, size_t *len, sai_error_t *err) SAI_MUST_CHECK;
/* Read only the metadata (after checking magic, version, length, checksum). */
int sai_nn_ckpt_read_meta(const uint8_t *buf, size_t len, sai_nn_ckpt_meta_t *meta,
                          sai_error_t *err) SAI_MUST_CHECK;
/* Load into an existing model; fails (model untouched) when the model name,
 * a tensor name or shape differs, or the buffer is truncated or corrupt. */
int sai_nn_ckpt_load_mem(sai_nn_model_t *m, const uint8_t *buf, size_t len,
                         sai_nn_ckpt_meta_t *meta, sai_error_t *err) SAI_MUST_CHECK;
/* Build the model the checkpoint describes (inference-only: no gradient or
 * momentum memory; the checkpoint's momentum is skipped) and load it. */
int sai_nn_ckpt_load_model(sai_nn_model_t **out, const uint8_t *buf, size_t len,
                           int max_batch, sai_nn_ckpt_meta_t *meta, sai_error_t *err) SAI_MUST_CHECK;
int sai_nn_ckpt_save_file(const sai_nn_model_t *m, const sai_nn_ckpt_meta_t *meta,
                          const char *path, sai_error_t *err) SAI_MUST_CHECK;
int sai_nn_ckpt_load_file(sai_nn_model_t **out, const char *path, int max_batch,
                          sai_nn_ckpt_meta_t *meta, sai_error_t *err) SAI_MUST_CHECK;

/* ---- training as a library call ----------------------------------------- */

typedef struct sai_nn_progress_info {
    bool     final;          /* true once, for the summary */
    uint32_t epoch, epochs;
    uint64_t step, total_steps;
    float    loss;           /* mean over the interval (summary: last epoch) */
    float    accuracy;       /* training accuracy over the interval */
    double   images_per_s;
    double   seconds;        /* since the start */
    double   eta_s;
} sai_nn_progress_info_t;

typedef void (*sai_nn_progress_fn)(void *ctx, const sai_nn_progress_info_t *p);

typedef struct sai_nn_train_cfg {
    uint32_t epochs;
    int      batch;
    uint64_t max_steps;          /* 0 = no limit */
    sai_nn_sgd_t sgd;
    sai_nn_sched_t sched;        /* total_steps filled in when 0 (cosine) */
    sai_nn_augment_t aug;
    float    label_smoothing;    /* 0 = plain cross-entropy */
    uint64_t seed;
    uint64_t progress_every;     /* steps between progress callbacks; 0 = 50 */
    sai_nn_progress_fn progress;
    void    *progress_ctx;
    /* Called after every epoch but the last with the model between steps
     * (e.g. to evaluate the test set); its time is not counted in the
     * training's seconds / images_per_s. A non-zero return stops training
     * with that code (err filled by the callback). */
    int    (*epoch_end)(void *ctx, uint32_t epoch, uint64_t step, sai_error_t *err);
    void    *epoch_ctx;
} sai_nn_train_cfg_t;

/* The plan of a run as sai_nn_train makes it, for loops that train in their
 * own way (the distributed one): records/batch steps per epoch, the total
 * (epochs, cut at max_steps) and the schedule with total_steps and the
 * warm-up resolved against that total. batch in 1..records. */
void sai_nn_train_plan(const sai_nn_train_cfg_t *cfg, int records, int batch,
                       uint64_t *steps_per_epoch, uint64_t *total, sai_nn_sched_t *sched);

typedef struct sai_nn_train_result {
    uint64_t steps;
    uint32_t epochs;
    float    loss, accuracy;     /* last epoch's training loss and accuracy */
    double   seconds, images_per_s;
} sai_nn_train_result_t;

/* The accounting of a training loop (sai_nn_train's, and loops that train
 * in their own way, such as the distributed one): the progress callbacks
 * every cfg->progress_every steps and at the last, and the result's loss,
 * accuracy and throughput. first_step is where this run starts (a resumed
 * run does not start at 0); time spent in sai_nn_meter_pause is not
 * training time. */
typedef struct sai_nn_meter {
    const sai_nn_train_cfg_t *cfg;
    uint64_t total, first_step, every, seen;
    double   t0, iv_loss, ep_loss;
    uint64_t iv_correct, iv_n, iv_steps, ep_correct, ep_n, ep_steps;
} sai_nn_meter_t;

void sai_nn_meter_start(sai_nn_meter_t *mt, const sai_nn_train_cfg_t *cfg, uint64_t first_step,
                        uint64_t total);
void sai_nn_meter_epoch(sai_nn_meter_t *mt);
/* After step `step` (0-based) of epoch `epoch` (0-based): its loss and
 * correct count over n records; images counts toward images/s. */
void sai_nn_meter_step(sai_nn_meter_t *mt, uint32_t epoch, uint64_t step, float loss, int correct,
                       int n, int images);
void sai_nn_meter_pause(sai_nn_meter_t *mt, double seconds);
void sai_nn_meter_result(const sai_nn_meter_t *mt, uint64_t steps, uint32_t epochs,
                         sai_nn_train_result_t *res);

/* The engine's measured defaults for a dataset kind ("cifar10",
 * "fashion-mnist"; others get the fashion-mnist ones without augmentation):
 * optimizer, schedule, augmentation and label smoothing (docs/engine.md,
 * "Training defaults"). Sets epochs 1 and batch 128 and clears everything
 * else (seed 0, no progress callback); callers override what they choose. */
void sai_nn_train_cfg_defaults(sai_nn_train_cfg_t *cfg, const char *kind);

/* Train m on ds. The model's max_batch must be >= cfg->batch. */
int sai_nn_train(sai_nn_model_t *m, const sai_nn_dataset_t *ds, const sai_nn_train_cfg_t *cfg,
                 sai_nn_train_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_nn_eval_result {
    int      n, correct, classes;
    float    accuracy, loss;
    int      confusion[16][16];  /* [true][predicted], classes <= 16 */
} sai_nn_eval_result_t;

int sai_nn_evaluate(sai_nn_model_t *m, const sai_nn_dataset_t *ds, sai_nn_eval_result_t *res,
                    sai_error_t *err) SAI_MUST_CHECK;

#endif
