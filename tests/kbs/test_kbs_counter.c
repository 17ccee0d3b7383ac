/* test_kbs_counter.c — a job's monotonic counter on the KBS
 * (src/kbs/counter.c, docs/distributed.md "Resume"), over the real TLS
 * server, client and sim TEE: compare-and-increment moves it by one only
 * from the value the caller names, a stale value is refused naming both
 * values, it is governed by the release policy of the resource of its
 * name (another measurement, or no such resource, is refused), it
 * survives a restart, and every increment is audited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>

#include "kbs/kbs_test.h"

static test_kbs g_kbs;
static char g_root[256], g_policy_path[400], g_meas_hex[97];
static sai_kbs_attester_t g_att;

static void tweak(sai_kbs_config_t *c)
{
    snprintf(c->attestation_policy, sizeof c->attestation_policy, "%s", g_policy_path);
}

static int setup(void **state)
{
    (void)state;
    char dir[400];
    signal(SIGPIPE, SIG_IGN);
    if (test_sim_world(g_root, sizeof g_root, g_policy_path, sizeof g_policy_path, g_meas_hex, &g_att) != 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/kbs", g_root);
    return test_kbs_start_dir(&g_kbs, dir, tweak);
}

static int teardown(void **state)
{
    (void)state;
    test_kbs_stop(&g_kbs, false);
    sai_kbs_attester_close(&g_att);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(sai_kbs_client_t *c, const char *name, const char *meas)
{
    char pol[400];
    snprintf(pol, sizeof pol, "{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"]}", meas);
    assert_int_equal(test_put(&g_kbs, c, name, "a-group-secret-of-32-bytes-long!", pol), 201);
}

static void test_compare_and_increment(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_error_t err = {0};
    uint64_t v = 99, e;
    put(c, "job1/dist/group", g_meas_hex);
    /* a new counter reads 0 */
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job1/dist/group", NULL, &v, &err), 0);
    assert_int_equal(v, 0);
    /* 0 -> 1 -> 2 -> 3, each from the value named */
    for (e = 0; e < 3; e++) {
        if (sai_kbs_client_counter(c, &g_att, "job1/dist/group", &e, &v, &err) != 0)
            fail_msg("increment from %llu: %s", (unsigned long long)e, err.msg);
        assert_int_equal(v, e + 1);
    }
    /* a stale value (a rolled-back checkpoint's) is refused, naming both */
    e = 1;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job1/dist/group", &e, &v, &err), SAI_ESTATE);
    assert_int_equal(v, 3);
    assert_non_null(strstr(err.msg, "counter job1/dist/group is 3, not 1"));
    /* ... and one from the future too; the counter did not move */
    e = 7;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job1/dist/group", &e, &v, &err), SAI_ESTATE);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job1/dist/group", NULL, &v, &err), 0);
    assert_int_equal(v, 3);
    /* counters are per name */
    put(c, "job2/dist/group", g_meas_hex);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job2/dist/group", NULL, &v, &err), 0);
    assert_int_equal(v, 0);
    /* every increment and the refusals are in the audit log */
    char *resp = NULL;
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/audit?limit=20", g_kbs.admin_hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"event\":\"counter\""));
    assert_non_null(strstr(resp, "2 -> 3"));
    assert_non_null(strstr(resp, "is 3, not 1"));
    free(resp);
    sai_kbs_client_free(c);
}

static void test_policy_governs(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_error_t err = {0};
    uint64_t v = 0, e = 0;
    char other[97];
    memset(other, 'a', 96);
    other[96] = '\0';
    /* the resource's release policy names another measurement */
    put(c, "job3/dist/group", other);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job3/dist/group", &e, &v, &err), SAI_EPOLICY);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job3/dist/group", NULL, &v, &err), SAI_EPOLICY);
    /* no resource of the name: no counter */
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "nojob/dist/group", &e, &v, &err), SAI_ENOTFOUND);
    /* no token at all */
    assert_int_equal(test_req(c, "POST", "/kbs/v0/counter/job1/dist/group", NULL, "{\"expect\":3}", NULL), 401);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/counter/job1/dist/group", NULL, NULL, NULL), 401);
    /* not a name */
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "../x", &e, &v, &err), SAI_EINVAL);
    sai_kbs_client_free(c);
}

static void test_survives_restart(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_error_t err = {0};
    uint64_t v = 0, e = 0;
    put(c, "job4/dist/group", g_meas_hex);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job4/dist/group", &e, &v, &err), 0);
    assert_int_equal(v, 1);
    sai_kbs_client_free(c);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/kbs", g_root);
    test_kbs_stop(&g_kbs, false);
    assert_int_equal(test_kbs_start_dir(&g_kbs, dir, tweak), 0);
    c = test_client(&g_kbs);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job4/dist/group", NULL, &v, &err), 0);
    assert_int_equal(v, 1);
    e = 0;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job4/dist/group", &e, &v, &err), SAI_ESTATE);
    sai_kbs_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_and_increment),
        cmocka_unit_test(test_policy_governs),
        cmocka_unit_test(test_survives_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
