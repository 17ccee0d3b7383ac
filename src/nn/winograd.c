/*
 * winograd.c — 3x3 stride-1 pad-1 convolutions as Winograd F(2x2,3x3)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks"):
 * every 2x2 output tile is A^T [ (G g G^T) . (B^T d B) ] A over the 4x4
 * input tile d, so a layer becomes 16 independent GEMMs over transformed
 * tiles with 16 multiply-adds per output pair of channels per tile instead
 * of 36 — 2.25x less arithmetic than im2col.
 *
 * Backward is the exact adjoint of that algorithm, sharing the transformed
 * output gradient dM = A dY A^T between the two GEMMs:
 *   weight gradient  dU[xi] += dM[xi] V[xi]^T,  dW = G^T dU G
 *   input gradient   dV[xi]  = U[xi]^T dM[xi],  dx += B dV B^T (tiles overlap)
 * so training runs all three passes at the reduced cost. Results match the
 * im2col path to float rounding (nn.test_nn_wino checks forward, input and
 * weight gradients on odd and even sizes; nn.test_nn_torch pins the whole
 * ResNet-8 to PyTorch).
 *
 * Layout: per chunk of nt tiles (a range of the thread's images' tiles, in
 * image / tile-row / tile-column order), V[16][C][nt], M[16][K][nt] and
 * dV[16][C][nt]; transformed weights U[16][K][C] are shared (computed at the
 * start of each forward and backward). Each thread accumulates a private
 * dU[16][K][C] and transforms it into its private weight-gradient buffer,
 * summed by nn_conv_backward like the im2col path's.
 *
 * The transforms are written over runs of tiles in one tile row so the
 * compiler vectorises them; they are built for AVX2 as well as the
 * baseline and picked at load time (GCC function multi-versioning), so the
 * binary runs on any x86-64.
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

#define WINO_MAX_ROW 1040   /* padded row: 2 * ceil(1024 / 2) + 2 floats, rounded up */

static size_t r16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Below 8 channels (the RGB stem) the transforms cost more than they save. */
bool nn_wino_shape_ok(const sai_nn_model_t *m, const nn_op *op)
{
    const nn_act *a = &m->acts[op->in];
    return op->kind == OP_CONV && op->k == 3 && op->stride == 1 && op->pad == 1 &&
           a->c >= 8 && m->acts[op->out].c >= 8 && a->w <= 1024;
}

bool nn_wino_eligible(const sai_nn_model_t *m, const nn_op *op)
{
    return !m->wino_off && nn_wino_shape_ok(m, op);
}

/* Tiles per chunk: V and M of one chunk stay within ~2 MiB each, and no
 * more than the largest batch has (small models stay small). */
int nn_wino_chunk(const sai_nn_model_t *m, const nn_op *op)
{
    const nn_act *a = &m->acts[op->in];
    int C = a->c, K = m->acts[op->out].c, mx = C > K ? C : K;
    int nt = (int)(524288 / (16 * (size_t)mx));
    nt &= ~15;
    nt = nt < 32 ? 32 : nt > 512 ? 512 : nt;
    size_t tiles = (size_t)m->max_batch * (size_t)((a->h + 1) / 2) * (size_t)((a->w + 1) / 2);
    return tiles < (size_t)nt ? (int)tiles : nt;
}

size_t nn_wino_thread_floats(const sai_nn_model_t *m, const nn_op *op, bool train)
{
    size_t C = (size_t)m->acts[op->in].c, K = (size_t)m->acts[op->out].c;
    size_t nt = (size_t)nn_wino_chunk(m, op);
    size_t f = r16(16 * C * nt) + r16(16 * K * nt);
    if (train)
        f += r16(16 * C * nt) + r16(16 * K * C);
    return f;
}

/* ---- weight transforms ---------------------------------------------- */

typedef struct {
    sai_nn_model_t *m;
    const nn_op *op;
    int C, K, H, W, th, tw, P, nt;   /* P = tiles per image, nt = tiles per chunk */
    int n;
    float *dw[SAI_NN_MAX_THREADS];
    bool used[SAI_NN_MAX_THREADS];
} wino_ctx;

/* The weight transforms run over a row of c at a time (taps gathered into
 * tap[9][C] first) so the compiler vectorises them and every U store is
 * contiguous. */

/* U[xi][k][c] = (G g G^T)[xi] for g = W[k][c], k in [k0, k1). */
WINO_CLONES
static void wtrans_task(void *vc, long k0, long k1, int tid)
{
    const wino_ctx *cx = vc;
    const float *W = cx->m->tensors[cx->op->w].data;
    int C = cx->C, K = cx->K;
    size_t S = (size_t)K * C;
    float *tap = cx->m->wino_tap + (size_t)tid * 9 * (size_t)cx->m->wino_tap_c;
    for (long k = k0; k < k1; k++) {
        const float *wk = W + (size_t)k * C * 9;
        for (int c = 0; c < C; c++)
            for (int q = 0; q < 9; q++)
                tap[(size_t)q * C + c] = wk[(size_t)c * 9 + q];
        float *u = cx->m->wino_u + (size_t)k * C;
        for (int i = 0; i < 4; i++) {
            /* row i of G g: G's row i over the taps' rows */
            const float *g0 = tap, *g1 = tap + 3 * (size_t)C, *g2 = tap + 6 * (size_t)C;
            float *u0 = u + (size_t)(i * 4 + 0) * S, *u1 = u + (size_t)(i * 4 + 1) * S;
            float *u2 = u + (size_t)(i * 4 + 2) * S, *u3 = u + (size_t)(i * 4 + 3) * S;
            for (int c = 0; c < C; c++) {
                float t[3];
                for (int j = 0; j < 3; j++) {
                    float a0 = g0[(size_t)j * C + c], a1 = g1[(size_t)j * C + c];
                    float a2 = g2[(size_t)j * C + c];
                    t[j] = i == 0 ? a0 : i == 1 ? 0.5f * (a0 + a1 + a2)
                         : i == 2 ? 0.5f * (a0 - a1 + a2) : a2;
                }
                u0[c] = t[0];
                u1[c] = 0.5f * (t[0] + t[1] + t[2]);
                u2[c] = 0.5f * (t[0] - t[1] + t[2]);
                u3[c] = t[2];
            }
        }
    }
}

static void weight_transform(wino_ctx *cx)
{
    int T = nn_grain((size_t)cx->K * cx->C * 16);
    nn_parallel(cx->K, T < cx->m->scratch_threads ? T : cx->m->scratch_threads, wtrans_task, cx);
}

/* dw[k][c] += G^T dU[k][c] G; tap is [9][C] scratch */
WINO_CLONES
static void dw_from_du(const float *dU, float *dw, int K, int C, float *tap)
{
    size_t S = (size_t)K * C;
    for (int k = 0; k < K; k++) {
        const float *u = dU + (size_t)k * C;
        for (int a = 0; a < 3; a++) {
            /* row a of G^T dU: combine rows 0..3 of each column q */
            for (int c = 0; c < C; c++) {
                float t[4];
                for (int q = 0; q < 4; q++) {
                    float u0 = u[(size_t)(0 * 4 + q) * S + c], u1 = u[(size_t)(1 * 4 + q) * S + c];
                    float u2 = u[(size_t)(2 * 4 + q) * S + c], u3 = u[(size_t)(3 * 4 + q) * S + c];
                    t[q] = a == 0 ? u0 + 0.5f * (u1 + u2) : a == 1 ? 0.5f * (u1 - u2)
                         : 0.5f * (u1 + u2) + u3;
                }
                tap[(size_t)(a * 3 + 0) * C + c] = t[0] + 0.5f * (t[1] + t[2]);
                tap[(size_t)(a * 3 + 1) * C + c] = 0.5f * (t[1] - t[2]);
                tap[(size_t)(a * 3 + 2) * C + c] = 0.5f * (t[1] + t[2]) + t[3];
            }
        }
        float *g = dw + (size_t)k * C * 9;
        for (int c = 0; c < C; c++)
            for (int q = 0; q < 9; q++)
                g[(size_t)c * 9 + q] += tap[(size_t)q * C + c];
    }
}

/* ---- tile transforms over one run of tiles in a tile row ------------- */

/* V[xi][ld * .] for tiles tx0..tx0+cnt-1 of tile row ty of plane x (H x W):
 * v[xi * vs + j] for j < cnt. */
WINO_CLONES
static void in_transform(const float *x, int H, int W, int ty, int tx0, int cnt, float *v,
                         size_t vs)
{
    float rows[4][WINO_MAX_ROW];
    int wlen = 2 * cnt + 2, col0 = 2 * tx0 - 1;
    for (int r = 0; r < 4; r++) {
        int ih = 2 * ty - 1 + r;
        float *d = rows[r];
        if (ih < 0 || ih >= H) {
            memset(d, 0, (size_t)wlen * sizeof(float));
            continue;
        }
        const float *xr = x + (size_t)ih * W;
        int j0 = col0 < 0 ? -col0 : 0;
        int j1 = W - col0 < wlen ? W - col0 : wlen;
        for (int j = 0; j < j0; j++)
            d[j] = 0.0f;
        if (j1 > j0)
            memcpy(d + j0, xr + col0 + j0, (size_t)(j1 - j0) * sizeof(float));
        for (int j = j1 > j0 ? j1 : j0; j < wlen; j++)
            d[j] = 0.0f;
    }
    /* row transform (d B), then column transform (B^T .) */
    float e[4][4][WINO_MAX_ROW / 2];
    for (int r = 0; r < 4; r++) {
        const float *d = rows[r];
        for (int j = 0; j < cnt; j++) {
            float a0 = d[2 * j], a1 = d[2 * j + 1], a2 = d[2 * j + 2], a3 = d[2 * j + 3];
            e[r][0][j] = a0 - a2;
            e[r][1][j] = a1 + a2;
            e[r][2][j] = a2 - a1;
            e[r][3][j] = a1 - a3;
        }
    }
    for (int q = 0; q < 4; q++) {
        float *v0 = v + (size_t)(0 * 4 + q) * vs, *v1 = v + (size_t)(1 * 4 + q) * vs;
        float *v2 = v + (size_t)(2 * 4 + q) * vs, *v3 = v + (size_t)(3 * 4 + q) * vs;
        const float *e0 = e[0][q], *e1 = e[1][q], *e2 = e[2][q], *e3 = e[3][q];
        for (int j = 0; j < cnt; j++) {
            v0[j] = e0[j] - e2[j];
            v1[j] = e1[j] + e2[j];
            v2[j] = e2[j] - e1[j];
            v3[j] = e1[j] - e3[j];
        }
    }
}

/* y rows 2ty, 2ty+1 of plane y (H x W) from M tiles: y = A^T m A. */
WINO_CLONES
static void out_transform(const float *mm, size_t ms, float *y, int H, int W, int ty, int tx0,
                          int cnt)
{
    float o[2][WINO_MAX_ROW];
    float t[2][4][WINO_MAX_ROW / 2];   /* A^T m: 2 rows x 4 columns per tile */
    for (int q = 0; q < 4; q++) {
        const float *m0 = mm + (size_t)(0 * 4 + q) * ms, *m1 = mm + (size_t)(1 * 4 + q) * ms;
        const float *m2 = mm + (size_t)(2 * 4 + q) * ms, *m3 = mm + (size_t)(3 * 4 + q) * ms;
        for (int j = 0; j < cnt; j++) {
            t[0][q][j] = m0[j] + m1[j] + m2[j];
            t[1][q][j] = m1[j] - m2[j] - m3[j];
        }
    }
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < cnt; j++) {
            o[r][2 * j] = t[r][0][j] + t[r][1][j] + t[r][2][j];
            o[r][2 * j + 1] = t[r][1][j] - t[r][2][j] - t[r][3][j];
        }
    int c0 = 2 * tx0, len = 2 * cnt;
    if (c0 + len > W)
        len = W - c0;
    for (int r = 0; r < 2; r++) {
        int oh = 2 * ty + r;
        if (oh < H)
            memcpy(y + (size_t)oh * W + c0, o[r], (size_t)len * sizeof(float));
    }
}

/* dM = A dY A^T for the 2x2 tiles of dy rows 2ty, 2ty+1 (zero outside). */
WINO_CLONES
static void dy_transform(const float *dy, int H, int W, int ty, int tx0, int cnt, float *dm,
                         size_t ms)
{
    float rows[2][WINO_MAX_ROW];
    int c0 = 2 * tx0, len = 2 * cnt, have = W - c0 < len ? W - c0 : len;
    for (int r = 0; r < 2; r++) {
        int oh = 2 * ty + r;
        if (oh >= H) {
            memset(rows[r], 0, (size_t)len * sizeof(float));
            continue;
        }
        memcpy(rows[r], dy + (size_t)oh * W + c0, (size_t)have * sizeof(float));
        for (int j = have; j < len; j++)
            rows[r][j] = 0.0f;
    }
    /* rows of A dY: (p, q), (p + r, q + s), (p - r, q - s), (-r, -s);
     * each row (u, w) times A^T: (u, u + w, u - w, -w) */
    float u[4][WINO_MAX_ROW / 2], w[4][WINO_MAX_ROW / 2];
    for (int j = 0; j < cnt; j++) {
        float p = rows[0][2 * j], q = rows[0][2 * j + 1];
        float r = rows[1][2 * j], s = rows[1][2 * j + 1];
        u[0][j] = p;     w[0][j] = q;
        u[1][j] = p + r; w[1][j] = q + s;
        u[2][j] = p - r; w[2][j] = q - s;
        u[3][j] = -r;    w[3][j] = -s;
    }
    for (int i = 0; i < 4; i++) {
        float *d0 = dm + (size_t)(i * 4 + 0) * ms, *d1 = dm + (size_t)(i * 4 + 1) * ms;
        float *d2 = dm + (size_t)(i * 4 + 2) * ms, *d3 = dm + (size_t)(i * 4 + 3) * ms;
        const float *ui = u[i], *wi = w[i];
        for (int j = 0; j < cnt; j++) {
            d0[j] = ui[j];
            d1[j] = ui[j] + wi[j];
            d2[j] = ui[j] - wi[j];
            d3[j] = -wi[j];
        }
    }
}

/* dx += B dV B^T over the 4x4 input tiles (overlapping by 2) of tile row ty. */
WINO_CLONES
static void dx_transform(const float *dv, size_t vs, float *dx, int H, int W, int ty, int tx0,
                         int cnt)
{
    /* B v for a 4-vector: (v0, v1 - v2 + v3, -v0 + v1 + v2, -v3) */
    float t[4][4][WINO_MAX_ROW / 2];   /* rows of B dV: [row][col q][tile] */
    for (int q = 0; q < 4; q++) {
        const float *v0 = dv + (size_t)(0 * 4 + q) * vs, *v1 = dv + (size_t)(1 * 4 + q) * vs;
        const float *v2 = dv + (size_t)(2 * 4 + q) * vs, *v3 = dv + (size_t)(3 * 4 + q) * vs;
        for (int j = 0; j < cnt; j++) {
            t[0][q][j] = v0[j];
            t[1][q][j] = v1[j] - v2[j] + v3[j];
            t[2][q][j] = -v0[j] + v1[j] + v2[j];
            t[3][q][j] = -v3[j];
        }
    }
    /* columns: tile j covers padded columns 2j..2j+3 (real 2(tx0+j)-1 ..);
     * even pass adds columns 2j, 2j+1 (no overlap between tiles), odd pass
     * adds 2j+2, 2j+3. */
    float row[WINO_MAX_ROW];
    int col0 = 2 * tx0 - 1, wlen = 2 * cnt + 2;
    for (int r = 0; r < 4; r++) {
        int ih = 2 * ty - 1 + r;
        if (ih < 0 || ih >= H)
            continue;
        const float *a0 = t[r][0], *a1 = t[r][1], *a2 = t[r][2], *a3 = t[r][3];
        for (int j = 0; j < cnt; j++) {
            row[2 * j] = a0[j];
            row[2 * j + 1] = a1[j] - a2[j] + a3[j];
        }
        row[2 * cnt] = row[2 * cnt + 1] = 0.0f;
        for (int j = 0; j < cnt; j++) {
            row[2 * j + 2] += -a0[j] + a1[j] + a2[j];
            row[2 * j + 3] += -a3[j];
        }
        float *xr = dx + (size_t)ih * W;
        int j0 = col0 < 0 ? -col0 : 0;
        int j1 = W - col0 < wlen ? W - col0 : wlen;
        for (int j = j0; j < j1; j++)
            xr[col0 + j] += row[j];
    }
}

/* ---- chunks ------------------------------------------------------------ */

/* Visit the runs of tiles of global tile range [t0, t0 + nt): fn(img, ty,
 * tx0, cnt, offset of the run in the chunk). */
#define FOR_RUNS(cx, t0, nt, BODY)                                          \
    do {                                                                    \
        long t_ = (t0), end_ = (t0) + (nt);                                 \
        while (t_ < end_) {                                                 \
            long img = t_ / (cx)->P;                                        \
            int r_ = (int)(t_ % (cx)->P), ty = r_ / (cx)->tw;               \
            int tx0 = r_ % (cx)->tw;                                        \
            int cnt = (cx)->tw - tx0;                                       \
            if (cnt > end_ - t_)                                            \
                cnt = (int)(end_ - t_);                                     \
            int off = (int)(t_ - (t0));                                     \
            BODY;                                                           \
            t_ += cnt;                                                      \
        }                                                                   \
    } while (0)

static void gather_v(const wino_ctx *cx, const float *xall, size_t isz, long t0, int nt,
                     float *V)
{
    int C = cx->C, H = cx->H, W = cx->W;
    size_t vs = (size_t)C * nt;
    FOR_RUNS(cx, t0, nt, {
        const float *x = xall + (size_t)img * isz;
        for (int c = 0; c < C; c++)
            in_transform(x + (size_t)c * H * W, H, W, ty, tx0, cnt, V + (size_t)c * nt + off,
                         vs);
    });
}

static void fwd_task(void *vc, long c0, long c1, int tid)
{
    const wino_ctx *cx = vc;
    sai_nn_model_t *m = cx->m;
    const nn_act *a = &m->acts[cx->op->in], *o = &m->acts[cx->op->out];
    int C = cx->C, K = cx->K, H = cx->H, W = cx->W;
    float *V = m->wino + (size_t)tid * m->wino_floats;
    float *M = V + r16(16 * (size_t)C * cx->nt);
    long total = (long)cx->n * cx->P;
    for (long ch = c0; ch < c1; ch++) {
        long t0 = ch * cx->nt;
        int nt = (int)(total - t0 < cx->nt ? total - t0 : cx->nt);
        gather_v(cx, a->x, a->size, t0, nt, V);
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, nt, C, 1.0f,
                        m->wino_u + (size_t)xi * K * C, C, V + (size_t)xi * C * nt, nt, 0.0f,
                        M + (size_t)xi * K * nt, nt);
        size_t ms = (size_t)K * nt;
        FOR_RUNS(cx, t0, nt, {
            float *y = o->x + (size_t)img * o->size;
            for (int k = 0; k < K; k++)
                out_transform(M + (size_t)k * nt + off, ms, y + (size_t)k * H * W, H, W, ty,
                              tx0, cnt);
        });
    }
}

static void setup(wino_ctx *cx, sai_nn_model_t *m, const nn_op *op, int n)
{
    const nn_act *a = &m->acts[op->in];
    cx->m = m;
    cx->op = op;
    cx->n = n;
    cx->C = a->c;
    cx->K = m->acts[op->out].c;
    cx->H = a->h;
    cx->W = a->w;
    cx->th = (a->h + 1) / 2;
    cx->tw = (a->w + 1) / 2;
    cx->P = cx->th * cx->tw;
    cx->nt = nn_wino_chunk(m, op);
}

void nn_wino_forward(sai_nn_model_t *m, const nn_op *op, int n)
{
    wino_ctx cx = {0};
    setup(&cx, m, op, n);
    weight_transform(&cx);
    long chunks = ((long)n * cx.P + cx.nt - 1) / cx.nt;
    nn_parallel(chunks, m->scratch_threads, fwd_task, &cx);
}

/* Backward over whole images [i0, i1): the input-gradient tiles of one image
 * overlap, so an image never straddles two threads. */
static void bwd_task(void *vc, long i0, long i1, int tid)
{
    wino_ctx *cx = vc;
    sai_nn_model_t *m = cx->m;
    const nn_act *a = &m->acts[cx->op->in], *o = &m->acts[cx->op->out];
    int C = cx->C, K = cx->K, H = cx->H, W = cx->W;
    bool need_dx = a->need_grad;
    float *V = m->wino + (size_t)tid * m->wino_floats;
    float *dM = V + r16(16 * (size_t)C * cx->nt);
    float *dV = dM + r16(16 * (size_t)K * cx->nt);
    float *dU = dV + r16(16 * (size_t)C * cx->nt);
    memset(dU, 0, 16 * (size_t)K * C * sizeof(float));
    long end = i1 * cx->P;
    for (long t0 = i0 * cx->P; t0 < end; t0 += cx->nt) {
        int nt = (int)(end - t0 < cx->nt ? end - t0 : cx->nt);
        size_t ms = (size_t)K * nt, vs = (size_t)C * nt;
        FOR_RUNS(cx, t0, nt, {
            const float *dy = o->dx + (size_t)img * o->size;
            for (int k = 0; k < K; k++)
                dy_transform(dy + (size_t)k * H * W, H, W, ty, tx0, cnt,
                             dM + (size_t)k * nt + off, ms);
        });
        gather_v(cx, a->x, a->size, t0, nt, V);
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, C, nt, 1.0f,
                        dM + (size_t)xi * ms, nt, V + (size_t)xi * vs, nt, 1.0f,
                        dU + (size_t)xi * K * C, C);
        if (!need_dx)
            continue;
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, nt, K, 1.0f,
                        m->wino_u + (size_t)xi * K * C, C, dM + (size_t)xi * ms, nt, 0.0f,
                        dV + (size_t)xi * vs, nt);
        FOR_RUNS(cx, t0, nt, {
            float *dx = a->dx + (size_t)img * a->size;
            for (int c = 0; c < C; c++)
                dx_transform(dV + (size_t)c * nt + off, vs, dx + (size_t)c * H * W, H, W, ty,
                             tx0, cnt);
        });
    }
    float *dw = cx->dw[tid];
    if (tid != 0)
        memset(dw, 0, (size_t)K * C * 9 * sizeof(float));
    dw_from_du(dU, dw, K, C, m->wino_tap + (size_t)tid * 9 * (size_t)m->wino_tap_c);
    cx->used[tid] = true;
}

void nn_wino_backward(sai_nn_model_t *m, const nn_op *op, int n, float *const *dw, int T,
                      bool *used)
{
    wino_ctx cx = {0};
    setup(&cx, m, op, n);
    for (int t = 0; t < T; t++)
        cx.dw[t] = dw[t];
    if (m->acts[op->in].need_grad)
        weight_transform(&cx);
    nn_parallel(n, T, bwd_task, &cx);
    for (int t = 0; t < T; t++)
        used[t] = cx.used[t];
}
