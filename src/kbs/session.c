/*
 * session.c — the table of outstanding /auth nonces. A session is created by
 * /auth (random 128-bit id, random 256-bit nonce, expiry) and consumed by the
 * first /attest that names it, whatever its outcome: a nonce is used at most
 * once, so replaying a captured evidence fails.
 *
 * Bounded, and not a way to lock others out (issue 13): /auth needs no
 * credential, so a few addresses within their rate limit could once fill
 * the table for the whole nonce lifetime. Now each address holds at most
 * `per_addr` pending sessions (a new one from an address at its cap evicts
 * that address's oldest), and a full table first sweeps expired and used
 * slots, then evicts the oldest pending session of all: a flood only ever
 * displaces sessions older than the flood's own, and a client that goes
 * from /auth to /attest in well under the flood's turnover is not hurt.
 * Open addressing over 2*cap slots; one mutex (operations are a few
 * hundred nanoseconds; evictions scan the table, and only happen under
 * such a flood).
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
    char    addr[48];
    double  created, expires;
    int     state;
} slot;

struct sai_kbs_sessions_t {
    pthread_mutex_t mu;
    slot  *slots;
    size_t nslots, cap, per_addr, live, used; /* used = LIVE + GONE */
    int    ttl_s;
    uint64_t evicted;
    sai_kbs_addrcount_t *by_addr;     /* LIVE sessions per address */
};

int sai_kbs__sessions_new(sai_kbs_sessions_t **out, size_t cap, size_t per_addr, int ttl_s,
                         sai_error_t *err)
{
    sai_kbs_sessions_t *t = calloc(1, sizeof *t);
    size_t n = 16;
    if (cap < 1)
        cap = 1;
    while (n < 2 * cap)
        n <<= 1;
    if (t == NULL || (t->slots = malloc(n * sizeof(slot))) == NULL ||
        sai_kbs__addrcount_new(&t->by_addr, cap, err) != 0) {
        if (t)
            free(t->slots);
        free(t);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    /* Touch the whole table now, so the server's memory is flat from the
     * start instead of growing as random slots are first written. */
    memset(t->slots, 0, n * sizeof(slot));
    pthread_mutex_init(&t->mu, NULL);
    t->nslots = n;
    t->cap = cap;
    t->per_addr = per_addr > 0 && per_addr < cap ? per_addr : cap;
    t->ttl_s = ttl_s;
    *out = t;
    return 0;
}

void sai_kbs__sessions_free(sai_kbs_sessions_t *t)
{
    if (t == NULL)
        return;
    sai_wipe(t->slots, t->nslots * sizeof(slot));
    free(t->slots);
    sai_kbs__addrcount_free(t->by_addr);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static size_t hash_id(const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id, 8);  /* the id is random: its bytes are the hash */
    return (size_t)h;
}

static void put(sai_kbs_sessions_t *t, const slot *s)
{
    size_t i = hash_id(s->id) & (t->nslots - 1);
    while (t->slots[i].state == LIVE)
        i = (i + 1) & (t->nslots - 1);
    t->slots[i] = *s;
}

/* Drop expired and used slots by rebuilding the table in place. */
static void sweep(sai_kbs_sessions_t *t, double now)
{
    slot *old = t->slots;
    slot *fresh = malloc(t->nslots * sizeof(slot));
    if (fresh == NULL)
        return;
    memset(fresh, 0, t->nslots * sizeof(slot));
    t->slots = fresh;
    t->live = t->used = 0;
    sai_kbs__addrcount_clear(t->by_addr);
    for (size_t i = 0; i < t->nslots; i++)
        if (old[i].state == LIVE && old[i].expires > now) {
            put(t, &old[i]);
            sai_kbs__addrcount_add(t->by_addr, old[i].addr, 1);
            t->live++;
            t->used++;
        }
    sai_wipe(old, t->nslots * sizeof(slot));
    free(old);
}

/* Retire LIVE slot s (taken, expired or evicted). */
static void retire(sai_kbs_sessions_t *t, slot *s)
{
    s->state = GONE;
    t->live--;
    sai_kbs__addrcount_add(t->by_addr, s->addr, -1);
    sai_wipe(s->nonce, sizeof s->nonce);
}

/* Make room: retire addr's expired sessions (addr NULL: anyone's) and, if
 * that was not enough, evict the oldest pending one left. */
static void make_room(sai_kbs_sessions_t *t, const char *addr, double now)
{
    slot *oldest = NULL;
    for (size_t i = 0; i < t->nslots; i++) {
        slot *s = &t->slots[i];
        if (s->state != LIVE || (addr && strcmp(s->addr, addr) != 0))
            continue;
        if (s->expires <= now)
            retire(t, s);
        else if (oldest == NULL || s->created < oldest->created)
            oldest = s;
    }
    bool full = addr ? sai_kbs__addrcount_get(t->by_addr, addr) >= t->per_addr : t->live >= t->cap;
    if (full && oldest) {
        retire(t, oldest);
        t->evicted++;
    }
}

int sai_kbs__session_create(sai_kbs_sessions_t *t, const char *tee, const char *addr, char id_hex[33],
                           uint8_t nonce[static SAI_KBS_NONCE_LEN], sai_error_t *err)
{
    slot s = {.state = LIVE};
    int rc = sai_random_bytes(s.id, sizeof s.id, err);
    if (rc == 0)
        rc = sai_random_bytes(s.nonce, sizeof s.nonce, err);
    if (rc != 0)
        return rc;
    snprintf(s.tee, sizeof s.tee, "%s", tee);
    snprintf(s.addr, sizeof s.addr, "%s", addr ? addr : "");
    double now = sai_now();
    s.created = now;
    s.expires = now + t->ttl_s;
    pthread_mutex_lock(&t->mu);
    if (sai_kbs__addrcount_get(t->by_addr, s.addr) >= t->per_addr)
        make_room(t, s.addr, now);
    if (t->live >= t->cap)
        make_room(t, NULL, now);
    /* Used and retired slots lengthen probes: rebuild when they and the
     * live ones fill three quarters of the slots (2*cap or more), so a
     * rebuild is amortised over at least cap/2 creations. */
    if (t->used >= t->cap + t->cap / 2)
        sweep(t, now);
    if (t->live >= t->cap || sai_kbs__addrcount_add(t->by_addr, s.addr, 1) == UINT32_MAX) {
        pthread_mutex_unlock(&t->mu);
        sai_wipe(&s, sizeof s);
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

int sai_kbs__session_take(sai_kbs_sessions_t *t, const char *id_hex, char tee[16],
                         uint8_t nonce[static SAI_KBS_NONCE_LEN], sai_error_t *err)
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
        bool expired = s->expires <= now;
        if (!expired) {
            memcpy(nonce, s->nonce, SAI_KBS_NONCE_LEN);
            memcpy(tee, s->tee, 16);
        }
        retire(t, s);      /* consumed whatever happens next */
        if (expired) {
            rc = sai_error_set(err, SAI_EAUTH, "the session's nonce expired");
        } else {
            rc = 0;
            if (err)
                sai_error_clear(err);
        }
        break;
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

uint64_t sai_kbs__sessions_evicted(sai_kbs_sessions_t *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t n = t->evicted;
    pthread_mutex_unlock(&t->mu);
    return n;
}

size_t sai_kbs__sessions_live(sai_kbs_sessions_t *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->live;
    pthread_mutex_unlock(&t->mu);
    return n;
}
