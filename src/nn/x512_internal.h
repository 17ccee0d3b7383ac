/*
 * x512_internal.h — what the evaluation path's AVX-512 kernels share
 * (gemm.c, wino_x86.c, conv_x86.c): the target attribute, addressing with
 * offsets that may point before a plane (only ever read through a mask that
 * excludes those lanes), lane masks, and the folded epilogue.
 *
 * Only for x86-64 GCC-compatible compilers; the callers check
 * sai_nn__gemm_fast() (AVX-512F, AVX-512VL and FMA at run time) first.
 */
#ifndef SAI_NN_X512_INTERNAL_H
#define SAI_NN_X512_INTERNAL_H

#include <stdint.h>

#include <immintrin.h>

#define X512 __attribute__((target("avx512f,avx512vl,fma")))
#define X512_INLINE __attribute__((target("avx512f,avx512vl,fma"), always_inline)) static inline

/* p + off floats, off possibly negative or past the end: an address for a
 * masked load or store, computed without pointer arithmetic out of bounds */
static inline const float *x512_at(const float *p, long off)
{
    return (const float *)((uintptr_t)p + (uintptr_t)(off * (long)sizeof(float)));
}

static inline float *x512_at_mut(float *p, long off)
{
    return (float *)((uintptr_t)p + (uintptr_t)(off * (long)sizeof(float)));
}

/* Lanes [lo, hi) of 16, clipped to 0..16. */
static inline __mmask16 x512_lanes(int lo, int hi)
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    return hi <= lo ? 0 : (__mmask16)(((1u << (hi - lo)) - 1) << lo);
}

/* The micro-kernels' step (gemm.c, conv_x86.c): acc[r][v] += a[r] * b[v]
 * for 8 rows of packed weights and nv vectors of B (nv a constant after
 * inlining, so the accumulators stay in registers). */
X512_INLINE void x512_rank1(__m512 acc[8][3], const float *a, const __m512 b[3], const int nv)
{
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
        __m512 w = _mm512_set1_ps(a[r]);
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_fmadd_ps(w, b[v], acc[r][v]);
    }
}

/* The folded epilogue: dst[lanes of mk] = o (+ bias) (+ res at the same
 * place) (ReLU). */
X512_INLINE void x512_epilogue(__m512 o, const float *bias, const float *res, bool relu,
                               __mmask16 mk, float *dst)
{
    if (bias != NULL)
        o = _mm512_add_ps(o, _mm512_set1_ps(*bias));
    if (res != NULL)
        o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(mk, res));
    if (relu)
        o = _mm512_max_ps(o, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(dst, mk, o);
}

#endif
