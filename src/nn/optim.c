/*
 * optim.c — SGD with momentum (plain or Nesterov) and L2 weight decay, the
 * update rule of torch.optim.SGD with dampening 0:
 *   d = g + wd*p;  buf = mu*buf + d;  d = nesterov ? d + mu*buf : buf;  p -= lr*d
 * (the first step's buf = d equals mu*0 + d since buffers start at zero).
 */
#include "nn/nn_internal.h"

void sai_nn_sgd_step(sai_nn_model_t *m, const sai_nn_sgd_t *opt, float lr)
{
    float mu = opt->momentum, wd = opt->weight_decay;
    bool nest = opt->nesterov;
    for (int t = 0; t < m->ntensors; t++) {
        nn_tensor *ts = &m->tensors[t];
        if (!ts->trainable)
            continue;
        float *p = ts->data, *g = ts->grad, *buf = ts->mom;
        long len = (long)ts->numel;
        SAI_OMP(omp parallel for schedule(static) if (len > 65536))
        for (long i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            if (mu != 0.0f) {
                buf[i] = mu * buf[i] + d;
                d = nest ? d + mu * buf[i] : buf[i];
            }
            p[i] -= lr * d;
        }
    }
}
