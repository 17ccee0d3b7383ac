/* progress.c — one redrawn status line on a terminal; silent otherwise. */
#include "secureai/util.h"

#include <unistd.h>

void sai_progress_begin(sai_progress_t *p, const char *label, uint64_t total, bool enabled)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start = p->last = sai_now();
    p->enabled = enabled && isatty(STDERR_FILENO);
}

static void draw(sai_progress_t *p, double now)
{
    double secs = now - p->start;
    double mb = (double)p->done / 1e6;
    double rate = secs > 0 ? mb / secs : 0;
    if (p->total > 0)
        fprintf(stderr, "\r%s: %.1f / %.1f MB (%3.0f%%) %.1f MB/s   ", p->label, mb,
                (double)p->total / 1e6, 100.0 * (double)p->done / (double)p->total, rate);
    else
        fprintf(stderr, "\r%s: %.1f MB %.1f MB/s   ", p->label, mb, rate);
    fflush(stderr);
}

void sai_progress_update(sai_progress_t *p, uint64_t done)
{
    p->done = done;
    if (!p->enabled)
        return;
    double now = sai_now();
    if (now - p->last < 0.25)
        return;
    p->last = now;
    draw(p, now);
}

void sai_progress_end(sai_progress_t *p)
{
    if (!p->enabled)
        return;
    draw(p, sai_now());
    fputc('\n', stderr);
}
