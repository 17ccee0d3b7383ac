/*
 * tensor.c — aligned allocation for the model arenas and the engine's
 * seeded random numbers (splitmix64; Box-Muller normals). One RNG state per
 * caller, no global state, so a seed reproduces a run.
 */
#include <math.h>
#include <stdlib.h>

#include "nn/nn_internal.h"

void *sai_nn__aligned_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = SAI_NN_ALIGN;
    if (posix_memalign(&p, SAI_NN_ALIGN, bytes) != 0)
        return NULL;
    return p;
}

void sai_nn__aligned_free(void *p)
{
    free(p);
}

uint64_t sai_nn_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

float sai_nn_rng_uniform(uint64_t *s)
{
    return (float)(sai_nn_rng_next(s) >> 40) * (1.0f / 16777216.0f);
}

float sai_nn__rng_normal(uint64_t *s)
{
    double u1 = ((double)(sai_nn_rng_next(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(sai_nn_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void sai_nn_shuffle(int *idx, int n, uint64_t *s)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(sai_nn_rng_next(s) % (uint64_t)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
