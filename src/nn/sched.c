/*
 * sched.c — learning-rate schedules: constant, step decay, cosine, each
 * optionally preceded by a linear warm-up from ~0 to the base rate.
 */
#include <math.h>

#include "nn/nn_internal.h"

float sai_nn_sched_lr(const sai_nn_sched_t *s, uint64_t step)
{
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
        double c = 0.5 * (1.0 + cos(3.141592653589793 * (double)t / (double)len));
        return (float)(s->min_lr + (s->base_lr - s->min_lr) * c);
    }
    case SAI_NN_SCHED_CONST:
    default:
        return s->base_lr;
    }
}
