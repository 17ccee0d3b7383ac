/*
 * gemm.c — the evaluation path's matrix product: C[M][N] = A[M][K] B[K][N]
 * with A packed once (per weights version, in the eval cache) into blocks
 * of 8 rows, [M/8][K][8], and B read in place (rows ldb floats apart), an
 * AVX-512 micro-kernel of 8 rows x 48 columns (24 accumulators; the last
 * columns masked), the folded batch norm's bias and the ReLU in its
 * epilogue.
 *
 * Why not cblas_sgemm here: OpenBLAS packs both operands on every call
 * (the 36 per-tap products of a Winograd layer pack the same transformed
 * weights again for every chunk of tiles: sgemm_oncopy/itcopy were 10-17%
 * of batch-64 inference), and the machine's environment pins its kernels to
 * Haswell's AVX2 ones (OPENBLAS_CORETYPE, set because older OpenBLAS builds
 * misbehave on this CPU), half the vector width this CPU has. Training
 * keeps cblas_sgemm: its sums must not move (docs/engine.md).
 *
 * Picked at run time: sai_nn__gemm_fast() is true when the CPU has
 * AVX-512F and SAI_NN_NO_AVX512 is not set; else the eval cache keeps
 * plain weights and the callers use cblas_sgemm as before.
 */
#include <stdlib.h>

#include "nn/nn_internal.h"

#ifdef NN_X512
#include "nn/x512_internal.h"
#define GEMM_X86 1
#endif

#define MR 8       /* rows per micro-kernel */
#define NV 3       /* vectors of 16 columns per micro-kernel */
#define KC 256     /* depth per pass: a B block of KC x NC stays in L2 */
#define NC 192

bool sai_nn__gemm_fast(void)
{
#ifdef GEMM_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma") &&
           getenv("SAI_NN_NO_AVX512") == NULL;
#else
    return false;
#endif
}

size_t sai_nn__gemm_packed_floats(int M, int K)
{
    return (size_t)((M + MR - 1) / MR * MR) * (size_t)K;
}

void sai_nn__gemm_pack(float *ap, const float *a, int M, int K, size_t lda)
{
    for (int m0 = 0; m0 < M; m0 += MR) {
        float *blk = ap + (size_t)m0 * K;
        for (int k = 0; k < K; k++)
            for (int r = 0; r < MR; r++)
                blk[(size_t)k * MR + r] = m0 + r < M ? a[(size_t)(m0 + r) * lda + k] : 0.0f;
    }
}

#ifdef GEMM_X86
/* rows [0, mr) of an 8 x (16 nv) block of C over depth kc; the last vector
 * masked by ml. first: C is overwritten, else accumulated into; last: the
 * epilogue (bias, ReLU) runs. */
X512_INLINE void
kern(const int nv, __mmask16 ml, int mr, int kc, const float *ap, const float *b, size_t ldb,
     float *c, size_t ldc, bool first, const float *bias, const float *res, bool relu)
{
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) {
            __mmask16 mk = v == nv - 1 ? ml : (__mmask16)0xFFFF;
            acc[r][v] = first || r >= mr ? _mm512_setzero_ps()
                                         : _mm512_maskz_loadu_ps(mk, c + (size_t)r * ldc + 16 * v);
        }
    for (int k = 0; k < kc; k++) {
        __m512 bv[NV];
        const float *bk = b + (size_t)k * ldb;
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(ml, bk + 16 * v) : _mm512_loadu_ps(bk + 16 * v);
        x512_rank1(acc, ap + (size_t)k * MR, bv, nv);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        if (r >= mr)
            break;
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            x512_epilogue(acc[r][v], bias != NULL ? bias + r : NULL,
                          res != NULL ? res + (size_t)r * ldc + 16 * v : NULL, relu,
                          v == nv - 1 ? ml : (__mmask16)0xFFFF, c + (size_t)r * ldc + 16 * v);
    }
}

X512 static void
gemm_avx512(int M, int N, int K, const float *ap, const float *b, size_t ldb, float *c,
            size_t ldc, const float *bias, const float *res, bool relu)
{
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        bool first = k0 == 0, last = k0 + kc == K;
        const float *eb = last ? bias : NULL, *eres = last ? res : NULL;
        bool erelu = last && relu;
        for (int n0 = 0; n0 < N; n0 += NC) {
            int nc = N - n0 < NC ? N - n0 : NC;
            for (int m0 = 0; m0 < M; m0 += MR) {
                int mr = M - m0 < MR ? M - m0 : MR;
                const float *a = ap + (size_t)m0 * K + (size_t)k0 * MR;
                const float *bm = eb != NULL ? eb + m0 : NULL;
                const float *rm = eres != NULL ? eres + (size_t)m0 * ldc : NULL;
                for (int j = n0; j < n0 + nc; j += 16 * NV) {
                    int nn = n0 + nc - j < 16 * NV ? n0 + nc - j : 16 * NV;
                    int nv = (nn + 15) / 16, rem = nn - 16 * (nv - 1);
                    __mmask16 ml = (__mmask16)(rem == 16 ? 0xFFFF : (1u << rem) - 1);
                    const float *bj = b + (size_t)k0 * ldb + j;
                    float *cj = c + (size_t)m0 * ldc + j;
                    const float *rj = rm != NULL ? rm + j : NULL;
                    if (nv == 3)
                        kern(3, ml, mr, kc, a, bj, ldb, cj, ldc, first, bm, rj, erelu);
                    else if (nv == 2)
                        kern(2, ml, mr, kc, a, bj, ldb, cj, ldc, first, bm, rj, erelu);
                    else
                        kern(1, ml, mr, kc, a, bj, ldb, cj, ldc, first, bm, rj, erelu);
                }
            }
        }
    }
}
#endif

void sai_nn__gemm_packed(int M, int N, int K, const float *ap, const float *b, size_t ldb,
                         float *c, size_t ldc, const float *bias, const float *res, bool relu)
{
#ifdef GEMM_X86
    gemm_avx512(M, N, K, ap, b, ldb, c, ldc, bias, res, relu);
#else
    /* not reached (the eval cache packs only when sai_nn__gemm_fast()),
     * but correct: the same product in plain C */
    for (int m = 0; m < M; m++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++)
                s += ap[(size_t)(m / MR * MR) * K + (size_t)k * MR + m % MR] * b[(size_t)k * ldb + j];
            if (bias != NULL)
                s += bias[m];
            if (res != NULL)
                s += res[(size_t)m * ldc + j];
            c[(size_t)m * ldc + j] = relu && s < 0.0f ? 0.0f : s;
        }
#endif
}
