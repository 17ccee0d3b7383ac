/*
 * cmd_run.c — `secureai run SPEC`: run a confidential pipeline.
 *
 * The host half runs here (sai_pipeline_host_run); the enclave half is the
 * same binary re-executed by the host from the descriptor it measured,
 * with the internal option --enclave-fd (not for users: it expects the
 * host's channel on that descriptor).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/pipeline.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai run [options] SPEC\n"
    "\n"
    "Run the pipeline SPEC (YAML, see docs/pipeline.md) inside a TEE enclave:\n"
    "the host measures and launches the enclave and only moves ciphertext; the\n"
    "enclave attests to the KBS, receives the dataset key, trains, seals the\n"
    "model and signs a provenance statement. Outputs go to outputs.dir:\n"
    "the sealed model, provenance.json, run.json and report.html.\n"
    "\n"
    "options:\n"
    "  --dataset DIR     sealed dataset directory (overrides dataset.sealed)\n"
    "  --out DIR         output directory (overrides outputs.dir)\n"
    "  --kbs URL         KBS address (overrides kbs.url)\n"
    "  --threads N       engine threads inside the enclave, 0..64 (default 0: all cores)\n"
    "  --measure         print the launch measurement and spec hash (asked of the\n"
    "                    platform, which measures), run nothing\n"
    "  --canonical-out FILE  with --measure: also write the canonical spec (the\n"
    "                    measured bytes; their SHA-256 is HOST_DATA) to FILE\n"
    "  --plain DIR       baseline: the same stages on plaintext files in DIR, no\n"
    "                    enclave, no keys; prints accuracy, images/s and timings;\n"
    "                    writes nothing unless --plain-ckpt is given\n"
    "  --max-steps N     with --plain: stop after N training steps\n"
    "  --plain-ckpt FILE with --plain: write the plaintext checkpoint to FILE (fsync'd,\n"
    "                    counted in wall_s), as an enclave run writes its sealed one\n"
    "  --platform-socket PATH\n"
    "                    the platform service (default: $SECUREAI_PLATFORM_SOCKET,\n"
    "                    else /run/secureai/platform.sock); it measures and launches\n"
    "                    the enclave under its own user\n"
    "  --insecure-dev    no platform service: launch from your own platform directory.\n"
    "                    You then hold the platform key, so nothing the run produces\n"
    "                    is proven; every output says so\n"
    "  --tee-root DIR    tee: sev-snp / tdx (confidential-VM mode): prefix of the guest's TEE\n"
    "                    interfaces (/sys/kernel/config/tsm, /dev/sev-guest); TESTS ONLY,\n"
    "                    e.g. an emulator's tree (docs/hardware.md)\n"
    "  --workers N       a distributed spec (dist.workers: N): run its N workers here, each\n"
    "                    its own host and enclave, the ring over loopback (dist.transport\n"
    "                    tcp). A spec with dist.transport mpi runs under\n"
    "                    `mpirun -np N secureai run SPEC` instead: one worker per rank\n"
    "  --rank R --peers TEMPLATE\n"
    "                    one worker of a distributed spec whose workers run on different\n"
    "                    machines: this is worker R; worker k listens at TEMPLATE with\n"
    "                    {rank} replaced by k, e.g. job-{rank}.job.ns.svc:7070 (an Indexed\n"
    "                    Job under a headless Service: `secureai deploy k8s`)\n"
    "  --listen ADDR     with --peers: listen on this address only (default: every address)\n"
    "  --resume          a distributed job with dist.checkpoint_every: resume from worker 0's\n"
    "                    last sealed checkpoint in outputs.dir (one of an earlier attempt\n"
    "                    than the job's KBS counter says is refused)\n"
    "  --quiet           no progress lines\n"
    "  --dry-run         check the options and stop (reads nothing, runs nothing)\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dataset", required_argument, NULL, 'd'}, {"out", required_argument, NULL, 'o'},
        {"kbs", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'}, {"measure", no_argument, NULL, 'm'},
        {"plain", required_argument, NULL, 'P'},   {"quiet", no_argument, NULL, 'q'},
        {"max-steps", required_argument, NULL, 'S'}, {"enclave-fd", required_argument, NULL, 'E'},
        {"dry-run", no_argument, NULL, 'D'},       {"plain-ckpt", required_argument, NULL, 'C'},
        {"tee-fd", required_argument, NULL, 'T'},  {"insecure-dev", no_argument, NULL, 'I'},
        {"platform-socket", required_argument, NULL, 'L'}, {"canonical-out", required_argument, NULL, 'K'},
        {"cvm", no_argument, NULL, 'V'},           {"tee-root", required_argument, NULL, 'R'},
        {"workers", required_argument, NULL, 'W'}, {"resume", no_argument, NULL, 'U'},
        {"rank", required_argument, NULL, 'r'},    {"peers", required_argument, NULL, 'p'},
        {"listen", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    sai_pipeline_run_opts_t o = {0};
    sai_pipeline_peers_t peers;
    bool measure = false, dry_run = false, cvm = false, have_rank = false;
    const char *plain = NULL, *canon_out = NULL;
    int enclave_fd = -1, tee_fd = -1, c;
    sai_error_t err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.dataset_dir = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 'k': o.kbs_url = optarg; break;
        case 't': {
            int rc = sai_cli_parse_threads("run", optarg, &o.threads);
            if (rc != 0)
                return rc;
            break;
        }
        case 'm': measure = true; break;
        case 'P': plain = optarg; break;
        case 'q': o.quiet = true; break;
        case 'D': dry_run = true; break;
        case 'C': o.plain_ckpt_out = optarg; break;
        case 'S': {
            long long v = sai_cli_parse_size(optarg);
            if (v < 1 || v > 100000000)
                return sai_cli_usage_error("run: --max-steps takes 1..100000000");
            o.plain_max_steps = (unsigned)v;
            break;
        }
        case 'E':
        case 'T': {
            long long v = sai_cli_parse_size(optarg);
            if (v < 3 || v > 1 << 20)
                return sai_cli_usage_error("run: bad --%s", c == 'E' ? "enclave-fd" : "tee-fd");
            *(c == 'E' ? &enclave_fd : &tee_fd) = (int)v;
            break;
        }
        case 'I': o.insecure_dev = true; break;
        case 'L': o.platform_socket = optarg; break;
        case 'K': canon_out = optarg; break;
        case 'V': cvm = true; break;
        case 'R': o.tee_root = optarg; break;
        case 'U': o.resume = true; break;
        case 'W': {
            long long v = sai_cli_parse_size(optarg);
            if (v < 2 || v > 256)
                return sai_cli_usage_error("run: --workers takes 2..256 (the spec's dist.workers)");
            o.workers = (unsigned)v;
            break;
        }
        case 'r': {
            long long v = sai_cli_parse_size(optarg);
            if (v < 0 || v > 255)   /* a spec has at most 256 workers */
                return sai_cli_usage_error("run: --rank takes 0..255");
            o.rank = (unsigned)v;
            have_rank = true;
            break;
        }
        case 'p':
            if (sai_pipeline_peers_parse(&peers, optarg, &err) != 0)
                return sai_cli_usage_error("run: %s", err.msg);
            o.peers = &peers;
            break;
        case 'l': o.listen_addr = optarg; break;
        default: return sai_cli_usage_error("run: unknown option");
        }
    }
    if (cvm && enclave_fd < 0)
        return sai_cli_usage_error("run: --cvm is internal (the enclave half in a confidential VM)");
    if (enclave_fd >= 0 && cvm) {
        /* The enclave half in a confidential VM, started by the host half. */
        if (tee_fd >= 0)
            return sai_cli_usage_error("run: --cvm takes no --tee-fd (the guest's own TEE gives the evidence)");
        int rc = sai_pipeline_enclave_main_cvm(enclave_fd, o.tee_root, &err);
        return rc == 0 ? 0 : 1;
    }
    if (enclave_fd >= 0) {
        /* The enclave process. Its failures travel to the host as ERROR. */
        if (tee_fd < 0)
            return sai_cli_usage_error("run: --enclave-fd needs --tee-fd (the platform launches enclaves)");
        int rc = sai_pipeline_enclave_main(enclave_fd, tee_fd, &err);
        return rc == 0 ? 0 : 1;
    }
    if (o.plain_ckpt_out != NULL && plain == NULL)
        return sai_cli_usage_error("run: --plain-ckpt only applies to --plain");
    if (o.plain_max_steps > 0 && plain == NULL)
        return sai_cli_usage_error("run: --max-steps only applies to --plain (the enclave runs the measured spec)");
    if (have_rank != (o.peers != NULL))
        return sai_cli_usage_error("run: --rank and --peers go together");
    if (o.listen_addr != NULL && o.peers == NULL)
        return sai_cli_usage_error("run: --listen only applies to --peers");
    if (o.peers != NULL && o.workers != 0)
        return sai_cli_usage_error("run: --workers runs every worker here; --rank/--peers one of them");
    if (optind != argc - 1)
        return sai_cli_usage_error("run: expected exactly one SPEC");
    o.spec_path = argv[optind];
    if (dry_run) {
        printf("run: options ok (spec %s%s%s)\n", o.spec_path, o.kbs_url ? ", kbs " : "",
               o.kbs_url ? o.kbs_url : "");
        return 0;
    }
    if (canon_out != NULL && !measure)
        return sai_cli_usage_error("run: --canonical-out only applies to --measure");
    if (canon_out != NULL) {
        char *cs = NULL;
        size_t cl = 0;
        int crc = sai_pipeline_canonical_spec(&o, &cs, &cl, &err);
        if (crc == 0)
            crc = sai_write_file_atomic(canon_out, cs, cl, 0644, false, &err);
        free(cs);
        if (crc != 0)
            return sai_cli_fail(&err, "run --canonical-out %s", canon_out);
    }
    if (measure) {
        uint8_t m[SAI_MEASUREMENT_LEN], h[SAI_SHA256_LEN];
        char mh[97], hh[65], tee[16];
        if (sai_pipeline_launch_binding(&o, tee, h, &err) != 0)
            return sai_cli_fail(&err, "run --measure %s", o.spec_path);
        if (strcmp(tee, "sev-snp") == 0 || strcmp(tee, "tdx") == 0) {
            /* Confidential VM: the VMM binds the spec; the guest's launch
             * measurement comes from the launch tooling (docs/hardware.md). */
            sai_hex_encode(hh, h, sizeof h);
            printf("spec_sha256 %s\n%s %s%s\nmeasurement (from the guest's launch tooling, e.g. "
                   "sev-snp-measure / MRTD of the TD image: see docs/hardware.md)\n",
                   hh, strcmp(tee, "tdx") == 0 ? "mrconfigid" : "host_data", hh,
                   strcmp(tee, "tdx") == 0 ? "00000000000000000000000000000000" : "");
            return 0;
        }
        if (sai_pipeline_measure(&o, m, h, &err) != 0)
            return sai_cli_fail(&err, "run --measure %s", o.spec_path);
        sai_hex_encode(mh, m, sizeof m);
        sai_hex_encode(hh, h, sizeof h);
        printf("measurement %s\nspec_sha256 %s\n", mh, hh);
        return 0;
    }
    sai_pipeline_run_result_t r;
    if (plain != NULL) {
        if (sai_pipeline_plain_run(&o, plain, &r, &err) != 0)
            return sai_cli_fail(&err, "run --plain %s", o.spec_path);
        printf("plain: test_accuracy %.4f train_images_per_s %.1f wall_s %.3f ingest_s %.3f train_s %.3f "
               "ckpt_write_s %.3f train_cpu_s %.3f train_sys_s %.3f train_minflt %ld train_nvcsw %ld "
               "train_nivcsw %ld\n",
               r.test_accuracy, r.train_images_per_s, r.wall_s, r.ingest_s, r.train_s, r.ckpt_write_s,
               r.train_usage.cpu_s, r.train_usage.sys_s, r.train_usage.minflt, r.train_usage.nvcsw,
               r.train_usage.nivcsw);
        return 0;
    }
    if (sai_pipeline_host_run(&o, &r, &err) != 0)
        return sai_cli_fail(&err, "run %s", o.spec_path);
    if (r.dist_world >= 2 && r.dist_rank != 0) {   /* under mpirun: rank 0 publishes the outputs */
        printf("worker %u of %u done (rank 0 writes the outputs)\n", r.dist_rank, r.dist_world);
        return 0;
    }
    char mh[97];
    sai_hex_encode(mh, r.measurement, sizeof r.measurement);
    printf("model       %s\nprovenance  %s\nreport      %s/report.html\nmeasurement %s\n"
           "test_accuracy %.4f train_images_per_s %.1f wall_s %.2f\n%s\n",
           r.model_path, r.provenance_path, r.run_dir, mh, r.test_accuracy, r.train_images_per_s, r.wall_s,
           r.cvm ? r.protection
           : r.insecure_dev ? "INSECURE-DEV: you held the platform key; nothing this run produced is proven"
                          : "SIMULATED TEE: the platform service isolated the enclave from you and other "
                            "non-root users; root and the kernel were not outside the boundary; nothing is "
                            "hardware-protected");
    return 0;
}

const sai_cmd_t sai_cmd_run = {"run", "run a confidential pipeline spec inside a TEE enclave", usage, run};
