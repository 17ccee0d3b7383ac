/*
 * linear.c — fully connected layer y = x W^T + b over the flattened input
 * (x [n][in], W [out][in]). Three sgemms; BLAS gets the engine's threads
 * for their duration because nothing else runs in parallel around them.
 */
#include <cblas.h>

#include "nn/nn_internal.h"

/* y[N][out] = x[N][in] * W[out][in]^T + b[out] */
void sai_nn__linear_forward(float *y, const float *x, const float *W, const float *b, int N, int in,
                            int out, int T)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < out; j++)
            y[(size_t)i * out + j] = b[j];
    /* small GEMMs: a BLAS hand-off costs more; T = 1: an evaluation split
     * over images may run two of these at once, leave BLAS alone */
    bool big = (double)N * in * out > 1e6 && T > 1;
    if (big)
        openblas_set_num_threads(T);
    /* y[N][out] += x[N][in] * W[out][in]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, W, in,
                1.0f, y, out);
    if (big)
        openblas_set_num_threads(1);
}

/* db[out] += sum over N of dy; dW[out][in] += dy^T x; dx[N][in] += dy W
 * (dx NULL: not needed) */
void sai_nn__linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                             const float *W, int N, int in, int out, int T)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < out; j++)
            db[j] += dy[(size_t)i * out + j];
    bool big = (double)N * in * out > 1e6;
    if (big)
        openblas_set_num_threads(T);
    /* dW[out][in] += dy[N][out]^T * x[N][in] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, out, x, in,
                1.0f, dW, in);
    /* dx[N][in] += dy[N][out] * W[out][in] */
    if (dx != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy, out,
                    W, in, 1.0f, dx, in);
    if (big)
        openblas_set_num_threads(1);
}
