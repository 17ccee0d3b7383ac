/*
 * cmd_deploy.c — `secureai deploy k8s --out DIR`: write Kubernetes
 * manifests (src/sched/k8s.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/sched.h"

static const char usage[] =
    "usage: secureai deploy k8s --out DIR [options]\n"
    "\n"
    "Write Kubernetes manifests that `kubectl apply -f DIR/` accepts: namespace,\n"
    "key broker (Deployment, Service, PVC; Secrets referenced by name only), an\n"
    "admission policy (a pod labelled secureai.io/confidentiality=required must\n"
    "use a confidential RuntimeClass or an SGX enclave), the scheduler extender,\n"
    "a second scheduler `secureai-scheduler` (ServiceAccount, RBAC, ConfigMap\n"
    "with its KubeSchedulerConfiguration, Deployment with leader election), the\n"
    "pipeline specs, and per TEE kind a training Job (SGX via Intel's device\n"
    "plugin, SEV-SNP and TDX via the CoCo RuntimeClasses; NFD node selectors):\n"
    "an Indexed Job whose workers form the encrypted TCP ring through a\n"
    "headless Service, and with more than one worker also a Kubeflow MPIJob\n"
    "(kubeflow.org/v2beta1) whose launcher runs `mpirun secureai run`.\n"
    "Prerequisites the cluster installs itself: the CoCo operator, Intel's SGX\n"
    "device plugin and webhook, node-feature-discovery, and for the MPIJob the\n"
    "MPI Operator (docs/scheduling.md).\n"
    "\n"
    "options:\n"
    "  --out DIR          output directory (created if missing)\n"
    "  --namespace NS     default secureai\n"
    "  --image IMAGE      container image (default ghcr.io/secureai/secureai:0.1.0)\n"
    "  --scheduler-image IMAGE  kube-scheduler image, the cluster's version\n"
    "                     (default registry.k8s.io/kube-scheduler:v1.30.6)\n"
    "  --kbs-pin sha256:HEX  the KBS certificate pin for the pipeline specs\n"
    "                     (`secureai kbs info`; default all zero: fails closed)\n"
    "  --policy NAME      extender policy (default security-first)\n"
    "  --extender-url URL default http://secureai-extender.<ns>.svc:8888\n"
    "  --workers N        workers per training Job and MPIJob (default 2; 1\n"
    "                     writes no ring and no MPIJob)\n"
    "  --epc MIB          EPC limit of an SGX worker (default 64)\n";

static int run(int argc, char **argv)
{
    if (argc < 2 || sai_cli_wants_help(argc, argv)) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "k8s") != 0)
        return sai_cli_usage_error("deploy: unknown target '%s' (only k8s)", argv[1]);
    static const struct option lo[] = {
        {"out", 1, 0, 'o'}, {"namespace", 1, 0, 'n'}, {"image", 1, 0, 'i'}, {"policy", 1, 0, 'p'},
        {"extender-url", 1, 0, 'u'}, {"workers", 1, 0, 'w'}, {"epc", 1, 0, 'e'},
        {"scheduler-image", 1, 0, 's'}, {"kbs-pin", 1, 0, 'k'}, {0, 0, 0, 0}
    };
    sai_k8s_opts_t o;
    sai_k8s_defaults(&o);
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    argc--; argv++;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        long long v;
        switch (c) {
        case 'o': out = optarg; break;
        case 'n': o.ns = optarg; break;
        case 'i': o.image = optarg; break;
        case 'p': o.policy = optarg; break;
        case 'u': o.extender_url = optarg; break;
        case 's': o.scheduler_image = optarg; break;
        case 'k': o.kbs_pin = optarg; break;
        case 'w':
            if ((v = sai_cli_parse_size(optarg)) < 1 || v > 256)
                return sai_cli_usage_error("deploy k8s: --workers expects 1..256");
            o.workers = (uint32_t)v; break;
        case 'e':
            if ((v = sai_cli_parse_size(optarg)) < 1 || v > (1 << 20))
                return sai_cli_usage_error("deploy k8s: --epc expects MiB 1..1048576");
            o.epc_mib = v; break;
        default:
            return sai_cli_usage_error("deploy k8s: unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sai_cli_usage_error("deploy k8s: unexpected argument '%s'", argv[optind]);
    if (out == NULL)
        return sai_cli_usage_error("deploy k8s: --out DIR is required");
    sai_error_t err = {0};
    if (sai_k8s_write(out, &o, &err) != 0)
        return sai_cli_fail(&err, "deploy k8s");
    printf("wrote manifests to %s\n", out);
    return 0;
}

const sai_cmd_t sai_cmd_deploy = { "deploy", "write Kubernetes manifests (deploy k8s)", usage, run };
