/*
 * cmd_sched.c — `secureai sched`: simulate, compare, extender.
 *
 * simulate/compare load a cluster or scenario YAML, build the workload (the
 * Alibaba trace or the synthetic generator; command-line flags override the
 * scenario), and run the simulator (src/sched/sim.c). extender serves a
 * policy to kube-scheduler (src/sched/extender.c).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "secureai/sched.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai sched simulate --cluster FILE [options]\n"
    "       secureai sched compare  --cluster FILE [--policies A,B,...] [--svg FILE] [options]\n"
    "       secureai sched extender --listen ADDR:PORT --policy NAME [--nodes FILE]\n"
    "                               [--kube-api in-cluster|URL [--kube-token FILE] [--kube-ca FILE]\n"
    "                                [--node-refresh SECONDS]]\n"
    "       secureai sched policies\n"
    "\n"
    "Simulate scheduling of confidential and standard jobs on a mixed cluster\n"
    "(standard, SGX, SEV-SNP, TDX nodes), or serve a policy to kube-scheduler.\n"
    "\n"
    "options (simulate, compare; they override the scenario file):\n"
    "  --cluster FILE        cluster or scenario YAML (docs/scheduling.md)\n"
    "  --policy NAME         policy for simulate (default: the scenario's first, or binpack)\n"
    "  --policies A,B        policies for compare (default: the scenario's, or all)\n"
    "  --workload KIND       synthetic | alibaba\n"
    "  --trace FILE          Alibaba openb_pod_list_*.csv\n"
    "  --jobs N              number of jobs (synthetic) or trace rows kept (0 = all)\n"
    "  --skip N              trace rows skipped first\n"
    "  --compress X          divide trace arrival times by X\n"
    "  --demand-scale X      multiply trace CPU and memory by X\n"
    "  --rate R              synthetic arrivals per second\n"
    "  --confidential F[:K]  share F of jobs `required`, allowed TEE kinds K (e.g. 0.5:sgx)\n"
    "  --preferred F         share F of jobs `preferred`\n"
    "  --seed N              seed of the generator and of the confidentiality rule\n"
    "  --epc MIB             set the usable EPC of every SGX pool\n"
    "  --queue fcfs|priority queue discipline (default fcfs)\n"
    "  --backfill            let jobs behind a blocked head start if they fit\n"
    "  --check-all           sweep every node's invariants after every event (slow)\n"
    "  --json FILE           metrics as JSON ('-' = stdout)\n"
    "  --csv FILE            time series (simulate)\n"
    "  --sample S            seconds between time-series rows (default 60)\n"
    "  --svg FILE            chart comparing policies (compare)\n"
    "\n"
    "extender options:\n"
    "  --listen ADDR:PORT    address to serve on (port 0 = any free port)\n"
    "  --policy NAME         placement policy (not `unsafe`)\n"
    "  --nodes FILE          preload the node cache from a NodeList JSON\n"
    "                        (kubectl get nodes -o json) for nodeCacheCapable\n"
    "  --kube-api API        keep the node cache fed from the API server: in-cluster\n"
    "                        (https://kubernetes.default.svc with the ServiceAccount's\n"
    "                        token and CA), https://HOST[:PORT], or http://127.0.0.1:PORT\n"
    "                        (loopback only: a test server or kubectl proxy)\n"
    "  --kube-token FILE     bearer token, re-read before every list\n"
    "  --kube-ca FILE        CA that the API server's certificate must chain to\n"
    "  --node-refresh S      seconds between node lists (default 30)\n"
"  --dry-run             check the options and stop (serve nothing)\n";

typedef struct run_opts {
    sai_sched_spec_t spec;
    const char *policy, *policies, *json, *csv, *svg, *listen, *nodes;
    const char *kube_api, *kube_token, *kube_ca;
    double sample, node_refresh;
    bool check_all, dry_run;
    long long epc;
} run_opts_t;

enum { O_CLUSTER = 256, O_POLICY, O_POLICIES, O_WORKLOAD, O_TRACE, O_JOBS, O_SKIP, O_COMPRESS,
       O_DSCALE, O_RATE, O_CONF, O_PREF, O_SEED, O_EPC, O_QUEUE, O_BACKFILL, O_CHECK, O_JSON,
       O_CSV, O_SAMPLE, O_SVG, O_LISTEN, O_NODES, O_HELP, O_DRYRUN, O_KUBE_API, O_KUBE_TOKEN,
       O_KUBE_CA, O_NODE_REFRESH };

static const struct option longopts[] = {
    {"cluster", 1, 0, O_CLUSTER}, {"policy", 1, 0, O_POLICY}, {"policies", 1, 0, O_POLICIES},
    {"workload", 1, 0, O_WORKLOAD}, {"trace", 1, 0, O_TRACE}, {"jobs", 1, 0, O_JOBS},
    {"skip", 1, 0, O_SKIP}, {"compress", 1, 0, O_COMPRESS}, {"demand-scale", 1, 0, O_DSCALE},
    {"rate", 1, 0, O_RATE}, {"confidential", 1, 0, O_CONF}, {"preferred", 1, 0, O_PREF},
    {"seed", 1, 0, O_SEED}, {"epc", 1, 0, O_EPC}, {"queue", 1, 0, O_QUEUE},
    {"backfill", 0, 0, O_BACKFILL}, {"check-all", 0, 0, O_CHECK}, {"json", 1, 0, O_JSON},
    {"csv", 1, 0, O_CSV}, {"sample", 1, 0, O_SAMPLE}, {"svg", 1, 0, O_SVG},
    {"listen", 1, 0, O_LISTEN}, {"nodes", 1, 0, O_NODES}, {"help", 0, 0, O_HELP},
    {"dry-run", 0, 0, O_DRYRUN}, {"kube-api", 1, 0, O_KUBE_API}, {"kube-token", 1, 0, O_KUBE_TOKEN},
    {"kube-ca", 1, 0, O_KUBE_CA}, {"node-refresh", 1, 0, O_NODE_REFRESH}, {0, 0, 0, 0}
};

static bool num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

/* Two passes: the cluster file first, then every override on top. */
static int parse(int argc, char **argv, run_opts_t *r)
{
    sai_error_t err = {0};
    const char *cluster = NULL;
    for (int i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "--cluster"))
            cluster = argv[i + 1];
        else if (!strncmp(argv[i], "--cluster=", 10))
            cluster = argv[i] + 10;
    if (!strcmp(argv[argc - 1], "--cluster"))
        return sai_cli_usage_error("--cluster needs a file");
    if (cluster == NULL && strcmp(argv[0], "extender") != 0)
        return sai_cli_usage_error("sched %s: --cluster FILE is required", argv[0]);
    if (cluster != NULL && sai_sched_spec_load(&r->spec, cluster, &err) != 0)
        return sai_cli_fail(&err, "sched %s: cluster", argv[0]);
    optind = 1;
    opterr = 0;
    int c;
    double d;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_CLUSTER: break;
        case O_POLICY: r->policy = optarg; break;
        case O_POLICIES: r->policies = optarg; break;
        case O_WORKLOAD:
            if (!strcmp(optarg, "synthetic")) r->spec.wl_kind = SAI_WL_SYNTHETIC;
            else if (!strcmp(optarg, "alibaba")) r->spec.wl_kind = SAI_WL_ALIBABA;
            else return sai_cli_usage_error("--workload: expected synthetic or alibaba");
            break;
        case O_TRACE:
            snprintf(r->spec.trace.path, sizeof r->spec.trace.path, "%s", optarg);
            if (r->spec.wl_kind == SAI_WL_NONE) r->spec.wl_kind = SAI_WL_ALIBABA;
            break;
        case O_JOBS:
            if (!num(optarg, 0, 1e8, &d)) return sai_cli_usage_error("--jobs: expected 0..1e8");
            r->spec.synth.njobs = r->spec.trace.limit = (size_t)d; break;
        case O_SKIP:
            if (!num(optarg, 0, 1e8, &d)) return sai_cli_usage_error("--skip: expected 0..1e8");
            r->spec.trace.skip = (size_t)d; break;
        case O_COMPRESS:
            if (!num(optarg, 1e-6, 1e9, &d)) return sai_cli_usage_error("--compress: expected > 0");
            r->spec.trace.compress = d; break;
        case O_DSCALE:
            if (!num(optarg, 1e-6, 1e6, &d)) return sai_cli_usage_error("--demand-scale: expected > 0");
            r->spec.trace.demand_scale = d; break;
        case O_RATE:
            if (!num(optarg, 1e-9, 1e9, &d)) return sai_cli_usage_error("--rate: expected > 0");
            r->spec.synth.rate = d; break;
        case O_CONF: {
            char buf[128];
            snprintf(buf, sizeof buf, "%s", optarg);
            char *colon = strchr(buf, ':');
            if (colon) {
                *colon = '\0';
                uint8_t m = sai_sched_tee_mask_parse(colon + 1);
                if (!m) return sai_cli_usage_error("--confidential: unknown TEE kinds '%s'", colon + 1);
                r->spec.synth.allowed = r->spec.trace.allowed = m;
            }
            if (!num(buf, 0, 1, &d)) return sai_cli_usage_error("--confidential: expected a share 0..1");
            r->spec.synth.conf_fraction = r->spec.trace.conf_fraction = d;
            break;
        }
        case O_PREF:
            if (!num(optarg, 0, 1, &d)) return sai_cli_usage_error("--preferred: expected a share 0..1");
            r->spec.synth.pref_fraction = r->spec.trace.pref_fraction = d; break;
        case O_SEED:
            if (!num(optarg, 0, 9e15, &d)) return sai_cli_usage_error("--seed: expected an integer");
            r->spec.synth.seed = r->spec.trace.seed = (uint64_t)d; break;
        case O_EPC:
            if (!num(optarg, 1, 1 << 20, &d)) return sai_cli_usage_error("--epc: expected MiB > 0");
            r->epc = (long long)d; break;
        case O_QUEUE:
            if (!strcmp(optarg, "fcfs")) r->spec.priority_queue = false;
            else if (!strcmp(optarg, "priority")) r->spec.priority_queue = true;
            else return sai_cli_usage_error("--queue: expected fcfs or priority");
            break;
        case O_BACKFILL: r->spec.backfill = true; break;
        case O_CHECK: r->check_all = true; break;
        case O_JSON: r->json = optarg; break;
        case O_CSV: r->csv = optarg; break;
        case O_SAMPLE:
            if (!num(optarg, 1e-6, 1e12, &d)) return sai_cli_usage_error("--sample: expected > 0");
            r->sample = d; break;
        case O_SVG: r->svg = optarg; break;
        case O_LISTEN: r->listen = optarg; break;
        case O_NODES: r->nodes = optarg; break;
        case O_DRYRUN: r->dry_run = true; break;
        case O_KUBE_API: r->kube_api = optarg; break;
        case O_KUBE_TOKEN: r->kube_token = optarg; break;
        case O_KUBE_CA: r->kube_ca = optarg; break;
        case O_NODE_REFRESH:
            if (!num(optarg, 1, 86400, &d)) return sai_cli_usage_error("--node-refresh: expected 1..86400 seconds");
            r->node_refresh = d; break;
        default:
            return sai_cli_usage_error("sched %s: unknown or incomplete option '%s'", argv[0],
                                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sai_cli_usage_error("sched %s: unexpected argument '%s'", argv[0], argv[optind]);
    if (r->epc > 0)
        for (size_t p = 0; p < r->spec.cluster.npools; p++)
            if (r->spec.cluster.pools[p].tee == SAI_SCHED_TEE_SGX)
                r->spec.cluster.pools[p].epc_mib = r->epc;
    return 0;
}

static int load_workload(run_opts_t *r, sai_sched_workload_t *w, const char *cmd)
{
    sai_error_t err = {0};
    int rc;
    if (r->spec.wl_kind == SAI_WL_ALIBABA) {
        if (r->spec.trace.path[0] == '\0')
            return sai_cli_usage_error("sched %s: the alibaba workload needs --trace FILE", cmd);
        rc = sai_sched_trace_load(&r->spec.trace, w, &err);
    } else {
        rc = sai_sched_synth_generate(&r->spec.synth, w, &err);
    }
    if (rc != 0)
        return sai_cli_fail(&err, "sched %s: workload", cmd);
    if (w->gpu_jobs > 0)
        fprintf(stderr, "sched %s: %zu of %zu trace pods requested GPUs; GPUs are not modelled, "
                "so they run as CPU-only jobs (their GPU requests are ignored, not honoured)\n",
                cmd, w->gpu_jobs, w->njobs);
    sai_sched_workload_sort(w);
    return 0;
}

static FILE *open_out(const char *path, const char *what)
{
    if (!strcmp(path, "-"))
        return stdout;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "secureai: sched: %s %s: cannot open for writing\n", what, path);
    return f;
}

static int close_out(FILE *f, const char *path)
{
    if (f == NULL || f == stdout)
        return f == stdout ? fflush(f) : 0;
    return fclose(f);
}

static int run_one(run_opts_t *r, const sai_sched_workload_t *w, const sai_sched_policy_t *pol,
                   FILE *csv, sai_sched_metrics_t *m)
{
    sai_error_t err = {0};
    sai_sched_opts_t o = {0};
    o.policy = pol;
    o.priority_queue = r->spec.priority_queue;
    o.backfill = r->spec.backfill;
    o.check_all = r->check_all;
    o.csv = csv;
    o.sample_every = r->sample;
    if (sai_sched_simulate(&r->spec.cluster, w, &o, m, &err) != 0)
        return sai_cli_fail(&err, "sched: simulate %s", pol->name);
    return 0;
}

static int cmd_simulate(int argc, char **argv)
{
    run_opts_t r = {0};
    sai_sched_workload_t w = {0};
    sai_sched_metrics_t m = {0};
    FILE *csv = NULL, *js = NULL;
    int ret;
    sai_sched_spec_init(&r.spec);
    if ((ret = parse(argc, argv, &r)) != 0)
        goto out;
    const char *pname = r.policy ? r.policy : (r.spec.npolicies ? r.spec.policies[0] : "binpack");
    const sai_sched_policy_t *pol = sai_sched_policy_find(pname);
    if (pol == NULL) { ret = sai_cli_usage_error("sched simulate: unknown policy '%s'", pname); goto out; }
    if ((ret = load_workload(&r, &w, "simulate")) != 0)
        goto out;
    if (r.csv && (csv = open_out(r.csv, "csv")) == NULL) { ret = 1; goto out; }
    if ((ret = run_one(&r, &w, pol, csv, &m)) != 0)
        goto out;
    if ((js = open_out(r.json ? r.json : "-", "json")) == NULL) { ret = 1; goto out; }
    sai_sched_metrics_json(js, &r.spec.cluster, &m);
    ret = close_out(js, r.json) != 0 ? 1 : 0;
    js = NULL;
    if (m.invariant_failures > 0) {
        fprintf(stderr, "secureai: sched simulate: %llu capacity invariant failures\n",
                (unsigned long long)m.invariant_failures);
        ret = 1;
    }
out:
    if (csv) close_out(csv, r.csv);
    sai_sched_metrics_free(&m);
    sai_sched_workload_free(&w);
    sai_sched_spec_free(&r.spec);
    return ret;
}

static int cmd_compare(int argc, char **argv)
{
    run_opts_t r = {0};
    sai_sched_workload_t w = {0};
    sai_sched_metrics_t ms[16];
    const sai_sched_policy_t *pols[16];
    size_t n = 0, done = 0;
    int ret;
    memset(ms, 0, sizeof ms);
    sai_sched_spec_init(&r.spec);
    if ((ret = parse(argc, argv, &r)) != 0)
        goto out;
    if (r.policies) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", r.policies);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (n == 16) { ret = sai_cli_usage_error("sched compare: at most 16 policies"); goto out; }
            if (!(pols[n++] = sai_sched_policy_find(t))) {
                ret = sai_cli_usage_error("sched compare: unknown policy '%s'", t);
                goto out;
            }
        }
    } else if (r.spec.npolicies) {
        for (size_t i = 0; i < r.spec.npolicies; i++)
            pols[n++] = sai_sched_policy_find(r.spec.policies[i]);
    } else {
        for (size_t i = 0; sai_sched_policies[i] && n < 16; i++)
            pols[n++] = sai_sched_policies[i];
    }
    if ((ret = load_workload(&r, &w, "compare")) != 0)
        goto out;
    for (size_t i = 0; i < n; i++, done++)
        if ((ret = run_one(&r, &w, pols[i], NULL, &ms[i])) != 0)
            goto out;
    sai_sched_compare_table(stdout, ms, n);
    if (r.json) {
        FILE *f = open_out(r.json, "json");
        if (!f) { ret = 1; goto out; }
        fputs("[\n", f);
        for (size_t i = 0; i < n; i++) {
            sai_sched_metrics_json(f, &r.spec.cluster, &ms[i]);
            if (i + 1 < n) fputs(",\n", f);
        }
        fputs("]\n", f);
        if (close_out(f, r.json) != 0) { ret = 1; goto out; }
    }
    if (r.svg) {
        FILE *f = open_out(r.svg, "svg");
        if (!f) { ret = 1; goto out; }
        char title[256];
        snprintf(title, sizeof title, "waiting time by policy (%zu jobs, %llu nodes)", w.njobs,
                 (unsigned long long)sai_sched_cluster_nodes(&r.spec.cluster));
        sai_sched_compare_svg(f, ms, n, title);
        if (close_out(f, r.svg) != 0) { ret = 1; goto out; }
    }
    for (size_t i = 0; i < n; i++)
        if (ms[i].invariant_failures > 0) {
            fprintf(stderr, "secureai: sched compare: %s: capacity invariant failures\n", ms[i].policy);
            ret = 1;
        }
out:
    for (size_t i = 0; i < done; i++)
        sai_sched_metrics_free(&ms[i]);
    sai_sched_workload_free(&w);
    sai_sched_spec_free(&r.spec);
    return ret;
}

static sai_extender_t *g_ext;

static void on_ready(uint16_t port, void *arg)
{
    (void)arg;
    printf("listening on port %u\n", port);
    fflush(stdout);
}

/* The node lister's progress and errors, one timestamped line each (its
 * thread; stderr is unbuffered and a line is one write). */
static void kube_log(const char *msg, void *arg)
{
    (void)arg;
    char ts[32] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s secureai: sched extender: %s\n", ts, msg);
}

static int cmd_extender(int argc, char **argv)
{
    run_opts_t r = {0};
    sai_error_t err = {0};
    int ret;
    sai_sched_spec_init(&r.spec);
    if ((ret = parse(argc, argv, &r)) != 0)
        goto out;
    if (!r.listen) { ret = sai_cli_usage_error("sched extender: --listen ADDR:PORT is required"); goto out; }
    const char *pname = r.policy ? r.policy : "security-first";
    const sai_sched_policy_t *pol = sai_sched_policy_find(pname);
    if (!pol) { ret = sai_cli_usage_error("sched extender: unknown policy '%s'", pname); goto out; }
    if (!pol->safe) { ret = sai_cli_usage_error("sched extender: policy '%s' is a baseline that ignores confidentiality; refusing to serve it", pname); goto out; }
    char addr[256];
    snprintf(addr, sizeof addr, "%s", r.listen);
    char *colon = strrchr(addr, ':');
    double port;
    if (!colon || !num(colon + 1, 0, 65535, &port)) {
        ret = sai_cli_usage_error("sched extender: --listen expects ADDR:PORT");
        goto out;
    }
    *colon = '\0';
    sai_extender_kube_opts_t ko = {.api = r.kube_api, .token_file = r.kube_token, .ca_file = r.kube_ca,
                                   .refresh_s = r.node_refresh, .log = kube_log};
    if (!r.kube_api && (r.kube_token || r.kube_ca || r.node_refresh > 0)) {
        ret = sai_cli_usage_error("sched extender: --kube-token, --kube-ca and --node-refresh need --kube-api");
        goto out;
    }
    if (r.kube_api && sai_extender_kube_check(&ko, &err) != 0) {
        ret = sai_cli_usage_error("sched extender: %s", err.msg);
        goto out;
    }
    if (r.dry_run) {
        printf("sched extender: options ok (listen %s:%.0f, policy %s%s%s)\n", addr, port, pname,
               r.kube_api ? ", nodes from " : "", r.kube_api ? r.kube_api : "");
        ret = 0;
        goto out;
    }
    if (sai_extender_new(&g_ext, pol, &err) != 0) { ret = sai_cli_fail(&err, "sched extender"); goto out; }
    if (r.nodes) {
        uint8_t *buf = NULL;
        size_t len = 0, n = 0;
        if (sai_read_file(r.nodes, 256u << 20, &buf, &len, &err) != 0 ||
            sai_extender_load_nodes(g_ext, (const char *)buf, len, &n, &err) != 0) {
            free(buf);
            sai_extender_free(g_ext);
            g_ext = NULL;
            ret = sai_cli_fail(&err, "sched extender: --nodes %s", r.nodes);
            goto out;
        }
        free(buf);
        fprintf(stderr, "secureai: sched extender: %zu nodes cached from %s\n", n, r.nodes);
    }
    signal(SIGPIPE, SIG_IGN);
    if (r.kube_api && sai_extender_watch_nodes(g_ext, &ko, &err) != 0) {
        sai_extender_free(g_ext);
        g_ext = NULL;
        ret = sai_cli_fail(&err, "sched extender: --kube-api %s", r.kube_api);
        goto out;
    }
    if (sai_extender_serve(g_ext, addr, (uint16_t)port, on_ready, NULL, &err) != 0)
        ret = sai_cli_fail(&err, "sched extender: %s", r.listen);
    sai_extender_free(g_ext);
    g_ext = NULL;
out:
    sai_sched_spec_free(&r.spec);
    return ret;
}

static int run(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (sai_cli_wants_help(argc - 1, argv + 1)) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "simulate")) return cmd_simulate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "compare")) return cmd_compare(argc - 1, argv + 1);
    if (!strcmp(argv[1], "extender")) return cmd_extender(argc - 1, argv + 1);
    if (!strcmp(argv[1], "policies")) {
        for (size_t i = 0; sai_sched_policies[i]; i++)
            printf("%-17s %s\n", sai_sched_policies[i]->name, sai_sched_policies[i]->summary);
        return 0;
    }
    return sai_cli_usage_error("sched: unknown sub-command '%s'", argv[1]);
}

const sai_cmd_t sai_cmd_sched = {
    "sched", "simulate scheduling policies; serve one to kube-scheduler", usage, run
};
