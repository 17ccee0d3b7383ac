/*
 * extender.c — the kube-scheduler extender HTTP server (libevent evhttp):
 * POST /filter and POST /prioritize (the urlPrefix is configured in the
 * KubeSchedulerConfiguration, see `secureai deploy k8s`), GET /healthz.
 * Bodies are capped at SAI_EXT_MAX_BODY, 64 MiB (about 6,500 kubelet-shaped
 * Node objects), and their parse at SAI_EXT_PARSE_BUDGET; anything
 * else is 404/405. The protocol work is in extender_json.c.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sched/extender_internal.h"


int sai_extender_new(sai_extender_t **out, const sai_sched_policy_t *pol, sai_error_t *err)
{
    if (pol == NULL || !pol->safe)
        return sai_error_set(err, SAI_EPOLICY, "the extender only serves policies that enforce "
                             "confidentiality");
    sai_extender_t *x = calloc(1, sizeof *x);
    if (x == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    x->policy = pol;
    x->cache = calloc(1, sizeof *x->cache);
    if (x->cache == NULL || pthread_mutex_init(&x->mu, NULL) != 0) {
        free(x->cache);
        free(x);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    sai_sched_spec_t spec;
    sai_sched_spec_init(&spec);
    x->cluster = spec.cluster;      /* model defaults (TEE factors) */
    *out = x;
    return 0;
}

void sai_extender_free(sai_extender_t *x)
{
    if (x == NULL)
        return;
    sai_sched__kube_stop(x->kube);     /* joins the lister before the cache goes */
    x->kube = NULL;
    sai_sched__cache_free(x->cache);
    pthread_mutex_destroy(&x->mu);
    free(x->pools);
    free(x->node_obj);
    free(x);
}

static void free_reply(const void *data, size_t len, void *arg)
{
    (void)len; (void)arg;
    free((void *)data);
}

/* Sends body and takes it (freed once written): a reply listing 6,000 Node
 * objects is tens of MiB, and a copy would count against the memory limit. */
static void reply(struct evhttp_request *req, int code, char *body)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || evbuffer_add_reference(b, body, strlen(body), free_reply, NULL) != 0) {
        if (b) evbuffer_free(b);
        free(body);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Bad Request", b);
    evbuffer_free(b);
}

static void handle(struct evhttp_request *req, sai_extender_t *x, bool is_filter)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, "use POST");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    char *out = NULL;
    int code = sai_extender_handle(x, is_filter, body, len, &out);
    evbuffer_drain(in, len);   /* the body is not needed for the reply: free it first */
    if (out == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    reply(req, code, out);
}

static void on_filter(struct evhttp_request *req, void *arg) { handle(req, arg, true); }
static void on_prioritize(struct evhttp_request *req, void *arg) { handle(req, arg, false); }

/* The Deployment's readinessProbe: with --kube-api the extender is ready
 * once one complete node list is in the cache (like an informer's
 * WaitForCacheSync); before that every NodeNames request would fail. */
static void on_health(struct evhttp_request *req, void *arg)
{
    sai_extender_t *x = arg;
    bool fed, listed;
    sai_sched__kube_status(x->kube, &fed, &listed);
    struct evbuffer *b = evbuffer_new();
    if (b) {
        if (fed && !listed) {
            const char *m = "not ready: no complete node list from the API server yet\n";
            evbuffer_add(b, m, strlen(m));
            evhttp_send_reply(req, 503, "Service Unavailable", b);
        } else {
            evbuffer_add(b, "ok\n", 3);
            evhttp_send_reply(req, 200, "OK", b);
        }
        evbuffer_free(b);
    }
}

static void on_other(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_send_error(req, 404, "not found");
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    event_base_loopbreak(arg);
}

int sai_extender_serve(sai_extender_t *x, const char *addr, uint16_t port,
                       void (*on_ready)(uint16_t, void *), void *arg, sai_error_t *err)
{
    int rc = 0;
    struct event *sig_int = NULL, *sig_term = NULL;
    evthread_use_pthreads();
    x->base = event_base_new();
    x->http = x->base ? evhttp_new(x->base) : NULL;
    if (x->http == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "cannot create the HTTP server");
        goto out;
    }
    evhttp_set_max_body_size(x->http, SAI_EXT_MAX_BODY);
    evhttp_set_max_headers_size(x->http, 64 << 10);
    evhttp_set_timeout(x->http, 30);
    evhttp_set_allowed_methods(x->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_cb(x->http, "/filter", on_filter, x);
    evhttp_set_cb(x->http, "/prioritize", on_prioritize, x);
    evhttp_set_cb(x->http, "/healthz", on_health, x);
    evhttp_set_gencb(x->http, on_other, x);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(x->http, addr, port);
    if (s == NULL) {
        rc = sai_error_set(err, SAI_ENET, "cannot listen on %s:%u", addr, port);
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    uint16_t bound = port;
    if (getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    sig_int = evsignal_new(x->base, SIGINT, on_signal, x->base);
    sig_term = evsignal_new(x->base, SIGTERM, on_signal, x->base);
    if (sig_int) event_add(sig_int, NULL);
    if (sig_term) event_add(sig_term, NULL);
    if (on_ready)
        on_ready(bound, arg);
    event_base_dispatch(x->base);
out:
    if (sig_int) event_free(sig_int);
    if (sig_term) event_free(sig_term);
    if (x->http) evhttp_free(x->http);
    if (x->base) event_base_free(x->base);
    x->http = NULL;
    x->base = NULL;
    return rc;
}

void sai_extender_stop(sai_extender_t *x)
{
    if (x && x->base)
        event_base_loopbreak(x->base);
}
