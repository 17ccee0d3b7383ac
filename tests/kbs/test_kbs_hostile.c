/* test_kbs_hostile.c — the KBS and its client against hostile or broken
 * peers (issue 13): a client that must not die of SIGPIPE, a slowloris from
 * one address, an /auth flood, and the small protocol strictnesses. Loopback
 * only; every wait is bounded (a few seconds in all). The process does not
 * ignore SIGPIPE itself: the client under test runs in a child with the
 * default disposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kbs/kbs_test.h"
#include "secureai/attest.h"
#include "secureai/tee.h"

static char g_root[256];

/* ---- 1. the client never dies of SIGPIPE ------------------------------------ */

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0)
        return -1;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A peer that accepts and hangs up at once, as a KBS whose connection
 * slots are all taken does: the client's ClientHello or next write hits a
 * closed socket. Before the fix the child died of SIGPIPE (exit 141). */
static void sigpipe_case(const char *scheme)
{
    char fp[65];
    memset(fp, 'a', 64);
    fp[64] = '\0';
    int port = 0, lfd = listen_any(&port);
    assert_true(lfd >= 0);
    char url[64];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", scheme, port);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(lfd);
        close(pfd[0]);
        signal(SIGPIPE, SIG_DFL);
        sai_kbs_client_opts o = {.url = url, .pin_sha256 = fp, .retries = 3, .timeout_s = 2,
                                 .allow_insecure_http = true};
        sai_kbs_client *c = NULL;
        sai_error e = {0};
        char body[2048];
        memset(body, ' ', sizeof body - 1);
        body[0] = '{';
        body[sizeof body - 2] = '}';
        body[sizeof body - 1] = '\0';
        int status = 0, rc = sai_kbs_client_new(&c, &o, &e);
        char *resp = NULL;
        size_t rl = 0;
        if (rc == 0)
            rc = sai_kbs_client_request(c, "POST", "/kbs/v0/auth", NULL, body, strlen(body), &status,
                                        &resp, &rl, &e);
        free(resp);
        sai_kbs_client_free(c);
        (void)!write(pfd[1], e.msg, strlen(e.msg));
        _exit(rc == SAI_ENET ? 0 : 3);
    }
    close(pfd[1]);
    signal(SIGPIPE, SIG_IGN);
    int accepted = 0;
    for (;;) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            int cfd = accept(lfd, NULL, NULL);
            close(cfd);   /* before the handshake: the client's next write is EPIPE */
            accepted++;
        }
        int wst = 0;
        pid_t w = waitpid(pid, &wst, WNOHANG);
        if (w == pid) {
            char msg[300] = "";
            ssize_t n = read(pfd[0], msg, sizeof msg - 1);
            msg[n > 0 ? n : 0] = '\0';
            if (WIFSIGNALED(wst))
                fail_msg("the client died of signal %d after %d connections", WTERMSIG(wst), accepted);
            assert_true(WIFEXITED(wst));
            if (WEXITSTATUS(wst) != 0)
                fail_msg("client exit %d: %s", WEXITSTATUS(wst), msg);
            assert_non_null(strstr(msg, "cannot reach the KBS after 3 attempts"));
            assert_true(accepted >= 3);
            break;
        }
    }
    close(pfd[0]);
    close(lfd);
}

static void test_client_survives_sigpipe(void **state)
{
    (void)state;
    sigpipe_case("https");
    sigpipe_case("http");
}

/* ---- 5. the client waits out a 429 as Retry-After says ------------------------ */
static void tweak_rate(sai_kbs_config *c)
{
    c->rate_per_s = 1;
    c->rate_burst = 1;
}

static const char *k_auth = "{\"version\":\"0.1.0\",\"tee\":\"sim\"}";

static void test_client_honours_retry_after(void **state)
{
    (void)state;
    test_kbs t;
    memset(&t, 0, sizeof t);
    assert_int_equal(test_kbs_start(&t, tweak_rate), 0);
    sai_kbs_client *c = test_client(&t);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL, k_auth, NULL), 200);
    /* The bucket is empty: 429 with Retry-After: 1, waited out, then 200. */
    double t0 = sai_now();
    assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL, k_auth, NULL), 200);
    double dt = sai_now() - t0;
    assert_true(dt > 0.5 && dt < 3.0);
    sai_kbs_client_free(c);
    /* Bounded: with one attempt the 429 comes back as it is. */
    c = test_client_retries(&t, 1);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL, k_auth, NULL), 429);
    sai_kbs_client_free(c);
    test_kbs_stop(&t, true);
}

static int setup(void **state)
{
    (void)state;
    test_mkdtemp(g_root, sizeof g_root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_survives_sigpipe),
        cmocka_unit_test(test_client_honours_retry_after),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
