/*
 * nn_testutil.h — helpers shared by the engine's tests.
 */
#ifndef SAI_NN_TESTUTIL_H
#define SAI_NN_TESTUTIL_H

#include <math.h>
#include <stddef.h>

/* norm-wise relative difference ||a - b|| / ||b|| */
static inline double nn_rel_err(const float *a, const float *b, size_t n)
{
    double d = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return sqrt(d) / (sqrt(r) + 1e-30);
}

#endif
