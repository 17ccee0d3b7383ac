/*
 * kbs_test.h — shared by the KBS tests: start a real server on a loopback
 * port picked by the kernel (in a thread of the test process), stop it, and
 * small admin helpers. The verifier and attester are the default tables over
 * src/attest and src/tee (the sim TEE).
 */
#ifndef KBS_TEST_H
#define KBS_TEST_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kbs/kbs_internal.h"
#include "secureai/kbs.h"
#include "secureai/tee.h"
#include "secureai/util.h"

typedef struct test_kbs {
    sai_kbs_server_t  *srv;
    sai_kbs_verifier_t v;
    pthread_t        th;
    char             dir[512];
    char             url[64];
    char             fp[65];
    uint8_t          wrap[32];       /* SHA-256 of the wrap key's raw point */
    char             admin_hdr[200];
} test_kbs;

static inline void *test_kbs_main(void *arg)
{
    test_kbs *t = arg;
    sai_error_t err;
    sai_kbs_server_run(t->srv, &err);
    return NULL;
}

static inline void test_mkdtemp(char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/kbs-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

/* cfg_tweak may adjust the config before the server starts (NULL: none). */
/* A sim world in a fresh directory ROOT: a platform (SECUREAI_PLATFORM_DIR),
 * an attestation policy accepting sim evidence at POLICY, this test
 * binary's launch measurement in hex (97 bytes) and a sim attester. */
static inline int test_sim_world(char *root, size_t root_cap, char *policy, size_t policy_cap,
                                 char meas_hex[97], sai_kbs_attester_t *att)
{
    sai_error_t err;
    char plat[400];
    test_mkdtemp(root, root_cap);
    snprintf(plat, sizeof plat, "%s/platform", root);
    setenv("SECUREAI_PLATFORM_DIR", plat, 1);
    if (sai_sim_platform_init(plat, false, &err) != 0) {
        fprintf(stderr, "platform: %s\n", err.msg);
        return -1;
    }
    snprintf(policy, policy_cap, "%s/attestation.yaml", root);
    const char *yaml = "allowed_tee: [sim]\nallow_simulated: true\nallow_debug: false\n";
    if (sai_write_file_atomic(policy, yaml, strlen(yaml), 0600, false, &err) != 0)
        return -1;
    uint8_t m[48];
    if (sai_sim_launch_measurement(m, "/proc/self/exe", NULL, NULL, &err) != 0)
        return -1;
    sai_hex_encode(meas_hex, m, 48);
    if (sai_kbs_attester_open(att, "sim", &err) != 0) {
        fprintf(stderr, "attester: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static inline int test_kbs_start_dir(test_kbs *t, const char *dir, void (*cfg_tweak)(sai_kbs_config_t *))
{
    sai_kbs_config_t cfg;
    sai_error_t err = {0};
    sai_kbs_config_defaults(&cfg);
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    cfg.port = 0;
    cfg.quiet = true;
    cfg.rate_per_s = 0;
    if (cfg_tweak)
        cfg_tweak(&cfg);
    if (sai_kbs_verifier_default(&t->v, cfg.attestation_policy[0] ? cfg.attestation_policy : NULL,
                                 &err) != 0 ||
        sai_kbs_server_new(&t->srv, &cfg, &t->v, &err) != 0) {
        fprintf(stderr, "server: %s\n", err.msg);
        return -1;
    }
    snprintf(t->url, sizeof t->url, "%s://127.0.0.1:%d", cfg.insecure_http ? "http" : "https",
             sai_kbs_server_port(t->srv));
    snprintf(t->fp, sizeof t->fp, "%s", sai_kbs_server_fingerprint(t->srv));
    if (sai_hex_decode(t->wrap, sizeof t->wrap, sai_kbs_server_wrap_key_sha256(t->srv), NULL) != 0)
        return -1;
    char path[600];
    uint8_t *tok = NULL;
    size_t tl = 0;
    snprintf(path, sizeof path, "%s/admin.token", dir);
    if (sai_read_file(path, 4096, &tok, &tl, &err) != 0)
        return -1;
    snprintf(t->admin_hdr, sizeof t->admin_hdr, "Authorization: Bearer %s", (char *)tok);
    free(tok);
    return pthread_create(&t->th, NULL, test_kbs_main, t);
}

static inline int test_kbs_start(test_kbs *t, void (*cfg_tweak)(sai_kbs_config_t *))
{
    char dir[256];
    test_mkdtemp(dir, sizeof dir);
    return test_kbs_start_dir(t, dir, cfg_tweak);
}

static inline void test_kbs_stop(test_kbs *t, bool remove_dir)
{
    sai_kbs_server_stop(t->srv);
    pthread_join(t->th, NULL);
    sai_kbs_server_free(t->srv);
    sai_kbs_verifier_release(&t->v);
    t->srv = NULL;
    if (remove_dir) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", t->dir);
    }
}

/* retries 0: the library's default (4 attempts; 429s are waited out). */
static inline sai_kbs_client_t *test_client_retries(const test_kbs *t, int retries)
{
    sai_kbs_client_opts_t o = {.url = t->url, .pin_sha256 = t->fp[0] ? t->fp : NULL, .timeout_s = 5,
                             .allow_insecure_http = t->fp[0] == '\0', .retries = retries};
    sai_kbs_client_t *c = NULL;
    sai_error_t err;
    if (sai_kbs_client_new(&c, &o, &err) != 0) {
        fprintf(stderr, "client: %s\n", err.msg);
        abort();
    }
    return c;
}

static inline sai_kbs_client_t *test_client(const test_kbs *t)
{
    return test_client_retries(t, 0);
}

/* One request; returns the status, *resp (malloc'ed) when resp != NULL. */
static inline int test_req(sai_kbs_client_t *c, const char *method, const char *path, const char *hdr,
                    const char *body, char **resp)
{
    int status = 0;
    char *r = NULL;
    size_t rl = 0;
    sai_error_t err;
    if (sai_kbs_client_request(c, method, path, hdr, body, body ? strlen(body) : 0, &status, &r,
                               &rl, &err) != 0) {
        fprintf(stderr, "request %s %s: %s\n", method, path, err.msg);
        return -1;
    }
    if (resp)
        *resp = r;
    else
        free(r);
    return status;
}

/* PUT a resource with a base64url secret and a policy JSON; returns the status. */
static inline int test_put(const test_kbs *t, sai_kbs_client_t *c, const char *name, const char *secret,
                    const char *policy)
{
    char *b64 = NULL, body[4096], path[300];
    sai_error_t err;
    if (sai_b64url_encode(&b64, (const uint8_t *)secret, strlen(secret), &err) != 0)
        return -1;
    snprintf(body, sizeof body, "{\"secret\":\"%s\",\"policy\":%s}", b64, policy);
    free(b64);
    snprintf(path, sizeof path, "/kbs/v0/admin/resource/%s", name);
    return test_req(c, "PUT", path, t->admin_hdr, body, NULL);
}

#endif
