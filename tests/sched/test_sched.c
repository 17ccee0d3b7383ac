/* test_sched.c — the scheduling simulator: event heap, YAML spec errors,
 * the node index against a linear scan, determinism, invariants and the
 * violation counter, the TEE runtime model, the Alibaba trace reader, the
 * extender's protocol handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/sched.h"
#include "sched/sched_internal.h"
#include "sched/extender_internal.h"

static const char mixed_yaml[] =
    "pools:\n"
    "  - name: std\n"
    "    count: 4\n"
    "    cpu_milli: 16000\n"
    "    memory_mib: 65536\n"
    "  - name: sgx\n"
    "    count: 2\n"
    "    cpu_milli: 8000\n"
    "    memory_mib: 16384\n"
    "    tee: sgx\n"
    "    epc_mib: 93.5\n"
    "  - name: snp\n"
    "    count: 2\n"
    "    cpu_milli: 32000\n"
    "    memory_mib: 131072\n"
    "    tee: sev-snp\n"
    "    cvm_slots: 4\n"
    "    pod_overhead: {cpu_milli: 1000, memory_mib: 2048}\n";

static void load_mixed(sai_sched_spec_t *s)
{
    sai_error_t err = {0};
    sai_sched_spec_init(s);
    int rc = sai_sched_spec_parse(s, mixed_yaml, strlen(mixed_yaml), NULL, &err);
    if (rc != 0) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void test_heap_order_and_fifo_ties(void **state)
{
    (void)state;
    sai_sched_heap_t h = {0};
    double ts[] = { 5, 1, 3, 1, 9, 3, 0.5, 7 };
    for (uint32_t i = 0; i < 8; i++)
        assert_int_equal(sai_sched_heap_push(&h, ts[i], 0, i), 0);
    sai_sched_event_t ev, prev = { -1, 0, 0, 0 };
    size_t n = 0;
    while (sai_sched_heap_pop(&h, &ev)) {
        assert_true(ev.t >= prev.t);
        if (ev.t == prev.t)
            assert_true(ev.idx > prev.idx);     /* ties in insertion order */
        prev = ev;
        n++;
    }
    assert_int_equal(n, 8);
    sai_sched_heap_free(&h);
}

static void test_spec_parses_pools(void **state)
{
    (void)state;
    sai_sched_spec_t s;
    load_mixed(&s);
    assert_int_equal(s.cluster.npools, 3);
    assert_int_equal(sai_sched_cluster_nodes(&s.cluster), 8);
    assert_int_equal(s.cluster.pools[1].tee, SAI_SCHED_TEE_SGX);
    assert_int_equal(s.cluster.pools[1].epc_mib, 93);
    assert_int_equal(s.cluster.pools[2].pod_cpu_overhead, 1000);
    assert_true(fabs(s.cluster.tee_factor[SAI_SCHED_TEE_SGX] - 1.25) < 1e-9);
    assert_true(fabs(s.cluster.tee_factor[SAI_SCHED_TEE_SNP] - 1.17) < 1e-9);
    sai_sched_spec_free(&s);
}

static void expect_spec_error(const char *yaml, const char *needle)
{
    sai_sched_spec_t s;
    sai_error_t err = {0};
    sai_sched_spec_init(&s);
    assert_int_not_equal(sai_sched_spec_parse(&s, yaml, strlen(yaml), NULL, &err), 0);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("error '%s' does not contain '%s'", err.msg, needle);
    sai_sched_spec_free(&s);
}

static void test_spec_errors_name_line_and_field(void **state)
{
    (void)state;
    expect_spec_error("pools:\n  - name: a\n    cuont: 3\n    cpu_milli: 1\n    memory_mib: 1\n",
                      "line 3: pools[0].cuont: unknown field");
    expect_spec_error("pools:\n  - name: a\n    count: many\n    cpu_milli: 1\n    memory_mib: 1\n",
                      "line 3: pools[0].count: expected an integer");
    expect_spec_error("pools:\n  - {name: a, count: 1, cpu_milli: 1, memory_mib: 1, tee: sgx}\n",
                      "line 2: pools[0]: an sgx pool needs epc_mib");
    expect_spec_error("pools:\n  - {name: a, count: 1, cpu_milli: 1, memory_mib: 1, tee: sev}\n",
                      "line 2: pools[0].tee: expected none, sgx, sev-snp or tdx");
    expect_spec_error("pools: [\n", "line ");
    expect_spec_error("poolz: []\n", "line 1: poolz: unknown field");
    expect_spec_error("pools:\n  - {name: a, count: 1, cpu_milli: 1, memory_mib: 1}\n"
                      "policies: [binpak]\n", "line 3: policies: unknown policy binpak");
    expect_spec_error("pools:\n  - {name: a, count: 1, cpu_milli: 1, memory_mib: 1}\n"
                      "workload:\n  kind: synthetic\n  confidential: 1.5\n",
                      "line 5: workload.confidential: out of range");
}

/* The segment-tree index must choose a node as good as a full scan. */
static void test_index_matches_scan(void **state)
{
    (void)state;
    sai_sched_pool_t p = { "p", 37, 16000, 65536, SAI_SCHED_TEE_SGX, 128, 8, 0, 0, 1, 1, 0 };
    sai_sched_node_t nodes[37];
    uint64_t r = 12345;
    for (int pick = SAI_PICK_FIRST; pick <= SAI_PICK_VAUCHER_WORST; pick++) {
        for (int i = 0; i < 37; i++)
            nodes[i] = (sai_sched_node_t){ 0, 16000, 65536, 128, 8, 0 };
        sai_pool_index_t x;
        assert_int_equal(sai_sched__pool_index_init(&x, nodes, 0, 37, &p, (sai_sched_pick_t)pick), 0);
        for (int step = 0; step < 3000; step++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t k = (uint32_t)((r >> 33) % 37);
            nodes[k].cpu_free = (int64_t)((r >> 7) % 16001);
            nodes[k].mem_free = (int64_t)((r >> 19) % 65537);
            nodes[k].epc_free = (int64_t)((r >> 29) % 129);
            nodes[k].cvm_free = (int32_t)((r >> 41) % 9);
            sai_sched__pool_index_update(&x, nodes, k);
            sai_sched_demand_t d = { (int64_t)((r >> 3) % 12000), (int64_t)((r >> 23) % 40000),
                                     (int64_t)((r >> 37) % 100), (int32_t)((r >> 50) % 2), true };
            int64_t a = sai_sched__pool_index_query(&x, nodes, &d), b = sai_sched__pool_index_scan(&x, nodes, &d);
            assert_int_equal(a < 0, b < 0);
            if (a >= 0) {
                assert_true(sai_sched_fits(&nodes[a], &d));
                if (pick == SAI_PICK_FIRST) {
                    assert_int_equal(a, b);
                } else {
                    /* same key (ties may go to a different node) */
                    sai_pool_index_t *xp = &x;
                    bool vau = pick == SAI_PICK_VAUCHER_BEST || pick == SAI_PICK_VAUCHER_WORST;
                    int64_t ka = pick == SAI_PICK_EPC_BEST ? nodes[a].epc_free * (xp->cpu_cap + 1) + nodes[a].cpu_free
                                 : vau ? nodes[a].epc_free * (xp->mem_cap + 1) + nodes[a].mem_free
                                 : nodes[a].cpu_free * xp->mem_cap + nodes[a].mem_free * xp->cpu_cap;
                    int64_t kb = pick == SAI_PICK_EPC_BEST ? nodes[b].epc_free * (xp->cpu_cap + 1) + nodes[b].cpu_free
                                 : vau ? nodes[b].epc_free * (xp->mem_cap + 1) + nodes[b].mem_free
                                 : nodes[b].cpu_free * xp->mem_cap + nodes[b].mem_free * xp->cpu_cap;
                    assert_true(ka == kb);
                }
            }
        }
        sai_sched__pool_index_free(&x);
    }
}

static void synth(sai_sched_workload_t *w, uint64_t seed, size_t n, double conf)
{
    sai_sched_synth_opts_t o;
    sai_error_t err = {0};
    sai_sched_synth_defaults(&o);
    o.seed = seed;
    o.njobs = n;
    o.rate = 0.05;
    o.conf_fraction = conf;
    o.cpu_max = 6000;
    o.mem_max = 12000;
    o.epc_max = 120;
    memset(w, 0, sizeof *w);
    assert_int_equal(sai_sched_synth_generate(&o, w, &err), 0);
    sai_sched_workload_sort(w);
}

static void run_policy(const sai_sched_spec_t *s, const sai_sched_workload_t *w, const char *pol,
                       bool check_all, sai_sched_metrics_t *m)
{
    sai_sched_opts_t o = {0};
    sai_error_t err = {0};
    o.policy = sai_sched_policy_find(pol);
    assert_non_null(o.policy);
    o.check_all = check_all;
    assert_int_equal(sai_sched_simulate(&s->cluster, w, &o, m, &err), 0);
}

static void test_deterministic_for_a_seed(void **state)
{
    (void)state;
    sai_sched_spec_t s;
    load_mixed(&s);
    sai_sched_workload_t w1, w2, w3;
    synth(&w1, 7, 2000, 0.3);
    synth(&w2, 7, 2000, 0.3);
    synth(&w3, 8, 2000, 0.3);
    sai_sched_metrics_t a, b, c;
    run_policy(&s, &w1, "binpack", false, &a);
    run_policy(&s, &w2, "binpack", false, &b);
    run_policy(&s, &w3, "binpack", false, &c);
    assert_true(a.wait_mean == b.wait_mean && a.makespan == b.makespan && a.events == b.events);
    assert_true(a.wait_p99 == b.wait_p99 && a.cost_used == b.cost_used);
    assert_true(a.makespan != c.makespan || a.wait_mean != c.wait_mean);
    sai_sched_metrics_free(&a); sai_sched_metrics_free(&b); sai_sched_metrics_free(&c);
    sai_sched_workload_free(&w1); sai_sched_workload_free(&w2); sai_sched_workload_free(&w3);
    sai_sched_spec_free(&s);
}

/* Every event sweeps every node: capacities hold under every policy; safe
 * policies never place a `required` job without a TEE; the unsafe baseline
 * does, and the counter sees it. */
static void test_invariants_and_violations(void **state)
{
    (void)state;
    sai_sched_spec_t s;
    load_mixed(&s);
    sai_sched_workload_t w;
    synth(&w, 3, 1500, 0.4);
    for (size_t i = 0; sai_sched_policies[i]; i++) {
        sai_sched_metrics_t m;
        run_policy(&s, &w, sai_sched_policies[i]->name, true, &m);
        assert_int_equal(m.invariant_failures, 0);
        assert_int_equal(m.completed + m.unschedulable, m.jobs);
        if (sai_sched_policies[i]->safe)
            assert_int_equal(m.violations, 0);
        else
            assert_true(m.violations > 0);
        sai_sched_metrics_free(&m);
    }
    sai_sched_workload_free(&w);
    sai_sched_spec_free(&s);
}

/* The violation counter is not decorative: a safe policy's rule removed
 * (the unsafe table with safe=true) would still be caught, because the
 * simulator checks the placement, not the policy's promise. */
static void test_violation_counter_checks_placement(void **state)
{
    (void)state;
    sai_sched_spec_t s;
    load_mixed(&s);
    sai_sched_workload_t w;
    synth(&w, 5, 500, 1.0);
    sai_sched_policy_t liar = *sai_sched_policy_find("unsafe");
    liar.safe = true;       /* claims safety, but ranks the standard pool first */
    const sai_sched_policy_t *u = sai_sched_policy_find("unsafe");
    sai_sched_opts_t o = {0};
    sai_sched_metrics_t m;
    sai_error_t err = {0};
    o.policy = u;
    assert_int_equal(sai_sched_simulate(&s.cluster, &w, &o, &m, &err), 0);
    assert_true(m.violations > 0);
    sai_sched_metrics_free(&m);
    o.policy = &liar;       /* eligibility (policy.c) still enforces the rule */
    assert_int_equal(sai_sched_simulate(&s.cluster, &w, &o, &m, &err), 0);
    assert_int_equal(m.violations, 0);
    sai_sched_metrics_free(&m);
    sai_sched_workload_free(&w);
    sai_sched_spec_free(&s);
}

static void test_runtime_model(void **state)
{
    (void)state;
    sai_sched_spec_t s;
    load_mixed(&s);
    const sai_sched_policy_t *pol = sai_sched_policy_find("binpack");
    sai_sched_job_t j = { 0, 0, 100.0, 1000, 1024, 64, SAI_CONF_REQUIRED, SAI_SCHED_TEE_ANY_CONF, 0 };
    sai_sched_demand_t d;
    sai_sched_node_t sgx = { 1, 8000, 16384, 93, 0, 0 };
    sai_sched_demand_on(&s.cluster, pol, 1, &j, &sgx, &d);
    assert_true(d.uses_tee);
    assert_int_equal(d.epc, 64);
    /* 100 s x 1.25 + 100 ms + 1.6 ms x 64 MiB */
    assert_true(fabs(sai_sched_runtime_on(&s.cluster, 1, &j, &d) - (125.0 + 0.1 + 0.1024)) < 1e-9);
    /* 200 MiB working set on 93 MiB EPC: 93 reserved, 107 paged */
    j.epc_mib = 200;
    sai_sched_demand_on(&s.cluster, pol, 1, &j, &sgx, &d);
    assert_int_equal(d.epc, 93);
    double want = 125.0 * (1 + 1.8 * 107.0 / 200.0) + 0.1 + 0.0016 * 93 + 0.0045 * 107;
    assert_true(fabs(sai_sched_runtime_on(&s.cluster, 1, &j, &d) - want) < 1e-9);
    /* SEV-SNP: 1.17x, kata overhead and one CVM slot */
    sai_sched_node_t snp = { 2, 32000, 131072, 0, 4, 0 };
    sai_sched_demand_on(&s.cluster, pol, 2, &j, &snp, &d);
    assert_int_equal(d.cpu, 2000);
    assert_int_equal(d.mem, 1024 + 2048);
    assert_int_equal(d.cvm, 1);
    assert_true(fabs(sai_sched_runtime_on(&s.cluster, 2, &j, &d) - 117.0) < 1e-9);
    /* a job without a confidentiality need runs at native speed anywhere */
    j.conf = SAI_CONF_NONE;
    sai_sched_demand_on(&s.cluster, pol, 2, &j, &snp, &d);
    assert_false(d.uses_tee);
    assert_true(fabs(sai_sched_runtime_on(&s.cluster, 2, &j, &d) - 100.0) < 1e-9);
    sai_sched_spec_free(&s);
}

/* security-first keeps non-confidential jobs off TEE nodes when standard
 * capacity exists; spread does not. */
static void test_security_first_keeps_tee_nodes_free(void **state)
{
    (void)state;
    sai_sched_spec_t s;
    load_mixed(&s);
    sai_sched_workload_t w;
    synth(&w, 11, 300, 0.0);
    for (size_t i = 0; i < w.njobs; i++)
        w.jobs[i].arrival *= 20;        /* light load: standard nodes always have room */
    sai_sched_metrics_t a, b;
    run_policy(&s, &w, "security-first", false, &a);
    run_policy(&s, &w, "spread", false, &b);
    assert_int_equal(a.pools[1].jobs + a.pools[2].jobs, 0);
    assert_true(b.pools[1].jobs + b.pools[2].jobs > 0);
    sai_sched_metrics_free(&a); sai_sched_metrics_free(&b);
    sai_sched_workload_free(&w);
    sai_sched_spec_free(&s);
}

static void test_alibaba_trace_slice(void **state)
{
    (void)state;
    sai_sched_trace_opts_t o;
    sai_sched_trace_defaults(&o);
    snprintf(o.path, sizeof o.path, "%s/traces/alibaba-openb-gpu-v2023/openb_pod_list_default.csv",
             SAI_TEST_DATA_DIR);
    o.skip = 27;
    o.limit = 400;
    o.compress = 10;
    o.conf_fraction = 0.5;
    o.seed = 9;
    sai_sched_workload_t w = {0}, w2 = {0};
    sai_error_t err = {0};
    int rc = sai_sched_trace_load(&o, &w, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(w.njobs, 400);
    assert_true(w.gpu_jobs > 0 && w.gpu_jobs <= w.njobs);
    assert_true(w.jobs[0].arrival == 0);
    size_t conf = 0;
    for (size_t i = 0; i < w.njobs; i++) {
        assert_true(w.jobs[i].runtime >= 1);
        assert_true(w.jobs[i].cpu_milli >= 1000);
        if (i) assert_true(w.jobs[i].arrival >= w.jobs[i - 1].arrival);
        conf += w.jobs[i].conf == SAI_CONF_REQUIRED;
    }
    assert_true(conf > 150 && conf < 250);      /* ~50% by the seeded rule */
    assert_int_equal(sai_sched_trace_load(&o, &w2, &err), 0);
    for (size_t i = 0; i < w.njobs; i++)
        assert_int_equal(w.jobs[i].conf, w2.jobs[i].conf);
    sai_sched_workload_free(&w2);
    o.seed = 10;     /* another seed picks other pods */
    assert_int_equal(sai_sched_trace_load(&o, &w2, &err), 0);
    size_t diff = 0;
    for (size_t i = 0; i < w.njobs; i++)
        diff += w.jobs[i].conf != w2.jobs[i].conf;
    assert_true(diff > 50);
    sai_sched_workload_free(&w);
    sai_sched_workload_free(&w2);
    /* GPU requests are counted, not dropped silently (284 of the example's
     * 300 pods ask for one); a trace without the GPU columns counts none */
    const char gpu[] = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time,scheduled_time\n"
                       "p0,1000,10,1,1000,0,5,1\np1,1000,10,0,0,1,5,1\np2,1000,10,0,250,2,5,2\n";
    sai_sched_trace_opts_t og = o;
    og.skip = 0;
    og.limit = 0;
    assert_int_equal(sai_sched_trace_parse(&og, gpu, strlen(gpu), &w, &err), 0);
    assert_int_equal(w.njobs, 3);
    assert_int_equal(w.gpu_jobs, 2);
    sai_sched_workload_free(&w);
    memset(&w, 0, sizeof w);
    /* malformed rows are errors naming the line */
    const char bad[] = "name,cpu_milli,memory_mib,creation_time,deletion_time,scheduled_time\n"
                       "p0,1000,10,0,5,1\np1,x,10,0,5,1\n";
    rc = sai_sched_trace_parse(&o, bad, strlen(bad), &w, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err.msg, "line 3"));
    sai_sched_workload_free(&w);
}

/* apimachinery's quantity grammar, exact: each case is what
 * resource.MustParse(s).MilliValue() (cpu) or the value in MiB rounded up
 * (memory, EPC) gives; malformed strings are refused. */
static int64_t q(const char *s, sai_k8s_unit_t u, bool up)
{
    int64_t v = -7;
    return sai_sched__quantity_parse(s, u, up, &v) == 0 ? v : -1;
}

static void test_k8s_quantities(void **state)
{
    (void)state;
    assert_int_equal(q("500m", SAI_K8S_MILLI, true), 500);
    assert_int_equal(q("2", SAI_K8S_MILLI, true), 2000);
    assert_int_equal(q("+2", SAI_K8S_MILLI, true), 2000);
    assert_int_equal(q("0.1", SAI_K8S_MILLI, true), 100);
    assert_int_equal(q(".5", SAI_K8S_MILLI, true), 500);
    assert_int_equal(q("5.", SAI_K8S_MILLI, true), 5000);
    assert_int_equal(q("1e3", SAI_K8S_MILLI, true), 1000000);
    assert_int_equal(q("1E3", SAI_K8S_MILLI, true), 1000000);
    assert_int_equal(q("1e-3", SAI_K8S_MILLI, true), 1);
    assert_int_equal(q("1n", SAI_K8S_MILLI, true), 1);          /* rounds up, as MilliValue */
    assert_int_equal(q("1n", SAI_K8S_MILLI, false), 0);
    assert_int_equal(q("100u", SAI_K8S_MILLI, true), 1);
    assert_int_equal(q("1k", SAI_K8S_MILLI, true), 1000000);
    assert_int_equal(q("64Mi", SAI_K8S_MIB, true), 64);
    assert_int_equal(q("1.5Gi", SAI_K8S_MIB, true), 1536);
    assert_int_equal(q("1G", SAI_K8S_MIB, true), 954);             /* 10^9 B = 953.67 MiB */
    assert_int_equal(q("1G", SAI_K8S_MIB, false), 953);
    assert_int_equal(q("1048577", SAI_K8S_MIB, true), 2);
    assert_int_equal(q("1Ei", SAI_K8S_MIB, true), INT64_C(1) << 40);
    assert_int_equal(q("1E", SAI_K8S_MIB, true), 953674316407LL);  /* 10^18 / 2^20 = ...406.25, up */
    assert_int_equal(q("0", SAI_K8S_MIB, true), 0);
    assert_int_equal(q("0.000Mi", SAI_K8S_MIB, true), 0);
    /* huge values saturate: never wrap, never become "no request" */
    assert_int_equal(q("9e29", SAI_K8S_MIB, true), SAI_K8S_QTY_MAX);
    assert_int_equal(q("99999999999999999999999999999999999999999999Ei", SAI_K8S_MIB, true), SAI_K8S_QTY_MAX);
    assert_int_equal(q("1e100000", SAI_K8S_MILLI, true), SAI_K8S_QTY_MAX);
    assert_int_equal(q("1e-100000", SAI_K8S_MILLI, true), 1);
    assert_int_equal(q("123456789012345678901234567890123456789012345678901234567890e-58", SAI_K8S_MILLI, true), 12346);
    /* not quantities */
    static const char *const bad[] = {
        "", " 4", "4 ", "0x10", "12Zi", "1e", "1E+", "1e3.5", "1.2.3", ".", "-1", "1Ki2", "1mi",
        "1KI", "1b", "e3", "+", "1 Mi", "1,5", "inf", "nan", "1e3Mi",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        if (sai_sched__quantity_parse(bad[i], SAI_K8S_MILLI, true, &v) == 0)
            fail_msg("accepted '%s'", bad[i]);
    }
}

static void test_extender_handler_malformed(void **state)
{
    (void)state;
    sai_extender_t *x = NULL;
    sai_error_t err = {0};
    assert_int_not_equal(sai_extender_new(&x, sai_sched_policy_find("unsafe"), &err), 0);
    assert_int_equal(sai_extender_new(&x, sai_sched_policy_find("security-first"), &err), 0);
    const char *bad[] = { "", "{", "[]", "null", "{\"Pod\":1}", "{\"Pod\":{},\"Nodes\":{\"items\":5}}",
                          "{\"Pod\":{\"spec\":{\"containers\":{}}},\"NodeNames\":[]}",
                          "{\"Pod\":{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"lots\"}}}]}},\"NodeNames\":[]}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        int code = sai_extender_handle(x, true, bad[i], strlen(bad[i]), &out);
        assert_int_equal(code, 200);
        assert_non_null(out);
        assert_null(strstr(out, "\"Error\":\"\""));     /* a non-empty Error */
        assert_non_null(strstr(out, "\"Error\":\""));
        free(out);
        code = sai_extender_handle(x, false, bad[i], strlen(bad[i]), &out);
        assert_int_equal(code, 400);
        free(out);
    }
    sai_extender_free(x);
}

/* Under overload: backfilling lowers the mean wait; the priority queue
 * serves high-priority jobs sooner than FCFS does. */
static void test_backfill_and_priority(void **state)
{
    (void)state;
    sai_sched_spec_t s;
    load_mixed(&s);
    sai_sched_workload_t w;
    synth(&w, 21, 1500, 0.3);
    for (size_t i = 0; i < w.njobs; i++)
        w.jobs[i].arrival /= 4;         /* overload: queues form */
    sai_sched_opts_t o = {0};
    sai_sched_metrics_t fcfs, bf;
    sai_error_t err = {0};
    o.policy = sai_sched_policy_find("binpack");
    assert_int_equal(sai_sched_simulate(&s.cluster, &w, &o, &fcfs, &err), 0);
    o.backfill = true;
    assert_int_equal(sai_sched_simulate(&s.cluster, &w, &o, &bf, &err), 0);
    assert_true(fcfs.wait_mean > 0);
    assert_true(bf.wait_mean < fcfs.wait_mean);
    assert_int_equal(bf.invariant_failures, 0);
    assert_int_equal(bf.violations, 0);
    sai_sched_metrics_free(&fcfs); sai_sched_metrics_free(&bf);
    /* priority: every fifth job has priority 10; their mean wait must drop
     * when the priority queue is on */
    sai_sched_metrics_t m_fcfs, m_prio;
    double *wf = calloc(w.njobs, sizeof *wf), *wp = calloc(w.njobs, sizeof *wp);
    assert_non_null(wf);
    assert_non_null(wp);
    for (size_t i = 0; i < w.njobs; i++)
        w.jobs[i].priority = (i % 5 == 0) ? 10 : 0;
    o.backfill = false;
    o.priority_queue = false;
    o.job_wait = wf;
    assert_int_equal(sai_sched_simulate(&s.cluster, &w, &o, &m_fcfs, &err), 0);
    o.priority_queue = true;
    o.job_wait = wp;
    assert_int_equal(sai_sched_simulate(&s.cluster, &w, &o, &m_prio, &err), 0);
    double hf = 0, hp = 0;
    size_t nh = 0;
    for (size_t i = 0; i < w.njobs; i += 5) {
        if (isnan(wf[i]) || isnan(wp[i])) continue;
        hf += wf[i]; hp += wp[i]; nh++;
    }
    assert_true(nh > 100);
    assert_true(hp < 0.5 * hf);
    free(wf);
    free(wp);
    sai_sched_metrics_free(&m_fcfs); sai_sched_metrics_free(&m_prio);
    sai_sched_workload_free(&w);
    sai_sched_spec_free(&s);
}

/* The indexed simulator equals the linear-scan reference run for run
 * (first fit has no ties, so the placements must be identical). */
static void test_index_equals_reference_run(void **state)
{
    (void)state;
    sai_sched_spec_t s;
    load_mixed(&s);
    sai_sched_workload_t w;
    synth(&w, 4, 1500, 0.3);
    for (size_t i = 0; i < w.njobs; i++)
        w.jobs[i].arrival /= 3;
    sai_sched_opts_t o = {0};
    sai_sched_metrics_t a, b;
    sai_error_t err = {0};
    o.policy = sai_sched_policy_find("first-fit");
    assert_int_equal(sai_sched_simulate(&s.cluster, &w, &o, &a, &err), 0);
    o.linear_scan = true;
    assert_int_equal(sai_sched_simulate(&s.cluster, &w, &o, &b, &err), 0);
    assert_true(a.wait_mean == b.wait_mean && a.makespan == b.makespan && a.wait_p99 == b.wait_p99);
    assert_true(a.wait_mean > 0);
    for (size_t p = 0; p < a.npools; p++)
        assert_int_equal(a.pools[p].jobs, b.pools[p].jobs);
    sai_sched_metrics_free(&a); sai_sched_metrics_free(&b);
    sai_sched_workload_free(&w);
    sai_sched_spec_free(&s);
}

/* The Vaucher et al. scenario (examples/scheduling/vaucher-icdcs18.yaml with
 * the trace from tests/data). */
static void load_vaucher(sai_sched_spec_t *s, size_t run, double share, int64_t epc)
{
    char yaml[2048];
    sai_error_t err = {0};
    snprintf(yaml, sizeof yaml,
             "pools:\n"
             "  - {name: standard, count: 2, cpu_milli: 8000, memory_mib: 65536, tee: none}\n"
             "  - {name: sgx, count: 2, cpu_milli: 8000, memory_mib: 8192, tee: sgx, epc_mib: %lld}\n"
             "tee: {sgx_factor: 1.0, sgx_paging_factor: 2.8}\n"
             "workload:\n"
             "  kind: alibaba\n"
             "  trace: %s/traces/alibaba-openb-gpu-v2023/openb_pod_list_default.csv\n"
             "  seed: %zu\n  skip: %zu\n  jobs: 300\n  compress: 30\n  demand_scale: 0.01\n"
             "  confidential: %g\n  allowed: [sgx]\n  epc_per_gib: 24\n  epc_max: 256\n"
             "  runtime_max: 1800\n",
             (long long)epc, SAI_TEST_DATA_DIR, 2018 + run, 27 + 230 * run, share);
    sai_sched_spec_init(s);
    int rc = sai_sched_spec_parse(s, yaml, strlen(yaml), NULL, &err);
    if (rc != 0) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void vaucher_run(size_t run, double share, int64_t epc, const char *pol, sai_sched_metrics_t *m)
{
    sai_sched_spec_t s;
    sai_sched_workload_t w = {0};
    sai_error_t err = {0};
    load_vaucher(&s, run, share, epc);
    assert_int_equal(sai_sched_trace_load(&s.trace, &w, &err), 0);
    assert_int_equal(w.njobs, 300);
    run_policy(&s, &w, pol, false, m);
    assert_int_equal(m->violations, 0);
    assert_int_equal(m->invariant_failures, 0);
    sai_sched_workload_free(&w);
    sai_sched_spec_free(&s);
}

/* Vaucher's binpack places standard jobs on SGX nodes last; kube-scheduler's
 * MostAllocated (`binpack`) prefers the small SGX nodes because they are
 * fuller in proportion. Then the robust trend of the EPC sweep (bench/
 * sched_vaucher.c runs 30 slices; here 3): makespan never grows with the
 * EPC, and 32 MiB takes several times as long as 256 MiB (30 runs:
 * 3.5..6.7x). */
static void test_vaucher_strategies(void **state)
{
    (void)state;
    sai_sched_metrics_t a, b;
    vaucher_run(0, 0.0, 93, "vaucher-binpack", &a);
    vaucher_run(0, 0.0, 93, "binpack", &b);
    assert_int_equal(a.pools[0].jobs, 300);     /* standard nodes never ran short here */
    assert_int_equal(a.pools[1].jobs, 0);
    assert_true(b.pools[1].jobs > 250);
    sai_sched_metrics_free(&a); sai_sched_metrics_free(&b);
    vaucher_run(0, 0.0, 93, "vaucher-spread", &a);
    assert_int_equal(a.pools[1].jobs, 0);
    sai_sched_metrics_free(&a);
    /* a standard job that fits no standard node now does go to an SGX node */
    sai_sched_pool_t pools[2] = {
        { "std", 1, 4000, 8192, SAI_SCHED_TEE_NONE, 0, 0, 0, 0, 1, 1, 0 },
        { "sgx", 1, 4000, 8192, SAI_SCHED_TEE_SGX, 93, 0, 0, 0, 1, 1, 0 },
    };
    sai_sched_cluster_t c = { pools, 2, {0, 1, 1, 1}, 2.8, 0, 0, 0 };
    sai_sched_job_t jobs[3] = {
        { 0, 0, 100, 3000, 1000, 0, SAI_CONF_NONE, 0, 0 },
        { 1, 1, 100, 3000, 1000, 0, SAI_CONF_NONE, 0, 0 },
        { 2, 2, 100, 500, 500, 0, SAI_CONF_NONE, 0, 0 },
    };
    sai_sched_workload_t w = { jobs, 3, 3, 0 };
    sai_sched_opts_t o = {0};
    sai_error_t err = {0};
    o.policy = sai_sched_policy_find("vaucher-binpack");
    assert_int_equal(sai_sched_simulate(&c, &w, &o, &a, &err), 0);
    assert_int_equal(a.pools[0].jobs, 2);       /* jobs 0 and 2 */
    assert_int_equal(a.pools[1].jobs, 1);       /* job 1: std was full */
    assert_true(a.wait_max == 0);
    sai_sched_metrics_free(&a);

    static const int64_t epc[4] = { 32, 64, 128, 256 };
    for (size_t run = 0; run < 30; run += 10) {
        double span[4];
        for (int e = 0; e < 4; e++) {
            vaucher_run(run, 1.0, epc[e], "vaucher-binpack", &a);
            span[e] = a.makespan;
            sai_sched_metrics_free(&a);
        }
        for (int e = 1; e < 4; e++)
            assert_true(span[e] <= span[e - 1]);
        assert_true(span[0] / span[3] > 3.0);
    }
}

/* NodeResourcesFit, hand-computed (int64 as in the plugin). Node: 4 CPU,
 * 8 GiB, 93 MiB EPC; its pods request 1 CPU, 2 GiB, 50 MiB EPC; the pod
 * requests 1 CPU, 1 GiB and (second half) 20 MiB EPC. */
static void test_fit_scores_by_hand(void **state)
{
    (void)state;
    const int64_t alloc[3] = { 4000, 8192, 93 };
    const int64_t req[3] = { 2000, 3072, 50 }, pod[3] = { 1000, 1024, 0 };
    const int64_t req_e[3] = { 2000, 3072, 70 }, pod_e[3] = { 1000, 1024, 20 };
    sai_sched_fit_t most = { SAI_FIT_MOST_ALLOCATED, 1, 1, 1, {{0, 0}}, 0 };
    sai_sched_fit_t least = { SAI_FIT_LEAST_ALLOCATED, 1, 1, 1, {{0, 0}}, 0 };
    sai_sched_fit_t rtcr = { SAI_FIT_REQUESTED_TO_CAPACITY_RATIO, 1, 1, 3, {{0, 0}, {100, 10}}, 2 };
    /* cpu 2000*100/4000 = 50, memory 3072*100/8192 = 37; EPC not requested:
     * skipped, so (50 + 37) / 2 = 43 */
    assert_int_equal(sai_sched_fit_score_raw(&most, req, alloc, pod), 43);
    /* + EPC 70*100/93 = 75: (50 + 37 + 75) / 3 = 54 */
    assert_int_equal(sai_sched_fit_score_raw(&most, req_e, alloc, pod_e), 54);
    /* least: cpu 2000*100/4000 = 50, memory 5120*100/8192 = 62: 112/2 = 56;
     * + EPC 23*100/93 = 24: 136/3 = 45 */
    assert_int_equal(sai_sched_fit_score_raw(&least, req, alloc, pod), 56);
    assert_int_equal(sai_sched_fit_score_raw(&least, req_e, alloc, pod_e), 45);
    /* RTCR {0:0, 100:10} -> scores x10: cpu 50, memory 37, EPC 75 (weight
     * 3): (50 + 37 + 225) / 5 = 62.4 -> 62; without EPC 87/2 = 43.5 -> 44
     * (rounded, where Most truncates to 43) */
    assert_int_equal(sai_sched_fit_score_raw(&rtcr, req_e, alloc, pod_e), 62);
    assert_int_equal(sai_sched_fit_score_raw(&rtcr, req, alloc, pod), 44);
    /* a resource scoring 0 leaves RTCR's mean: cpu util 10*100/4000 = 0 */
    const int64_t small[3] = { 10, 4096, 0 }, spod[3] = { 10, 4096, 0 };
    assert_int_equal(sai_sched_fit_score_raw(&rtcr, small, alloc, spod), 50);
    assert_int_equal(sai_sched_fit_score_raw(&most, small, alloc, spod), 25);  /* (0 + 50) / 2 */
    /* over capacity: Most caps at 100, Least gives 0; allocatable 0 skipped */
    const int64_t over[3] = { 5000, 8192, 0 }, zero[3] = { 0, 8192, 0 };
    assert_int_equal(sai_sched_fit_score_raw(&most, over, alloc, pod), 100);
    assert_int_equal(sai_sched_fit_score_raw(&least, over, alloc, pod), 0);
    assert_int_equal(sai_sched_fit_score_raw(&most, req, zero, pod), 37);
    /* a piecewise shape: {0:10, 50:2, 100:8}: util 37 -> 100 + (20-100)*37/50
     * = 100 - 59 = 41 (Go's truncating division of -2960/50 = -59) */
    sai_sched_fit_t shape = { SAI_FIT_REQUESTED_TO_CAPACITY_RATIO, 0, 1, 0, {{0, 10}, {50, 2}, {100, 8}}, 3 };
    assert_int_equal(sai_sched_fit_score_raw(&shape, req, alloc, pod), 41);
}

/* Identical nodes under different load do not tie: binpack (MostAllocated)
 * joins the loaded node, spread (LeastAllocated) the empty one; and the
 * index finds the same node as a scan, ties to the lowest number. */
static void test_fit_load_aware_and_index(void **state)
{
    (void)state;
    sai_sched_pool_t pools[1] = { { "p", 3, 4000, 8192, SAI_SCHED_TEE_NONE, 0, 0, 0, 0, 1, 1, 0 } };
    sai_sched_cluster_t c = { pools, 1, {0, 1, 1, 1}, 2.8, 0, 0, 0 };
    sai_sched_job_t jobs[3] = {
        { 0, 0, 1000, 1000, 1024, 0, SAI_CONF_NONE, 0, 0 },
        { 1, 1, 1000, 1000, 1024, 0, SAI_CONF_NONE, 0, 0 },
        { 2, 2, 1000, 1000, 1024, 0, SAI_CONF_NONE, 0, 0 },
    };
    sai_sched_workload_t w = { jobs, 3, 3, 0 };
    sai_sched_opts_t o = {0};
    sai_sched_metrics_t m;
    sai_error_t err = {0};
    double wait[3];
    o.job_wait = wait;
    o.check_all = true;
    o.csv = NULL;
    /* binpack: all three on node 0 (one node, so pool jobs = 3 says little:
     * check through the node index directly below) */
    o.policy = sai_sched_policy_find("binpack");
    assert_int_equal(sai_sched_simulate(&c, &w, &o, &m, &err), 0);
    assert_int_equal(m.completed, 3);
    sai_sched_metrics_free(&m);

    sai_sched_node_t nodes[3] = { { 0, 4000, 8192, 0, 0, 0 }, { 0, 3000, 7168, 0, 0, 1 },
                                  { 0, 4000, 8192, 0, 0, 0 } };
    sai_sched_demand_t d = { 1000, 1024, 0, 0, false };
    const sai_sched_policy_t *bp = sai_sched_policy_find("binpack"), *sp = sai_sched_policy_find("spread");
    sai_pool_index_t x;
    int64_t sc;
    assert_int_equal(sai_sched__pool_index_init(&x, nodes, 0, 3, &pools[0], SAI_PICK_FIT), 0);
    assert_int_equal(sai_sched__pool_index_query_fit(&x, nodes, &d, bp->fit, &c, &sc), 1);
    assert_int_equal(sc, (2000 * 100 / 4000 + 2048 * 100 / 8192) / 2);    /* 37 */
    assert_int_equal(sai_sched__pool_index_query_fit(&x, nodes, &d, sp->fit, &c, &sc), 0);  /* tie 0/2 */
    assert_int_equal(sc, (75 + 87) / 2);                                   /* 81 */
    sai_sched__pool_index_free(&x);

    /* random loads: index == scan, node and score */
    sai_sched_pool_t big = { "b", 53, 16000, 65536, SAI_SCHED_TEE_SGX, 128, 8, 0, 0, 1, 1, 0 };
    sai_sched_cluster_t cb = { &big, 1, {0, 1, 1, 1}, 2.8, 0, 0, 0 };
    sai_sched_node_t nb[53];
    uint64_t r = 99;
    const char *fits[3] = { "binpack", "spread", "rtcr" };
    for (int fi = 0; fi < 3; fi++) {
        const sai_sched_fit_t *f = sai_sched_policy_find(fits[fi])->fit;
        for (int i = 0; i < 53; i++)
            nb[i] = (sai_sched_node_t){ 0, 16000, 65536, 128, 8, 0 };
        assert_int_equal(sai_sched__pool_index_init(&x, nb, 0, 53, &big, SAI_PICK_FIT), 0);
        for (int step = 0; step < 2000; step++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t k = (uint32_t)((r >> 33) % 53);
            /* coarse values so that equal scores (ties) are common */
            nb[k].cpu_free = (int64_t)((r >> 7) % 5) * 4000;
            nb[k].mem_free = (int64_t)((r >> 19) % 5) * 16384;
            nb[k].epc_free = (int64_t)((r >> 29) % 5) * 32;
            nb[k].cvm_free = 8;
            sai_sched__pool_index_update(&x, nb, k);
            sai_sched_demand_t dd = { (int64_t)((r >> 3) % 8000), (int64_t)((r >> 23) % 30000),
                                      (int64_t)((r >> 37) % 60), 0, true };
            int64_t sa, sb;
            int64_t a = sai_sched__pool_index_query_fit(&x, nb, &dd, f, &cb, &sa);
            int64_t b = sai_sched__pool_index_scan_fit(&x, nb, &dd, f, &cb, &sb);
            assert_int_equal(a, b);
            if (a >= 0)
                assert_int_equal(sa, sb);
        }
        sai_sched__pool_index_free(&x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_order_and_fifo_ties),
        cmocka_unit_test(test_spec_parses_pools),
        cmocka_unit_test(test_spec_errors_name_line_and_field),
        cmocka_unit_test(test_index_matches_scan),
        cmocka_unit_test(test_index_equals_reference_run),
        cmocka_unit_test(test_deterministic_for_a_seed),
        cmocka_unit_test(test_invariants_and_violations),
        cmocka_unit_test(test_violation_counter_checks_placement),
        cmocka_unit_test(test_runtime_model),
        cmocka_unit_test(test_security_first_keeps_tee_nodes_free),
        cmocka_unit_test(test_backfill_and_priority),
        cmocka_unit_test(test_alibaba_trace_slice),
        cmocka_unit_test(test_vaucher_strategies),
        cmocka_unit_test(test_fit_scores_by_hand),
        cmocka_unit_test(test_fit_load_aware_and_index),
        cmocka_unit_test(test_k8s_quantities),
        cmocka_unit_test(test_extender_handler_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
