/*
 * wino_x86.c — the evaluation path's Winograd F(4x4,3x3) tile transforms
 * in AVX-512 (winograd.c's in_transform and out_transform when the eval
 * cache is packed, that is when sai_nn__gemm_fast()).
 *
 * Why: with the GEMMs on the AVX-512 kernel (gemm.c), the compiler-
 * vectorised transforms were the larger half of a small model's batch-64
 * forward (ResNet-8: 39% of the time against 20% for the Winograd GEMMs).
 * Their first pass reads a tile's six columns 4 floats apart, which GCC
 * vectorises four lanes wide through shuffles and a staging copy.
 *
 * Here eight tiles are the first eight lanes of a register. The input
 * transform runs down the columns first (B^T over the six rows of a tile
 * row, contiguous over x, in 16-float blocks), then picks each tile's six
 * columns out of those blocks with one two-source permute per column and
 * runs the same B^T across them (vrows, once for both directions); the
 * output transform runs A^T down and across in ymm lanes, then
 * interleaves the four output columns of each tile back into image rows
 * with two permutes, adds the folded batch norm's bias and the residual,
 * applies the ReLU and stores straight into the image. Maps of 4
 * tiles or fewer across (16x16 and smaller) put two tile rows in one
 * register (lanes 0..nA-1 and nA..), so they fill half or more of it.
 *
 * Lanes are tiles in winograd.c's order (image, tile row, tile column), so
 * V and M keep their layout and the GEMMs are unchanged. The arithmetic is
 * the same linear map in another order (and with fused multiply-adds), so
 * results agree with the portable transforms to float rounding
 * (nn.test_nn_eval checks the forward against the unfolded one).
 *
 * Loads and stores past a plane's edge are masked (a masked-out lane
 * neither reads nor faults), so no row is staged through a padded copy.
 */
#include "nn/nn_internal.h"

#ifdef NN_X512
#include "nn/x512_internal.h"

#define WM 4      /* output tile */
#define LANES 8   /* tiles per register */

/* A tile-row segment: n tiles from tile (ty, tx0) of one plane, at offset
 * off (floats) of the run's first image. */
typedef struct {
    long off;          /* in: window (row 4ty-1, col 4tx0-1); out: (4ty, 4tx0) */
    unsigned rows;     /* bit r: window row r (in) / output row r (out) inside the plane */
    __mmask16 lm[6][3];   /* in: window row r's columns inside the plane, per 16 */
    int nb;            /* in: 16-column blocks to load */
    int n;
} grp;

/* Up to 8 lanes: one segment (n <= 8), or two (n <= 4 each, the second in
 * lanes nA..). */
typedef struct {
    grp g[2];
    int ng, lanes, off;     /* off: lane 0's tile in the run */
    __m512i j0;             /* in: column 0 of lane l's window in the sources */
    __m512i k[2];           /* out: image-row order of the two output vectors */
    __mmask16 sm[2];        /* out: store masks of the two output vectors (0: none) */
} lset;

#define MAX_LSETS 64

/* The run's segments (tiles r0 .. r0+cnt-1 of the image at offset 0,
 * numbered across images of P tiles), grouped into lane sets. in: window
 * offsets, else output offsets; isz: floats per image. */
X512 static int plan(lset *ls, int P, int H, int W, int tw, int r0, int cnt, size_t isz, bool in)
{
    int nls = 0;
    bool pair = tw <= 4;
    for (int off = 0; off < cnt;) {
        int g = r0 + off, img = g / P, r = g % P;
        int ty = r / tw, tx0 = r % tw;
        int n = tw - tx0 < cnt - off ? tw - tx0 : cnt - off;
        if (n > LANES)
            n = LANES;
        lset *l;
        grp *gp;
        if (pair && nls > 0 && ls[nls - 1].ng == 1 && ls[nls - 1].lanes <= 4 &&
            ls[nls - 1].g[0].n <= 4 && n <= 4) {
            l = &ls[nls - 1];
            gp = &l->g[1];
            l->ng = 2;
        } else {
            l = &ls[nls++];
            gp = &l->g[0];
            l->ng = 1;
            l->lanes = 0;
            l->off = off;
        }
        gp->n = n;
        gp->rows = 0;
        if (in) {
            int c0 = WM * tx0 - 1, y0 = WM * ty - 1, wlen = WM * n + 2;
            gp->off = (long)img * (long)isz + (long)y0 * W + c0;
            for (int i = 0; i < 6; i++)
                if (y0 + i >= 0 && y0 + i < H)
                    gp->rows |= 1u << i;
            int hi = W - c0 < wlen ? W - c0 : wlen;
            for (int i = 0; i < 6; i++)
                for (int b = 0; b < 3; b++)
                    gp->lm[i][b] = gp->rows >> i & 1u ? x512_lanes(-c0 - 16 * b, hi - 16 * b) : 0;
            gp->nb = (wlen + 15) / 16;
        } else {
            gp->off = (long)img * (long)isz + (long)WM * ty * W + WM * tx0;
            for (int i = 0; i < WM; i++)
                if (WM * ty + i < H)
                    gp->rows |= 1u << i;
            /* store masks: the segment's output columns inside the plane;
             * one segment's second vector holds its tiles 4..7 */
            int len = W - WM * tx0 < WM * n ? W - WM * tx0 : WM * n;
            if (gp == &l->g[0]) {
                l->sm[0] = x512_lanes(0, len);
                l->sm[1] = x512_lanes(0, len - 16);
            } else {
                l->sm[1] = x512_lanes(0, len);
            }
        }
        l->lanes += n;
        off += n;
    }
    for (int i = 0; i < nls; i++) {
        lset *l = &ls[i];
        int nA = l->g[0].n;
        int j0[16], k0[16], k1[16];
        for (int j = 0; j < 16; j++) {
            /* in: lane j's window column 0 in the (P, Q) sources; one
             * segment reads its window's first 32 columns, two segments
             * their first 16 each (Q's lanes are 16 up) */
            j0[j] = l->ng == 1 ? WM * j : j < nA ? WM * j : 16 + WM * (j - nA);
            /* out: position p of an output vector is output column p % 4 of
             * lane p / 4 (+ 4 for the second vector of one segment, + nA for
             * two); the lanes are z01 = (col 0, col 1), z23 = (col 2, col 3) */
            int w = j % 4, t = j / 4;
            int src = (w & 1) * 8 + (w >> 1) * 16;
            k0[j] = src + t;
            k1[j] = src + t + (l->ng == 1 ? 4 : nA);
        }
        l->j0 = _mm512_loadu_si512(j0);
        l->k[0] = _mm512_loadu_si512(k0);
        l->k[1] = _mm512_loadu_si512(k1);
    }
    return nls;
}

/* ---- the 1-D transforms on vectors (winograd.c's bt6 and at6) ---------- */

/* o = A^T m (4 from 6) on eight lanes */
X512_INLINE void at6_y(const __m256 m[6], __m256 o[4])
{
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
    o[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d34, d12);
    o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), s34, s12);
    o[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d34, d12), m[5]);
}

/* The six window rows of segment g of plane x, 16 columns from block b
 * (rows and columns outside the plane read as zero); prefetches the same
 * rows pf floats on (the next channel: ResNet-18's batch-64 forward is
 * ~10% faster with it, ResNet-8's the same). */
X512_INLINE void rows6(const float *x, const grp *g, int b, int W, long pf, __m512 d[6])
{
    for (int r = 0; r < 6; r++) {
        const float *a = x512_at(x, g->off + (long)r * W + 16 * b);
        _mm_prefetch((const char *)x512_at(a, pf), _MM_HINT_T0);
        d[r] = _mm512_maskz_loadu_ps(g->lm[r][b], a);
    }
}

/* Outputs pg of o = B^T d (pg 0: o[0]; 1: o[1], o[2]; 2: o[3], o[4]; 3:
 * o[5]), the same sums as bt6: down the window rows, and across a lane's
 * six columns. */
X512_INLINE void vrows(const __m512 d[6], int pg, __m512 o[2])
{
    switch (pg) {
    case 0:
        o[0] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), d[0],
                               _mm512_fmadd_ps(_mm512_set1_ps(-5.0f), d[2], d[4]));
        break;
    case 1:
        o[0] = _mm512_fmadd_ps(_mm512_set1_ps(-4.0f), _mm512_add_ps(d[1], d[2]),
                               _mm512_add_ps(d[3], d[4]));
        o[1] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), _mm512_sub_ps(d[1], d[2]),
                               _mm512_sub_ps(d[4], d[3]));
        break;
    case 2: {
        __m512 d13 = _mm512_sub_ps(d[1], d[3]), d42 = _mm512_sub_ps(d[4], d[2]);
        o[0] = _mm512_fmadd_ps(_mm512_set1_ps(-2.0f), d13, d42);
        o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d13, d42);
        break;
    }
    default:
        o[0] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), d[1],
                               _mm512_fmadd_ps(_mm512_set1_ps(-5.0f), d[3], d[5]));
        break;
    }
}

X512_INLINE __m512 shift4(__m512 hi, __m512 lo)   /* lo[4..15], hi[0..3] */
{
    return _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(hi), _mm512_castps_si512(lo), 4));
}

/* Row p of V for the lane set: B^T across each lane's six window columns,
 * which are columns j0 + 0..3 of (P, Q) and j0 + 0..1 of (Pt, Qt); lanes
 * past the set's are computed and not stored. */
X512_INLINE void horiz(__m512 P, __m512 Q, __m512 Pt, __m512 Qt, const __m512i j[4],
                       float *v, size_t vs, __mmask16 sm)
{
    __m512 d[6], o[2];
    d[4] = _mm512_permutex2var_ps(Pt, j[0], Qt);
    d[5] = _mm512_permutex2var_ps(Pt, j[1], Qt);
    d[0] = _mm512_permutex2var_ps(P, j[0], Q);
    d[1] = _mm512_permutex2var_ps(P, j[1], Q);
    d[2] = _mm512_permutex2var_ps(P, j[2], Q);
    d[3] = _mm512_permutex2var_ps(P, j[3], Q);
    for (int pg = 0, q = 0; pg < 4; pg++) {
        vrows(d, pg, o);
        for (int k = 0; k < (pg == 1 || pg == 2 ? 2 : 1); k++, q++)
            _mm512_mask_storeu_ps(v + (size_t)q * vs, sm, o[k]);
    }
}

/* The six rows of V from the window rows in registers: P and Pt (shifted
 * by 4 columns) come from blocks x0 and x1, Q and Qt from y0 and y1. B^T
 * down the window is taken a row (or two) of V at a time, so no
 * intermediate plane is stored. */
X512_INLINE void in_rows(const __m512 x0[6], const __m512 x1[6], const __m512 y0[6],
                         const __m512 y1[6], const __m512i j[4], float *v, size_t vs,
                         __mmask16 sm)
{
#define PG(pg, p0, np)                                                            \
    do {                                                                          \
        __m512 a[2], b[2], c[2], d[2];                                            \
        vrows(x0, pg, a);                                                         \
        vrows(x1, pg, b);                                                         \
        vrows(y0, pg, c);                                                         \
        vrows(y1, pg, d);                                                         \
        for (int k = 0; k < (np); k++)                                            \
            horiz(a[k], c[k], shift4(b[k], a[k]), shift4(d[k], c[k]), j,          \
                  v + (size_t)(((p0) + k) * 6) * vs, vs, sm);                     \
    } while (0)
    PG(0, 0, 1);
    PG(1, 1, 2);
    PG(2, 3, 2);
    PG(3, 5, 1);
#undef PG
}

/* V planes of one channel plane x for lane set l: v[xi * vs + lane]. One
 * segment: its window is blocks 0, 1, 2 (P, Q from 0, 1; Pt, Qt from 1, 2);
 * two: blocks 0, 1 of each (P, Pt from the first, Q, Qt from the second). */
X512_INLINE void in_lset(const float *x, const lset *l, int W, long pf, float *v, size_t vs)
{
    __mmask16 sm = x512_lanes(0, l->lanes);
    __m512i j[4];
    j[0] = l->j0;
    for (int i = 1; i < 4; i++)
        j[i] = _mm512_add_epi32(j[i - 1], _mm512_set1_epi32(1));
    if (l->ng == 1) {
        const grp *g = &l->g[0];
        __m512 r0[6], r1[6], r2[6];
        rows6(x, g, 0, W, pf, r0);
        rows6(x, g, 1, W, pf, r1);
        if (g->nb > 2)
            rows6(x, g, 2, W, pf, r2);
        else
            for (int r = 0; r < 6; r++)
                r2[r] = _mm512_setzero_ps();
        in_rows(r0, r1, r1, r2, j, v, vs, sm);
    } else {
        __m512 a0[6], a1[6], b0[6], b1[6];
        rows6(x, &l->g[0], 0, W, pf, a0);
        rows6(x, &l->g[0], 1, W, pf, a1);
        rows6(x, &l->g[1], 0, W, pf, b0);
        rows6(x, &l->g[1], 1, W, pf, b1);
        in_rows(a0, a1, b0, b1, j, v, vs, sm);
    }
}

X512_INLINE __m512 join(__m256 lo, __m256 hi)
{
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)),
                                               _mm256_castps_pd(hi), 1));
}

/* A^T m A of lane set l into plane y: m[xi * ms + lane]; + *bias (or
 * NULL), + res (laid out as y), ReLU. */
X512_INLINE void out_lset(const float *m, size_t ms, float *y, const lset *l, int W,
                          const float *bias, const float *res, bool relu)
{
    __mmask8 lm = (__mmask8)((1u << l->lanes) - 1);
    __m256 t[4][6];
    for (int q = 0; q < 6; q++) {
        __m256 mv[6], o[4];
        for (int i = 0; i < 6; i++)
            mv[i] = _mm256_maskz_loadu_ps(lm, m + (size_t)(i * 6 + q) * ms);
        at6_y(mv, o);
        for (int r = 0; r < 4; r++)
            t[r][q] = o[r];
    }
    for (int r = 0; r < 4; r++) {
        __m256 o[4];
        at6_y(t[r], o);
        __m512 z01 = join(o[0], o[1]), z23 = join(o[2], o[3]);
        for (int s = 0; s < 2; s++) {
            const grp *g = &l->g[l->ng == 1 ? 0 : s];
            if (!(g->rows >> r & 1u))
                continue;
            __mmask16 mk = l->sm[s];
            if (mk == 0)
                continue;
            long off = g->off + (long)r * W + (l->ng == 1 ? 16 * s : 0);
            x512_epilogue(_mm512_permutex2var_ps(z01, l->k[s], z23), bias,
                          res != NULL ? x512_at(res, off) : NULL, relu, mk, x512_at_mut(y, off));
        }
    }
}

X512 void sai_nn__wino_in_x512(const float *x, size_t isz, int C, int P, int H, int W, int tw,
                               int r0, int cnt, float *v, size_t cs, size_t vs)
{
    lset ls[MAX_LSETS];
    int nls = plan(ls, P, H, W, tw, r0, cnt, isz, true);
    size_t hw = (size_t)H * W;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < nls; i++)
            in_lset(x + (size_t)c * hw, &ls[i], W, c + 1 < C ? (long)hw : 0,
                    v + (size_t)c * cs + ls[i].off, vs);
}

X512 void sai_nn__wino_out_x512(const float *m, size_t ks, size_t ms, float *y, size_t osz, int K,
                                int P, int H, int W, int tw, int r0, int cnt, const float *bias,
                                const float *res, bool relu)
{
    lset ls[MAX_LSETS];
    int nls = plan(ls, P, H, W, tw, r0, cnt, osz, false);
    size_t hw = (size_t)H * W;
    for (int k = 0; k < K; k++) {
        const float *rk = res != NULL ? res + (size_t)k * hw : NULL;
        for (int i = 0; i < nls; i++)
            out_lset(m + (size_t)k * ks + ls[i].off, ms, y + (size_t)k * hw, &ls[i], W,
                     bias != NULL ? bias + k : NULL, rk, relu);
    }
}
#endif
