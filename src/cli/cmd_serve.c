/*
 * cmd_serve.c — `secureai serve SPEC`: the attested model server
 * (sai_pipeline_serve; docs/serving.md). The host half runs here; the
 * enclave half is `secureai run --enclave-fd`, as the platform launches it.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "secureai/pipeline.h"

static const char usage[] =
    "usage: secureai serve [options] SPEC\n"
    "\n"
    "Serve the sealed model of SPEC (stages: [serve]; docs/serving.md) over HTTPS\n"
    "from inside a TEE enclave: the enclave fetches the model key from the KBS by\n"
    "attestation, opens the sealed model and terminates TLS 1.3 itself with an\n"
    "RA-TLS certificate bound to its evidence; this host only accepts TCP\n"
    "connections and hands them over. Stops on SIGINT / SIGTERM.\n"
    "API: POST /v1/predict, GET /v1/model, GET /healthz, GET /metrics.\n"
    "\n"
    "options:\n"
    "  --listen ADDR:PORT    where to listen (default 127.0.0.1:8443; [v6]:PORT; port 0 = any)\n"
    "  --port-file FILE      write the port once serving (with port 0)\n"
    "  --model FILE          the sealed model (default outputs.dir/model_name)\n"
    "  --provenance FILE     its provenance statement, served at /v1/model (default\n"
    "                        outputs.dir/provenance.json when present)\n"
    "  --out DIR             overrides outputs.dir\n"
    "  --kbs URL             KBS address (overrides kbs.url)\n"
    "  --threads N           engine threads inside the enclave, 0..64 (default 0: all)\n"
    "  --max-body BYTES      request body limit (default 8M; 413 beyond)\n"
    "  --max-conns N         connections served at once (default 16; more are closed)\n"
    "  --max-images N        images in one request (default 256; 413 beyond)\n"
    "  --max-batch N         images per forward pass (default 16): concurrent requests\n"
    "                        are gathered into one pass\n"
    "  --batch-wait-ms MS    the longest a request waits for others to join its pass\n"
    "                        (default 5; none when every connection is waiting)\n"
    "  --head-timeout-ms MS  TLS handshake + request head deadline (default 5000; 408)\n"
    "  --body-timeout-ms MS  request body deadline (default 10000; 408)\n"
    "  --idle-timeout-ms MS  keep-alive idle limit (default 15000)\n"
    "  --platform-socket PATH  the platform service (as for `secureai run`)\n"
    "  --insecure-dev        no platform service (you hold the platform key; nothing is proven)\n"
    "  --quiet               no status lines\n"
    "  --plain-checkpoint CKPT  bench/test only, instead of SPEC: serve this plaintext\n"
    "                        checkpoint from this process with the same server, TLS\n"
    "                        and HTTP, but no TEE and no evidence (no client policy\n"
    "                        accepts it); bench/serve.sh measures the TEE against it\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},   {"port-file", required_argument, NULL, 'p'},
        {"model", required_argument, NULL, 'm'},    {"provenance", required_argument, NULL, 'P'},
        {"out", required_argument, NULL, 'o'},      {"kbs", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 't'},  {"max-body", required_argument, NULL, 'B'},
        {"max-conns", required_argument, NULL, 'C'}, {"max-images", required_argument, NULL, 'N'},
        {"max-batch", required_argument, NULL, 'b'}, {"head-timeout-ms", required_argument, NULL, 'H'},
        {"body-timeout-ms", required_argument, NULL, 'T'}, {"idle-timeout-ms", required_argument, NULL, 'I'},
        {"platform-socket", required_argument, NULL, 'L'}, {"insecure-dev", no_argument, NULL, 'X'},
        {"quiet", no_argument, NULL, 'q'},          {"batch-wait-ms", required_argument, NULL, 'W'},
        {"plain-checkpoint", required_argument, NULL, 'Z'},          {NULL, 0, NULL, 0},
    };
    sai_pipeline_serve_opts_t o;
    memset(&o, 0, sizeof o);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        long long v = 0;
        if (strchr("BCNbHTIW", c) != NULL && (v = sai_cli_parse_size(optarg)) < 1)
            return sai_cli_usage_error("serve: a limit takes a positive number");
        switch (c) {
        case 'l': o.listen = optarg; break;
        case 'p': o.port_file = optarg; break;
        case 'm': o.model_path = optarg; break;
        case 'P': o.provenance_path = optarg; break;
        case 'o': o.run.out_dir = optarg; break;
        case 'k': o.run.kbs_url = optarg; break;
        case 't': {
            int rc = sai_cli_parse_threads("serve", optarg, &o.run.threads);
            if (rc != 0)
                return rc;
            break;
        }
        case 'B': o.limits.max_body = (uint64_t)v; break;
        case 'C': o.limits.max_conns = v > 1024 ? 1024 : (unsigned)v; break;
        case 'N': o.limits.max_images = v > 65536 ? 65536 : (unsigned)v; break;
        case 'b': o.max_batch = v > 256 ? 256 : (unsigned)v; break;
        case 'W': o.batch_wait_ms = v > 10000 ? 10000 : (unsigned)v; break;
        case 'H': o.limits.head_timeout_ms = v > 600000 ? 600000 : (unsigned)v; break;
        case 'T': o.limits.body_timeout_ms = v > 600000 ? 600000 : (unsigned)v; break;
        case 'I': o.limits.idle_timeout_ms = v > 600000 ? 600000 : (unsigned)v; break;
        case 'L': o.run.platform_socket = optarg; break;
        case 'X': o.run.insecure_dev = true; break;
        case 'q': o.run.quiet = true; break;
        case 'Z': o.plain_checkpoint = optarg; break;
        default: return sai_cli_usage_error("serve: unknown option");
        }
    }
    if (o.plain_checkpoint == NULL ? optind != argc - 1 : optind != argc)
        return sai_cli_usage_error(o.plain_checkpoint ? "serve: --plain-checkpoint takes no SPEC"
                                                      : "serve: one SPEC expected");
    o.run.spec_path = o.plain_checkpoint ? NULL : argv[optind];
    sai_error_t err = {0};
    if (sai_pipeline_serve(&o, &err) != 0)
        return sai_cli_fail(&err, "serve");
    return 0;
}

const sai_cmd_t sai_cmd_serve = {"serve", "serve a sealed model over attested HTTPS from an enclave", usage, run};
