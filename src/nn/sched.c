/*
 * sched.c — learning-rate schedules: constant, step decay, cosine, each
 * optionally preceded by a linear warm-up from ~0 to the base rate; and
 * one-cycle (PyTorch's OneCycleLR with cosine annealing), whose warm-up is
 * half a cosine from base/25 up to the base rate.
 */
#include <math.h>

#include "nn/nn_internal.h"

#define PI 3.141592653589793

/* Half a cosine from a (pct 0) to b (pct 1). */
static double anneal(double a, double b, double pct)
{
    return b + (a - b) * 0.5 * (1.0 + cos(PI * pct));
}

static float onecycle(const sai_nn_sched_t *s, uint64_t step)
{
    double hi = s->base_lr, lo = hi / 25.0, end = s->min_lr;
    uint64_t up = s->warmup_steps;
    if (step < up)
        return (float)anneal(lo, hi, (double)step / (double)up);
    uint64_t last = s->total_steps > 0 ? s->total_steps - 1 : 0;
    if (step >= last || last <= up)
        return step >= last ? (float)end : (float)hi;
    return (float)anneal(hi, end, (double)(step - up) / (double)(last - up));
}

float sai_nn_sched_lr(const sai_nn_sched_t *s, uint64_t step)
{
    if (s->kind == SAI_NN_SCHED_ONECYCLE)
        return onecycle(s, step);
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return s->base_lr * (float)(step + 1) / (float)s->warmup_steps;
    uint64_t t = step - s->warmup_steps;
    switch (s->kind) {
    case SAI_NN_SCHED_STEP: {
        if (s->step_size == 0)
            return s->base_lr;
        return s->base_lr * powf(s->gamma, (float)(t / s->step_size));
    }
    case SAI_NN_SCHED_COSINE: {
        uint64_t len = s->total_steps > s->warmup_steps ? s->total_steps - s->warmup_steps : 1;
        if (t >= len)
            return s->min_lr;
        /* written as before one-cycle existed (pi*t/len, not pi*(t/len)),
         * so cosine runs keep their learning rates bit for bit */
        double c = 0.5 * (1.0 + cos(PI * (double)t / (double)len));
        return (float)(s->min_lr + (s->base_lr - s->min_lr) * c);
    }
    case SAI_NN_SCHED_CONST:
    default:
        return s->base_lr;
    }
}
