/*
 * heap.c — the simulator's event queue: a binary min-heap ordered by
 * (time, insertion sequence). The sequence number makes ties FIFO, which is
 * what keeps a run bit-for-bit deterministic for a seed.
 */
#include <stdlib.h>

#include "secureai/sched.h"

static bool ev_less(const sai_sched_event_t *a, const sai_sched_event_t *b)
{
    if (a->t != b->t)
        return a->t < b->t;
    return a->seq < b->seq;
}

int sai_sched_heap_push(sai_sched_heap_t *h, double t, uint32_t kind, uint32_t idx)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 1024;
        sai_sched_event_t *na = realloc(h->a, nc * sizeof *na);
        if (na == NULL)
            return SAI_ENOMEM;
        h->a = na;
        h->cap = nc;
    }
    sai_sched_event_t ev = { t, h->seq++, kind, idx };
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&ev, &h->a[p]))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = ev;
    return 0;
}

bool sai_sched_heap_pop(sai_sched_heap_t *h, sai_sched_event_t *out)
{
    if (h->n == 0)
        return false;
    *out = h->a[0];
    sai_sched_event_t last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const sai_sched_event_t *best = &last;
        if (l < n && ev_less(&h->a[l], best)) { m = l; best = &h->a[l]; }
        if (r < n && ev_less(&h->a[r], best)) { m = r; }
        if (m == i)
            break;
        h->a[i] = h->a[m];
        i = m;
    }
    if (n > 0)
        h->a[i] = last;
    return true;
}

void sai_sched_heap_free(sai_sched_heap_t *h)
{
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}
