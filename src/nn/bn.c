/*
 * bn.c — batch normalisation over N,H,W per channel (PyTorch semantics:
 * eps 1e-5, momentum 0.1, biased variance to normalise, unbiased variance
 * into the running estimate). Training mode saves the batch mean and
 * 1/sqrt(var+eps) per channel for the backward pass; evaluation mode uses
 * the running statistics. Parallel over channels.
 *
 * The statistics are summed in one fixed order: per image a float sum over
 * the plane, left to right, then the per-image sums in a double, image by
 * image. (Another order moved ResNet-18/50 gradients by 2e-3 at 2-4 images,
 * see docs/engine.md.) A single float chain is latency-bound (one add per
 * 3-4 cycles), so on x86-64 with AVX2 (checked at run time) eight images run
 * side by side: one row of 8 floats from each image, transposed in
 * registers, so that lane k of one accumulator is image k's chain, adding
 * the same values in the same order as the scalar loop. The results are
 * bit for bit those of the scalar code, which stays as the fallback.
 * No fused multiply-add anywhere (C17 mode compiles with -ffp-contract=off
 * and the AVX2 code uses separate multiplies and adds).
 */
#include <math.h>
#include <stdatomic.h>

#include "nn/nn_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BN_AVX2 1
#endif

#define BN_EPS NN_BN_EPS
#define BN_MOMENTUM 0.1f

/* One call's arguments, for the channel tasks. x, y, dy, dx are [N][C][HW]. */
typedef struct {
    float *y, *dx, *dgamma, *dbeta, *run_mean, *run_var;
    const float *x, *dy, *gamma, *beta;
    const nn_bn_saved *sv;
    int N, C, HW;
    bool train, relu;
    bool dx_fresh;   /* backward: dx holds garbage, store instead of accumulating */
} bn_ctx;

/* ---- scalar kernels (the reference order; also the tails of the AVX2 ones) */

static float row_sum(const float *x, size_t L, float s)
{
    for (size_t j = 0; j < L; j++)
        s += x[j];
    return s;
}

static float row_sq(const float *x, size_t L, float mean, float s)
{
    for (size_t j = 0; j < L; j++) {
        float d = x[j] - mean;
        s += d * d;
    }
    return s;
}

/* The fused ReLU's mask in backward: y > 0 exactly when x*scale + shift > 0
 * with the forward's scale and shift (saved per channel), so the backward
 * reads x, which it needs anyway, instead of y as well, and never writes
 * the masked gradient back: two streams fewer over the activation. */
typedef struct {
    bool relu;
    float scale, shift;
} bn_mask;

static inline float masked(const bn_mask *mk, float x, float dy)
{
    return mk->relu && !(x * mk->scale + mk->shift > 0.0f) ? 0.0f : dy;
}

/* Sums g and g*(x-mean), g = dy masked by the fused ReLU. */
static void row_bwd(const float *x, const float *dy, size_t L, float mean, const bn_mask *mk,
                    float *s1, float *s2)
{
    float a = *s1, b = *s2;
    for (size_t j = 0; j < L; j++) {
        float g = masked(mk, x[j], dy[j]);
        a += g;
        b += g * (x[j] - mean);
    }
    *s1 = a;
    *s2 = b;
}

#ifdef BN_AVX2
#define AVX2 __attribute__((target("avx2")))

/* CPUID once; atomic because the first calls come from several threads */
static bool have_avx2(void)
{
    static atomic_int v = -1;
    int r = atomic_load_explicit(&v, memory_order_relaxed);
    if (r < 0) {
        __builtin_cpu_init();
        r = __builtin_cpu_supports("avx2") ? 1 : 0;
        atomic_store_explicit(&v, r, memory_order_relaxed);
    }
    return r == 1;
}

/* r[m] := column m of the 8x8 matrix whose rows are r[0..7] */
static inline AVX2 void tr8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* acc lane k += r[0] lane k, then r[1] lane k, ... (after the transpose:
 * row k's elements j..j+7 in order) */
static inline AVX2 __m256 chain8(__m256 acc, const __m256 r[8])
{
    for (int q = 0; q < 8; q++)
        acc = _mm256_add_ps(acc, r[q]);
    return acc;
}

/* out[k] = row_sum / row_sq (sq: mean given) of rows x + k*sx, k < 8.
 * (Rows as base + stride, not an array of pointers: the stores of the
 * intrinsics may alias anything, so an array was re-read every iteration.) */
static inline AVX2 __m256 stat_block(const float *x, size_t sx, bool sq, __m256 vm, __m256 acc)
{
    __m256 r[8];
    for (int k = 0; k < 8; k++) {
        r[k] = _mm256_loadu_ps(x + k * sx);
        if (sq) {
            __m256 d = _mm256_sub_ps(r[k], vm);
            r[k] = _mm256_mul_ps(d, d);
        }
    }
    tr8(r);
    return chain8(acc, r);
}

/* G (1 or 2) groups of 8 rows, group g at x + 8*g*sx: two independent
 * chains in one loop hide the add latency (8 dependent adds per block) */
static AVX2 void rows8_stat(const float *x, size_t sx, size_t L, bool sq, float mean, int G,
                            float *out)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), vm = _mm256_set1_ps(mean);
    const float *x1 = x + 8 * sx;
    size_t j = 0;
    for (; j + 8 <= L; j += 8) {
        a0 = stat_block(x + j, sx, sq, vm, a0);
        if (G > 1)
            a1 = stat_block(x1 + j, sx, sq, vm, a1);
    }
    _mm256_storeu_ps(out, a0);
    if (G > 1)
        _mm256_storeu_ps(out + 8, a1);
    if (j < L)
        for (int k = 0; k < 8 * G; k++)
            out[k] = sq ? row_sq(x + k * sx + j, L - j, mean, out[k])
                        : row_sum(x + k * sx + j, L - j, out[k]);
}

/* dy masked by the fused ReLU (recomputed from x, see bn_mask) */
static inline AVX2 __m256 masked8(const bn_mask *mk, __m256 x, __m256 dy)
{
    if (!mk->relu)
        return dy;
    __m256 v = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(mk->scale)),
                             _mm256_set1_ps(mk->shift));
    return _mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ), dy);
}

/* rows x + k*sx, dy + k*sy */
static AVX2 void rows8_bwd(const float *x, size_t sx, const float *dy, size_t sy, size_t L,
                           float mean, const bn_mask *mk, float s1[8], float s2[8])
{
    __m256 a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), vm = _mm256_set1_ps(mean);
    __m256 d[8], p[8];
    size_t j = 0;
    for (; j + 8 <= L; j += 8) {
        for (int k = 0; k < 8; k++) {
            __m256 xv = _mm256_loadu_ps(x + k * sx + j);
            d[k] = masked8(mk, xv, _mm256_loadu_ps(dy + k * sy + j));
            p[k] = _mm256_mul_ps(d[k], _mm256_sub_ps(xv, vm));
        }
        tr8(d);
        tr8(p);
        a1 = chain8(a1, d);
        a2 = chain8(a2, p);
    }
    _mm256_storeu_ps(s1, a1);
    _mm256_storeu_ps(s2, a2);
    if (j < L)
        for (int k = 0; k < 8; k++)
            row_bwd(x + k * sx + j, dy + k * sy + j, L - j, mean, mk, &s1[k], &s2[k]);
}

static AVX2 void norm_avx2(const float *x, float *y, size_t L, float scale, float shift, bool relu)
{
    __m256 vs = _mm256_set1_ps(scale), vb = _mm256_set1_ps(shift), z = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= L; j += 8) {
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), vs), vb);
        if (relu)
            v = _mm256_max_ps(v, z);   /* v > 0 ? v : 0, as the scalar loop */
        _mm256_storeu_ps(y + j, v);
    }
    for (; j < L; j++) {
        float v = x[j] * scale + shift;
        y[j] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
}

static AVX2 void dx_avx2(const float *x, const float *dy, float *dx, size_t L, float mean,
                         const bn_mask *mk, float k1, float k2, float k3, bool fresh)
{
    __m256 vm = _mm256_set1_ps(mean), v1 = _mm256_set1_ps(k1), v2 = _mm256_set1_ps(k2);
    __m256 v3 = _mm256_set1_ps(k3);
    size_t j = 0;
    for (; j + 8 <= L; j += 8) {
        __m256 xv = _mm256_loadu_ps(x + j);
        __m256 dyv = masked8(mk, xv, _mm256_loadu_ps(dy + j));
        __m256 xm = _mm256_mul_ps(_mm256_sub_ps(xv, vm), v3);
        __m256 g = _mm256_mul_ps(v1, _mm256_sub_ps(_mm256_sub_ps(dyv, v2), xm));
        if (!fresh)
            g = _mm256_add_ps(_mm256_loadu_ps(dx + j), g);
        _mm256_storeu_ps(dx + j, g);
    }
    for (; j < L; j++) {
        float g = k1 * (masked(mk, x[j], dy[j]) - k2 - (x[j] - mean) * k3);
        dx[j] = fresh ? g : dx[j] + g;
    }
}
#else
static bool have_avx2(void) { return false; }
#endif

static void norm_plane(const float *x, float *y, size_t L, float scale, float shift, bool relu)
{
#ifdef BN_AVX2
    if (have_avx2()) {
        norm_avx2(x, y, L, scale, shift, relu);
        return;
    }
#endif
    if (relu) {
        for (size_t j = 0; j < L; j++) {
            float v = x[j] * scale + shift;
            y[j] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (size_t j = 0; j < L; j++)
            y[j] = x[j] * scale + shift;
    }
}

static void dx_plane(const float *x, const float *dy, float *dx, size_t L, float mean,
                     const bn_mask *mk, float k1, float k2, float k3, bool fresh)
{
#ifdef BN_AVX2
    if (have_avx2()) {
        dx_avx2(x, dy, dx, L, mean, mk, k1, k2, k3, fresh);
        return;
    }
#endif
    for (size_t j = 0; j < L; j++) {
        float g = k1 * (masked(mk, x[j], dy[j]) - k2 - (x[j] - mean) * k3);
        dx[j] = fresh ? g : dx[j] + g;
    }
}

/* sum over images of the per-image float sums (sq: of squared deviations)
 * of channel c of x[N][C][HW] */
static double chan_stat(const float *x, int N, int C, size_t HW, long c, bool sq, float mean)
{
    size_t CHW = (size_t)C * HW;
    double acc = 0.0;
    int i = 0;
#ifdef BN_AVX2
    if (have_avx2())
        while (i + 8 <= N) {
            float s[16];
            int G = i + 16 <= N ? 2 : 1;
            rows8_stat(x + (size_t)i * CHW + (size_t)c * HW, CHW, HW, sq, mean, G, s);
            for (int k = 0; k < 8 * G; k++)
                acc += s[k];
            i += 8 * G;
        }
#endif
    for (; i < N; i++) {
        const float *xi = x + (size_t)i * CHW + (size_t)c * HW;
        acc += sq ? row_sq(xi, HW, mean, 0.0f) : row_sum(xi, HW, 0.0f);
    }
    return acc;
}

static void bn_fwd_task(void *vc, long c0, long c1, int tid)
{
    const bn_ctx *cx = vc;
    int N = cx->N;
    bool train = cx->train;
    (void)tid;
    const float *g = cx->gamma, *b = cx->beta;
    float *rm = cx->run_mean, *rv = cx->run_var;
    const nn_bn_saved *sv = cx->sv;
    size_t HW = (size_t)cx->HW, CHW = (size_t)cx->C * HW, M = (size_t)N * HW;
    for (long c = c0; c < c1; c++) {
        float mean, istd;
        if (train) {
            double sum = chan_stat(cx->x, N, cx->C, HW, c, false, 0.0f);
            mean = (float)(sum / (double)M);
            double sq = chan_stat(cx->x, N, cx->C, HW, c, true, mean);
            float var = (float)(sq / (double)M);
            istd = 1.0f / sqrtf(var + BN_EPS);
            sv->mean[c] = mean;
            sv->istd[c] = istd;
            float unbiased = M > 1 ? (float)(sq / (double)(M - 1)) : var;
            rm[c] = (1.0f - BN_MOMENTUM) * rm[c] + BN_MOMENTUM * mean;
            rv[c] = (1.0f - BN_MOMENTUM) * rv[c] + BN_MOMENTUM * unbiased;
        } else {
            mean = rm[c];
            istd = 1.0f / sqrtf(rv[c] + BN_EPS);
        }
        float scale = g[c] * istd, shift = b[c] - mean * scale;
        if (train) {
            sv->scale[c] = scale;   /* the ReLU mask in backward (bn_mask) */
            sv->shift[c] = shift;
        }
        /* y[i][c][HW] = x[i][c][HW] * scale + shift (ReLU if fused) */
        for (int i = 0; i < N; i++)
            norm_plane(cx->x + (size_t)i * CHW + (size_t)c * HW,
                       cx->y + (size_t)i * CHW + (size_t)c * HW, HW, scale, shift, cx->relu);
    }
}

void sai_nn__bn_forward(float *y, const float *x, const float *gamma, const float *beta,
                        float *run_mean, float *run_var, const nn_bn_saved *sv, int N, int C,
                        int HW, bool train, bool relu, int T)
{
    bn_ctx c = {.y = y, .x = x, .gamma = gamma, .beta = beta, .run_mean = run_mean,
                .run_var = run_var, .sv = sv, .N = N, .C = C, .HW = HW, .train = train,
                .relu = relu};
    sai_nn__parallel(C, sai_nn__grain(T, (size_t)N * C * HW), bn_fwd_task, &c);
}

static void bn_bwd_task(void *vc, long c0, long c1, int tid)
{
    const bn_ctx *cx = vc;
    int N = cx->N;
    (void)tid;
    const float *g = cx->gamma, *x = cx->x, *dy = cx->dy;
    const nn_bn_saved *sv = cx->sv;
    size_t HW = (size_t)cx->HW, CHW = (size_t)cx->C * HW, M = (size_t)N * HW;
    for (long c = c0; c < c1; c++) {
        float mean = sv->mean[c], istd = sv->istd[c];
        bn_mask mk = {cx->relu, sv->scale[c], sv->shift[c]};
        size_t off = (size_t)c * HW;
        double sdy = 0.0, sdyx = 0.0;
        int i = 0;
#ifdef BN_AVX2
        if (have_avx2())
            for (; i + 8 <= N; i += 8) {
                float s1[8], s2[8];
                rows8_bwd(x + (size_t)i * CHW + off, CHW, dy + (size_t)i * CHW + off, CHW, HW,
                          mean, &mk, s1, s2);
                for (int k = 0; k < 8; k++) {
                    sdy += s1[k];
                    sdyx += s2[k];
                }
            }
#endif
        for (; i < N; i++) {
            float s1 = 0.0f, s2 = 0.0f;
            row_bwd(x + (size_t)i * CHW + off, dy + (size_t)i * CHW + off, HW, mean, &mk, &s1,
                    &s2);
            sdy += s1;
            sdyx += s2;
        }
        float sum_dy = (float)sdy, sum_dyxhat = (float)sdyx * istd;
        cx->dgamma[c] += sum_dyxhat;
        cx->dbeta[c] += sum_dy;
        if (cx->dx == NULL)
            continue;
        /* dx = g*istd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)) */
        float k1 = g[c] * istd, k2 = sum_dy / (float)M, k3 = sum_dyxhat / (float)M * istd;
        for (int im = 0; im < N; im++)
            dx_plane(x + (size_t)im * CHW + off, dy + (size_t)im * CHW + off,
                     cx->dx + (size_t)im * CHW + off, HW, mean, &mk, k1, k2, k3, cx->dx_fresh);
    }
}

void sai_nn__bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                         const float *gamma, const nn_bn_saved *sv, int N, int C, int HW,
                         bool relu, bool dx_fresh, int T)
{
    bn_ctx c = {.dx = dx, .dgamma = dgamma, .dbeta = dbeta, .dy = dy, .x = x, .gamma = gamma,
                .sv = sv, .N = N, .C = C, .HW = HW, .train = true, .relu = relu,
                .dx_fresh = dx_fresh};
    sai_nn__parallel(C, sai_nn__grain(T, (size_t)N * C * HW), bn_bwd_task, &c);
}
