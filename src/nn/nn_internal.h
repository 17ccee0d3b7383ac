/*
 * nn_internal.h — shared between the files of src/nn/: the model graph
 * (a flat list of ops over a table of activations and a table of named
 * tensors), the kernels' signatures and the OpenMP helpers.
 */
#ifndef SAI_NN_INTERNAL_H
#define SAI_NN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/nn.h"

/* The worker pool (threads.c): run fn over [0, n) split into one
 * contiguous chunk per thread, min(threads, n) of them (threads comes from
 * the caller, never from the global setting); tid is 0..threads-1 and
 * indexes per-thread scratch. */
typedef void (*nn_task_fn)(void *ctx, long begin, long end, int tid);
void sai_nn__parallel(long n, int threads, nn_task_fn fn, void *ctx);
/* Threads for a kernel touching `work` floats out of `threads` available
 * (small work runs inline). */
int sai_nn__grain(int threads, size_t work);
/* Threads for one pass over m: the setting, capped by the threads m's
 * scratch was sized for. Read by the drivers only. */
int sai_nn__pass_threads(const sai_nn_model_t *m);

#define SAI_NN_ALIGN 64
#define NN_BN_EPS 1e-5f   /* batch norm's epsilon (bn.c, and the eval folds in model.c) */
#define SAI_NN_MAX_TENSORS 512
#define SAI_NN_MAX_ACTS 512
#define SAI_NN_MAX_OPS 512
#define SAI_NN_MAX_THREADS SAI_NN_THREADS_MAX

typedef struct nn_tensor {
    char   name[96];
    int    ndim, shape[4];
    size_t numel;
    bool   trainable;
    float *data, *grad, *mom;
} nn_tensor;

/* One activation: per image c x h x w floats; x and dx hold max_batch images. */
typedef struct nn_act {
    int    c, h, w;
    size_t size;        /* c*h*w */
    bool   need_grad;   /* false for the input */
    int    prod, last;  /* producing op (-1: input), last reading op (logits: nops) */
    float *x, *dx;
    size_t region;      /* floats between the threads' regions of x when evaluation
                         * splits the batch over threads (eval_split in model.c);
                         * 0: in image order, thread t's first image i0 at x + i0 * size */
} nn_act;

typedef enum {
    OP_CONV, OP_BN, OP_RELU, OP_MAXPOOL, OP_AVGPOOL, OP_GAP, OP_LINEAR, OP_ADD,
} nn_op_kind;

/* Batch norm's per-channel statistics of the last training-mode forward,
 * read by its backward: the batch mean, 1/sqrt(var + eps), and the
 * y = x*scale + shift the forward applied (the fused ReLU's mask). */
typedef struct nn_bn_saved {
    float *mean, *istd, *scale, *shift;
} nn_bn_saved;

typedef struct nn_op {
    nn_op_kind kind;
    int in, in2, out;        /* act indices */
    int w, b, rm, rv;        /* tensor indices (-1 unused) */
    int k, stride, pad;
    bool relu;               /* BN / ADD: ReLU fused into the output */
    bool fuse_bn;            /* CONV: the next op is a BN that is its output's only
                              * reader; evaluation folds it in (nn_eval_cache) */
    bool fuse_add;           /* CONV with fuse_bn: that BN (no ReLU) feeds only the residual
                              * add right after it; evaluation folds the add (and its
                              * ReLU) into the convolution's epilogue too */
    nn_bn_saved save;        /* BN, C floats each, arena */
} nn_op;

/* Evaluation-mode caches, derived from the weights (model.c, eval_cache):
 * per convolution followed by batch norm, the weights scaled by the BN's
 * gamma/sqrt(running_var + eps), its shift as a bias and, for Winograd
 * shapes, those weights already transformed (U[36][K][C]). The trained
 * tensors are never overwritten; training-mode forwards never read this.
 *
 * Validity is one counter: `version` moves whenever the weights can have
 * changed — every writer inside the engine (SGD step, checkpoint load,
 * training-mode forward: running statistics, initialisation) and every
 * hand-out of a writable pointer (sai_nn_model_tensor, whose data pointer
 * callers write through) calls nn_weights_changed — and an eval forward
 * rebuilds the cache when `built` != `version`. It lives behind a pointer
 * so that the const accessor can bump it. */
typedef struct nn_fold {
    float *w;       /* [K][C][k][k] folded weights */
    float *b;       /* [K] folded bias */
    float *u;       /* [36][K][C] Winograd-transformed folded weights, or NULL */
} nn_fold;

typedef struct nn_eval_cache {
    uint64_t version;        /* weights version: bumped by nn_weights_changed */
    uint64_t built;          /* version the folds were computed from; 0 = none */
    bool     disabled;       /* SAI_NN_NO_EVAL_CACHE, or the allocation failed */
    bool     use;            /* this forward runs folded (set by sai_nn_forward) */
    bool     no_split;       /* SAI_NN_NO_EVAL_SPLIT at creation: every kernel splits
                              * its own work (model.c, eval_split) */
    struct sai_nn_model *views;   /* per thread views for the split, or NULL */
    bool     packed;         /* folds packed for the AVX-512 GEMM (sai_nn__gemm_fast at
                              * the first eval forward; fixes the block's layout) */
    float   *block;          /* one allocation for every fold (at the first eval forward) */
    size_t   floats;
    nn_fold  fold[SAI_NN_MAX_OPS];   /* indexed by the conv op */
} nn_eval_cache;

/* A convolution's epilogue in evaluation mode (sai_nn__conv_forward_ex):
 * y = conv(x, w) + bias[k] (+ res), ReLU if relu; wino_u: w already transformed
 * (Winograd calls skip their weight transform). NULL members: none. */
typedef struct nn_conv_epi {
    const float *bias;
    const float *wino_u;
    const float *res;   /* residual added before the ReLU, laid out as y; or NULL */
    bool relu;
    bool packed;    /* w is packed [K/8][C*k*k][8] and wino_u [36][K/8][C][8]
                     * (sai_nn__gemm_pack): the products run sai_nn__gemm_packed */
} nn_conv_epi;

/* The convolution kernels' workspace (conv.c, winograd.c): sized at model
 * creation for the model's largest convolution (sai_nn__conv_ws_fit) and
 * laid out in its arena for scratch_threads threads. Per-thread buffers:
 * thread t's block starts t * its *_floats floats after the first (each a
 * multiple of 16 floats, 64 bytes); wino_u is one shared block. */
typedef struct nn_conv_ws {
    int    max_batch;        /* the largest N of a call: fixes Winograd's chunk of tiles */
    bool   winograd;         /* Winograd allowed (false: SAI_NN_NO_WINOGRAD) */
    size_t col_floats;       /* per thread im2col (col) / col2im (dcol) columns */
    size_t dw_floats;        /* per thread weight-gradient buffer (threads 1..) */
    size_t ybuf_floats;      /* per thread [K][g*P] output/gradient staging */
    float *col, *dcol, *dwbuf, *ybuf;   /* dcol, dwbuf: training only (else NULL) */
    size_t wino_floats;      /* per thread Winograd tiles (winograd.c) */
    size_t wino_u_floats;    /* shared transformed weights [36][K][C] */
    float *wino, *wino_u;
    int    wino_tap_c;       /* largest C: per thread tap scratch */
    size_t wino_tap_floats;  /* per thread: [9][C] taps + [18][C] half transform */
    float *wino_tap;
} nn_conv_ws;

struct sai_nn_model {
    char    name[32];
    int     in_c, in_h, in_w, classes, max_batch;
    int     ntensors, nacts, nops;
    nn_tensor tensors[SAI_NN_MAX_TENSORS];
    nn_act  acts[SAI_NN_MAX_ACTS];
    nn_op   ops[SAI_NN_MAX_OPS];
    int     logits;              /* act index of the output */
    int     last_n;
    bool    inference;           /* SAI_NN_INFERENCE_ONLY */
    bool    last_train;
    nn_conv_ws conv_ws;          /* convolution scratch, for scratch_threads threads */
    int     scratch_threads;
    void   *arena;
    size_t  arena_bytes;
    double  macs;
    uint64_t rng;
    nn_eval_cache *eval;         /* evaluation-mode folds; never NULL after create */
};

/* Every path that may change a weight or a BN statistic calls this (see
 * nn_eval_cache); the next evaluation-mode forward recomputes the folds. */
static inline void nn_weights_changed(const sai_nn_model_t *m)
{
    if (m->eval != NULL)
        m->eval->version++;
}

/* Kernels, with explicit shapes, llm.c style: pointers and sizes only, no
 * model; the op table's adapters (model.c) are the one reader of the
 * activation table. Backward accumulates into gradients (where a kernel
 * takes `fresh`, it stores instead: the op table's bwd_stores); a NULL
 * input gradient is not needed. T is the pass's thread count
 * (sai_nn__pass_threads), passed by the driver; a kernel that takes a
 * workspace must get T <= the threads it was sized for. */

/* 2-D convolution, no bias: y[N][K][Ho][Wo] = w[K][C][k][k] (*) x[N][C][H][W]
 * with stride s and zero padding p, Ho = (H + 2p - k) / s + 1, Wo likewise.
 * 3x3 stride-1 pad-1 calls go to Winograd when ws allows it and the batch
 * has 8 tiles or more (sai_nn__wino_eligible), the rest to im2col + sgemm.
 * Backward: dw += and dx += (dx NULL: not needed). N <= ws->max_batch. */
void sai_nn__conv_forward(float *y, const float *x, const float *w, int N, int C, int H, int W,
                          int K, int k, int s, int p, const nn_conv_ws *ws, int T);
/* The same with an evaluation epilogue (epi may be NULL: plain). */
void sai_nn__conv_forward_ex(float *y, const float *x, const float *w, const nn_conv_epi *epi,
                             int N, int C, int H, int W, int K, int k, int s, int p,
                             const nn_conv_ws *ws, int T);
void sai_nn__conv_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                           int N, int C, int H, int W, int K, int k, int s, int p,
                           const nn_conv_ws *ws, int T);
/* Grows ws's sizes (not its buffers) to fit a convolution of this shape
 * for ws->max_batch images (ws->winograd set first); train: the backward's
 * buffers too. Model creation calls it for every convolution, then lays
 * the buffers out for scratch_threads threads (model.c, layout): T blocks
 * of each *_floats (dcol as col; dcol and dwbuf for training only), one of
 * wino_u_floats. */
void sai_nn__conv_ws_fit(nn_conv_ws *ws, int C, int H, int W, int K, int k, int s, int p,
                         bool train);
void sai_nn__relu_forward(float *y, const float *x, long len, int T);
void sai_nn__relu_backward(float *dx, const float *y, const float *dy, long len, bool fresh, int T);
void sai_nn__add_forward(float *y, const float *a, const float *b, long len, bool relu, int T);
void sai_nn__add_backward(float *da, float *db, const float *y, const float *dy, long len, bool relu,
                          bool fa, bool fb, int T);
void sai_nn__pool_forward(float *y, const float *x, int NC, int H, int W, int k, int s, bool max,
                          int T);
void sai_nn__pool_backward(float *dx, const float *x, const float *dy, int NC, int H, int W, int k,
                           int s, bool max, int T);
void sai_nn__gap_forward(float *y, const float *x, int NC, int HW, int T);
void sai_nn__gap_backward(float *dx, const float *dy, int NC, int HW, bool fresh, int T);
void sai_nn__linear_forward(float *y, const float *x, const float *W, const float *b, int N, int in,
                            int out, int T);
void sai_nn__linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                             const float *W, int N, int in, int out, int T);
/* Batch norm over x[N][C][HW], per channel. Training mode normalises with
 * the batch statistics, saves them in *sv and updates the running mean and
 * variance; evaluation mode uses the running ones and writes neither.
 * relu: ReLU fused into y. Backward: dgamma, dbeta += ; dx (NULL: not
 * needed) += or, dx_fresh, = (the op table's bwd_stores). */
void sai_nn__bn_forward(float *y, const float *x, const float *gamma, const float *beta,
                        float *run_mean, float *run_var, const nn_bn_saved *sv, int N, int C,
                        int HW, bool train, bool relu, int T);
void sai_nn__bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                         const float *gamma, const nn_bn_saved *sv, int N, int C, int HW,
                         bool relu, bool dx_fresh, int T);

/* Short row copies (16-64 floats) as inline loops: GCC otherwise turns the
 * loops into memcpy/memset calls whose overhead dominates at that size
 * (perf: 6.5% of a ResNet-8 step in memmove from im2col and the Winograd
 * row loads). */
#if defined(__GNUC__) && !defined(__clang__)
#define NN_INLINE_COPIES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NN_INLINE_COPIES
#endif

/* Winograd F(4x4,3x3) for 3x3 stride-1 pad-1 convolutions (winograd.c),
 * called by sai_nn__conv_forward/backward: x, dx [N][C][H][W], y, dy
 * [N][K][H][W], w [K][C][3][3]. The sizing functions serve model creation
 * (the workspace); the chunk of tiles depends on the largest batch, so a
 * call's sums do too (not on N alone). Backward: thread t accumulates into
 * dw[t] (t > 0: zeroed first) and sets used[t]; the caller sums them. */
bool   sai_nn__wino_shape_ok(int C, int K, int k, int s, int p);
bool   sai_nn__wino_eligible(const nn_conv_ws *ws, int N, int C, int H, int W, int K, int k,
                             int s, int p);
int    sai_nn__wino_chunk(int C, int H, int W, int K, int max_batch);
size_t sai_nn__wino_thread_floats(int C, int H, int W, int K, int max_batch, bool train);
size_t sai_nn__wino_u_floats(int C, int K);
void   sai_nn__wino_forward(float *y, const float *x, const float *w, int N, int C, int H, int W,
                            int K, const nn_conv_ws *ws, int T);
/* With an epilogue: bias / ReLU per output channel in the output
 * transform; epi->wino_u (if set) replaces the weight transform of w. */
void   sai_nn__wino_forward_ex(float *y, const float *x, const float *w, const nn_conv_epi *epi,
                               int N, int C, int H, int W, int K, const nn_conv_ws *ws, int T);
/* u[36][K][C] = the transform of w[K][C][3][3] (ws: its tap scratch). */
void   sai_nn__wino_weights(float *u, const float *w, int C, int K, const nn_conv_ws *ws, int T);
void   sai_nn__wino_backward(float *dx, float *const *dw, const float *dy, const float *x,
                             const float *w, int N, int C, int H, int W, int K,
                             const nn_conv_ws *ws, int T, bool *used);

/* The evaluation path's tile transforms in AVX-512 (wino_x86.c), used when
 * the eval cache is packed (sai_nn__gemm_fast() also means AVX-512VL).
 * in: V planes of channels [0, C) for the run of cnt tiles from tile r0 of
 * image x (numbered across images of P tiles, images isz floats apart):
 * v[xi * vs + c * cs + t]. out: y = A^T m A (+ bias[k], + res, ReLU) for
 * channels [0, K) from m[xi * ms + k * ks + t]; y and res images osz apart. */
#if defined(__x86_64__) && defined(__GNUC__)
#define NN_X512 1
void sai_nn__wino_in_x512(const float *x, size_t isz, int C, int P, int H, int W, int tw,
                          int r0, int cnt, float *v, size_t cs, size_t vs);
void sai_nn__wino_out_x512(const float *m, size_t ks, size_t ms, float *y, size_t osz, int K,
                           int P, int H, int W, int tw, int r0, int cnt, const float *bias,
                           const float *res, bool relu);
/* The evaluation path's direct convolution (conv_x86.c): 3x3 pad 1 stride
 * 1 or 2, 1x1 stride 2; one image, w packed as for sai_nn__gemm_packed
 * ([K/8][C*k*k][8]), the same epilogue; only for the shapes
 * sai_nn__conv_x512_ok takes. */
bool sai_nn__conv_x512_ok(int W, int k, int s, int p, int Wo);
void sai_nn__conv_x512(float *y, const float *x, const float *ap, int C, int H, int W, int K,
                       int k, int s, int p, int Ho, int Wo, const float *bias, const float *res,
                       bool relu);
#endif

/* Backward: op is the first to touch act's gradient in this pass (it is the
 * act's last reader), so the buffer holds stale data. Kernels whose op
 * table entry (model.c) says bwd_stores then store instead of accumulating
 * and the driver skips zeroing the buffer; for other kernels the driver
 * zeroes it first. */
static inline bool nn_dx_fresh(const sai_nn_model_t *m, const nn_op *op, int act)
{
    return m->acts[act].last == (int)(op - m->ops);
}

/* Images per GEMM for a conv with P = Ho*Wo output pixels (conv.c). */
static inline int nn_conv_group(int P)
{
    return P >= 256 ? 1 : (256 + P - 1) / P;
}

/* The evaluation path's GEMM (gemm.c): c[M][N] = a[M][K] b[K][N] (+ bias[m],
 * ReLU) with a packed by sai_nn__gemm_pack into [ceil(M/8)][K][8] (rows past M
 * zero), b and c rows ldb / ldc floats apart; res (or NULL) is added before the
 * ReLU, laid out as c. Only when sai_nn__gemm_fast():
 * AVX-512F and no SAI_NN_NO_AVX512 in the environment. */
bool   sai_nn__gemm_fast(void);
size_t sai_nn__gemm_packed_floats(int M, int K);
void   sai_nn__gemm_pack(float *ap, const float *a, int M, int K, size_t lda);
void   sai_nn__gemm_packed(int M, int N, int K, const float *ap, const float *b, size_t ldb,
                           float *c, size_t ldc, const float *bias, const float *res, bool relu);

/* model builder (model.c) */
int sai_nn__build(sai_nn_model_t *m, sai_error_t *err);

/* bounds-checked read from a source (source.c) */
int sai_nn__src_read(const sai_nn_source_t *src, uint64_t off, void *buf, size_t len, sai_error_t *err);

/* arena helpers (tensor.c) */
void *sai_nn__aligned_alloc(size_t bytes);
void  sai_nn__aligned_free(void *p);
float sai_nn__rng_normal(uint64_t *s);

#endif
