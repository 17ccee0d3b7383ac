/*
 * limits.c — per-client rate limiting: a token bucket per client address in
 * a fixed-size table (4096 buckets, hashed by address; a newcomer that
 * collides takes the bucket over with a full burst). Fixed memory whatever
 * the number of clients, so a flood of source addresses cannot grow the
 * server; it limits a client, not a botnet.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"

#define NBUCKETS 4096

typedef struct bucket {
    char   client[48];
    double tokens, last;
} bucket;

struct sai_kbs_ratelimit_t {
    pthread_mutex_t mu;
    double rate, burst;
    bucket b[NBUCKETS];
};

int sai_kbs__ratelimit_new(sai_kbs_ratelimit_t **out, double rate, double burst, sai_error_t *err)
{
    sai_kbs_ratelimit_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    r->rate = rate;
    r->burst = burst > 0 ? burst : rate;
    *out = r;
    return 0;
}

void sai_kbs__ratelimit_free(sai_kbs_ratelimit_t *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

bool sai_kbs__ratelimit_allow(sai_kbs_ratelimit_t *r, const char *client, double now)
{
    if (r == NULL || r->rate <= 0)
        return true;
    uint32_t h = 2166136261u;  /* FNV-1a */
    for (const char *p = client; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    pthread_mutex_lock(&r->mu);
    bucket *b = &r->b[h % NBUCKETS];
    if (strncmp(b->client, client, sizeof b->client) != 0) {
        snprintf(b->client, sizeof b->client, "%s", client);
        b->tokens = r->burst;
        b->last = now;
    }
    b->tokens += (now - b->last) * r->rate;
    if (b->tokens > r->burst)
        b->tokens = r->burst;
    b->last = now;
    bool ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

/* ---- per-address counters ------------------------------------------------------
 * Open addressing with linear probing over a power of two >= 2 * max_keys
 * slots and backward-shift deletion (no tombstones), so a churn of
 * addresses cannot degrade it. Not locked: the caller holds its own lock. */
typedef struct addr_slot {
    char     addr[48];
    uint32_t n;           /* 0: empty */
} addr_slot;

struct sai_kbs_addrcount_t {
    addr_slot *s;
    size_t     mask, keys, max_keys;
};

int sai_kbs__addrcount_new(sai_kbs_addrcount_t **out, size_t max_keys, sai_error_t *err)
{
    size_t n = 16;
    while (n < 2 * max_keys)
        n <<= 1;
    sai_kbs_addrcount_t *t = calloc(1, sizeof *t);
    if (t == NULL || (t->s = calloc(n, sizeof *t->s)) == NULL) {
        free(t);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    t->mask = n - 1;
    t->max_keys = max_keys;
    *out = t;
    return 0;
}

void sai_kbs__addrcount_free(sai_kbs_addrcount_t *t)
{
    if (t == NULL)
        return;
    free(t->s);
    free(t);
}

void sai_kbs__addrcount_clear(sai_kbs_addrcount_t *t)
{
    memset(t->s, 0, (t->mask + 1) * sizeof *t->s);
    t->keys = 0;
}

static size_t addr_hash(const char *a)
{
    uint32_t h = 2166136261u;  /* FNV-1a */
    for (const char *p = a; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static size_t addr_find(const sai_kbs_addrcount_t *t, const char *addr)
{
    size_t i = addr_hash(addr) & t->mask;
    while (t->s[i].n != 0 && strncmp(t->s[i].addr, addr, sizeof t->s[i].addr) != 0)
        i = (i + 1) & t->mask;
    return i;
}

uint32_t sai_kbs__addrcount_get(const sai_kbs_addrcount_t *t, const char *addr)
{
    return t->s[addr_find(t, addr)].n;
}

uint32_t sai_kbs__addrcount_add(sai_kbs_addrcount_t *t, const char *addr, int delta)
{
    size_t i = addr_find(t, addr);
    addr_slot *e = &t->s[i];
    if (delta > 0) {
        if (e->n == 0) {
            if (t->keys >= t->max_keys)
                return UINT32_MAX;      /* more addresses than it was sized for */
            snprintf(e->addr, sizeof e->addr, "%s", addr);
            t->keys++;
        }
        e->n += (uint32_t)delta;
        return e->n;
    }
    if (e->n == 0)
        return 0;
    uint32_t d = (uint32_t)-delta;
    e->n = e->n > d ? e->n - d : 0;
    if (e->n > 0)
        return e->n;
    /* Backward-shift deletion: pull later entries of the probe run back
     * into the hole when their home slot allows it. */
    t->keys--;
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->s[j].n == 0)
            break;
        size_t home = addr_hash(t->s[j].addr) & t->mask;
        /* j's entry may move to hole iff home is not cyclically in (hole, j] */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            t->s[hole] = t->s[j];
            hole = j;
        }
    }
    memset(&t->s[hole], 0, sizeof t->s[hole]);
    return 0;
}
