/*
 * winograd.c — 3x3 stride-1 pad-1 convolutions as Winograd F(4x4,3x3)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
 * interpolation points 0, 1, -1, 2, -2, inf): every 4x4 output tile is
 * A^T [ (G g G^T) . (B^T d B) ] A over the 6x6 input tile d, so a layer
 * becomes 36 independent GEMMs over transformed tiles with 36
 * multiply-adds per output pair of channels per tile instead of 144 — 4x
 * less arithmetic than im2col.
 *
 * Backward is the exact adjoint of that algorithm, sharing the transformed
 * output gradient dM = A dY A^T between the two GEMMs:
 *   weight gradient  dU[xi] += dM[xi] V[xi]^T,  dW = G^T dU G
 *   input gradient   dV[xi]  = U[xi]^T dM[xi],  dx += B dV B^T (tiles overlap)
 * so training runs all three passes at the reduced cost. Results match the
 * im2col path to float rounding (nn.test_nn_wino checks forward, input and
 * weight gradients on odd and even sizes; nn.test_nn_torch pins the whole
 * ResNet-8 to PyTorch; nn.test_nn_grad checks the layer by finite
 * differences).
 *
 * Layout: per chunk of nt tiles (a range of the thread's images' tiles, in
 * image / tile-row / tile-column order), V[36][C][nt], M[36][K][nt] and
 * dV[36][C][nt]; transformed weights U[36][K][C] are shared (computed at
 * the start of each forward and backward). Each thread accumulates a
 * private dU[36][K][C] (a block of K rows at a time for the largest layers,
 * see du_rows) and transforms it into its private weight-gradient buffer,
 * summed by sai_nn__conv_backward like the im2col path's.
 *
 * The transforms run over runs of tiles in one tile row, structure of
 * arrays, so the compiler vectorises them; they are built for AVX2 as well
 * as the baseline and picked at load time (GCC function multi-versioning),
 * so the binary runs on any x86-64.
 */
#include <string.h>

#include <cblas.h>

#include "nn/nn_internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define WINO_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define WINO_CLONES
#endif

/* The transforms' loops over tiles read and write through arrays of row
 * pointers that never overlap; say so, or the compiler keeps them scalar. */
#if defined(__clang__)
#define IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

#define WM 4                        /* output tile */
#define WA 6                        /* input tile (WM + 2) */
#define WX (WA * WA)                /* transformed planes */
#define WINO_MAX_ROW (WM * 64 + 8)  /* a tile-row segment of a run, padded */
/* The forward's V and M planes (one per xi) lie C * nt + WPAD and K * nt +
 * WPAD floats apart: with a bare C * nt (often a multiple of 1024 floats)
 * all 36 planes fall in one set of the L1 cache, and the transforms' 36
 * stores or loads per tile group evicted each other (ResNet-8 at batch 64:
 * the input transform took twice its time with 4 images per pass). */
#define WPAD 16

static size_t r16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Below 8 channels (the RGB stem) the transforms cost more than they save. */
bool sai_nn__wino_shape_ok(int C, int K, int k, int s, int p)
{
    return k == 3 && s == 1 && p == 1 && C >= 8 && K >= 8;
}

/* Below 8 tiles in the whole batch (batch-1 inference on 8x8 and 4x4
 * maps) transforming the weights costs more than the GEMMs save: those
 * calls take the im2col path, whose buffers every model keeps. */
bool sai_nn__wino_eligible(const nn_conv_ws *ws, int N, int C, int H, int W, int K, int k,
                           int s, int p)
{
    long tiles = (long)N * ((H + WM - 1) / WM) * ((W + WM - 1) / WM);
    return ws->winograd && sai_nn__wino_shape_ok(C, K, k, s, p) && tiles >= 8;
}

/* Tiles per chunk: V and M of one chunk stay within ~1 MiB each (the L2
 * of this machine class; 0.5 and 2 MiB were slower on ResNet-18), and no
 * more than the largest batch has (small models stay small). */
int sai_nn__wino_chunk(int C, int H, int W, int K, int max_batch)
{
    int mx = C > K ? C : K;
    int nt = (int)(262144 / (WX * (size_t)mx));
    nt &= ~15;
    nt = nt < 32 ? 32 : nt > 512 ? 512 : nt;
    size_t tiles = (size_t)max_batch * (size_t)((H + WM - 1) / WM) *
                   (size_t)((W + WM - 1) / WM);
    return tiles < (size_t)nt ? (int)tiles : nt;
}

/* Rows of k the weight-gradient accumulator dU[36][rows][C] holds. Up to
 * 8 MiB it holds all K and accumulates over the thread's chunks; above
 * that (256x256 and 512x512 layers: 9.4 and 38 MiB per thread) it holds a
 * block of rows at a time, turned into dW after every chunk: such layers
 * have one or two chunks per thread, so the extra transforms cost little,
 * and training ResNet-18/50 keeps ~60 MiB less. */
#define WINO_DU_FLOATS (2u << 20)
static int du_rows(int C, int K)
{
    if ((size_t)WX * K * C <= WINO_DU_FLOATS)
        return K;
    int kb = (int)(WINO_DU_FLOATS / ((size_t)WX * C)) & ~15;
    return kb < 16 ? 16 : kb > K ? K : kb;
}

size_t sai_nn__wino_thread_floats(int Ci, int H, int W, int Ki, int max_batch, bool train)
{
    size_t C = (size_t)Ci, K = (size_t)Ki;
    size_t nt = (size_t)sai_nn__wino_chunk(Ci, H, W, Ki, max_batch);
    size_t f = r16(WX * (C * nt + WPAD)) + r16(WX * (K * nt + WPAD));
    if (train)
        f += r16(WX * C * nt) + r16(WX * (size_t)du_rows((int)C, (int)K) * C);
    return f;
}

size_t sai_nn__wino_u_floats(int C, int K)
{
    return WX * (size_t)C * (size_t)K;
}

/* One call's arguments: x, dx [n][C][H][W]; y, dy [n][K][H][W]; w [K][C][3][3] */
typedef struct {
    float *y, *dx;
    const float *x, *dy, *w;
    const nn_conv_ws *ws;
    int C, K, H, W, tw, P, nt;   /* P = tiles per image, nt = tiles per chunk */
    int n;
    float *dw[SAI_NN_MAX_THREADS];
    bool used[SAI_NN_MAX_THREADS];
    int T;                           /* the pass's threads (driver) */
    float *u_out;                    /* weight transform target (ws->wino_u unless cached) */
    const float *u;                  /* transformed weights the GEMMs read */
    const float *bias;               /* forward epilogue: per output channel, or NULL */
    const float *res;                /* forward epilogue: residual, laid out as y, or NULL */
    bool relu;
    bool packed;                     /* u is packed per tap (sai_nn__gemm_pack) */
} wino_ctx;

/* ---- the 1-D transforms ------------------------------------------------
 * Each is written once, on a handful of scalars; the loops that call them
 * gather their inputs from rows of tiles and scatter the outputs, and GCC
 * vectorises those loops across tiles after inlining. */

/* o = B^T d (6 from 6) */
static inline void bt6(const float d[6], float o[6])
{
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = -4.0f * (d[1] + d[2]) + d[3] + d[4];
    o[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
    o[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
    o[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* o = B v (6 from 6), the adjoint of bt6 */
static inline void b6(const float v[6], float o[6])
{
    o[0] = 4.0f * v[0];
    o[1] = 4.0f * (v[2] - v[1]) + 2.0f * (v[4] - v[3]) + 4.0f * v[5];
    o[2] = -5.0f * v[0] - 4.0f * (v[1] + v[2]) - v[3] - v[4];
    o[3] = v[1] - v[2] + 2.0f * (v[3] - v[4]) - 5.0f * v[5];
    o[4] = v[0] + v[1] + v[2] + v[3] + v[4];
    o[5] = v[5];
}

/* o = A^T m (4 from 6) */
static inline void at6(const float m[6], float o[4])
{
    float s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    o[0] = m[0] + s12 + s34;
    o[1] = d12 + 2.0f * d34;
    o[2] = s12 + 4.0f * s34;
    o[3] = d12 + 8.0f * d34 + m[5];
}

/* o = A y (6 from 4), the adjoint of at6 */
static inline void a6(const float y[4], float o[6])
{
    float e = y[0] + y[2], f = y[1] + y[3], g = y[0] + 4.0f * y[2], h = 2.0f * y[1] + 8.0f * y[3];
    o[0] = y[0];
    o[1] = e + f;
    o[2] = e - f;
    o[3] = g + h;
    o[4] = g - h;
    o[5] = y[3];
}

/* o = G g (6 from 3) */
static inline void g6(const float g[3], float o[6])
{
    float a = g[0] + g[2], b = g[0] * (1.0f / 24.0f) + g[2] * (1.0f / 6.0f);
    o[0] = 0.25f * g[0];
    o[1] = -(a + g[1]) * (1.0f / 6.0f);
    o[2] = -(a - g[1]) * (1.0f / 6.0f);
    o[3] = b + g[1] * (1.0f / 12.0f);
    o[4] = b - g[1] * (1.0f / 12.0f);
    o[5] = g[2];
}

/* o = G^T u (3 from 6), the adjoint of g6 */
static inline void gt6(const float u[6], float o[3])
{
    o[0] = 0.25f * u[0] - (u[1] + u[2]) * (1.0f / 6.0f) + (u[3] + u[4]) * (1.0f / 24.0f);
    o[1] = (u[2] - u[1]) * (1.0f / 6.0f) + (u[3] - u[4]) * (1.0f / 12.0f);
    o[2] = (u[3] + u[4] - u[1] - u[2]) * (1.0f / 6.0f) + u[5];
}

/* out[q][j] = f(in[0..ni)[j]) for j < cnt: a transform down a column of
 * rows (the rows never overlap) */
#define ROWS_APPLY(f, ni, no, in, out, cnt)                                 \
    do {                                                                    \
        IVDEP                                                               \
        for (int j_ = 0; j_ < (cnt); j_++) {                                \
            float a_[6], b_[6];                                             \
            for (int i_ = 0; i_ < (ni); i_++)                               \
                a_[i_] = (in)[i_][j_];                                      \
            f(a_, b_);                                                      \
            for (int q_ = 0; q_ < (no); q_++)                               \
                (out)[q_][j_] = b_[q_];                                     \
        }                                                                   \
    } while (0)

/* ---- weight transforms ---------------------------------------------- */

/* U[xi][k][c] = (G g G^T)[xi] for g = W[k][c], k in [k0, k1), a row of c
 * at a time (taps gathered into tap[9][C] first) so the loops vectorise
 * and every U store is contiguous. */
WINO_CLONES
static void wtrans_task(void *vc, long k0, long k1, int tid)
{
    const wino_ctx *cx = vc;
    const float *W = cx->w;
    int C = cx->C, K = cx->K;
    size_t S = (size_t)K * C;
    float *tap = cx->ws->wino_tap + (size_t)tid * cx->ws->wino_tap_floats;
    float *gg = tap + 9 * (size_t)cx->ws->wino_tap_c;   /* [6][3][C]: G g */
    for (long k = k0; k < k1; k++) {
        const float *wk = W + (size_t)k * C * 9;
        for (int c = 0; c < C; c++)
            for (int q = 0; q < 9; q++)
                tap[(size_t)q * C + c] = wk[(size_t)c * 9 + q];
        for (int j = 0; j < 3; j++) {   /* column j of g: rows 0..2 are taps j, 3+j, 6+j */
            const float *in[3] = {tap + (size_t)j * C, tap + (size_t)(3 + j) * C,
                                  tap + (size_t)(6 + j) * C};
            float *out[6];
            for (int i = 0; i < 6; i++)
                out[i] = gg + (size_t)(i * 3 + j) * C;
            ROWS_APPLY(g6, 3, 6, in, out, C);
        }
        for (int i = 0; i < 6; i++) {   /* row i of (G g) G^T */
            const float *in[3] = {gg + (size_t)(i * 3) * C, gg + (size_t)(i * 3 + 1) * C,
                                  gg + (size_t)(i * 3 + 2) * C};
            float *out[6];
            for (int q = 0; q < 6; q++)
                out[q] = cx->u_out + (size_t)(i * WA + q) * S + (size_t)k * C;
            ROWS_APPLY(g6, 3, 6, in, out, C);
        }
    }
}

static void weight_transform(wino_ctx *cx)
{
    cx->u_out = cx->ws->wino_u;
    cx->u = cx->ws->wino_u;
    sai_nn__parallel(cx->K, sai_nn__grain(cx->T, (size_t)cx->K * cx->C * WX), wtrans_task, cx);
}

/* dw[k][c] += G^T dU[k][c] G; tap is the thread's tap scratch */
WINO_CLONES
static void dw_from_du(const float *dU, float *dw, int K, int C, float *tap, int tap_c)
{
    size_t S = (size_t)K * C;
    float *gu = tap + 9 * (size_t)tap_c;   /* [3][6][C]: G^T dU */
    for (int k = 0; k < K; k++) {
        for (int q = 0; q < 6; q++) {   /* column q of dU */
            const float *in[6];
            float *out[3];
            for (int i = 0; i < 6; i++)
                in[i] = dU + (size_t)(i * WA + q) * S + (size_t)k * C;
            for (int a = 0; a < 3; a++)
                out[a] = gu + (size_t)(a * 6 + q) * C;
            ROWS_APPLY(gt6, 6, 3, in, out, C);
        }
        for (int a = 0; a < 3; a++) {   /* row a of (G^T dU) G */
            const float *in[6];
            float *out[3];
            for (int q = 0; q < 6; q++)
                in[q] = gu + (size_t)(a * 6 + q) * C;
            for (int b = 0; b < 3; b++)
                out[b] = tap + (size_t)(a * 3 + b) * C;
            ROWS_APPLY(gt6, 6, 3, in, out, C);
        }
        float *g = dw + (size_t)k * C * 9;
        for (int c = 0; c < C; c++)
            for (int q = 0; q < 9; q++)
                g[(size_t)c * 9 + q] += tap[(size_t)q * C + c];
    }
}

/* ---- tile transforms over one run of tiles ---------------------------- */

/* A run is up to WINO_RUN consecutive tiles of one image (tile index r0 ..
 * r0+cnt-1 in row-major tile order, possibly over several tile rows): the
 * loads and stores go a tile-row segment at a time, the arithmetic over the
 * whole run, so vector loops stay long even on 8x8 and 4x4 maps. */
#define WINO_RUN 64

/* Tile-row segments of the run: ty, first column tx0, n tiles, at run
 * offset off. */
#define FOR_SEGS(tw, r0, cnt, ...)                                         \
    do {                                                                    \
        for (int off = 0; off < (cnt);) {                                   \
            int ty = ((r0) + off) / (tw), tx0 = ((r0) + off) % (tw);        \
            int n = (tw) - tx0 < (cnt) - off ? (tw) - tx0 : (cnt) - off;    \
            __VA_ARGS__;                                                    \
            off += n;                                                       \
        }                                                                   \
    } while (0)

/* Rows y0 .. y0+nrows-1 of plane x (H x W), columns WM*tx0 - shift onwards,
 * WM*n + 4 of them, zero outside the plane. */
NN_INLINE_COPIES
static void load_rows(const float *x, int H, int W, int y0, int nrows, int tx0, int n,
                      int shift, float (*buf)[WINO_MAX_ROW])
{
    int wlen = WM * n + 4, col0 = WM * tx0 - shift;
    for (int r = 0; r < nrows; r++) {
        int ih = y0 + r;
        float *d = buf[r];
        if (ih < 0 || ih >= H) {
            for (int j = 0; j < wlen; j++)
                d[j] = 0.0f;
            continue;
        }
        const float *xr = x + (size_t)ih * W;
        int j0 = col0 < 0 ? -col0 : 0;
        int j1 = W - col0 < wlen ? W - col0 : wlen;
        if (j1 < j0)
            j1 = j0;
        for (int j = 0; j < j0; j++)
            d[j] = 0.0f;
        for (int j = j0; j < j1; j++)
            d[j] = xr[col0 + j];
        for (int j = j1; j < wlen; j++)
            d[j] = 0.0f;
    }
}

/* V planes for the run: v[xi * vs + t] */
WINO_CLONES
static void in_transform(const float *x, int H, int W, int tw, int r0, int cnt, float *v,
                         size_t vs)
{
    float rows[WA][WINO_MAX_ROW];
    float e[WA][WA][WINO_RUN];   /* [input row][B^T column][tile] */
    FOR_SEGS(tw, r0, cnt, {
        load_rows(x, H, W, WM * ty - 1, WA, tx0, n, 1, rows);
        for (int r = 0; r < WA; r++) {
            /* straight from the row (stride WM): staging it through a
             * small array made the vector loads wait on scalar stores */
            const float *row = rows[r];
            IVDEP
            for (int j = 0; j < n; j++) {
                float o[6];
                bt6(row + WM * j, o);
                for (int q = 0; q < WA; q++)
                    e[r][q][off + j] = o[q];
            }
        }
    });
    for (int q = 0; q < WA; q++) {
        const float *in[WA];
        float *out[WA];
        for (int r = 0; r < WA; r++) {
            in[r] = e[r][q];
            out[r] = v + (size_t)(r * WA + q) * vs;
        }
        ROWS_APPLY(bt6, 6, 6, in, out, cnt);
    }
}

/* y = A^T m A into plane y (H x W) for the run's tiles. */
WINO_CLONES
static void out_transform(const float *mm, size_t ms, float *y, int H, int W, int tw, int r0,
                          int cnt, const float *bias, const float *res, bool relu)
{
    float t[WM][WA][WINO_RUN];   /* [output row][column][tile] */
    float row[WINO_MAX_ROW];
    for (int q = 0; q < WA; q++) {
        const float *in[WA];
        float *out[WM];
        for (int i = 0; i < WA; i++)
            in[i] = mm + (size_t)(i * WA + q) * ms;
        for (int r = 0; r < WM; r++)
            out[r] = t[r][q];
        ROWS_APPLY(at6, 6, 4, in, out, cnt);
    }
    FOR_SEGS(tw, r0, cnt, {
        int c0 = WM * tx0, len = WM * n;
        float *yi = y;
        if (c0 + len > W)
            len = W - c0;
        for (int r = 0; r < WM; r++) {
            int oh = WM * ty + r;
            if (oh >= H)
                break;
            /* whole tiles go straight into y; a partial last tile through row */
            float *dst = len == WM * n ? yi + (size_t)oh * W + c0 : row;
            IVDEP
            for (int j = 0; j < n; j++) {
                float mm6[6];
                for (int q = 0; q < WA; q++)
                    mm6[q] = t[r][q][off + j];
                at6(mm6, dst + WM * j);
            }
            if (bias != NULL && res != NULL) {   /* + the residual add (and its ReLU) */
                float b = *bias;
                const float *rr = res + (size_t)oh * W + c0;
                for (int j = 0; j < len; j++) {
                    float v = dst[j] + b + rr[j];
                    dst[j] = relu ? (v > 0.0f ? v : 0.0f) : v;
                }
            } else if (bias != NULL) {   /* evaluation: folded batch norm (+ ReLU) */
                float b = *bias;
                for (int j = 0; j < WM * n; j++) {
                    float v = dst[j] + b;
                    dst[j] = relu ? (v > 0.0f ? v : 0.0f) : v;
                }
            }
            if (dst == row)
                memcpy(yi + (size_t)oh * W + c0, row, (size_t)len * sizeof(float));
        }
    });
}

/* dM = A dY A^T for the run's 4x4 tiles of plane dy (zero outside). */
WINO_CLONES
static void dy_transform(const float *dy, int H, int W, int tw, int r0, int cnt, float *dm,
                         size_t ms)
{
    float rows[WM][WINO_MAX_ROW];
    float a[WM][WA][WINO_RUN];   /* [dy row][A column][tile] */
    FOR_SEGS(tw, r0, cnt, {
        load_rows(dy, H, W, WM * ty, WM, tx0, n, 0, rows);
        for (int r = 0; r < WM; r++) {
            const float *row = rows[r];
            IVDEP
            for (int j = 0; j < n; j++) {
                float o[6];
                a6(row + WM * j, o);
                for (int i = 0; i < WA; i++)
                    a[r][i][off + j] = o[i];
            }
        }
    });
    for (int q = 0; q < WA; q++) {
        const float *in[WM];
        float *out[WA];
        for (int r = 0; r < WM; r++)
            in[r] = a[r][q];
        for (int i = 0; i < WA; i++)
            out[i] = dm + (size_t)(i * WA + q) * ms;
        ROWS_APPLY(a6, 4, 6, in, out, cnt);
    }
}

/* dx += B dV B^T over the run's 6x6 input tiles (overlapping by 2). */
WINO_CLONES
static void dx_transform(const float *dv, size_t vs, float *dx, int H, int W, int tw, int r0,
                         int cnt)
{
    float t[WA][WA][WINO_RUN];   /* [dx row][column][tile] */
    float row[WINO_MAX_ROW];
    for (int q = 0; q < WA; q++) {
        const float *in[WA];
        float *out[WA];
        for (int i = 0; i < WA; i++) {
            in[i] = dv + (size_t)(i * WA + q) * vs;
            out[i] = t[i][q];
        }
        ROWS_APPLY(b6, 6, 6, in, out, cnt);
    }
    /* tile j of a segment covers padded columns 4j .. 4j+5 (real
     * 4(tx0+j)-1 ..): columns 4j .. 4j+3 are stored, then 4j+4, 4j+5 added
     * (the next tile's first two) */
    FOR_SEGS(tw, r0, cnt, {
        int col0 = WM * tx0 - 1, wlen = WM * n + 2;
        for (int r = 0; r < WA; r++) {
            int ih = WM * ty - 1 + r;
            if (ih < 0 || ih >= H)
                continue;
            float c4[WINO_RUN], c5[WINO_RUN];   /* columns 4j+4, 4j+5 */
            IVDEP
            for (int j = 0; j < n; j++) {
                float v6[6], o[6];
                for (int q = 0; q < WA; q++)
                    v6[q] = t[r][q][off + j];
                b6(v6, o);
                for (int q = 0; q < WM; q++)
                    row[WM * j + q] = o[q];
                c4[j] = o[4];
                c5[j] = o[5];
            }
            row[WM * n] = row[WM * n + 1] = 0.0f;
            for (int j = 0; j < n; j++) {
                row[WM * j + 4] += c4[j];
                row[WM * j + 5] += c5[j];
            }
            float *xr = dx + (size_t)ih * W;
            int j0 = col0 < 0 ? -col0 : 0;
            int j1 = W - col0 < wlen ? W - col0 : wlen;
            for (int j = j0; j < j1; j++)
                xr[col0 + j] += row[j];
        }
    });
}

/* ---- chunks ------------------------------------------------------------ */

/* Visit the runs of global tile range [t0, t0 + nt): image img, first tile
 * r0 of that image, cnt tiles, offset off of the run in the chunk. */
#define FOR_RUNS(cx, t0, nt, ...) FOR_RUNS_X(cx, t0, nt, false, __VA_ARGS__)

/* span: a run may go on into the next images (the AVX-512 transforms take
 * tiles numbered across images, wino_x86.c), so small maps do not
 * transform one to four tiles per call. */
#define FOR_RUNS_X(cx, t0, nt, span, ...)                                  \
    do {                                                                    \
        long t_ = (t0), end_ = (t0) + (nt);                                 \
        while (t_ < end_) {                                                 \
            long img = t_ / (cx)->P;                                        \
            int r0 = (int)(t_ % (cx)->P);                                   \
            int cnt = (span) ? WINO_RUN : (cx)->P - r0;                     \
            if (cnt > end_ - t_)                                            \
                cnt = (int)(end_ - t_);                                     \
            if (cnt > WINO_RUN)                                             \
                cnt = WINO_RUN;                                             \
            int off = (int)(t_ - (t0));                                     \
            __VA_ARGS__;                                                    \
            t_ += cnt;                                                      \
        }                                                                   \
    } while (0)

static void gather_v(const wino_ctx *cx, const float *xall, size_t isz, long t0, int nt,
                     float *V, size_t vs, bool packed)
{
    int C = cx->C, H = cx->H, W = cx->W;
#ifdef NN_X512
    if (packed) {   /* evaluation: AVX-512 transforms (wino_x86.c) */
        FOR_RUNS_X(cx, t0, nt, true, {
            sai_nn__wino_in_x512(xall + (size_t)img * isz, isz, C, cx->P, H, W, cx->tw, r0,
                                 cnt, V + off, (size_t)nt, vs);
        });
        return;
    }
#endif
    (void)packed;   /* only ever packed with the AVX-512 GEMM (sai_nn__gemm_fast) */
    FOR_RUNS(cx, t0, nt, {
        const float *x = xall + (size_t)img * isz;
        for (int c = 0; c < C; c++)
            in_transform(x + (size_t)c * H * W, H, W, cx->tw, r0, cnt, V + (size_t)c * nt + off,
                         vs);
    });
}

static void fwd_task(void *vc, long c0, long c1, int tid)
{
    const wino_ctx *cx = vc;
    const nn_conv_ws *ws = cx->ws;
    int C = cx->C, K = cx->K, H = cx->H, W = cx->W;
    size_t isz = (size_t)C * H * W, osz = (size_t)K * H * W;
    float *V = ws->wino + (size_t)tid * ws->wino_floats;
    float *M = V + r16(WX * ((size_t)C * cx->nt + WPAD));
    long total = (long)cx->n * cx->P;
    for (long ch = c0; ch < c1; ch++) {
        long t0 = ch * cx->nt;
        int nt = (int)(total - t0 < cx->nt ? total - t0 : cx->nt);
        size_t vs = (size_t)C * nt + WPAD, ms = (size_t)K * nt + WPAD;
        gather_v(cx, cx->x, isz, t0, nt, V, vs, cx->packed);
        if (cx->packed) {
            size_t us = sai_nn__gemm_packed_floats(K, C);
            for (int xi = 0; xi < WX; xi++)
                sai_nn__gemm_packed(K, nt, C, cx->u + (size_t)xi * us, V + (size_t)xi * vs,
                                    (size_t)nt, M + (size_t)xi * ms, (size_t)nt, NULL, NULL,
                                    false);
        } else {
            for (int xi = 0; xi < WX; xi++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, nt, C, 1.0f,
                            cx->u + (size_t)xi * K * C, C, V + (size_t)xi * vs, nt, 0.0f,
                            M + (size_t)xi * ms, nt);
        }
#ifdef NN_X512
        if (cx->packed) {
            FOR_RUNS_X(cx, t0, nt, true, {
                sai_nn__wino_out_x512(M + off, (size_t)nt, ms, cx->y + (size_t)img * osz, osz, K,
                                      cx->P, H, W, cx->tw, r0, cnt, cx->bias,
                                      cx->res != NULL ? cx->res + (size_t)img * osz : NULL,
                                      cx->relu);
            });
            continue;
        }
#endif
        FOR_RUNS(cx, t0, nt, {
            float *y = cx->y + (size_t)img * osz;
            const float *res = cx->res != NULL ? cx->res + (size_t)img * osz : NULL;
            for (int k = 0; k < K; k++)
                out_transform(M + (size_t)k * nt + off, ms, y + (size_t)k * H * W, H, W, cx->tw,
                              r0, cnt, cx->bias != NULL ? cx->bias + k : NULL,
                              res != NULL ? res + (size_t)k * H * W : NULL, cx->relu);
        });
    }
}

static void setup(wino_ctx *cx, const float *w, int n, int C, int H, int W, int K,
                  const nn_conv_ws *ws, int T)
{
    cx->w = w;
    cx->ws = ws;
    cx->n = n;
    cx->C = C;
    cx->K = K;
    cx->H = H;
    cx->W = W;
    cx->tw = (W + WM - 1) / WM;
    cx->P = (H + WM - 1) / WM * cx->tw;
    cx->nt = sai_nn__wino_chunk(C, H, W, K, ws->max_batch);
    cx->T = T;
}

void sai_nn__wino_weights(float *u, const float *w, int C, int K, const nn_conv_ws *ws, int T)
{
    wino_ctx cx = {0};
    setup(&cx, w, 1, C, 4, 4, K, ws, T);
    cx.u_out = u;
    sai_nn__parallel(K, sai_nn__grain(T, (size_t)K * C * WX), wtrans_task, &cx);
}

void sai_nn__wino_forward(float *y, const float *x, const float *w, int N, int C, int H, int W,
                          int K, const nn_conv_ws *ws, int T)
{
    sai_nn__wino_forward_ex(y, x, w, NULL, N, C, H, W, K, ws, T);
}

void sai_nn__wino_forward_ex(float *y, const float *x, const float *w, const nn_conv_epi *epi,
                             int N, int C, int H, int W, int K, const nn_conv_ws *ws, int T)
{
    wino_ctx cx = {0};
    setup(&cx, w, N, C, H, W, K, ws, T);
    /* Evaluation under 16M multiply-adds (batch-1 inference; the threshold
     * of conv.c's channel split) runs on the calling thread: splitting 64
     * tiles of ResNet-8 over two threads made its batch-1 forward 10x
     * slower whenever the other core was busy (0.17 ms alone, ~2.5 ms in
     * hand-offs at load 5). Training keeps its chunks: its sums must not move. */
    if (epi != NULL && (double)WX * K * C * N * cx.P < 16e6)
        T = cx.T = 1;
    cx.y = y;
    cx.x = x;
    if (epi != NULL) {
        cx.bias = epi->bias;
        cx.res = epi->res;
        cx.relu = epi->relu;
    }
    if (epi != NULL && epi->wino_u != NULL) {
        cx.u = epi->wino_u;   /* cached: computed once per weights version */
        cx.packed = epi->packed;
    } else
        weight_transform(&cx);
    /* as many chunks as fit the buffers, rounded up to a multiple of the
     * threads so they all get the same number of tiles */
    long total = (long)N * cx.P;
    long chunks = (total + cx.nt - 1) / cx.nt;
    chunks = (chunks + T - 1) / T * T;
    if (chunks > total)
        chunks = total;
    cx.nt = (int)((total + chunks - 1) / chunks);
    sai_nn__parallel((total + cx.nt - 1) / cx.nt, T, fwd_task, &cx);
}

/* Backward over whole images [i0, i1): the input-gradient tiles of one image
 * overlap, so an image never straddles two threads. */
static void bwd_task(void *vc, long i0, long i1, int tid)
{
    wino_ctx *cx = vc;
    const nn_conv_ws *ws = cx->ws;
    int C = cx->C, K = cx->K, H = cx->H, W = cx->W;
    size_t isz = (size_t)C * H * W, osz = (size_t)K * H * W;
    bool need_dx = cx->dx != NULL;
    float *V = ws->wino + (size_t)tid * ws->wino_floats;
    float *dM = V + r16(WX * (size_t)C * cx->nt);
    float *dV = dM + r16(WX * (size_t)K * cx->nt);
    float *dU = dV + r16(WX * (size_t)C * cx->nt);
    float *tap = ws->wino_tap + (size_t)tid * ws->wino_tap_floats;
    int kb = du_rows(C, K);
    float *dw = cx->dw[tid];
    if (tid != 0)
        memset(dw, 0, (size_t)K * C * 9 * sizeof(float));
    if (kb == K)
        memset(dU, 0, WX * (size_t)K * C * sizeof(float));
    long end = i1 * cx->P;
    for (long t0 = i0 * cx->P; t0 < end; t0 += cx->nt) {
        int nt = (int)(end - t0 < cx->nt ? end - t0 : cx->nt);
        size_t ms = (size_t)K * nt, vs = (size_t)C * nt;
        FOR_RUNS(cx, t0, nt, {
            const float *dy = cx->dy + (size_t)img * osz;
            for (int k = 0; k < K; k++)
                dy_transform(dy + (size_t)k * H * W, H, W, cx->tw, r0, cnt,
                             dM + (size_t)k * nt + off, ms);
        });
        gather_v(cx, cx->x, isz, t0, nt, V, vs, false);
        if (kb == K) {
            for (int xi = 0; xi < WX; xi++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, C, nt, 1.0f,
                            dM + (size_t)xi * ms, nt, V + (size_t)xi * vs, nt, 1.0f,
                            dU + (size_t)xi * K * C, C);
        } else {
            for (int k0 = 0; k0 < K; k0 += kb) {
                int kn = K - k0 < kb ? K - k0 : kb;
                for (int xi = 0; xi < WX; xi++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kn, C, nt, 1.0f,
                                dM + (size_t)xi * ms + (size_t)k0 * nt, nt,
                                V + (size_t)xi * vs, nt, 0.0f, dU + (size_t)xi * kn * C, C);
                dw_from_du(dU, dw + (size_t)k0 * C * 9, kn, C, tap, ws->wino_tap_c);
            }
        }
        if (!need_dx)
            continue;
        for (int xi = 0; xi < WX; xi++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, nt, K, 1.0f,
                        cx->u + (size_t)xi * K * C, C, dM + (size_t)xi * ms, nt, 0.0f,
                        dV + (size_t)xi * vs, nt);
        FOR_RUNS(cx, t0, nt, {
            float *dx = cx->dx + (size_t)img * isz;
            for (int c = 0; c < C; c++)
                dx_transform(dV + (size_t)c * nt + off, vs, dx + (size_t)c * H * W, H, W,
                             cx->tw, r0, cnt);
        });
    }
    if (kb == K)
        dw_from_du(dU, dw, K, C, tap, ws->wino_tap_c);
    cx->used[tid] = true;
}

void sai_nn__wino_backward(float *dx, float *const *dw, const float *dy, const float *x,
                           const float *w, int N, int C, int H, int W, int K,
                           const nn_conv_ws *ws, int T, bool *used)
{
    wino_ctx cx = {0};
    setup(&cx, w, N, C, H, W, K, ws, T);
    cx.dx = dx;
    cx.dy = dy;
    cx.x = x;
    for (int t = 0; t < T; t++)
        cx.dw[t] = dw[t];
    if (dx != NULL)
        weight_transform(&cx);
    sai_nn__parallel(N, T, bwd_task, &cx);
    for (int t = 0; t < T; t++)
        used[t] = cx.used[t];
}
