/*
 * cmd_kbs.c — `secureai kbs`: run the key broker service, fetch a resource
 * through the attested flow, and the owner's admin calls. The admin token is
 * only ever read from a file (never argv, which other users can see in ps).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/kbs.h"
#include "secureai/nn.h"
#include "secureai/util.h"

/* One usage text per sub-command: `secureai kbs SUB --help` prints its own,
 * `secureai kbs --help` all of them. */
typedef struct sub_usage {
    const char *name, *text;
} sub_usage;

#define U_SERVE \
    "  serve [--config kbs.yaml] [--data-dir DIR] [--listen ADDR] [--port N]\n" \
    "        [--insecure-http] [--threads N] [--attestation-policy FILE]\n" \
    "        [--port-file FILE] [--rate N] [--seal-master-key TEE] [--quiet] [--dry-run]\n" \
    "        [--enclave-writable REPO[,REPO...]] [--accept-audit-cut]\n" \
    "      Run the service (TLS 1.3; a self-signed certificate is made on first\n" \
    "      start and its SHA-256 printed; --insecure-http only on loopback;\n" \
    "      --seal-master-key seals a new master key to this machine's TEE;\n" \
    "      --dry-run loads the configuration, checks the options as a real start\n" \
    "      would and stops; --rate N allows N requests/s (burst N) per client\n" \
    "      address; --enclave-writable lets attested TEEs register new resources,\n" \
    "      never overwriting, in these repositories: POST /kbs/v0/register/R; the\n" \
    "      secret arrives wrapped to the KBS's wrap key, DATA_DIR/wrap.key, made\n" \
    "      on first start, public half in DATA_DIR/wrap.pub). A KBS whose audit\n" \
    "      chain no longer holds its recorded anchor (entries cut) refuses to start;\n" \
    "      --accept-audit-cut starts anyway and audits the cut.\n"
#define U_INFO \
    "  info --data-dir DIR [--config kbs.yaml]\n" \
    "      Print the certificate's SHA-256 (a spec's kbs.pin) and the wrap key's\n" \
    "      (a spec's kbs.wrap_key_sha256) from a KBS data directory.\n"
#define U_GET_RESOURCE \
    "  get-resource --kbs URL --tee sim|sev-snp|tdx|sgx --resource REPO/TYPE/TAG\n" \
    "        (--ca CERT | --pin SHA256) --out FILE [--token-out FILE] [--insecure-http]\n" \
    "        [--protocol secureai|trustee [--tee-key p256|p521|rsa] [--auth cookie|bearer]]\n" \
    "      Attest to the KBS and write the released secret to FILE (mode 0600).\n" \
    "      --protocol trustee speaks Trustee's KBS protocol 0.4.0 (kbs_protocol's:\n" \
    "      kbs-session-id cookie, a TEE key of --tee-key, default p256, flattened\n" \
    "      JWE); --tee sim is Trustee's \"sample\" TEE there.\n" \
    "      With --tee sim the client's platform (SECUREAI_PLATFORM_DIR) must be the\n" \
    "      one the KBS trusts.\n"
#define U_PUT_RESOURCE \
    "  put-resource --kbs URL --admin-token-file F --resource R --secret-file F\n" \
    "        --policy FILE|JSON (--ca CERT | --pin SHA256)\n" \
    "      Store (or replace) a secret and its release policy (admin).\n"
#define U_DELETE_RESOURCE \
    "  delete-resource --kbs URL --admin-token-file F --resource R (--ca|--pin)\n" \
    "      Delete a resource (admin).\n"
#define U_PUT_POLICY \
    "  put-policy --kbs URL --admin-token-file F --policy FILE (--ca|--pin)\n" \
    "      Replace the attestation policy (YAML) the verifier applies (admin).\n"
#define U_AUDIT \
    "  audit verify --data-dir DIR [--expect-head HEX]\n" \
    "      Check the hash chain of the audit log and its recorded anchors; prints\n" \
    "      entries and head hash. --expect-head: a head recorded earlier must still\n" \
    "      be in the chain (it may have grown since: \"extends the anchor by N\").\n" \
    "  audit show (--data-dir DIR | --kbs URL --admin-token-file F (--ca|--pin))\n" \
    "        [--limit N]\n" \
    "      The last N (default 100, at most 10000) entries as JSON.\n"

static const sub_usage k_subs[] = {
    {"serve", U_SERVE},
    {"info", U_INFO},
    {"get-resource", U_GET_RESOURCE},
    {"put-resource", U_PUT_RESOURCE},
    {"delete-resource", U_DELETE_RESOURCE},
    {"put-policy", U_PUT_POLICY},
    {"audit", U_AUDIT},
};
#define NSUBS (sizeof k_subs / sizeof k_subs[0])

#define U_TAIL "  The client commands refuse an http:// KBS unless --insecure-http is given.\n"

static const char k_usage[] =
    "usage: secureai kbs <sub-command> [options]   (secureai kbs SUB --help: one of them)\n"
    "\n"
    "The key broker service: releases secrets only to attested TEEs.\n"
    "\n" U_SERVE U_INFO U_GET_RESOURCE U_PUT_RESOURCE U_DELETE_RESOURCE U_PUT_POLICY U_AUDIT U_TAIL;

static void print_usage(FILE *f, const char *sub)
{
    for (size_t i = 0; i < NSUBS; i++)
        if (sub && strcmp(sub, k_subs[i].name) == 0) {
            fprintf(f, "usage: secureai kbs %s [options]\n\n%s", sub, k_subs[i].text);
            if (strcmp(sub, "serve") != 0 && strcmp(sub, "info") != 0)
                fputs(U_TAIL, f);
            return;
        }
    fputs(k_usage, f);
}

static sai_kbs_server_t *volatile g_server;

static void on_signal(int sig)
{
    (void)sig;
    sai_kbs_server_stop(g_server);
}

enum {
    O_CONFIG = 256, O_DATA, O_LISTEN, O_PORT, O_INSECURE, O_THREADS, O_APOLICY, O_PORTFILE,
    O_RATE, O_QUIET, O_KBS, O_TEE, O_RESOURCE, O_CA, O_PIN, O_OUT, O_TOKENOUT, O_ADMIN,
    O_SECRET, O_POLICY, O_HEAD, O_LIMIT, O_SEAL, O_HELP, O_DRYRUN, O_EWRITE, O_ACCEPTCUT,
    O_PROTOCOL, O_TEEKEY, O_AUTH
};

static const struct option k_opts[] = {
    {"config", required_argument, 0, O_CONFIG}, {"data-dir", required_argument, 0, O_DATA},
    {"listen", required_argument, 0, O_LISTEN}, {"port", required_argument, 0, O_PORT},
    {"insecure-http", no_argument, 0, O_INSECURE}, {"threads", required_argument, 0, O_THREADS},
    {"attestation-policy", required_argument, 0, O_APOLICY},
    {"port-file", required_argument, 0, O_PORTFILE}, {"rate", required_argument, 0, O_RATE},
    {"quiet", no_argument, 0, O_QUIET}, {"kbs", required_argument, 0, O_KBS},
    {"tee", required_argument, 0, O_TEE}, {"resource", required_argument, 0, O_RESOURCE},
    {"ca", required_argument, 0, O_CA}, {"pin", required_argument, 0, O_PIN},
    {"out", required_argument, 0, O_OUT}, {"token-out", required_argument, 0, O_TOKENOUT},
    {"admin-token-file", required_argument, 0, O_ADMIN},
    {"secret-file", required_argument, 0, O_SECRET}, {"policy", required_argument, 0, O_POLICY},
    {"expect-head", required_argument, 0, O_HEAD}, {"limit", required_argument, 0, O_LIMIT},
    {"seal-master-key", required_argument, 0, O_SEAL},
    {"help", no_argument, 0, O_HELP}, {"dry-run", no_argument, 0, O_DRYRUN},
    {"enclave-writable", required_argument, 0, O_EWRITE},
    {"accept-audit-cut", no_argument, 0, O_ACCEPTCUT},
    {"protocol", required_argument, 0, O_PROTOCOL}, {"tee-key", required_argument, 0, O_TEEKEY},
    {"auth", required_argument, 0, O_AUTH}, {0, 0, 0, 0}};

typedef struct args {
    const char *config, *data, *listen, *port, *apolicy, *portfile, *rate, *threads;
    const char *kbs, *tee, *resource, *ca, *pin, *out, *tokenout, *admin, *secret, *policy;
    const char *head, *limit, *seal, *ewrite, *protocol, *teekey, *auth;
    bool insecure, quiet, dry_run, accept_cut;
} args;

static int parse(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", k_opts, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: a->config = optarg; break;
        case O_DATA: a->data = optarg; break;
        case O_LISTEN: a->listen = optarg; break;
        case O_PORT: a->port = optarg; break;
        case O_INSECURE: a->insecure = true; break;
        case O_THREADS: a->threads = optarg; break;
        case O_APOLICY: a->apolicy = optarg; break;
        case O_PORTFILE: a->portfile = optarg; break;
        case O_RATE: a->rate = optarg; break;
        case O_QUIET: a->quiet = true; break;
        case O_KBS: a->kbs = optarg; break;
        case O_TEE: a->tee = optarg; break;
        case O_RESOURCE: a->resource = optarg; break;
        case O_CA: a->ca = optarg; break;
        case O_PIN: a->pin = optarg; break;
        case O_OUT: a->out = optarg; break;
        case O_TOKENOUT: a->tokenout = optarg; break;
        case O_ADMIN: a->admin = optarg; break;
        case O_SECRET: a->secret = optarg; break;
        case O_POLICY: a->policy = optarg; break;
        case O_HEAD: a->head = optarg; break;
        case O_LIMIT: a->limit = optarg; break;
        case O_SEAL: a->seal = optarg; break;
        case O_DRYRUN: a->dry_run = true; break;
        case O_EWRITE: a->ewrite = optarg; break;
        case O_ACCEPTCUT: a->accept_cut = true; break;
        case O_PROTOCOL: a->protocol = optarg; break;
        case O_TEEKEY: a->teekey = optarg; break;
        case O_AUTH: a->auth = optarg; break;
        default:
            return sai_cli_usage_error("kbs %s: unknown or incomplete option %s", argv[0],
                                       argv[optind - 1]);
        }
    }
    if (optind < argc)
        return sai_cli_usage_error("kbs %s: unexpected argument %s", argv[0], argv[optind]);
    return 0;
}

static int cmd_serve(args *a)
{
    sai_kbs_config_t cfg;
    sai_error_t err = {0};
    sai_kbs_config_defaults(&cfg);
    if (a->config && sai_kbs_config_load(&cfg, a->config, &err) != 0)
        return sai_cli_fail(&err, "kbs serve");
    if (a->data)
        snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", a->data);
    if (a->listen)
        snprintf(cfg.listen_addr, sizeof cfg.listen_addr, "%s", a->listen);
    char *end = NULL;
    if (a->port && ((cfg.port = (int)strtol(a->port, &end, 10)), *end != '\0'))
        return sai_cli_usage_error("kbs serve: --port %s is not a number", a->port);
    int trc;
    if (a->threads && (trc = sai_cli_parse_threads("kbs serve", a->threads, &cfg.threads)) != 0)
        return trc;
    if (a->threads && cfg.threads == 0)
        cfg.threads = sai_nn_threads_resolve(0);
    if (a->rate)
        cfg.rate_per_s = cfg.rate_burst = strtod(a->rate, NULL);
    if (a->apolicy)
        snprintf(cfg.attestation_policy, sizeof cfg.attestation_policy, "%s", a->apolicy);
    if (a->insecure)
        cfg.insecure_http = true;
    if (a->seal)
        snprintf(cfg.seal_master_key, sizeof cfg.seal_master_key, "%s", a->seal);
    if (a->quiet)
        cfg.quiet = true;
    if (a->ewrite && (size_t)snprintf(cfg.enclave_writable, sizeof cfg.enclave_writable, "%s",
                                      a->ewrite) >= sizeof cfg.enclave_writable)
        return sai_cli_usage_error("kbs serve: --enclave-writable is too long");
    if (a->accept_cut)
        cfg.accept_audit_cut = true;
    if (cfg.port < 0 || cfg.port > 65535 || cfg.threads < 1 || cfg.threads > 64)
        return sai_cli_usage_error("kbs serve: --port or --threads out of range");
    /* The configuration checks a real start makes, so --dry-run says no
     * where serve would (--insecure-http off loopback). */
    if (sai_kbs_config_check(&cfg, &err) != 0)
        return sai_cli_fail(&err, "kbs serve");
    if (a->dry_run) {
        printf("kbs serve: options ok (listen %s:%d, data-dir %s, tls %s)\n", cfg.listen_addr, cfg.port,
               cfg.data_dir, cfg.insecure_http ? "off" : cfg.tls_cert[0] ? cfg.tls_cert : "self-signed");
        return 0;
    }

    sai_kbs_verifier_t v;
    if (sai_kbs_verifier_default(&v, cfg.attestation_policy[0] ? cfg.attestation_policy : NULL,
                                 &err) != 0)
        return sai_cli_fail(&err, "kbs serve: verifier");
    sai_kbs_server_t *s = NULL;
    if (sai_kbs_server_new(&s, &cfg, &v, &err) != 0) {
        sai_kbs_verifier_release(&v);
        return sai_cli_fail(&err, "kbs serve");
    }
    if (!cfg.insecure_http)
        printf("kbs: listening on https://%s:%d\nkbs: certificate sha256 %s\n", cfg.listen_addr,
               sai_kbs_server_port(s), sai_kbs_server_fingerprint(s));
    else
        printf("kbs: listening on http://%s:%d (insecure, loopback only)\n", cfg.listen_addr,
               sai_kbs_server_port(s));
    printf("kbs: wrap key sha256 %s\n", sai_kbs_server_wrap_key_sha256(s));
    fflush(stdout);
    /* Handlers before the port file: whoever waits for it may SIGTERM at once. */
    g_server = s;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (a->portfile) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d\n", sai_kbs_server_port(s));
        if (sai_write_file_atomic(a->portfile, buf, (size_t)n, 0644, false, &err) != 0) {
            g_server = NULL;
            sai_kbs_server_free(s);
            sai_kbs_verifier_release(&v);
            return sai_cli_fail(&err, "kbs serve: port file");
        }
    }
    int rc = sai_kbs_server_run(s, &err);
    g_server = NULL;
    sai_kbs_server_free(s);
    sai_kbs_verifier_release(&v);
    return rc == 0 ? 0 : sai_cli_fail(&err, "kbs serve");
}

/* The two pins a pipeline spec needs, from the KBS's data directory. */
static int cmd_info(args *a)
{
    sai_kbs_config_t cfg;
    sai_error_t err = {0};
    char cert[65], wrap[65];
    sai_kbs_config_defaults(&cfg);
    if (a->config && sai_kbs_config_load(&cfg, a->config, &err) != 0)
        return sai_cli_fail(&err, "kbs info");
    if (a->data)
        snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", a->data);
    if (sai_kbs_info(cfg.data_dir, cfg.tls_cert, cert, wrap, &err) != 0)
        return sai_cli_fail(&err, "kbs info");
    if (!cert[0] && !wrap[0]) {
        fprintf(stderr, "secureai: kbs info: %s holds no certificate and no wrap key (start `kbs serve` "
                        "once)\n", cfg.data_dir);
        return 1;
    }
    if (cert[0])
        printf("certificate_sha256 %s\nkbs.pin sha256:%s\n", cert, cert);
    if (wrap[0])
        printf("wrap_key_sha256 %s\nkbs.wrap_key_sha256 sha256:%s\nwrap_key_pem %s/wrap.pub\n", wrap, wrap,
               cfg.data_dir);
    return 0;
}

static int open_client(args *a, sai_kbs_client_t **c, sai_error_t *err)
{
    sai_kbs_client_opts_t o = {.url = a->kbs, .ca_file = a->ca, .pin_sha256 = a->pin,
                             .allow_insecure_http = a->insecure};
    return sai_kbs_client_new(c, &o, err);
}

static int cmd_get(args *a)
{
    if (!a->kbs || !a->tee || !a->resource || !a->out)
        return sai_cli_usage_error("kbs get-resource needs --kbs, --tee, --resource and --out");
    sai_error_t err = {0};
    sai_kbs_attester_t att;
    sai_kbs_client_t *c = NULL;
    sai_secret_t *secret = NULL;
    char *token = NULL;
    bool trustee = a->protocol && strcmp(a->protocol, "trustee") == 0;
    sai_kbs_tee_key_t key = SAI_KBS_TEE_KEY_P256;
    if (a->protocol && !trustee && strcmp(a->protocol, "secureai") != 0)
        return sai_cli_usage_error("kbs get-resource: --protocol is secureai or trustee");
    if (!trustee && (a->teekey || a->auth))
        return sai_cli_usage_error("kbs get-resource: --tee-key and --auth are for --protocol trustee");
    if (trustee && a->tokenout)
        return sai_cli_usage_error("kbs get-resource: --token-out is for --protocol secureai");
    if (a->teekey && strcmp(a->teekey, "p256") != 0)
        key = strcmp(a->teekey, "p521") == 0 ? SAI_KBS_TEE_KEY_P521
            : strcmp(a->teekey, "rsa") == 0 ? SAI_KBS_TEE_KEY_RSA : 0;
    if (key == 0)
        return sai_cli_usage_error("kbs get-resource: --tee-key is p256, p521 or rsa");
    if (a->auth && strcmp(a->auth, "cookie") != 0 && strcmp(a->auth, "bearer") != 0)
        return sai_cli_usage_error("kbs get-resource: --auth is cookie or bearer");
    if (sai_kbs_attester_open(&att, a->tee, &err) != 0)
        return sai_cli_fail(&err, "kbs get-resource: TEE %s", a->tee);
    int rc = open_client(a, &c, &err);
    if (rc == 0 && trustee)
        rc = sai_kbs_client_get_resource_trustee(c, &att, a->resource, key,
                                                 a->auth && strcmp(a->auth, "bearer") == 0, &secret, &err);
    else if (rc == 0)
        rc = sai_kbs_client_get_resource(c, &att, a->resource, &secret, &token, &err);
    if (rc == 0)
        rc = sai_write_file_atomic(a->out, secret->data, secret->len, 0600, false, &err);
    if (rc == 0 && a->tokenout)
        rc = sai_write_file_atomic(a->tokenout, token, strlen(token), 0600, false, &err);
    if (rc == 0)
        fprintf(stderr, "kbs: released %s (%zu bytes) -> %s\n", a->resource, secret->len, a->out);
    sai_secret_free(secret);
    free(token);
    sai_kbs_client_free(c);
    sai_kbs_attester_close(&att);
    return rc == 0 ? 0 : sai_cli_fail(&err, "kbs get-resource %s", a->resource);
}

/* An admin call; prints the server's answer on success. */
static int admin_call(args *a, const char *what, const char *method, const char *path,
                      const char *body)
{
    sai_error_t err = {0};
    if (!a->kbs || !a->admin)
        return sai_cli_usage_error("kbs %s needs --kbs and --admin-token-file", what);
    uint8_t *tok = NULL;
    size_t tl = 0;
    if (sai_read_file(a->admin, 4096, &tok, &tl, &err) != 0)
        return sai_cli_fail(&err, "kbs %s: admin token", what);
    while (tl > 0 && (tok[tl - 1] == '\n' || tok[tl - 1] == '\r' || tok[tl - 1] == ' '))
        tok[--tl] = '\0';
    size_t hl = tl + 32;
    char *hdr = malloc(hl);
    sai_kbs_client_t *c = NULL;
    int status = 0, rc;
    char *resp = NULL;
    size_t rl = 0;
    if (hdr == NULL) {
        sai_wipe(tok, tl);
        free(tok);
        return sai_cli_fail(NULL, "kbs %s: out of memory", what);
    }
    snprintf(hdr, hl, "Authorization: Bearer %s", (char *)tok);
    sai_wipe(tok, tl);
    free(tok);
    rc = open_client(a, &c, &err);
    if (rc == 0)
        rc = sai_kbs_client_request(c, method, path, hdr, body, body ? strlen(body) : 0, &status,
                                    &resp, &rl, &err);
    sai_wipe(hdr, strlen(hdr));
    free(hdr);
    sai_kbs_client_free(c);
    if (rc != 0)
        return sai_cli_fail(&err, "kbs %s", what);
    if (status < 200 || status > 299) {
        fprintf(stderr, "secureai: kbs %s: the KBS answered %d: %s\n", what, status, resp);
        free(resp);
        return 1;
    }
    printf("%s\n", resp);
    free(resp);
    return 0;
}

static char *read_text(const char *path, size_t max, sai_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (sai_read_file(path, max, &buf, &len, err) != 0)
        return NULL;
    return (char *)buf;
}

static int cmd_put(args *a)
{
    if (!a->resource || !a->secret || !a->policy)
        return sai_cli_usage_error("kbs put-resource needs --resource, --secret-file and --policy");
    sai_error_t err = {0};
    uint8_t *sec = NULL;
    size_t sl = 0;
    char *pol = NULL, *b64 = NULL, *body = NULL, path[300];
    int rc = 1;
    if (sai_read_file(a->secret, SAI_KBS_MAX_SECRET, &sec, &sl, &err) != 0)
        return sai_cli_fail(&err, "kbs put-resource: secret");
    if (a->policy[0] == '{')
        pol = strdup(a->policy);
    else
        pol = read_text(a->policy, 64 * 1024, &err);
    if (pol == NULL) {
        rc = sai_cli_fail(&err, "kbs put-resource: policy");
        goto out;
    }
    if (sai_b64url_encode(&b64, sec, sl, &err) != 0) {
        rc = sai_cli_fail(&err, "kbs put-resource");
        goto out;
    }
    size_t n = strlen(b64) + strlen(pol) + 64;
    if ((body = malloc(n)) == NULL)
        goto out;
    snprintf(body, n, "{\"secret\":\"%s\",\"policy\":%s}", b64, pol);
    snprintf(path, sizeof path, "/kbs/v0/admin/resource/%s", a->resource);
    rc = admin_call(a, "put-resource", "PUT", path, body);
out:
    if (sec) {
        sai_wipe(sec, sl);
        free(sec);
    }
    if (b64) {
        sai_wipe(b64, strlen(b64));
        free(b64);
    }
    if (body) {
        sai_wipe(body, strlen(body));
        free(body);
    }
    free(pol);
    return rc;
}

static int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "show") != 0))
        return sai_cli_usage_error("kbs audit takes verify or show");
    args a;
    int rc = parse(argc - 1, argv + 1, &a);
    if (rc != 0)
        return rc;
    sai_error_t err = {0};
    if (strcmp(argv[1], "verify") == 0) {
        if (!a.data)
            return sai_cli_usage_error("kbs audit verify needs --data-dir");
        uint64_t n = 0, at = 0;
        char head[65];
        if (sai_kbs_audit_verify_anchor(a.data, a.head, &n, head, &at, &err) != 0)
            return sai_cli_fail(&err, "kbs audit verify");
        printf("audit: %llu entries, chain intact, head %s\n", (unsigned long long)n, head);
        if (a.head && at == n)
            printf("audit: the head is the expected anchor\n");
        else if (a.head)
            printf("audit: chain extends the anchor (entry %llu) by %llu entries\n", (unsigned long long)at,
                   (unsigned long long)(n - at));
        return 0;
    }
    char path[64], *end = NULL;
    unsigned long long limit = a.limit ? strtoull(a.limit, &end, 10) : 100;
    if (a.limit && (end == a.limit || *end != '\0' || limit < 1 || limit > 10000))
        return sai_cli_usage_error("kbs audit show: --limit must be a whole number 1..10000");
    snprintf(path, sizeof path, "/kbs/v0/admin/audit?limit=%llu", limit);
    if (a.kbs)
        return admin_call(&a, "audit show", "GET", path, NULL);
    if (!a.data)
        return sai_cli_usage_error("kbs audit show needs --data-dir or --kbs");
    char *json = NULL;
    if (sai_kbs_audit_export(a.data, limit, &json, &err) != 0)
        return sai_cli_fail(&err, "kbs audit show");
    printf("%s\n", json);
    free(json);
    return 0;
}

static int run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (sai_cli_wants_help(argc - 1, argv + 1)) {
        print_usage(stdout, sub);
        return 0;
    }
    if (strcmp(sub, "audit") == 0)
        return cmd_audit(argc - 1, argv + 1);
    args a;
    int rc = parse(argc - 1, argv + 1, &a);
    if (rc != 0)
        return rc;
    if (strcmp(sub, "serve") == 0)
        return cmd_serve(&a);
    if (strcmp(sub, "get-resource") == 0)
        return cmd_get(&a);
    if (strcmp(sub, "info") == 0)
        return cmd_info(&a);
    if (strcmp(sub, "put-resource") == 0)
        return cmd_put(&a);
    if (strcmp(sub, "delete-resource") == 0) {
        char path[300];
        if (!a.resource)
            return sai_cli_usage_error("kbs delete-resource needs --resource");
        snprintf(path, sizeof path, "/kbs/v0/admin/resource/%s", a.resource);
        return admin_call(&a, "delete-resource", "DELETE", path, NULL);
    }
    if (strcmp(sub, "put-policy") == 0) {
        sai_error_t err = {0};
        if (!a.policy)
            return sai_cli_usage_error("kbs put-policy needs --policy FILE");
        char *pol = read_text(a.policy, 256 * 1024, &err);
        if (pol == NULL)
            return sai_cli_fail(&err, "kbs put-policy");
        rc = admin_call(&a, "put-policy", "PUT", "/kbs/v0/admin/policy", pol);
        free(pol);
        return rc;
    }
    return sai_cli_usage_error("kbs: unknown sub-command %s", sub);
}

const sai_cmd_t sai_cmd_kbs = {"kbs", "key broker service: serve, info, get-resource, put-resource, "
                               "delete-resource, put-policy, audit", k_usage, run};
