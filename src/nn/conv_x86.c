/*
 * conv_x86.c — the evaluation path's direct 3x3 convolution (pad 1,
 * stride 1 or 2) in AVX-512, for the layers Winograd does not take: the
 * RGB stem (3 input channels) and the ResNets' stride-2 convolutions.
 *
 * Why: on the im2col path these layers wrote and re-read a column matrix
 * 9x the size of their input (ResNet-8 at batch 64: im2col 20% of the
 * forward, as much as their GEMMs). Here the GEMM's micro-kernel reads its
 * B vectors straight from the image: 16 output pixels in the lanes, eight
 * output channels (one block of the packed weights, [K/8][C*9][8], the
 * same packing as gemm.c) times up to three vectors of pixels in 24
 * accumulators, one broadcast FMA per weight. A stride-1 vector is one
 * masked load (lanes whose column falls in the padding are masked off); a
 * stride-2 vector is two loads and one permute that keeps the even
 * columns. Maps narrower than 16 put 16 / Wo output rows in a vector
 * (stride 1: they are contiguous in memory; stride 2 with Wo = 8: two rows,
 * one permute).
 *
 * The sums run over the same products in another order (kernel row, kernel
 * column, then input channel), so results agree with im2col + GEMM to float
 * rounding (nn.test_nn_eval checks the model against the unfolded path).
 */
#include "nn/nn_internal.h"

#ifdef NN_X512
#include "nn/x512_internal.h"

#define MR 8   /* output channels per pass (the packing's block) */
#define NA 3   /* accumulator vectors per channel */

/* How one accumulator vector's lanes map to the image. */
typedef struct {
    int oh[2];       /* output row of the lanes; stride 2 with Wo = 8: of lanes
                      * 0-7 and 8-15 (-1: none) */
    int ow0;         /* first output column (one-row vectors) */
    long yoff;       /* lane 0's offset in an output channel plane */
    __mmask16 out;   /* lanes inside the output */
} avec;

/* Shapes the kernel takes. Vectors are one output row (Wo >= 16, up to
 * three per row), or several: stride 1 with Wo dividing 16 (the rows are
 * contiguous in the input and the output), stride 2 with Wo = 8. */
bool sai_nn__conv_x512_ok(int W, int k, int s, int p, int Wo)
{
    /* 3x3 pad 1; 1x1 unpadded stride 2 (the projection shortcuts; stride
     * 1 needs no columns and stays on the GEMM) */
    if (!((k == 3 && p == 1) || (k == 1 && p == 0 && s == 2)) || (s != 1 && s != 2))
        return false;
    if (Wo >= 16)
        return Wo <= 16 * NA;
    if (s == 1)
        return 16 % Wo == 0 && W == Wo;
    return Wo == 8 && W <= 16;
}

/* Where the B vector of v comes from for kernel row ki, column kj, in
 * every input channel plane: stride 1, one masked load at o[0]; stride 2,
 * loads at o[0] and o[1] whose even lanes it keeps. Masks cover the
 * padding (and rows outside the image: mask 0). */
typedef struct {
    long o[2];
    __mmask16 m[2];
} bsrc;

static bsrc bsetup(const avec *v, int H, int W, int s, int p, int Wo, bool multi, int ki, int kj)
{
    bsrc b = {{0, 0}, {0, 0}};
    if (!multi) {   /* one output row */
        int ih = v->oh[0] * s - p + ki;
        if (ih < 0 || ih >= H)
            return b;
        int c0 = v->ow0 * s - p + kj;   /* input column of lane 0 */
        b.o[0] = (long)ih * W + c0;
        b.o[1] = b.o[0] + 16;
        b.m[0] = x512_lanes(-c0, W - c0);
        b.m[1] = x512_lanes(-c0 - 16, W - c0 - 16);
        if (s == 1)
            b.m[0] &= v->out;
        return b;
    }
    if (s == 1) {   /* 16 / Wo whole rows, contiguous (W == Wo) */
        int r0 = v->oh[0] - p + ki;   /* input row of lane 0 */
        b.o[0] = (long)r0 * W + kj - p;
        int lo = p - kj > 0 ? p - kj : 0, hi = W + p - kj < Wo ? W + p - kj : Wo;
        for (int l = 0; l < 16; l += Wo) {
            int ih = r0 + l / Wo;
            if (ih >= 0 && ih < H)
                b.m[0] |= x512_lanes(l + lo, l + hi);
        }
        b.m[0] &= v->out;
        return b;
    }
    /* stride 2, Wo = 8: rows oh[0], oh[1], lane l of each at column 2l + kj - p */
    int c0 = kj - p;
    __mmask16 cm = x512_lanes(-c0, W - c0);
    int ia = v->oh[0] * 2 - p + ki, ib = v->oh[1] * 2 - p + ki;
    b.o[0] = (long)ia * W + c0;
    b.o[1] = (long)ib * W + c0;
    b.m[0] = ia >= 0 && ia < H ? cm : 0;
    b.m[1] = v->oh[1] >= 0 && ib >= 0 && ib < H ? cm : 0;
    return b;
}

/* One pass: output channels [kb, kb + 8) for the na vectors of va. */
X512_INLINE void pass(const float *x, int C, size_t hw, int s, int kk, const avec *va,
                      const bsrc (*bsall)[NA], const int na, const float *ap, float *y,
                      size_t ysz, int kn, const float *bias, const float *res, bool relu)
{
    __m512 acc[MR][NA];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int j = 0; j < na; j++)
            acc[r][j] = _mm512_setzero_ps();
    __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int t = 0; t < kk; t++) {
        const bsrc *bs = bsall[t];
        const float *a = ap + (size_t)t * MR;
        const float *xc = x;
        for (int c = 0; c < C; c++, a += kk * MR, xc += hw) {
            __m512 bv[NA];
#pragma GCC unroll 3
            for (int j = 0; j < na; j++) {
                __m512 lo = _mm512_maskz_loadu_ps(bs[j].m[0], x512_at(xc, bs[j].o[0]));
                if (s == 2)
                    bv[j] = _mm512_permutex2var_ps(
                        lo, even, _mm512_maskz_loadu_ps(bs[j].m[1], x512_at(xc, bs[j].o[1])));
                else
                    bv[j] = lo;
            }
            x512_rank1(acc, a, bv, na);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        if (r >= kn)
            break;
#pragma GCC unroll 3
        for (int j = 0; j < na; j++) {
            long off = va[j].yoff + (long)r * (long)ysz;
            x512_epilogue(acc[r][j], bias != NULL ? bias + r : NULL,
                          res != NULL ? x512_at(res, off) : NULL, relu, va[j].out,
                          x512_at_mut(y, off));
        }
    }
}

X512 static void pass_any(const float *x, int C, size_t hw, int s, int kk, const avec *va,
                          const bsrc (*bsall)[NA], int na, const float *ap, float *y,
                          size_t ysz, int kn, const float *bias, const float *res, bool relu)
{
    /* constant vector counts and stride, so the accumulators stay in
     * registers and the inner loop has no branch */
#define PASS(n, st) \
    pass(x, C, hw, st, kk, va, bsall, n, ap, y, ysz, kn, bias, res, relu)
    if (s == 1)
        na == 3 ? PASS(3, 1) : na == 2 ? PASS(2, 1) : PASS(1, 1);
    else
        na == 3 ? PASS(3, 2) : na == 2 ? PASS(2, 2) : PASS(1, 2);
#undef PASS
}

X512 void sai_nn__conv_x512(float *y, const float *x, const float *ap, int C, int H, int W,
                            int K, int k, int s, int p, int Ho, int Wo, const float *bias,
                            const float *res, bool relu)
{
    bool multi = Wo < 16;
    int rpv = multi ? 16 / Wo : 1;                 /* output rows per vector */
    int vpr = multi ? 1 : (Wo + 15) / 16;          /* vectors per output row */
    /* the pass's vectors: up to NA, whole rows */
    avec va[NA];
    int kk = k * k;
    size_t ysz = (size_t)Ho * Wo, depth = (size_t)C * kk;
    for (int oh = 0; oh < Ho;) {
        int na = 0;
        while (na < NA && oh < Ho) {
            if (multi) {
                avec *v = &va[na++];
                v->oh[0] = oh;
                v->oh[1] = oh + 1 < Ho ? oh + 1 : -1;
                int rows = Ho - oh < rpv ? Ho - oh : rpv;
                v->out = x512_lanes(0, rows * Wo);
                v->ow0 = 0;
                v->yoff = (long)oh * Wo;
                oh += rows;
            } else {
                if (na + vpr > NA)
                    break;
                for (int j = 0; j < vpr; j++) {
                    avec *v = &va[na++];
                    v->oh[0] = v->oh[1] = oh;
                    v->ow0 = 16 * j;
                    v->yoff = (long)oh * Wo + 16 * j;
                    v->out = x512_lanes(0, Wo - 16 * j);
                }
                oh++;
            }
        }
        /* where each vector's B comes from, per kernel tap: the same for
         * every block of output channels */
        bsrc bsall[9][NA];
        for (int t = 0; t < kk; t++)
            for (int j = 0; j < na; j++)
                bsall[t][j] = bsetup(&va[j], H, W, s, p, Wo, multi, t / k, t % k);
        for (int kb = 0; kb < K; kb += MR) {
            int kn = K - kb < MR ? K - kb : MR;
            pass_any(x, C, (size_t)H * W, s, kk, va, (const bsrc(*)[NA])bsall, na,
                     ap + (size_t)kb * depth, y + (size_t)kb * ysz, ysz, kn,
                     bias != NULL ? bias + kb : NULL,
                     res != NULL ? res + (size_t)kb * ysz : NULL, relu);
        }
    }
}
#endif
