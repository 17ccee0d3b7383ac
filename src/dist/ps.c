/*
 * ps.c — the sharded parameter-server all-reduce (algorithm ps) over the
 * mesh (mesh.c).
 *
 * S servers are co-located with workers 0..S-1. The n values are cut into S
 * shards, shard s = [n*s/S, n*(s+1)/S), each cut into chunks of at most
 * chunk_bytes (at least one chunk, possibly empty). On the link from worker
 * a to worker b, within one collective, the frames are, in this order:
 *   1. if b is a server: a's values of shard b, chunk by chunk;
 *   2. if a is a server: the averaged shard a, chunk by chunk;
 * so every frame's length and place is known to its receiver in advance.
 * Server s keeps every other worker's contribution to its shard in staging
 * memory (so it always reads every stream: no worker can block another),
 * and once chunk c has arrived from all of them it forms, per value,
 *   ((g_0 + g_1) + g_2) + ... + g_{N-1}, then / N
 * (rank order, its own values g_s in their place), writes it over its own
 * shard and sends it to every worker, which copies it. So every worker gets
 * the same bits, and a repeat too. Two workers: g_0 + g_1 is the ring's
 * sum as well (addition commutes), so N = 2 gives the ring's bits; from
 * N = 3 on the association differs from the ring's (docs/distributed.md).
 *
 * A worker writes the averaged chunk c of shard s over its own values only
 * after sealing its own chunk c to s: the server cannot have sent the
 * average before receiving it.
 */
#include "dist/dist_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct ps_ctx {
    float   *data;
    size_t   n, cf;          /* values; values per chunk */
    uint32_t N, S, me;
    float   *stage;          /* (N-1) x my shard, when I am a server */
    float   *acc;            /* one chunk */
    size_t  *arrived;        /* per rank: contribution chunks received */
    size_t   reduced;        /* chunks of my shard averaged */
} ps_ctx;

static size_t shard_lo(const ps_ctx *x, uint32_t s)
{
    return (size_t)((unsigned __int128)x->n * s / x->S);
}

static size_t shard_chunks(const ps_ctx *x, uint32_t s)
{
    size_t len = shard_lo(x, s + 1) - shard_lo(x, s);
    return len == 0 ? 1 : (len + x->cf - 1) / x->cf;
}

/* chunk ch of shard s: [*lo, *hi) of the whole vector */
static void chunk_range(const ps_ctx *x, uint32_t s, size_t ch, size_t *lo, size_t *hi)
{
    size_t base = shard_lo(x, s), end = shard_lo(x, s + 1);
    *lo = base + ch * x->cf < end ? base + ch * x->cf : end;
    *hi = *lo + x->cf < end ? *lo + x->cf : end;
}

static size_t n_contrib_to(const ps_ctx *x, uint32_t q)
{
    return q < x->S ? shard_chunks(x, q) : 0;
}

static size_t n_results_of(const ps_ctx *x, uint32_t q)
{
    return q < x->S ? shard_chunks(x, q) : 0;
}

static bool ps_out_ready(const sai_dist_mplan_t *p, uint32_t q, size_t o)
{
    const ps_ctx *x = p->ctx;
    size_t k = n_contrib_to(x, q);
    return o < k || x->reduced > o - k;
}

static const uint8_t *ps_out_chunk(const sai_dist_mplan_t *p, uint32_t q, size_t o, size_t *len)
{
    const ps_ctx *x = p->ctx;
    size_t k = n_contrib_to(x, q), lo, hi;
    if (o < k)
        chunk_range(x, q, o, &lo, &hi);        /* my values of q's shard */
    else
        chunk_range(x, x->me, o - k, &lo, &hi); /* my averaged shard */
    *len = (hi - lo) * sizeof(float);
    return (const uint8_t *)(x->data + lo);
}

static size_t stage_index(const ps_ctx *x, uint32_t q)
{
    return q < x->me ? q : q - 1;
}

static uint8_t *ps_in_dest(sai_dist_mplan_t *p, uint32_t q, size_t i, size_t *len)
{
    ps_ctx *x = p->ctx;
    size_t k = n_results_of(x, x->me), lo, hi;   /* q's contributions to me come first */
    if (i < k) {
        chunk_range(x, x->me, i, &lo, &hi);
        size_t base = shard_lo(x, x->me), slen = shard_lo(x, x->me + 1) - base;
        *len = (hi - lo) * sizeof(float);
        return (uint8_t *)(x->stage + stage_index(x, q) * slen + (lo - base));
    }
    chunk_range(x, q, i - k, &lo, &hi);          /* q's averaged shard over my values */
    *len = (hi - lo) * sizeof(float);
    return (uint8_t *)(x->data + lo);
}

/* Average chunk ch of my shard in rank order. */
static void reduce_chunk(ps_ctx *x, size_t ch)
{
    size_t lo, hi, base = shard_lo(x, x->me), slen = shard_lo(x, x->me + 1) - base;
    chunk_range(x, x->me, ch, &lo, &hi);
    size_t m = hi - lo;
    float *acc = x->acc;
    for (uint32_t r = 0; r < x->N; r++) {
        const float *g = r == x->me ? x->data + lo
                                    : x->stage + stage_index(x, r) * slen + (lo - base);
        if (r == 0)
            memcpy(acc, g, m * sizeof(float));
        else
            for (size_t v = 0; v < m; v++)
                acc[v] = acc[v] + g[v];
    }
    const float w = (float)x->N;
    float *d = x->data + lo;
    for (size_t v = 0; v < m; v++)
        d[v] = acc[v] / w;
}

static void ps_in_done(sai_dist_mplan_t *p, uint32_t q, size_t i)
{
    ps_ctx *x = p->ctx;
    size_t k = n_results_of(x, x->me);
    if (i >= k)
        return;          /* an averaged chunk: copied in place already */
    x->arrived[q]++;
    while (x->reduced < k) {
        for (uint32_t r = 0; r < x->N; r++)
            if (r != x->me && x->arrived[r] <= x->reduced)
                return;
        reduce_chunk(x, x->reduced++);
    }
}

int sai_dist__ps_allreduce_avg(sai_dist_comm_t *c, float *data, size_t n, sai_error_t *err)
{
    if (c->mesh == NULL)
        return sai_error_set(err, SAI_ESTATE,
                             "the parameter-server all-reduce needs a mesh communicator "
                             "(sai_dist_comm_mesh_tcp or _mesh_stream), not a ring");
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(float) / c->world)
        return sai_error_set(err, SAI_EINVAL, "all-reduce of %zu floats is too large", n);
    uint32_t N = c->world;
    ps_ctx x = {.data = data, .n = n, .cf = c->chunk_bytes / sizeof(float), .N = N,
                .S = c->servers, .me = c->rank};
    size_t *n_out = calloc(N, sizeof *n_out), *n_in = calloc(N, sizeof *n_in);
    x.arrived = calloc(N, sizeof *x.arrived);
    int rc = 0;
    if (n_out == NULL || n_in == NULL || x.arrived == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if (x.me < x.S) {
        size_t slen = shard_lo(&x, x.me + 1) - shard_lo(&x, x.me);
        x.stage = sai_dist__mesh_scratch(c->mesh, ((size_t)(N - 1) * slen + 1) * sizeof(float));
        x.acc = (float *)(void *)c->payload;   /* chunk_bytes: one chunk */
        if (x.stage == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory for %zu staged values",
                               (size_t)(N - 1) * slen);
            goto out;
        }
    }
    for (uint32_t q = 0; q < N; q++) {
        if (q == x.me)
            continue;
        n_out[q] = n_contrib_to(&x, q) + n_results_of(&x, x.me);
        n_in[q] = n_results_of(&x, x.me) + n_contrib_to(&x, q);
        if (n_out[q] >= UINT32_MAX) {
            rc = sai_error_set(err, SAI_ELIMIT, "all-reduce of %zu floats needs too many frames",
                               n);
            goto out;
        }
    }
    sai_dist_mplan_t p = {.n_out = n_out, .n_in = n_in, .out_ready = ps_out_ready,
                          .out_chunk = ps_out_chunk, .in_dest = ps_in_dest,
                          .in_done = ps_in_done, .ctx = &x};
    if ((rc = sai_dist__mesh_run(c, &p, err)))
        goto out;
    if (x.me < x.S && x.reduced != n_results_of(&x, x.me))
        rc = sai_error_set(err, SAI_ESTATE, "internal: shard %u was not reduced", x.me);
out:
    free(n_out);
    free(n_in);
    free(x.arrived);
    return rc ? sai_dist__fail(c, rc, err) : 0;
}
