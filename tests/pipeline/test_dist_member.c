/*
 * test_dist_member.c — membership of a distributed job by attestation
 * (docs/distributed.md, "Membership"): workers with real sim TEE evidence,
 * bound to each ring handshake, checked by src/attest against the job's
 * policy and held to the verifier's own launch measurement and HOST_DATA
 * (src/pipeline/dist_glue.c). Workers launched with the same spec join and
 * all-reduce; a worker launched with another spec (another measurement)
 * cannot join, and one whose evidence chains to another platform's root is
 * refused by the chain check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dist/dist_testutil.h"
#include "pipeline/pipeline_internal.h"
#include "secureai/attest.h"
#include "secureai/tee.h"

static char root[256], dir_a[300], dir_b[300], spec_a[300], spec_b[300];
static uint8_t fp_a[32], fp_b[32];

static int setup(void **state)
{
    (void)state;
    sai_error_t err = {0};
    char tmpl[] = "/tmp/sai-distm-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(root, sizeof root, "%s", tmpl);
    snprintf(dir_a, sizeof dir_a, "%s/a", root);
    snprintf(dir_b, sizeof dir_b, "%s/b", root);
    snprintf(spec_a, sizeof spec_a, "%s/spec-a.json", root);
    snprintf(spec_b, sizeof spec_b, "%s/spec-b.json", root);
    if (sai_sim_platform_init(dir_a, false, &err) != 0 || sai_sim_platform_init(dir_b, false, &err) != 0 ||
        sai_sim_platform_ark_fingerprint(dir_a, fp_a, &err) != 0 ||
        sai_sim_platform_ark_fingerprint(dir_b, fp_b, &err) != 0 ||
        sai_write_file_atomic(spec_a, "{\"dist\":{\"workers\":2}}", 22, 0644, false, &err) != 0 ||
        sai_write_file_atomic(spec_b, "{\"dist\":{\"workers\":3}}", 22, 0644, false, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* The peers' policy: a fixed one trusting platform a's root (POL_FIXED),
 * the enclave's own (POL_OWN: kind and root learnt from this worker's own
 * evidence, sai_pipeline__dist_peer_policy), or one trusting both platforms'
 * roots with the same-root rule of POL_OWN on top (POL_BOTH_SAME_ROOT: the
 * chain check alone would admit platform b, so only the rule can refuse). */
enum { POL_FIXED, POL_OWN, POL_BOTH_SAME_ROOT };

typedef struct who {
    const char *platform[DT_MAX];
    const char *spec[DT_MAX];
    int policy;
} who;

static int member_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *arg)
{
    const who *w = arg;
    sai_error_t err = {0};
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.platform_dir = w->platform[rank];
    o.spec_path = w->spec[rank];
    sai_pipeline_dist_member_t m;
    memset(&m, 0, sizeof m);
    sai_attest_policy_t *pol = NULL;
    sai_dist_comm_t *c = NULL;
    char hex[65], yaml[256];
    bool insecure = false;
    float v[64];
    int rc;
    char hex_b[65];
    sai_hex_encode(hex, fp_a, 32);
    sai_hex_encode(hex_b, fp_b, 32);
    if (w->policy == POL_BOTH_SAME_ROOT)
        snprintf(yaml, sizeof yaml, "allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s, %s]\n", hex,
                 hex_b);
    else
        snprintf(yaml, sizeof yaml, "allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n", hex);
    if ((rc = sai_tee_open(&m.tee, SAI_TEE_SIM, &o, &err)) ||
        (rc = sai_sim_launch_claims(m.tee, m.measurement, m.spec_hash, &insecure, &err)))
        goto out;
    if (w->policy != POL_FIXED && (rc = sai_pipeline__dist_peer_policy(&m, &pol, &err)))
        goto out;
    if (w->policy != POL_OWN) {
        sai_attest_policy_free(pol);
        pol = NULL;
        if ((rc = sai_attest_policy_load(&pol, yaml, strlen(yaml), &err)))
            goto out;
    }
    /* the same-root rule is set exactly when the policy came from our own evidence */
    if (m.has_root != (w->policy != POL_FIXED) ||
        (m.has_root && memcmp(m.root_fp, w->platform[rank] == dir_a ? fp_a : fp_b, 32) != 0)) {
        rc = SAI_ESTATE;
        snprintf(err.msg, sizeof err.msg, "peer policy: wrong root learnt");
        goto out;
    }
    m.policy = pol;
    cfg->get_evidence = sai_pipeline__dist_get_evidence;
    cfg->evidence_ctx = &m;
    cfg->verify_peer = sai_pipeline__dist_verify_peer;
    cfg->verify_ctx = &m;
    for (int i = 0; i < 64; i++)
        v[i] = dt_input(rank, (size_t)i);
    if ((rc = dt_connect(run, rank, cfg, &c, &err)) || (rc = sai_dist_step_begin(c, 0, &err)) ||
        (rc = sai_dist_allreduce_avg(c, v, 64, &err)))
        goto out;
    memcpy(res->out, v, sizeof v);
    res->out_len = sizeof v;
out:
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
    sai_dist_comm_free(c);
    sai_tee_close(m.tee);
    sai_attest_policy_free(pol);
    return rc;
}

static void test_same_launch_joins(void **state)
{
    (void)state;
    who w = {{dir_a, dir_a}, {spec_a, spec_a}, POL_FIXED};
    dt_run run;
    dt_start(&run, 2, 64 * sizeof(float), member_worker, &w, 10000);
    assert_int_equal(dt_wait(&run), 0);
    for (int r = 0; r < 2; r++)
        if (dt_res(&run, r)->rc)
            fail_msg("worker %d: %s", r, dt_res(&run, r)->msg);
    float ref[64];
    dt_reference(ref, 64, 2);
    assert_memory_equal(dt_res(&run, 0)->out, ref, sizeof ref);
    assert_memory_equal(dt_res(&run, 1)->out, ref, sizeof ref);
    dt_free(&run);
}

static void refused(const who *w, const char *want)
{
    dt_run run;
    dt_start(&run, 2, 64 * sizeof(float), member_worker, (void *)w, 2500);
    assert_int_equal(dt_wait(&run), 0);
    for (int r = 0; r < 2; r++)
        assert_int_not_equal(dt_res(&run, r)->rc, 0);
    /* worker 0 (the honest one) names worker 1 and why */
    const char *m0 = dt_res(&run, 0)->msg;
    if (strstr(m0, want) == NULL || strstr(m0, "worker 1") == NULL)
        fail_msg("worker 0 said \"%s\"; wanted \"%s\" naming worker 1", m0, want);
    dt_free(&run);
}

static void test_other_spec_cannot_join(void **state)
{
    (void)state;
    who w = {{dir_a, dir_a}, {spec_a, spec_b}, POL_FIXED};
    refused(&w, "another launch measurement");
}

static void test_other_platform_cannot_join(void **state)
{
    (void)state;
    who w = {{dir_a, dir_b}, {spec_a, spec_a}, POL_FIXED};
    refused(&w, "worker 1's evidence");
}

/* The enclave's policy (POL_OWN): workers of one platform and spec join
 * with no root configured anywhere... */
static void test_own_root_policy_joins(void **state)
{
    (void)state;
    who w = {{dir_a, dir_a}, {spec_a, spec_a}, POL_OWN};
    dt_run run;
    dt_start(&run, 2, 64 * sizeof(float), member_worker, &w, 10000);
    assert_int_equal(dt_wait(&run), 0);
    for (int r = 0; r < 2; r++)
        if (dt_res(&run, r)->rc)
            fail_msg("worker %d: %s", r, dt_res(&run, r)->msg);
    float ref[64];
    dt_reference(ref, 64, 2);
    assert_memory_equal(dt_res(&run, 0)->out, ref, sizeof ref);
    dt_free(&run);
}

/* ...a worker on another platform cannot (its root is not this worker's)... */
static void test_own_root_policy_refuses_other_platform(void **state)
{
    (void)state;
    who w = {{dir_a, dir_b}, {spec_a, spec_a}, POL_OWN};
    refused(&w, "worker 1's evidence");
}

/* ...and the same-root rule refuses it even under a policy whose roots
 * include the other platform's. */
static void test_same_root_rule(void **state)
{
    (void)state;
    who w = {{dir_a, dir_b}, {spec_a, spec_a}, POL_BOTH_SAME_ROOT};
    refused(&w, "chains to another root");
    who ok = {{dir_a, dir_a}, {spec_a, spec_a}, POL_BOTH_SAME_ROOT};
    dt_run run;
    dt_start(&run, 2, 64 * sizeof(float), member_worker, &ok, 10000);
    assert_int_equal(dt_wait(&run), 0);
    for (int r = 0; r < 2; r++)
        if (dt_res(&run, r)->rc)
            fail_msg("worker %d: %s", r, dt_res(&run, r)->msg);
    dt_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_launch_joins),
        cmocka_unit_test(test_other_spec_cannot_join),
        cmocka_unit_test(test_other_platform_cannot_join),
        cmocka_unit_test(test_own_root_policy_joins),
        cmocka_unit_test(test_own_root_policy_refuses_other_platform),
        cmocka_unit_test(test_same_root_rule),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
