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

struct sai_kbs_ratelimit {
    pthread_mutex_t mu;
    double rate, burst;
    bucket b[NBUCKETS];
};

int sai_kbs_ratelimit_new(sai_kbs_ratelimit **out, double rate, double burst, sai_error *err)
{
    sai_kbs_ratelimit *r = calloc(1, sizeof *r);
    if (r == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    r->rate = rate;
    r->burst = burst > 0 ? burst : rate;
    *out = r;
    return 0;
}

void sai_kbs_ratelimit_free(sai_kbs_ratelimit *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

bool sai_kbs_ratelimit_allow(sai_kbs_ratelimit *r, const char *client, double now)
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
