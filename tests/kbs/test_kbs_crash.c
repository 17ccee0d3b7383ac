/* test_kbs_crash.c — durability: the `secureai kbs serve` program is killed
 * with SIGKILL at a random moment while an admin client registers resources
 * in a loop; after a restart every resource whose PUT was acknowledged is
 * there (and opens under the master key), and the audit chain verifies.
 * Three rounds on the same store; then a SIGTERM must stop it cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "kbs/kbs_test.h"

static pid_t start_server(const char *dir, test_kbs *t)
{
    char portfile[600];
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    unlink(portfile);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(SAI_CLI, SAI_CLI, "kbs", "serve", "--data-dir", dir, "--port", "0", "--port-file",
              portfile, "--rate", "0", "--quiet", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (sai_read_file(portfile, 64, &buf, &len, NULL) == 0) {
            int port = atoi((char *)buf);
            free(buf);
            char cert[600], path[600];
            sai_error_t err;
            snprintf(cert, sizeof cert, "%s/tls.crt", dir);
            assert_int_equal(sai_kbs__cert_fingerprint(cert, t->fp, &err), 0);
            snprintf(t->url, sizeof t->url, "https://127.0.0.1:%d", port);
            snprintf(path, sizeof path, "%s/admin.token", dir);
            assert_int_equal(sai_read_file(path, 4096, &buf, &len, &err), 0);
            snprintf(t->admin_hdr, sizeof t->admin_hdr, "Authorization: Bearer %s", (char *)buf);
            free(buf);
            snprintf(t->dir, sizeof t->dir, "%s", dir);
            return pid;
        }
        usleep(25 * 1000);
    }
    fail_msg("the server did not start");
    return -1;
}

typedef struct killer {
    pid_t pid;
    int   delay_ms;
} killer;

static void *kill_later(void *arg)
{
    killer *k = arg;
    usleep((useconds_t)k->delay_ms * 1000);
    kill(k->pid, SIGKILL);
    return NULL;
}

static void test_sigkill_loses_no_acknowledged_resource(void **state)
{
    (void)state;
    char dir[256];
    test_mkdtemp(dir, sizeof dir);
    srand((unsigned)time(NULL));
    static bool acked[100000];
    int next = 0, total_acked = 0;
    for (int round = 0; round < 3; round++) {
        test_kbs t;
        memset(&t, 0, sizeof t);
        pid_t pid = start_server(dir, &t);
        sai_kbs_client_opts_t o = {.url = t.url, .pin_sha256 = t.fp, .retries = 1, .timeout_s = 2};
        sai_kbs_client_t *c = NULL;
        sai_error_t err;
        assert_int_equal(sai_kbs_client_new(&c, &o, &err), 0);
        killer k = {pid, 300 + rand() % 500};
        pthread_t th;
        pthread_create(&th, NULL, kill_later, &k);
        for (;;) {
            char name[64], secret[64];
            snprintf(name, sizeof name, "crash/key/r%d", next);
            snprintf(secret, sizeof secret, "secret-%d", next);
            int st = test_put(&t, c, name, secret, "{\"tee\":[\"sim\"],\"allow_simulated\":true}");
            if (st < 0)
                break;          /* the server is gone */
            assert_int_equal(st, 201);
            acked[next] = true;
            total_acked++;
            next++;
            if (next >= 100000)
                break;
        }
        next++;   /* the one in flight may or may not have landed; never reuse its name */
        pthread_join(th, NULL);
        int status = 0;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        sai_kbs_client_free(c);
    }
    assert_true(total_acked > 10);
    /* Restart: every acknowledged resource is there. */
    test_kbs t;
    memset(&t, 0, sizeof t);
    pid_t pid = start_server(dir, &t);
    sai_kbs_client_opts_t o = {.url = t.url, .pin_sha256 = t.fp};
    sai_kbs_client_t *c = NULL;
    sai_error_t err;
    assert_int_equal(sai_kbs_client_new(&c, &o, &err), 0);
    int found = 0;
    for (int i = 0; i < next; i++) {
        if (!acked[i])
            continue;
        char path[128], *resp = NULL, want[64];
        snprintf(path, sizeof path, "/kbs/v0/admin/resource/crash/key/r%d", i);
        int st = test_req(c, "GET", path, t.admin_hdr, NULL, &resp);
        if (st != 200)
            fail_msg("acknowledged resource r%d is missing after kill -9 (status %d)", i, st);
        snprintf(want, sizeof want, "\"length\":%zu", strlen("secret-") + (size_t)snprintf(NULL, 0, "%d", i));
        assert_non_null(strstr(resp, want));
        free(resp);
        found++;
    }
    assert_int_equal(found, total_acked);
    sai_kbs_client_free(c);
    /* SIGTERM: a clean stop. */
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The audit chain is intact and holds at least one entry per acknowledged put. */
    uint64_t n = 0;
    char head[65];
    if (sai_kbs_audit_verify(dir, &n, head, &err) != 0)
        fail_msg("audit: %s", err.msg);
    assert_true(n >= (uint64_t)total_acked);
    printf("crash test: %d acknowledged puts over 3 kills, all present; audit %llu entries\n",
           total_acked, (unsigned long long)n);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_loses_no_acknowledged_resource),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
