/*
 * conv.c — 2-D convolution, forward and backward, as im2col + OpenBLAS
 * sgemm per image (no bias: every convolution here is followed by batch
 * norm). A 1x1 stride-1 unpadded convolution skips im2col: the image itself
 * is the column matrix. Images are spread over the engine threads, each
 * with its own column buffer; BLAS runs single-threaded inside (see
 * threads.c), and each thread accumulates the weight gradient into
 * a private buffer that is summed once at the end, so no two threads write
 * the same memory.
 */
#include <string.h>

#include <cblas.h>

#include "nn/nn_internal.h"

/* Output columns [*ow0, *ow1) of a strided row whose input column
 * ow * s - p + kj lies inside [0, W). */
static void col_range(int s, int p, int kj, int W, int Wo, int *ow0, int *ow1)
{
    int a = 0, b = Wo;
    while (a < Wo && a * s - p + kj < 0)
        a++;
    while (b > a && (b - 1) * s - p + kj >= W)
        b--;
    *ow0 = a;
    *ow1 = b;
}

/* 3x3 stride-2 pad-1 (the ResNets' downsampling convolutions): each input
 * row is split once into its even and odd columns, zero-padded by one on
 * both sides, and the three kj rows of the column matrix are contiguous
 * slices of those (iw = 2*ow + kj - 1: kj 0 -> odd[ow-1], 1 -> even[ow],
 * 2 -> odd[ow]), instead of three strided gathers from the row. (col2im
 * keeps the generic loop order: its sums must round as before, see
 * docs/engine.md.) */
#define S2_MAX 1040
static bool s2k3_ok(int k, int s, int p, int Wo)
{
    return k == 3 && s == 2 && p == 1 && Wo + 2 <= S2_MAX;
}

NN_INLINE_COPIES
static void im2col_s2k3(const float *x, int C, int H, int W, int Ho, int Wo, float *col,
                        size_t ld)
{
    float ev[S2_MAX], od[S2_MAX];   /* ev[1 + j] = x[2j], od[1 + j] = x[2j + 1] */
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int ki = 0; ki < 3; ki++) {
            float *r0 = col + (size_t)(c * 3 + ki) * 3 * ld;
            float *r1 = r0 + ld, *r2 = r1 + ld;
            for (int oh = 0; oh < Ho; oh++) {
                int ih = 2 * oh - 1 + ki;
                float *a = r0 + (size_t)oh * Wo, *b = r1 + (size_t)oh * Wo, *d = r2 + (size_t)oh * Wo;
                if (ih < 0 || ih >= H) {
                    for (int ow = 0; ow < Wo; ow++)
                        a[ow] = b[ow] = d[ow] = 0.0f;
                    continue;
                }
                const float *xr = xc + (size_t)ih * W;
                for (int j = 0; j < Wo + 2; j++)
                    ev[j] = od[j] = 0.0f;
                for (int j = 0; j < W / 2; j++) {
                    ev[1 + j] = xr[2 * j];
                    od[1 + j] = xr[2 * j + 1];
                }
                if (W & 1)
                    ev[1 + W / 2] = xr[W - 1];
                for (int ow = 0; ow < Wo; ow++) {
                    a[ow] = od[ow];
                    b[ow] = ev[1 + ow];
                    d[ow] = od[1 + ow];
                }
            }
        }
    }
}

/* x[C][H][W] -> col[C*k*k][Ho*Wo], rows ld floats apart (ld >= Ho*Wo lets
 * several images share one column matrix side by side) */
NN_INLINE_COPIES
static void im2col(const float *x, int C, int H, int W, int k, int s, int p, int Ho, int Wo,
                   float *col, size_t ld)
{
    if (s2k3_ok(k, s, p, Wo)) {
        im2col_s2k3(x, C, H, W, Ho, Wo, col, ld);
        return;
    }
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(c * k + ki) * k + kj) * ld;
                const float *xc = x + (size_t)c * H * W;
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh * s - p + ki;
                    float *r = row + (size_t)oh * Wo;
                    if (ih < 0 || ih >= H) {
                        for (int ow = 0; ow < Wo; ow++)
                            r[ow] = 0.0f;
                        continue;
                    }
                    const float *xr = xc + (size_t)ih * W;
                    if (s == 1) {
                        int lo = p - kj, ow0 = lo > 0 ? lo : 0;          /* first ow with iw >= 0 */
                        int ow1 = W + p - kj; if (ow1 > Wo) ow1 = Wo;    /* first ow with iw >= W */
                        if (ow1 < ow0) ow1 = ow0;
                        /* an inline loop, not memcpy: rows are 32 floats or less,
                         * where the call costs more than the copy */
                        int base = kj - p;
                        for (int ow = 0; ow < ow0; ow++) r[ow] = 0.0f;
                        for (int ow = ow0; ow < ow1; ow++) r[ow] = xr[ow + base];
                        for (int ow = ow1; ow < Wo; ow++) r[ow] = 0.0f;
                    } else {
                        /* ow in [ow0, ow1) reads inside the row: no test in the loop */
                        int ow0, ow1;
                        col_range(s, p, kj, W, Wo, &ow0, &ow1);
                        int base = kj - p;
                        for (int ow = 0; ow < ow0; ow++)
                            r[ow] = 0.0f;
                        if (s == 2)   /* a constant stride vectorises */
                            for (int ow = ow0; ow < ow1; ow++)
                                r[ow] = xr[2 * ow + base];
                        else
                            for (int ow = ow0; ow < ow1; ow++)
                                r[ow] = xr[ow * s + base];
                        for (int ow = ow1; ow < Wo; ow++)
                            r[ow] = 0.0f;
                    }
                }
            }
}

/* dx[C][H][W] += col2im(dcol[C*k*k][Ho*Wo]), rows ld floats apart */
static void col2im(const float *dcol, int C, int H, int W, int k, int s, int p, int Ho, int Wo,
                   float *dx, size_t ld)
{
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                const float *row = dcol + ((size_t)(c * k + ki) * k + kj) * ld;
                float *xc = dx + (size_t)c * H * W;
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh * s - p + ki;
                    if (ih < 0 || ih >= H)
                        continue;
                    const float *r = row + (size_t)oh * Wo;
                    float *xr = xc + (size_t)ih * W;
                    if (s == 1) {
                        int lo = p - kj, ow0 = lo > 0 ? lo : 0;
                        int ow1 = W + p - kj; if (ow1 > Wo) ow1 = Wo;
                        float *d = xr - p + kj;
                        for (int ow = ow0; ow < ow1; ow++)
                            d[ow] += r[ow];
                    } else {
                        int ow0, ow1;
                        col_range(s, p, kj, W, Wo, &ow0, &ow1);
                        int base = kj - p;
                        if (s == 2)   /* a constant stride vectorises */
                            for (int ow = ow0; ow < ow1; ow++)
                                xr[2 * ow + base] += r[ow];
                        else
                            for (int ow = ow0; ow < ow1; ow++)
                                xr[ow * s + base] += r[ow];
                    }
                }
            }
}

static size_t r16(size_t n) { return (n + 15) & ~(size_t)15; }

void sai_nn__conv_ws_fit(nn_conv_ws *ws, int C, int H, int W, int K, int k, int s, int p,
                         bool train)
{
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    if (train && (size_t)K * C * k * k > ws->dw_floats)
        ws->dw_floats = (size_t)K * C * k * k;
    if (ws->winograd && sai_nn__wino_shape_ok(C, K, k, s, p)) {
        size_t wf = sai_nn__wino_thread_floats(C, H, W, K, ws->max_batch, train);
        if (wf > ws->wino_floats)
            ws->wino_floats = wf;
        if (C > ws->wino_tap_c)
            ws->wino_tap_c = C;
        if (sai_nn__wino_u_floats(C, K) > ws->wino_u_floats)
            ws->wino_u_floats = sai_nn__wino_u_floats(C, K);
    }
    /* the im2col path: also for Winograd shapes (batches under 8 tiles) */
    int P = Ho * Wo, g = nn_conv_group(P);
    if (g > ws->max_batch)
        g = ws->max_batch;
    size_t col = (size_t)C * k * k * P * (size_t)g;
    if (col > ws->col_floats)
        ws->col_floats = col;
    size_t yb = g > 1 ? (size_t)K * P * (size_t)g : 0;
    if (yb > ws->ybuf_floats)
        ws->ybuf_floats = yb;
    /* per-thread strides of whole cache lines (rounding commutes with max) */
    ws->col_floats = r16(ws->col_floats);
    ws->ybuf_floats = r16(ws->ybuf_floats);
    ws->dw_floats = r16(ws->dw_floats);
    ws->wino_floats = r16(ws->wino_floats);
    ws->wino_tap_floats = r16(27 * (size_t)ws->wino_tap_c);
}

/* One call's arguments, for the image (or image group) tasks. */
typedef struct {
    float *y, *dx;
    const float *x, *dy, *w;
    int N, C, H, W, K, k, s, p, Ho, Wo;
    const nn_conv_ws *ws;
    const float *bias;               /* forward epilogue (evaluation), or NULL */
    const float *res;                /* forward epilogue: residual laid out as y, or NULL */
    bool relu;
    bool packed;                     /* w packed: sai_nn__gemm_packed, epilogue inside */
    const float *col;                /* split over output channels: the shared columns */
    float *dw[SAI_NN_MAX_THREADS];   /* per thread weight-gradient target */
    bool used[SAI_NN_MAX_THREADS];   /* thread t zeroed and filled dw[t] */
} conv_ctx;

/* Evaluation epilogue over rows [k0, k1) of y[K][ld] (P used columns):
 * the folded batch norm's bias, the residual res[K][ld] if fused, then
 * ReLU if fused. */
static void epilogue(float *y, int k0, int k1, int P, size_t ld, const float *bias,
                     const float *res, bool relu)
{
    if (bias == NULL)
        return;
    for (int k = k0; k < k1; k++) {
        float *r = y + (size_t)k * ld, b = bias[k];
        if (res != NULL) {
            const float *rr = res + (size_t)k * ld;
            for (int q = 0; q < P; q++) {
                float v = r[q] + b + rr[q];
                r[q] = relu ? (v > 0.0f ? v : 0.0f) : v;
            }
        } else if (relu)
            for (int q = 0; q < P; q++) {
                float v = r[q] + b;
                r[q] = v > 0.0f ? v : 0.0f;
            }
        else
            for (int q = 0; q < P; q++)
                r[q] += b;
    }
}

static void conv_fwd_task(void *vc, long i0, long i1, int tid)
{
    const conv_ctx *cx = vc;
    const float *W = cx->w;
    int C = cx->C, H = cx->H, Wd = cx->W, k = cx->k, s = cx->s, p = cx->p;
    int Co = cx->K, Ho = cx->Ho, Wo = cx->Wo, P = Ho * Wo, K = C * k * k;
    size_t isz = (size_t)C * H * Wd, osz = (size_t)Co * P;
    bool direct = (k == 1 && s == 1 && p == 0);
    float *cb = cx->ws->col + (size_t)tid * cx->ws->col_floats;
    for (long i = i0; i < i1; i++) {
        const float *x = cx->x + (size_t)i * isz;
        float *y = cx->y + (size_t)i * osz;
        const float *col = x;
        if (!direct) {
            im2col(x, C, H, Wd, k, s, p, Ho, Wo, cb, (size_t)P);
            col = cb;
        }
        /* y[Co][P] = W[Co][K] * col[K][P] */
        const float *res = cx->res != NULL ? cx->res + (size_t)i * osz : NULL;
        if (cx->packed) {
            sai_nn__gemm_packed(Co, P, K, W, col, (size_t)P, y, (size_t)P, cx->bias, res,
                                cx->relu);
            continue;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, P, K, 1.0f, W, K, col, P,
                    0.0f, y, P);
        epilogue(y, 0, Co, P, (size_t)P, cx->bias, res, cx->relu);
    }
}

/* Fewer images than threads (batch-1 inference): the image's columns are
 * built once, split over input channels (col_task), then each thread runs
 * the GEMM for a block of output channels (rows_task), instead of one
 * thread doing the whole layer while the other waits. */
static void col_task(void *vc, long c0, long c1, int tid)
{
    const conv_ctx *cx = vc;
    (void)tid;
    size_t P = (size_t)cx->Ho * cx->Wo, kk = (size_t)cx->k * cx->k;
    im2col(cx->x + (size_t)c0 * cx->H * cx->W, (int)(c1 - c0), cx->H, cx->W, cx->k, cx->s,
           cx->p, cx->Ho, cx->Wo, (float *)cx->col + (size_t)c0 * kk * P, P);
}

static void rows_task(void *vc, long k0, long k1, int tid);

static void rows16_task(void *vc, long b0, long b1, int tid)
{
    const conv_ctx *cx = vc;
    long k1 = b1 * 16 < cx->K ? b1 * 16 : cx->K;
    rows_task(vc, b0 * 16, k1, tid);
}

static void rows_task(void *vc, long k0, long k1, int tid)
{
    const conv_ctx *cx = vc;
    (void)tid;
    int P = cx->Ho * cx->Wo, K = cx->C * cx->k * cx->k;
    float *y = cx->y + (size_t)k0 * P;
    if (cx->packed) {   /* k0 is a multiple of 16: a whole block of the packing */
        sai_nn__gemm_packed((int)(k1 - k0), P, K, cx->w + (size_t)k0 * K, cx->col, (size_t)P, y,
                            (size_t)P, cx->bias != NULL ? cx->bias + k0 : NULL,
                            cx->res != NULL ? cx->res + (size_t)k0 * P : NULL, cx->relu);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(k1 - k0), P, K, 1.0f,
                cx->w + (size_t)k0 * K, K, cx->col, P, 0.0f, y, P);
    epilogue(cx->y, (int)k0, (int)k1, P, (size_t)P, cx->bias, cx->res, cx->relu);
}

/* Small feature maps (late ResNet stages: 8x8, 4x4) make per-image GEMMs
 * too thin to run well (N = Ho*Wo = 16). Such layers put g images side by
 * side in one column matrix, [K][g*P], run one GEMM into [Co][g*P] and
 * scatter the result back to NCHW (backward: gather dy, one GEMM each for
 * dW and dcol, col2im per image). */
NN_INLINE_COPIES
static void conv_fwd_group_task(void *vc, long g0, long g1, int tid)
{
    const conv_ctx *cx = vc;
    const float *W = cx->w;
    int C = cx->C, H = cx->H, Wd = cx->W, k = cx->k, s = cx->s, p = cx->p;
    int Co = cx->K, Ho = cx->Ho, Wo = cx->Wo, P = Ho * Wo, K = C * k * k, g = nn_conv_group(P);
    size_t isz = (size_t)C * H * Wd, osz = (size_t)Co * P;
    float *cb = cx->ws->col + (size_t)tid * cx->ws->col_floats;
    float *yb = cx->ws->ybuf + (size_t)tid * cx->ws->ybuf_floats;
    for (long grp = g0; grp < g1; grp++) {
        long i0 = grp * g, i1 = i0 + g < cx->N ? i0 + g : cx->N;
        int cnt = (int)(i1 - i0);
        size_t LD = (size_t)cnt * P;
        for (int j = 0; j < cnt; j++)
            im2col(cx->x + (size_t)(i0 + j) * isz, C, H, Wd, k, s, p, Ho, Wo,
                   cb + (size_t)j * P, LD);
        /* yb[Co][cnt*P] = W[Co][K] * col[K][cnt*P] */
        if (cx->packed && cx->res == NULL)
            sai_nn__gemm_packed(Co, (int)LD, K, W, cb, LD, yb, LD, cx->bias, NULL, cx->relu);
        else if (cx->packed)   /* the residual is added image by image below */
            sai_nn__gemm_packed(Co, (int)LD, K, W, cb, LD, yb, LD, NULL, NULL, false);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, (int)LD, K, 1.0f, W, K,
                        cb, (int)LD, 0.0f, yb, (int)LD);
        for (int j = 0; j < cnt; j++) {
            float *y = cx->y + (size_t)(i0 + j) * osz;
            for (int co = 0; co < Co; co++) {
                const float *src = yb + (size_t)co * LD + (size_t)j * P;
                float *dst = y + (size_t)co * P;
                for (int q = 0; q < P; q++)
                    dst[q] = src[q];
            }
            if (!cx->packed || cx->res != NULL)
                epilogue(y, 0, Co, P, (size_t)P, cx->bias,
                         cx->res != NULL ? cx->res + (size_t)(i0 + j) * osz : NULL, cx->relu);
        }
    }
}

#ifdef NN_X512
/* Evaluation, packed weights: the direct AVX-512 kernel per image. */
static void convx_task(void *vc, long i0, long i1, int tid)
{
    const conv_ctx *cx = vc;
    (void)tid;
    size_t isz = (size_t)cx->C * cx->H * cx->W, osz = (size_t)cx->K * cx->Ho * cx->Wo;
    for (long i = i0; i < i1; i++)
        sai_nn__conv_x512(cx->y + (size_t)i * osz, cx->x + (size_t)i * isz, cx->w, cx->C, cx->H,
                          cx->W, cx->K, cx->k, cx->s, cx->p, cx->Ho, cx->Wo, cx->bias,
                          cx->res != NULL ? cx->res + (size_t)i * osz : NULL, cx->relu);
}
#endif

void sai_nn__conv_forward(float *y, const float *x, const float *w, int N, int C, int H, int W,
                          int K, int k, int s, int p, const nn_conv_ws *ws, int T)
{
    sai_nn__conv_forward_ex(y, x, w, NULL, N, C, H, W, K, k, s, p, ws, T);
}

void sai_nn__conv_forward_ex(float *y, const float *x, const float *w, const nn_conv_epi *epi,
                             int N, int C, int H, int W, int K, int k, int s, int p,
                             const nn_conv_ws *ws, int T)
{
    if (sai_nn__wino_eligible(ws, N, C, H, W, K, k, s, p)) {
        sai_nn__wino_forward_ex(y, x, w, epi, N, C, H, W, K, ws, T);
        return;
    }
    conv_ctx c = {.y = y, .x = x, .w = w, .N = N, .C = C, .H = H, .W = W, .K = K, .k = k,
                  .s = s, .p = p, .Ho = (H + 2 * p - k) / s + 1, .Wo = (W + 2 * p - k) / s + 1,
                  .ws = ws, .bias = epi != NULL ? epi->bias : NULL,
                  .res = epi != NULL ? epi->res : NULL, .relu = epi != NULL && epi->relu,
                  .packed = epi != NULL && epi->packed};
    int P = c.Ho * c.Wo;
    /* Evaluation with fewer images than threads: split each image's GEMM
     * over output channels (blocks of 16 rows at least) when it is large
     * enough to pay for the hand-offs: 16M multiply-adds (~0.5 ms on one
     * core; at 1M, ResNet-8's layers, batch-1 latency doubled when the
     * other core was busy with another job). Training keeps its per-image
     * split: its sums must not move. */
    int Tk = K / 16 < T ? K / 16 : T;
    if (epi != NULL && N < T && Tk > 1 && (double)K * C * k * k * P >= 16e6) {
        bool direct = (k == 1 && s == 1 && p == 0);
        for (int i = 0; i < N; i++) {
            c.x = x + (size_t)i * C * H * W;
            c.y = y + (size_t)i * K * P;
            c.res = epi->res != NULL ? epi->res + (size_t)i * K * P : NULL;
            c.col = c.x;
            if (!direct) {
                c.col = ws->col;   /* thread 0's block holds one image's columns */
                sai_nn__parallel(C, sai_nn__grain(T, (size_t)C * k * k * P), col_task, &c);
            }
            sai_nn__parallel((K + 15) / 16, Tk, rows16_task, &c);
        }
        return;
    }
#ifdef NN_X512
    if (c.packed && sai_nn__conv_x512_ok(W, k, s, p, c.Wo)) {
        sai_nn__parallel(N, T, convx_task, &c);
        return;
    }
#endif
    int g = nn_conv_group(P);
    if (g > 1 && N > 1) {
        sai_nn__parallel((N + g - 1) / g, T, conv_fwd_group_task, &c);
        return;
    }
    sai_nn__parallel(N, T, conv_fwd_task, &c);
}

static void conv_bwd_task(void *vc, long i0, long i1, int tid)
{
    conv_ctx *cx = vc;
    const float *W = cx->w;
    int C = cx->C, H = cx->H, Wd = cx->W, k = cx->k, s = cx->s, p = cx->p;
    int Co = cx->K, Ho = cx->Ho, Wo = cx->Wo, P = Ho * Wo, K = C * k * k;
    size_t isz = (size_t)C * H * Wd, osz = (size_t)Co * P;
    bool direct = (k == 1 && s == 1 && p == 0);
    bool need_dx = cx->dx != NULL;
    float *dw = cx->dw[tid];
    if (tid != 0)
        memset(dw, 0, (size_t)Co * K * sizeof(float));
    cx->used[tid] = true;
    float *cb = cx->ws->col + (size_t)tid * cx->ws->col_floats;
    float *dcb = cx->ws->dcol + (size_t)tid * cx->ws->col_floats;
    for (long i = i0; i < i1; i++) {
        const float *x = cx->x + (size_t)i * isz;
        const float *dy = cx->dy + (size_t)i * osz;
        float *dx = need_dx ? cx->dx + (size_t)i * isz : NULL;
        const float *col = x;
        if (!direct) {
            im2col(x, C, H, Wd, k, s, p, Ho, Wo, cb, (size_t)P);
            col = cb;
        }
        /* dW[Co][K] += dy[Co][P] * col[K][P]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, K, P, 1.0f, dy, P, col, P,
                    1.0f, dw, K);
        if (!need_dx)
            continue;
        if (direct) {
            /* dx[C][P] += W[Co][C]^T * dy[Co][P] */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, Co, 1.0f, W, K, dy, P,
                        1.0f, dx, P);
        } else {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, Co, 1.0f, W, K, dy, P,
                        0.0f, dcb, P);
            col2im(dcb, C, H, Wd, k, s, p, Ho, Wo, dx, (size_t)P);
        }
    }
}

NN_INLINE_COPIES
static void conv_bwd_group_task(void *vc, long g0, long g1, int tid)
{
    conv_ctx *cx = vc;
    const float *W = cx->w;
    int C = cx->C, H = cx->H, Wd = cx->W, k = cx->k, s = cx->s, p = cx->p;
    int Co = cx->K, Ho = cx->Ho, Wo = cx->Wo, P = Ho * Wo, K = C * k * k, g = nn_conv_group(P);
    size_t isz = (size_t)C * H * Wd, osz = (size_t)Co * P;
    float *dw = cx->dw[tid];
    if (tid != 0)
        memset(dw, 0, (size_t)Co * K * sizeof(float));
    cx->used[tid] = true;
    float *cb = cx->ws->col + (size_t)tid * cx->ws->col_floats;
    float *dcb = cx->ws->dcol + (size_t)tid * cx->ws->col_floats;
    float *yb = cx->ws->ybuf + (size_t)tid * cx->ws->ybuf_floats;
    for (long grp = g0; grp < g1; grp++) {
        long i0 = grp * g, i1 = i0 + g < cx->N ? i0 + g : cx->N;
        int cnt = (int)(i1 - i0);
        size_t LD = (size_t)cnt * P;
        for (int j = 0; j < cnt; j++) {
            const float *dy = cx->dy + (size_t)(i0 + j) * osz;
            for (int co = 0; co < Co; co++) {
                const float *src = dy + (size_t)co * P;
                float *dst = yb + (size_t)co * LD + (size_t)j * P;
                for (int q = 0; q < P; q++)
                    dst[q] = src[q];
            }
            im2col(cx->x + (size_t)(i0 + j) * isz, C, H, Wd, k, s, p, Ho, Wo,
                   cb + (size_t)j * P, LD);
        }
        /* dW[Co][K] += dy[Co][cnt*P] * col[K][cnt*P]^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, K, (int)LD, 1.0f, yb, (int)LD,
                    cb, (int)LD, 1.0f, dw, K);
        if (cx->dx == NULL)
            continue;
        /* dcol[K][cnt*P] = W[Co][K]^T * dy[Co][cnt*P] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)LD, Co, 1.0f, W, K, yb,
                    (int)LD, 0.0f, dcb, (int)LD);
        for (int j = 0; j < cnt; j++)
            col2im(dcb + (size_t)j * P, C, H, Wd, k, s, p, Ho, Wo,
                   cx->dx + (size_t)(i0 + j) * isz, LD);
    }
}

typedef struct {
    float *g;
    const float *src[SAI_NN_MAX_THREADS];
    int nsrc;
} sum_ctx;

static void sum_task(void *vc, long b, long e, int tid)
{
    const sum_ctx *c = vc;
    (void)tid;
    for (int t = 0; t < c->nsrc; t++)
        for (long j = b; j < e; j++)
            c->g[j] += c->src[t][j];
}

void sai_nn__conv_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                           int N, int C, int H, int W, int K, int k, int s, int p,
                           const nn_conv_ws *ws, int T)
{
    size_t numel = (size_t)K * C * k * k;
    if (T > N)
        T = N;
    conv_ctx c = {.dx = dx, .dy = dy, .x = x, .w = w, .N = N, .C = C, .H = H, .W = W, .K = K,
                  .k = k, .s = s, .p = p, .Ho = (H + 2 * p - k) / s + 1,
                  .Wo = (W + 2 * p - k) / s + 1, .ws = ws};
    c.dw[0] = dw;
    for (int t = 1; t < T; t++)
        c.dw[t] = ws->dwbuf + (size_t)t * ws->dw_floats;
    int g = nn_conv_group(c.Ho * c.Wo);
    if (sai_nn__wino_eligible(ws, N, C, H, W, K, k, s, p))
        sai_nn__wino_backward(dx, c.dw, dy, x, w, N, C, H, W, K, ws, T, c.used);
    else if (g > 1 && N > 1)
        sai_nn__parallel((N + g - 1) / g, T, conv_bwd_group_task, &c);
    else
        sai_nn__parallel(N, T, conv_bwd_task, &c);
    /* Threads 1..T-1 that ran each zeroed and filled a private buffer. */
    sum_ctx sc = {.g = dw, .nsrc = 0};
    for (int t = 1; t < T; t++)
        if (c.used[t])
            sc.src[sc.nsrc++] = c.dw[t];
    if (sc.nsrc > 0)
        sai_nn__parallel((long)numel, T, sum_task, &sc);
}
