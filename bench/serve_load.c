/*
 * serve_load.c — the load generator of bench/serve.sh (docs/serving.md):
 * CLIENTS keep-alive TLS 1.3 connections to `secureai serve` (in its
 * enclave, or --plain-checkpoint), each sending REQUESTS POST /v1/predict
 * of IMGS uint8 images one after another; all start together.
 *
 *   serve_load PORT IMAGES.raw IMG_BYTES CLIENTS REQUESTS [IMGS]
 *
 * Prints one line: requests/s over the wall time of the loaded phase and
 * the p50 / p99 request latency (send to last response byte), in ms.
 *
 * It does not check the server's RA-TLS evidence: the same client measures
 * both servers (the plain one has no evidence a policy accepts), and the
 * check costs once per connection, outside the measured phase. What it
 * checks is that every answer is a 200.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secureai/util.h"

typedef struct {
    int            k;
    SSL           *ssl;
    double        *lat;
    int            bad;
} client_t;

static int g_port, g_clients, g_reqs, g_imgs;
static size_t g_img_bytes, g_nimg;
static uint8_t *g_data;
static SSL_CTX *g_ctx;
static pthread_barrier_t g_go;

static int write_all(SSL *ssl, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        int k = SSL_write(ssl, b, (int)n);
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One request; 0 when the answer was a whole 200. */
static int request(SSL *ssl, size_t first)
{
    char head[256], buf[1 << 16];
    size_t blen = g_img_bytes * (size_t)g_imgs;
    uint8_t *body = malloc(blen);
    if (body == NULL)
        return -1;
    for (int i = 0; i < g_imgs; i++)
        memcpy(body + (size_t)i * g_img_bytes, g_data + ((first + (size_t)i) % g_nimg) * g_img_bytes, g_img_bytes);
    int hn = snprintf(head, sizeof head,
                      "POST /v1/predict?top=1 HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-secureai-u8\r\n"
                      "Content-Length: %zu\r\n\r\n", blen);
    /* head and body in one record, as a careful client sends them */
    uint8_t *msg = malloc((size_t)hn + blen);
    int rc = -1;
    if (msg == NULL)
        goto out;
    memcpy(msg, head, (size_t)hn);
    memcpy(msg + hn, body, blen);
    if (write_all(ssl, msg, (size_t)hn + blen) != 0)
        goto out;
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        int k = SSL_read(ssl, buf + have, (int)(sizeof buf - 1 - have));
        if (k <= 0)
            goto out;
        have += (size_t)k;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL && have >= sizeof buf - 1)
            goto out;
    }
    const char *cl = strstr(buf, "Content-Length: ");
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || cl == NULL)
        goto out;
    size_t want = strtoul(cl + 16, NULL, 10), got = have - (size_t)(end + 4 - buf);
    while (got < want) {
        int k = SSL_read(ssl, buf, sizeof buf);
        if (k <= 0)
            goto out;
        got += (size_t)k;
    }
    rc = 0;
out:
    free(msg);
    free(body);
    return rc;
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    size_t img = (size_t)c->k * (size_t)g_reqs * (size_t)g_imgs;
    for (int i = 0; i < 2; i++)   /* warm-up: first-touch of buffers, not measured */
        c->bad += request(c->ssl, img) != 0;
    pthread_barrier_wait(&g_go);
    for (int i = 0; i < g_reqs; i++, img += (size_t)g_imgs) {
        double t0 = sai_now();
        c->bad += request(c->ssl, img) != 0;
        c->lat[i] = sai_now() - t0;
    }
    pthread_barrier_wait(&g_go);
    return NULL;
}

static SSL *connect_tls(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL *ssl = SSL_new(g_ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
        fprintf(stderr, "TLS handshake failed\n");
        return NULL;
    }
    return ssl;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: serve_load PORT IMAGES.raw IMG_BYTES CLIENTS REQUESTS [IMGS]\n");
        return 2;
    }
    g_port = atoi(argv[1]);
    g_img_bytes = strtoul(argv[3], NULL, 10);
    g_clients = atoi(argv[4]);
    g_reqs = atoi(argv[5]);
    g_imgs = argc > 6 ? atoi(argv[6]) : 1;
    size_t len = 0;
    sai_error_t err = {0};
    if (g_port <= 0 || g_img_bytes == 0 || g_clients < 1 || g_reqs < 1 || g_imgs < 1 ||
        sai_read_file(argv[2], 1u << 30, &g_data, &len, &err) != 0 || len < g_img_bytes) {
        fprintf(stderr, "serve_load: bad arguments or images (%s)\n", err.msg);
        return 2;
    }
    g_nimg = len / g_img_bytes;
    g_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(g_ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
    pthread_barrier_init(&g_go, NULL, (unsigned)g_clients + 1);
    client_t *cs = calloc((size_t)g_clients, sizeof *cs);
    pthread_t *ts = calloc((size_t)g_clients, sizeof *ts);
    double *lat = calloc((size_t)g_clients * (size_t)g_reqs, sizeof *lat);
    if (cs == NULL || ts == NULL || lat == NULL)
        return 2;
    for (int k = 0; k < g_clients; k++) {
        cs[k].k = k;
        cs[k].lat = lat + (size_t)k * (size_t)g_reqs;
        if ((cs[k].ssl = connect_tls()) == NULL)
            return 1;
        pthread_create(&ts[k], NULL, client_main, &cs[k]);
    }
    pthread_barrier_wait(&g_go);
    double t0 = sai_now();
    pthread_barrier_wait(&g_go);
    double wall = sai_now() - t0;
    int bad = 0;
    for (int k = 0; k < g_clients; k++) {
        pthread_join(ts[k], NULL);
        bad += cs[k].bad;
        SSL_shutdown(cs[k].ssl);
        close(SSL_get_fd(cs[k].ssl));
        SSL_free(cs[k].ssl);
    }
    size_t n = (size_t)g_clients * (size_t)g_reqs;
    qsort(lat, n, sizeof *lat, cmp);
    printf("clients %d requests %zu images/request %d rps %.1f p50_ms %.3f p99_ms %.3f failed %d\n", g_clients, n,
           g_imgs, (double)n / wall, lat[n / 2] * 1e3, lat[(size_t)((double)n * 0.99)] * 1e3, bad);
    free(lat);
    free(cs);
    free(ts);
    free(g_data);
    SSL_CTX_free(g_ctx);
    return bad ? 1 : 0;
}
