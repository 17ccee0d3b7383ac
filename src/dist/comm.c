/*
 * comm.c — the communicator and its collectives: ring all-reduce
 * (reduce-scatter then all-gather) and ring broadcast, both run by one
 * pipelined schedule.
 *
 * The schedule: a collective is a list of outgoing frames (to next) and a
 * list of incoming frames (from prev), each in a fixed order. Outgoing
 * frame o may be sealed once the incoming frames it depends on have been
 * processed; incoming frame i may be received once no outgoing frame still
 * to be sealed reads the memory it writes. One frame travels each way at a
 * time; the kernel's socket buffers keep the link busy while the next frame
 * is sealed or the last one opened and reduced, and chunks of different
 * ring steps overlap (chunk c of step k+1 leaves as soon as chunk c of
 * step k is reduced), which is the pipelining.
 *
 * The ring all-reduce in 2(N-1) ring steps of N segments, each cut into
 * nch chunks: at ring step k worker r sends segment (r-k) mod N and
 * receives segment (r-k-1) mod N; for k < N-1 it adds what it receives to
 * its own values (k = N-2 also divides by N: the segment is then complete),
 * afterwards it copies. So the sum of segment s is
 *   ((g_s + g_{s+1}) + g_{s+2}) + ... + g_{s-1}, then / N,
 * formed once, by worker s-1, and copied to everyone: every worker holds
 * the same bits, and a repeat with the same inputs gives them again.
 */
#include "dist/dist_internal.h"

#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"

int sai_dist__comm_alloc(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, sai_error_t *err)
{
    *out = NULL;
    if (cfg->world == 0 || cfg->world > SAI_DIST_MAX_WORKERS || cfg->rank >= cfg->world)
        return sai_error_set(err, SAI_EINVAL, "rank %u of %u workers is not a valid position",
                             cfg->rank, cfg->world);
    if (cfg->group_secret == NULL && !cfg->insecure_plaintext)
        return sai_error_set(err, SAI_EINVAL, "no group secret for the job");
    if (cfg->group_secret == NULL)
        return sai_error_set(err, SAI_EINVAL, "no group secret (plaintext mode still needs one)");
    size_t cb = cfg->chunk_bytes ? cfg->chunk_bytes : SAI_DIST_DEFAULT_CHUNK;
    if (cb < 64 || cb > SAI_DIST_MAX_PAYLOAD || cb % sizeof(float) != 0)
        return sai_error_set(err, SAI_EINVAL,
                             "chunk of %zu bytes: want a multiple of 4 in 64..%u", cb,
                             SAI_DIST_MAX_PAYLOAD);
    if (cfg->algorithm != SAI_DIST_RING && cfg->algorithm != SAI_DIST_PS)
        return sai_error_set(err, SAI_EINVAL, "unknown all-reduce algorithm %d",
                             (int)cfg->algorithm);
    if (cfg->algorithm == SAI_DIST_PS && cfg->servers > cfg->world)
        return sai_error_set(err, SAI_EINVAL, "%u parameter servers for %u workers: want 1..%u",
                             cfg->servers, cfg->world, cfg->world);
    sai_dist_comm_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    c->algorithm = cfg->algorithm;
    c->servers = cfg->servers ? cfg->servers : cfg->world;
    c->rank = cfg->rank;
    c->world = cfg->world;
    c->next = (cfg->rank + 1) % cfg->world;
    c->prev = (cfg->rank + cfg->world - 1) % cfg->world;
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    c->chunk_bytes = cb;
    if (cfg->world > 1) {
        c->sframe = malloc(cb + SAI_DIST_FRAME_OVERHEAD);
        c->rframe = malloc(cb + SAI_DIST_FRAME_OVERHEAD);
        c->payload = malloc(cb);
        if (c->sframe == NULL || c->rframe == NULL || c->payload == NULL) {
            sai_dist_comm_free(c);
            return sai_error_set(err, SAI_ENOMEM, "out of memory");
        }
    }
    *out = c;
    return 0;
}

static void close_transport(sai_dist_comm_t *c)
{
    if (c->ops != NULL && c->t != NULL)
        c->ops->close(c->t);
    c->t = NULL;
}

void sai_dist_comm_free(sai_dist_comm_t *c)
{
    if (c == NULL)
        return;
    close_transport(c);
    sai_dist_link_free(c->tx);
    sai_dist_link_free(c->rx);
    sai_dist__mesh_free(c->mesh);
    /* the buffers held gradients and weights in the clear */
    if (c->payload != NULL)
        sai_wipe(c->payload, c->chunk_bytes);
    free(c->sframe);
    free(c->rframe);
    free(c->payload);
    free(c);
}

int sai_dist__fail(sai_dist_comm_t *c, int code, sai_error_t *err)
{
    c->dead = true;
    close_transport(c);
    if (err == NULL)
        return code;
    if (err->code == 0)
        err->code = code;
    return sai_error_prefix(err, "step %llu", (unsigned long long)c->step);
}

static int check_alive(const sai_dist_comm_t *c, sai_error_t *err)
{
    if (c->dead)
        return sai_error_set(err, SAI_ESTATE,
                             "the job's communicator failed earlier: a failed step is never "
                             "retried on a partial ring");
    if (!c->have_step)
        return sai_error_set(err, SAI_ESTATE, "no step begun (sai_dist_step_begin)");
    return 0;
}

int sai_dist_step_begin(sai_dist_comm_t *c, uint64_t step, sai_error_t *err)
{
    if (c->dead)
        return check_alive(c, err);
    if (c->have_step && step <= c->step)
        return sai_error_set(err, SAI_ESTATE, "step %llu does not follow step %llu",
                             (unsigned long long)step, (unsigned long long)c->step);
    int rc = 0;
    if ((c->tx != NULL && (rc = sai_dist_link_begin_step(c->tx, step, err))) ||
        (c->rx != NULL && (rc = sai_dist_link_begin_step(c->rx, step, err))) ||
        (c->mesh != NULL && (rc = sai_dist__mesh_begin_step(c->mesh, step, err))))
        return rc;
    c->have_step = true;
    c->step = step;
    return 0;
}

uint32_t sai_dist_comm_rank(const sai_dist_comm_t *c) { return c->rank; }
uint32_t sai_dist_comm_world(const sai_dist_comm_t *c) { return c->world; }
sai_dist_algorithm_t sai_dist_comm_algorithm(const sai_dist_comm_t *c) { return c->algorithm; }

void sai_dist_comm_stats(const sai_dist_comm_t *c, sai_dist_stats_t *st)
{
    *st = c->st;
    st->crypto_seconds = (c->tx ? c->tx->crypto_s : 0) + (c->rx ? c->rx->crypto_s : 0) +
                         (c->mesh ? sai_dist__mesh_crypto_seconds(c->mesh) : 0);
}

/* ---- the schedule ------------------------------------------------------------ */

typedef struct plan plan;
struct plan {
    size_t n_out, n_in;
    bool (*out_ready)(const plan *p, size_t o, size_t in_done);
    const uint8_t *(*out_chunk)(const plan *p, size_t o, size_t *len);
    bool (*in_ready)(const plan *p, size_t i, size_t out_sealed);
    size_t (*in_len)(const plan *p, size_t i);
    /* where incoming frame i's payload belongs when processing it is a
     * copy: it is opened straight there (one pass instead of open + copy);
     * NULL: into the payload buffer, then in_process */
    uint8_t *(*in_dest)(const plan *p, size_t i);
    void (*in_process)(plan *p, size_t i, const uint8_t *payload, size_t len);
    uint8_t *data;
    size_t   elems;    /* all-reduce: floats; broadcast: bytes */
    size_t   nch;      /* chunks per segment (all-reduce) or in all (broadcast) */
    size_t   cb;       /* chunk bytes (broadcast) */
    uint32_t N, r, pos;
};

static int run(sai_dist_comm_t *c, plan *p, sai_error_t *err)
{
    double t0 = sai_now(), deadline = t0 + c->timeout_ms / 1000.0;
    sai_dist_io_t io[2];
    memset(io, 0, sizeof io);
    size_t o = 0, sealed = 0, i = 0;
    bool sending = false, receiving = false;
    int rc = 0;
    while (o < p->n_out || i < p->n_in) {
        if (!sending && sealed < p->n_out && p->out_ready(p, sealed, i)) {
            size_t len;
            const uint8_t *src = p->out_chunk(p, sealed, &len);
            if ((rc = sai_dist_frame_seal(c->tx, c->sframe, src, len, err)))
                goto out;
            io[SAI_DIST_NEXT].sbuf = c->sframe;
            io[SAI_DIST_NEXT].slen = len + SAI_DIST_FRAME_OVERHEAD;
            io[SAI_DIST_NEXT].sdone = 0;
            sending = true;
            sealed++;
        }
        if (!receiving && i < p->n_in && p->in_ready(p, i, sealed)) {
            io[SAI_DIST_PREV].rbuf = c->rframe;
            io[SAI_DIST_PREV].rlen = p->in_len(p, i) + SAI_DIST_FRAME_OVERHEAD;
            io[SAI_DIST_PREV].rdone = 0;
            receiving = true;
        }
        if (!sending && !receiving) {
            rc = sai_error_set(err, SAI_ESTATE, "internal: the ring schedule stalled");
            goto out;
        }
        if ((rc = c->ops->xfer(c->t, io, deadline, err)))
            goto out;
        if (sending && io[SAI_DIST_NEXT].sdone == io[SAI_DIST_NEXT].slen) {
            c->st.frames_sent++;
            c->st.bytes_sent += io[SAI_DIST_NEXT].slen;
            io[SAI_DIST_NEXT].slen = io[SAI_DIST_NEXT].sdone = 0;
            sending = false;
            o++;
        }
        if (receiving && io[SAI_DIST_PREV].rdone == io[SAI_DIST_PREV].rlen) {
            size_t flen = io[SAI_DIST_PREV].rlen;
            uint8_t *dest = p->in_dest(p, i);
            /* a refused frame wipes what it was opened into */
            if ((rc = sai_dist_frame_open(c->rx, dest ? dest : c->payload, c->rframe, flen, err)))
                goto out;
            if (dest == NULL) {
                double t1 = sai_now();
                p->in_process(p, i, c->payload, flen - SAI_DIST_FRAME_OVERHEAD);
                c->st.reduce_seconds += sai_now() - t1;
            }
            c->st.frames_received++;
            c->st.bytes_received += flen;
            io[SAI_DIST_PREV].rlen = io[SAI_DIST_PREV].rdone = 0;
            receiving = false;
            i++;
        }
    }
out:
    c->st.total_seconds += sai_now() - t0;
    return rc;
}

/* ---- all-reduce ------------------------------------------------------------------ */

static size_t seg_off(const plan *p, uint32_t s)
{
    return (size_t)((unsigned __int128)p->elems * s / p->N);
}

static void ar_range(const plan *p, uint32_t s, size_t ch, size_t *lo, size_t *hi)
{
    size_t base = seg_off(p, s), len = seg_off(p, s + 1) - base;
    *lo = base + (size_t)((unsigned __int128)len * ch / p->nch);
    *hi = base + (size_t)((unsigned __int128)len * (ch + 1) / p->nch);
}

/* ring step k: send segment (r-k) mod N, receive (r-k-1) mod N */
static uint32_t ar_send_seg(const plan *p, size_t k) { return (uint32_t)((p->r + 2 * (size_t)p->N - k) % p->N); }
static uint32_t ar_recv_seg(const plan *p, size_t k) { return (uint32_t)((p->r + 2 * (size_t)p->N - k - 1) % p->N); }

static bool ar_out_ready(const plan *p, size_t o, size_t in_done)
{
    size_t k = o / p->nch, ch = o % p->nch;
    return k == 0 || in_done > (k - 1) * p->nch + ch;
}

static const uint8_t *ar_out_chunk(const plan *p, size_t o, size_t *len)
{
    size_t lo, hi;
    ar_range(p, ar_send_seg(p, o / p->nch), o % p->nch, &lo, &hi);
    *len = (hi - lo) * sizeof(float);
    return p->data + lo * sizeof(float);
}

static bool ar_in_ready(const plan *p, size_t i, size_t out_sealed)
{
    /* incoming (k, c) writes the chunk outgoing (k+1-N, c) reads */
    size_t k = i / p->nch, ch = i % p->nch;
    if (k + 1 < p->N)
        return true;
    return out_sealed > (k + 1 - p->N) * p->nch + ch;
}

static size_t ar_in_len(const plan *p, size_t i)
{
    size_t lo, hi;
    ar_range(p, ar_recv_seg(p, i / p->nch), i % p->nch, &lo, &hi);
    return (hi - lo) * sizeof(float);
}

/* the all-gather half (ring steps N-1 ..): the complete segment, copied */
static uint8_t *ar_in_dest(const plan *p, size_t i)
{
    size_t k = i / p->nch, lo, hi;
    if (k + 1 < p->N)
        return NULL;
    ar_range(p, ar_recv_seg(p, k), i % p->nch, &lo, &hi);
    return p->data + lo * sizeof(float);
}

/* the reduce-scatter half: add (and at its last step divide) */
static void ar_in_process(plan *p, size_t i, const uint8_t *payload, size_t len)
{
    size_t k = i / p->nch, lo, hi;
    ar_range(p, ar_recv_seg(p, k), i % p->nch, &lo, &hi);
    float *d = (float *)(void *)p->data + lo;
    const float *in = (const float *)(const void *)payload;
    size_t n = hi - lo;
    (void)len;   /* == n * 4: the frame length was fixed by ar_in_len */
    if (k + 2 < p->N) {
        for (size_t x = 0; x < n; x++)
            d[x] = in[x] + d[x];
    } else {
        const float w = (float)p->N;
        for (size_t x = 0; x < n; x++)
            d[x] = (in[x] + d[x]) / w;
    }
}

int sai_dist_allreduce_avg(sai_dist_comm_t *c, float *data, size_t n, sai_error_t *err)
{
    int rc = check_alive(c, err);
    if (rc)
        return rc;
    if (c->world == 1)
        return 0;   /* x / 1 == x */
    if (c->algorithm == SAI_DIST_PS)
        return sai_dist__ps_allreduce_avg(c, data, n, err);   /* ps.c */
    if (n > SIZE_MAX / sizeof(float))
        return sai_error_set(err, SAI_EINVAL, "all-reduce of %zu floats is too large", n);
    plan p = {
        .out_ready = ar_out_ready, .out_chunk = ar_out_chunk, .in_ready = ar_in_ready,
        .in_len = ar_in_len, .in_dest = ar_in_dest, .in_process = ar_in_process,
        .data = (uint8_t *)data, .elems = n, .N = c->world, .r = c->rank,
    };
    size_t cf = c->chunk_bytes / sizeof(float);
    size_t maxseg = n / c->world + (n % c->world != 0);
    p.nch = maxseg == 0 ? 1 : (maxseg + cf - 1) / cf;
    p.n_out = p.n_in = 2 * (size_t)(c->world - 1) * p.nch;
    if (p.n_out >= UINT32_MAX)
        return sai_error_set(err, SAI_ELIMIT, "all-reduce of %zu floats needs too many frames", n);
    if ((rc = run(c, &p, err)))
        return sai_dist__fail(c, rc, err);
    return 0;
}

/* ---- broadcast ---------------------------------------------------------------- */

static bool bc_out_ready(const plan *p, size_t o, size_t in_done)
{
    return p->pos == 0 || in_done > o;
}

static const uint8_t *bc_out_chunk(const plan *p, size_t o, size_t *len)
{
    size_t lo = o * p->cb, hi = lo + p->cb < p->elems ? lo + p->cb : p->elems;
    *len = hi - lo;
    return p->data + lo;
}

static bool bc_in_ready(const plan *p, size_t i, size_t out_sealed)
{
    (void)p; (void)i; (void)out_sealed;
    return true;   /* chunk i is written before anyone reads it */
}

static size_t bc_in_len(const plan *p, size_t i)
{
    size_t lo = i * p->cb, hi = lo + p->cb < p->elems ? lo + p->cb : p->elems;
    return hi - lo;
}

static uint8_t *bc_in_dest(const plan *p, size_t i)
{
    return p->data + i * p->cb;
}

int sai_dist_broadcast(sai_dist_comm_t *c, uint32_t root, void *data, size_t len, sai_error_t *err)
{
    int rc = check_alive(c, err);
    if (rc)
        return rc;
    if (root >= c->world)
        return sai_error_set(err, SAI_EINVAL, "broadcast root %u of %u workers", root, c->world);
    if (c->world == 1 || len == 0)
        return 0;
    if (c->mesh != NULL)
        return sai_dist__mesh_broadcast(c, root, data, len, err);   /* mesh.c */
    plan p = {
        .out_ready = bc_out_ready, .out_chunk = bc_out_chunk, .in_ready = bc_in_ready,
        .in_len = bc_in_len, .in_dest = bc_in_dest,
        .data = data, .elems = len, .cb = c->chunk_bytes, .N = c->world, .r = c->rank,
        .pos = (c->rank + c->world - root) % c->world,
    };
    p.nch = (len + p.cb - 1) / p.cb;
    p.n_out = p.pos + 1 < c->world ? p.nch : 0;
    p.n_in = p.pos > 0 ? p.nch : 0;
    if ((rc = run(c, &p, err)))
        return sai_dist__fail(c, rc, err);
    return 0;
}
