/*
 * session.c — the table of outstanding /auth nonces. A session is created by
 * /auth (random 128-bit id, random 256-bit nonce, expiry) and consumed by the
 * first /attest that names it, whatever its outcome: a nonce is used at most
 * once, so replaying a captured evidence fails. Bounded: at most `cap` live
 * sessions; expired ones are swept when the table fills. Open addressing
 * over 2*cap slots; one mutex (operations are a few hundred nanoseconds).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

enum { EMPTY = 0, LIVE = 1, GONE = 2 };

typedef struct slot {
    uint8_t id[16];
    uint8_t nonce[SAI_KBS_NONCE_LEN];
    char    tee[16];
    double  expires;
    int     state;
} slot;

struct sai_kbs_sessions {
    pthread_mutex_t mu;
    slot  *slots;
    size_t nslots, cap, live, used; /* used = LIVE + GONE */
    int    ttl_s;
};

int sai_kbs_sessions_new(sai_kbs_sessions **out, size_t cap, int ttl_s, sai_error *err)
{
    sai_kbs_sessions *t = calloc(1, sizeof *t);
    size_t n = 16;
    while (n < 2 * cap)
        n <<= 1;
    if (t == NULL || (t->slots = malloc(n * sizeof(slot))) == NULL) {
        free(t);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    /* Touch the whole table now, so the server's memory is flat from the
     * start instead of growing as random slots are first written. */
    memset(t->slots, 0, n * sizeof(slot));
    pthread_mutex_init(&t->mu, NULL);
    t->nslots = n;
    t->cap = cap;
    t->ttl_s = ttl_s;
    *out = t;
    return 0;
}

void sai_kbs_sessions_free(sai_kbs_sessions *t)
{
    if (t == NULL)
        return;
    sai_wipe(t->slots, t->nslots * sizeof(slot));
    free(t->slots);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static size_t hash_id(const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id, 8);  /* the id is random: its bytes are the hash */
    return (size_t)h;
}

static void put(sai_kbs_sessions *t, const slot *s)
{
    size_t i = hash_id(s->id) & (t->nslots - 1);
    while (t->slots[i].state == LIVE)
        i = (i + 1) & (t->nslots - 1);
    t->slots[i] = *s;
}

/* Drop expired and used slots by rebuilding the table in place. */
static void sweep(sai_kbs_sessions *t, double now)
{
    slot *old = t->slots;
    slot *fresh = malloc(t->nslots * sizeof(slot));
    if (fresh == NULL)
        return;
    memset(fresh, 0, t->nslots * sizeof(slot));
    t->slots = fresh;
    t->live = t->used = 0;
    for (size_t i = 0; i < t->nslots; i++)
        if (old[i].state == LIVE && old[i].expires > now) {
            put(t, &old[i]);
            t->live++;
            t->used++;
        }
    sai_wipe(old, t->nslots * sizeof(slot));
    free(old);
}

int sai_kbs_session_create(sai_kbs_sessions *t, const char *tee, char id_hex[33],
                           uint8_t nonce[static SAI_KBS_NONCE_LEN], sai_error *err)
{
    slot s = {.state = LIVE};
    int rc = sai_random_bytes(s.id, sizeof s.id, err);
    if (rc == 0)
        rc = sai_random_bytes(s.nonce, sizeof s.nonce, err);
    if (rc != 0)
        return rc;
    snprintf(s.tee, sizeof s.tee, "%s", tee);
    double now = sai_now();
    s.expires = now + t->ttl_s;
    pthread_mutex_lock(&t->mu);
    if (t->used >= t->cap)
        sweep(t, now);
    if (t->used >= t->cap) {
        pthread_mutex_unlock(&t->mu);
        return sai_error_set(err, SAI_ELIMIT, "too many outstanding sessions; try again later");
    }
    put(t, &s);
    t->live++;
    t->used++;
    pthread_mutex_unlock(&t->mu);
    sai_hex_encode(id_hex, s.id, sizeof s.id);
    memcpy(nonce, s.nonce, SAI_KBS_NONCE_LEN);
    sai_wipe(&s, sizeof s);
    return 0;
}

int sai_kbs_session_take(sai_kbs_sessions *t, const char *id_hex, char tee[16],
                         uint8_t nonce[static SAI_KBS_NONCE_LEN], sai_error *err)
{
    uint8_t id[16];
    if (strlen(id_hex) != 32 || sai_hex_decode(id, sizeof id, id_hex, NULL) != 0)
        return sai_error_set(err, SAI_ENOTFOUND, "unknown session");
    double now = sai_now();
    int rc = sai_error_set(err, SAI_ENOTFOUND, "unknown or already used session (nonces are single-use)");
    pthread_mutex_lock(&t->mu);
    for (size_t i = hash_id(id) & (t->nslots - 1), n = 0; n < t->nslots && t->slots[i].state != EMPTY;
         i = (i + 1) & (t->nslots - 1), n++) {
        slot *s = &t->slots[i];
        if (s->state != LIVE || !sai_ct_equal(s->id, id, 16))
            continue;
        s->state = GONE;   /* consumed whatever happens next */
        t->live--;
        if (s->expires <= now) {
            rc = sai_error_set(err, SAI_EAUTH, "the session's nonce expired");
        } else {
            memcpy(nonce, s->nonce, SAI_KBS_NONCE_LEN);
            memcpy(tee, s->tee, 16);
            rc = 0;
            if (err)
                sai_error_clear(err);
        }
        sai_wipe(s->nonce, sizeof s->nonce);
        break;
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

size_t sai_kbs_sessions_live(sai_kbs_sessions *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->live;
    pthread_mutex_unlock(&t->mu);
    return n;
}
