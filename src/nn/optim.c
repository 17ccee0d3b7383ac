/*
 * optim.c — SGD with momentum (plain or Nesterov) and L2 weight decay, the
 * update rule of torch.optim.SGD with dampening 0:
 *   d = g + wd*p;  buf = mu*buf + d;  d = nesterov ? d + mu*buf : buf;  p -= lr*d
 * (the first step's buf = d equals mu*0 + d since buffers start at zero).
 */
#include "nn/nn_internal.h"

typedef struct {
    float *p, *g, *buf, mu, wd, lr;
    bool nest;
} sgd_ctx;

static void sgd_task(void *vc, long b, long e, int tid)
{
    const sgd_ctx *c = vc;
    float mu = c->mu, wd = c->wd, lr = c->lr;
    (void)tid;
    for (long i = b; i < e; i++) {
        float d = c->g[i] + wd * c->p[i];
        if (mu != 0.0f) {
            c->buf[i] = mu * c->buf[i] + d;
            d = c->nest ? d + mu * c->buf[i] : c->buf[i];
        }
        c->p[i] -= lr * d;
    }
}

void sai_nn_sgd_step(sai_nn_model_t *m, const sai_nn_sgd_t *opt, float lr)
{
    int T = sai_nn__pass_threads(m);
    nn_weights_changed(m);
    for (int t = 0; t < m->ntensors; t++) {
        nn_tensor *ts = &m->tensors[t];
        if (!ts->trainable || ts->grad == NULL)
            continue;
        sgd_ctx c = {ts->data, ts->grad, ts->mom, opt->momentum, opt->weight_decay, lr,
                     opt->nesterov};
        long len = (long)ts->numel;
        if (len > 65536)
            sai_nn__parallel(len, T, sgd_task, &c);
        else
            sgd_task(&c, 0, len, 0);
    }
}
