/*
 * host.c — the untrusted host side of `secureai run`.
 *
 * The host measures the enclave (SHA-384 over the binary it is about to
 * execute, the canonical spec and the sandbox policy; measure.c), launches
 * it with fexecve on the very descriptor it measured, and from then on only
 * moves ciphertext: it opens the sealed shards and hands their descriptors
 * over, starts the simulated PSP (src/tee/sim_psp.c) with the measurement it
 * computed and hands the enclave the only socket to it (the host never
 * produces evidence itself), and publishes what the enclave produced — the
 * sealed model and the signed provenance statement — only after the enclave
 * says DONE. The enclave seals the model straight into a hidden temporary
 * file the host opened in the output directory and handed over with the
 * shards (ciphertext only; no copy through the channel); the host fsyncs
 * and renames it after DONE, and removes it (and the directory, if it made
 * it) when the run fails. A run that fails leaves nothing behind.
 *
 * Nothing the host does can make the enclave accept the wrong data or
 * release a key: that is the enclave's and the KBS's job (enclave.c,
 * docs/threat-model.md). The host is still written defensively because it
 * is also the user's program: every message from the enclave is typed and
 * capped (channel.c), and a dead or silent enclave ends the run.
 */
#include "pipeline/pipeline_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/seal.h"
#include "secureai/tee.h"
#include "secureai/util.h"

#include <event2/http.h>

extern char **environ;

static int set_str(char **field, const char *v, sai_error_t *err)
{
    if (v == NULL)
        return 0;
    char *c = strdup(v);
    if (c == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    free(*field);
    *field = c;
    return 0;
}

typedef struct prepared {
    sai_pipeline_spec_t *spec;
    char              *canon;
    size_t             canon_len;
    uint8_t            meas[SAI_MEASUREMENT_LEN];   /* from the platform */
    uint8_t            spec_hash[32];
    char              *ca;          /* kbs.ca's bytes (PEM), sent to the enclave in HELLO */
    size_t             ca_len;
    bool               cvm;         /* tee: sev-snp / tdx: confidential-VM mode (cvm.c) */
} prepared;

static void prepared_free(prepared *p)
{
    sai_pipeline_spec_free(p->spec);
    free(p->canon);
    free(p->ca);
    memset(p, 0, sizeof *p);
}

static int prepare(const sai_pipeline_run_opts_t *o, prepared *p, sai_error_t *err)
{
    memset(p, 0, sizeof *p);
    int rc;
    if ((rc = sai_pipeline_spec_load(&p->spec, o->spec_path, err)))
        return rc;
    if ((rc = set_str(&p->spec->dataset.sealed_dir, o->dataset_dir, err)) ||
        (rc = set_str(&p->spec->outputs.dir, o->out_dir, err)) || (rc = set_str(&p->spec->kbs.url, o->kbs_url, err)))
        return rc;
    uint8_t ca_hash[32], *cap = NULL;
    if (p->spec->kbs.ca != NULL) {
        /* The CA's bytes are measured, and sent to the enclave in HELLO
         * (it opens no files); the enclave checks them against the measured
         * hash and verifies the KBS with them, see docs/pipeline.md. */
        uint8_t *ca = NULL;
        size_t ca_len = 0;
        if ((rc = sai_read_file(p->spec->kbs.ca, SAI_PIPELINE_CA_MAX, &ca, &ca_len, err)))
            return sai_error_prefix(err, "kbs.ca %s", p->spec->kbs.ca);
        rc = sai_hash(SAI_SHA256, ca_hash, ca, ca_len, err);
        if (rc == 0 && (memchr(ca, '\0', ca_len) != NULL || (p->ca = malloc(ca_len + 1)) == NULL))
            rc = sai_error_set(err, SAI_EFORMAT, "kbs.ca %s: not a PEM file", p->spec->kbs.ca);
        if (rc == 0) {
            memcpy(p->ca, ca, ca_len);
            p->ca[ca_len] = '\0';
            p->ca_len = ca_len;
        }
        free(ca);
        if (rc)
            return rc;
        cap = ca_hash;
    }
    sai_tee_kind_t kind = sai_tee_kind_from_canonical_name(p->spec->tee);
    p->cvm = kind == SAI_TEE_SEV_SNP || kind == SAI_TEE_TDX;
    if ((rc = sai_pipeline_spec_canonical(p->spec, cap, &p->canon, &p->canon_len, err)) ||
        (rc = sai_hash(SAI_SHA256, p->spec_hash, p->canon, p->canon_len, err)))
        return rc;
    return 0;
}

static int platform_connect(const sai_pipeline_run_opts_t *o, sai_sim_conn_t *c, sai_error_t *err)
{
    sai_sim_connect_opts_t co = {.socket_path = o->platform_socket, .insecure_dev = o->insecure_dev,
                               .enclave_image = o->enclave_binary};
    return sai_sim_connect(c, &co, err);
}

int sai_pipeline_canonical_spec(const sai_pipeline_run_opts_t *o, char **canon, size_t *len, sai_error_t *err)
{
    prepared p;
    int rc = prepare(o, &p, err);
    *canon = NULL;
    if (rc == 0) {
        *canon = p.canon;
        *len = p.canon_len;
        p.canon = NULL;
    }
    prepared_free(&p);
    return rc;
}

int sai_pipeline_launch_binding(const sai_pipeline_run_opts_t *o, char tee[static 16],
                                uint8_t spec_hash[static SAI_SHA256_LEN], sai_error_t *err)
{
    prepared p;
    int rc = prepare(o, &p, err);
    if (rc == 0) {
        snprintf(tee, 16, "%s", p.spec->tee);
        memcpy(spec_hash, p.spec_hash, 32);
    }
    prepared_free(&p);
    return rc;
}

/* The platform measures: the host can only ask what a launch would get. */
int sai_pipeline_measure(const sai_pipeline_run_opts_t *o, uint8_t out[static SAI_MEASUREMENT_LEN],
                         uint8_t spec_hash[static SAI_SHA256_LEN], sai_error_t *err)
{
    prepared p;
    sai_sim_conn_t c = {.fd = -1, .local_pid = -1};
    uint8_t hd[32];
    int rc = prepare(o, &p, err);
    if (rc == 0 && strcmp(p.spec->tee, "sim") != 0)
        rc = sai_error_set(err, SAI_EUNSUPP, "TEE '%s': the measurement comes from that TEE's launch "
                           "tooling, not from this runtime", p.spec->tee);
    if (rc == 0)
        rc = platform_connect(o, &c, err);
    if (rc == 0)
        rc = sai_sim_measure(&c, p.canon, p.canon_len, out, hd, err);
    if (rc == 0 && memcmp(hd, p.spec_hash, 32) != 0)
        rc = sai_error_set(err, SAI_EAUTH, "the platform measured another spec than the one sent");
    if (rc == 0)
        memcpy(spec_hash, p.spec_hash, 32);
    sai_sim_disconnect(&c);
    prepared_free(&p);
    return rc;
}

/* ---- the sealed dataset as the host sees it: names and descriptors ------- */
typedef struct shards {
    uint8_t *manifest;
    size_t   manifest_len;
    uint8_t  mac[32];          /* manifest.mac, decoded (the enclave checks it) */
    char   **names;
    int     *fds;
    size_t   n;
} shards;

static void shards_free(shards *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->names[i]);
        if (s->fds[i] >= 0)
            close(s->fds[i]);
    }
    free(s->names);
    free(s->fds);
    free(s->manifest);
    memset(s, 0, sizeof *s);
}

static int open_shards(const char *dir, shards *s, sai_error_t *err)
{
    memset(s, 0, sizeof *s);
    char path[4096];
    int rc;
    snprintf(path, sizeof path, "%s/%s", dir, SAI_DATASET_MANIFEST);
    if ((rc = sai_read_file(path, SAI_DATASET_MANIFEST_MAX, &s->manifest, &s->manifest_len, err)))
        return sai_error_prefix(err, "sealed dataset %s", dir);
    snprintf(path, sizeof path, "%s/%s", dir, SAI_DATASET_MAC);
    uint8_t *mac = NULL;
    size_t mac_len = 0;
    if ((rc = sai_read_file(path, 256, &mac, &mac_len, err)))
        return sai_error_prefix(err, "sealed dataset %s", dir);
    while (mac_len > 0 && (mac[mac_len - 1] == '\n' || mac[mac_len - 1] == '\r'))
        mac_len--;
    char hex[65] = "";
    if (mac_len == 64)
        memcpy(hex, mac, 64);
    bool mac_ok = mac_len == 64 && sai_hex_decode(s->mac, 32, hex, NULL) == 0;
    free(mac);
    if (!mac_ok)
        return sai_error_set(err, SAI_EFORMAT, "sealed dataset %s: %s is not 64 hex digits", dir, SAI_DATASET_MAC);
    /* Parsed here only to learn the file names; the enclave checks the MAC. */
    sai_manifest_t m;
    if ((rc = sai_manifest_parse(&m, s->manifest, s->manifest_len, err)))
        return sai_error_prefix(err, "sealed dataset %s", dir);
    if (m.n_shards > SAI_CHAN_MAX_FDS) {
        sai_manifest_clear(&m);
        return sai_error_set(err, SAI_ELIMIT, "sealed dataset %s has %zu shards; a run takes at most %d", dir,
                             m.n_shards, SAI_CHAN_MAX_FDS);
    }
    s->names = calloc(m.n_shards + 1, sizeof *s->names);
    s->fds = calloc(m.n_shards + 1, sizeof *s->fds);
    if (s->names == NULL || s->fds == NULL) {
        sai_manifest_clear(&m);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < m.n_shards; i++) {
        s->fds[i] = -1;
        s->names[i] = strdup(m.shards[i].name);
        s->n++;
        if (s->names[i] == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            break;
        }
        snprintf(path, sizeof path, "%s/%s.sealed", dir, m.shards[i].name);
        s->fds[i] = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (s->fds[i] < 0) {
            rc = sai_error_set(err, SAI_EIO, "shard %s: cannot open %s: %s", m.shards[i].name, path, strerror(errno));
            break;
        }
    }
    sai_manifest_clear(&m);
    return rc;
}

#define OUT_MAX ((size_t)SAI_NN_CKPT_MAX + (1u << 20))

typedef struct outbuf {
    sai_buf_t  b;            /* the output's bytes (provenance; capped at OUT_MAX) */
    size_t   sealed_len;   /* the model: sealed into the file, only its length comes */
    bool     ended;
    uint8_t  sha256[32];   /* checked against OUTPUT_END */
} outbuf;

static int out_append(outbuf *o, const uint8_t *d, size_t n, sai_error_t *err)
{
    if (o->ended)
        return sai_error_set(err, SAI_EFORMAT, "enclave sent output after its end");
    int rc = sai_buf_append(&o->b, d, n);
    if (rc == SAI_ELIMIT)
        return sai_error_set(err, SAI_ELIMIT, "enclave output too large");
    if (rc != 0)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}

static void hex_of(char *out, const uint8_t *b, size_t n)
{
    sai_hex_encode(out, b, n);
}

/* The sealed model's file: anonymous (O_TMPFILE) until the run is DONE,
 * then linked under a hidden name and renamed into place, so a host that
 * dies or is killed mid-run leaves no file behind. */
typedef struct model_out {
    int  fd;
    bool made_dir, published;
} model_out;

static int model_out_open(model_out *mo, const sai_pipeline_spec_t *s, sai_error_t *err)
{
    const char *dir = s->outputs.dir;
    if (mkdir(dir, 0755) == 0)
        mo->made_dir = true;
    else if (errno != EEXIST)
        return sai_error_set(err, SAI_EIO, "cannot create %s: %s", dir, strerror(errno));
    mo->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    if (mo->fd < 0)
        return sai_error_set(err, SAI_EIO, "cannot create a file in %s: %s", dir, strerror(errno));
    return 0;
}

static int model_out_publish(model_out *mo, const sai_pipeline_spec_t *s, const char *path, sai_error_t *err)
{
    char fdp[64], tmp[4200];
    snprintf(fdp, sizeof fdp, "/proc/self/fd/%d", mo->fd);
    int k = snprintf(tmp, sizeof tmp, "%s/.%s.%ld", s->outputs.dir, s->outputs.model_name, (long)getpid());
    if (k < 0 || (size_t)k >= sizeof tmp)
        return sai_error_set(err, SAI_ELIMIT, "output path too long");
    unlink(tmp);
    if (fsync(mo->fd) != 0 || linkat(AT_FDCWD, fdp, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0)
        return sai_error_set(err, SAI_EIO, "cannot publish %s: %s", path, strerror(errno));
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sai_error_set(err, SAI_EIO, "cannot publish %s: %s", path, strerror(e));
    }
    mo->published = true;
    return 0;
}

static void model_out_abandon(model_out *mo, const sai_pipeline_spec_t *s)
{
    if (mo->fd >= 0)
        close(mo->fd);
    mo->fd = -1;
    if (!mo->published && mo->made_dir && s != NULL)
        rmdir(s->outputs.dir);   /* only if still empty */
}

static int write_outputs(const sai_pipeline_spec_t *s, const prepared *p, const sai_pipeline_run_opts_t *o,
                         model_out *mo, outbuf *model, outbuf *prov, cJSON *done, cJSON *hist,
                         double work_s, double launch_s, double exit_s, sai_pipeline_run_result_t *res,
                         sai_error_t *err)
{
    int rc;
    const char *dir = s->outputs.dir;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return sai_error_set(err, SAI_EIO, "cannot create %s: %s", dir, strerror(errno));
    snprintf(res->run_dir, sizeof res->run_dir, "%s", dir);
    snprintf(res->model_path, sizeof res->model_path, "%s/%s", dir, s->outputs.model_name);
    snprintf(res->provenance_path, sizeof res->provenance_path, "%s/provenance.json", dir);
    /* The outputs count in the run's wall time (a plain run that writes
     * its checkpoint pays the same fsync); run.json and the report do not. */
    double tw = sai_now();
    struct stat st;
    if (fstat(mo->fd, &st) != 0 || (uint64_t)st.st_size != (uint64_t)model->sealed_len)
        return sai_error_set(err, SAI_EFORMAT, "enclave: the sealed model is not the %zu bytes announced",
                             model->sealed_len);
    if ((rc = model_out_publish(mo, s, res->model_path, err)))
        return rc;
    /* This one fsyncs the directory too, after both renames. */
    if ((rc = sai_write_file_atomic(res->provenance_path, prov->b.data, prov->b.len, 0644, false, err)))
        return rc;
    double write_s = sai_now() - tw, wall = work_s + write_s;
    res->wall_s = wall;
    const uint8_t *mh = model->sha256;   /* verified against the enclave's OUTPUT_END */
    char hex[129];
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", s->name);
    cJSON_AddStringToObject(r, "tee", s->tee);
    cJSON_AddStringToObject(r, "launched_by", p->cvm ? "confidential-vm" : res->insecure_dev ? "insecure-dev"
                                                                                              : "platform-service");
    cJSON_AddStringToObject(r, "protection", p->cvm ? res->protection
                                             : res->insecure_dev ? "INSECURE-DEV: the launcher held the platform "
                                                                   "key; nothing is proven"
                                                                 : sai_pipeline_tee_statement(s->tee));
    if (p->cvm)
        cJSON_AddBoolToObject(r, "emulated", res->emulated);
    cJSON_AddStringToObject(r, "written_by", "host (unverified: `secureai report --policy` checks the "
                                              "signed provenance)");
    hex_of(hex, p->spec_hash, 32);
    cJSON_AddStringToObject(r, "spec_sha256", hex);
    hex_of(hex, p->meas, 48);
    cJSON_AddStringToObject(r, "measurement", hex);
    cJSON_AddStringToObject(r, "spec", s->source ? s->source : "");
    char stages[80] = "";
    size_t sl = 0;
    for (unsigned b = 1; b <= SAI_STAGE_INFER; b <<= 1)
        if (s->stages & b) {
            int k = snprintf(stages + sl, sizeof stages - sl, "%s%s", sl ? "," : "", sai_pipeline_stage_name(b));
            if (k > 0 && (size_t)k < sizeof stages - sl)
                sl += (size_t)k;
        }
    cJSON_AddStringToObject(r, "stages", stages);
    cJSON_AddStringToObject(r, "model_arch", s->model.arch);
    static const char *const keys[] = {"dataset_identity", "sandbox", "metrics", "throughput", "timing",
                                       "attestation", "dist"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(done, keys[i]);
        if (v != NULL)
            cJSON_AddItemToObject(r, keys[i], v);
    }
    cJSON *tim = cJSON_GetObjectItemCaseSensitive(r, "timing");
    if (cJSON_IsObject(tim)) {
        cJSON_AddNumberToObject(tim, "launch_s", launch_s);
        cJSON_AddNumberToObject(tim, "write_s", write_s);
        cJSON_AddNumberToObject(tim, "exit_s", exit_s);
        cJSON_AddNumberToObject(tim, "total_s", wall);
    }
    cJSON *att = cJSON_GetObjectItemCaseSensitive(r, "attestation");
    if (cJSON_IsObject(att))
        cJSON_AddStringToObject(att, "kbs", s->kbs.url);
    /* The test accuracy at the last step, so the curve has its end point. */
    cJSON *met = cJSON_GetObjectItemCaseSensitive(r, "metrics");
    cJSON *last = cJSON_GetArrayItem(hist, cJSON_GetArraySize(hist) - 1);
    if (last != NULL && cJSON_IsObject(met)) {
        cJSON *ta = cJSON_GetObjectItemCaseSensitive(met, "test_accuracy");
        cJSON *tl = cJSON_GetObjectItemCaseSensitive(met, "test_loss");
        if (cJSON_IsNumber(ta))
            cJSON_AddNumberToObject(last, "test_acc", ta->valuedouble);
        if (cJSON_IsNumber(tl))
            cJSON_AddNumberToObject(last, "test_loss", tl->valuedouble);
        if (cJSON_IsNumber(ta))
            res->test_accuracy = ta->valuedouble;
    }
    cJSON *thr = cJSON_GetObjectItemCaseSensitive(r, "throughput");
    cJSON *tip = cJSON_GetObjectItemCaseSensitive(thr, "train_images_per_s");
    if (cJSON_IsNumber(tip))
        res->train_images_per_s = tip->valuedouble;
    cJSON_AddItemReferenceToObject(r, "history", hist);
    cJSON *outs = cJSON_AddObjectToObject(r, "outputs");
    cJSON_AddStringToObject(outs, "model", s->outputs.model_name);
    hex_of(hex, mh, 32);
    cJSON_AddStringToObject(outs, "model_sha256", hex);
    cJSON_AddStringToObject(outs, "provenance", "provenance.json");
    cJSON_AddStringToObject(outs, "report", "report.html");
    char *txt = cJSON_Print(r);
    cJSON_Delete(r);
    if (txt == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", dir);
    rc = sai_write_file_atomic(path, txt, strlen(txt), 0644, false, err);
    free(txt);
    if (rc == 0)
        rc = sai_report_write(dir, NULL, 0, err);
    (void)o;
    return rc;
}

static void print_progress(cJSON *p, bool quiet, const sai_host_dist_t *hd)
{
    if (quiet)
        return;
    cJSON *e = cJSON_GetObjectItemCaseSensitive(p, "epoch"), *s = cJSON_GetObjectItemCaseSensitive(p, "step"),
          *t = cJSON_GetObjectItemCaseSensitive(p, "total_steps"), *l = cJSON_GetObjectItemCaseSensitive(p, "loss"),
          *a = cJSON_GetObjectItemCaseSensitive(p, "train_acc"),
          *ips = cJSON_GetObjectItemCaseSensitive(p, "images_per_s");
    if (!(cJSON_IsNumber(e) && cJSON_IsNumber(s) && cJSON_IsNumber(t) && cJSON_IsNumber(l) && cJSON_IsNumber(a) &&
          cJSON_IsNumber(ips)))
        return;
    char who[32] = "enclave";
    if (hd != NULL)   /* a distributed job: every worker's lines, rank-prefixed */
        snprintf(who, sizeof who, "worker %u", hd->rank);
    fprintf(stderr, "  [%s] epoch %.0f step %.0f/%.0f loss %.4f acc %.4f %.0f img/s\n", who, e->valuedouble,
            s->valuedouble, t->valuedouble, l->valuedouble, a->valuedouble, ips->valuedouble);
}

/* Confidential VM: the launch measurement and the platform's label come
 * from the enclave half (from its own report; the provenance statement is
 * what proves them). */
static int cvm_done(prepared *p, cJSON *done, sai_pipeline_run_result_t *res, bool quiet, sai_error_t *err)
{
    cJSON *att = cJSON_GetObjectItemCaseSensitive(done, "attestation");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(att, "launch_measurement");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(att, "protection");
    if (!cJSON_IsString(m) || strlen(m->valuestring) != 96 || sai_hex_decode(p->meas, 48, m->valuestring, NULL) != 0 ||
        !cJSON_IsString(pr))
        return sai_error_set(err, SAI_EFORMAT, "DONE: no launch measurement or protection from the enclave");
    memcpy(res->measurement, p->meas, 48);
    res->emulated = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(att, "emulated"));
    snprintf(res->protection, sizeof res->protection, "%s", pr->valuestring);
    if (!quiet && res->emulated)
        fprintf(stderr, "secureai: %s\n", SAI_PROVENANCE_EMULATED_TEXT);
    return 0;
}

/* A TCP connection to the KBS of the spec's kbs.url, for an enclave that
 * has given up the network (worker 0's checkpoint counter; dist_ckpt.c).
 * The host only connects: the enclave runs TLS over it and checks the
 * KBS's pin or CA itself, so this socket is as untrusted as the network. */
#define KBS_STREAM_TIMEOUT_MS 5000
static int kbs_stream(const char *url, int *out, sai_error_t *err)
{
    struct evhttp_uri *u = url ? evhttp_uri_parse(url) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL, *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[8];
    int rc = 0, s = -1;
    *out = -1;
    if (host == NULL || scheme == NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "the KBS URL %s has no host", url ? url : "(none)");
        goto out;
    }
    int port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : strcmp(scheme, "https") == 0 ? 443 : 80;
    snprintf(ps, sizeof ps, "%d", port);
    int g = getaddrinfo(host, ps, &hints, &ai);
    if (g != 0 || ai == NULL) {
        rc = sai_error_set(err, SAI_ENET, "cannot resolve %s: %s", host, gai_strerror(g));
        goto out;
    }
    s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0 || (connect(s, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)) {
        rc = sai_error_set(err, SAI_ENET, "cannot connect to %s:%s: %s", host, ps, strerror(errno));
        goto out;
    }
    struct pollfd pf = {.fd = s, .events = POLLOUT};
    int e = 0, k;
    socklen_t el = sizeof e;
    while ((k = poll(&pf, 1, KBS_STREAM_TIMEOUT_MS)) < 0 && errno == EINTR) {
    }
    if (k != 1 || getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
        rc = sai_error_set(err, SAI_ENET, "cannot connect to %s:%s: %s", host, ps,
                           k == 0 ? "timed out" : strerror(e ? e : errno));
        goto out;
    }
    *out = s;
    s = -1;
out:
    if (s >= 0)
        close(s);
    if (ai != NULL)
        freeaddrinfo(ai);
    if (u != NULL)
        evhttp_uri_free(u);
    return rc;
}

/* hd: one worker of a distributed job (NULL: a single-enclave run). */
static int host_run(const sai_pipeline_run_opts_t *o, const sai_host_dist_t *hd, sai_pipeline_run_result_t *res,
                    sai_error_t *err)
{
    sai_pipeline_run_result_t local;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    prepared p;
    shards sh = {0};
    sai_chan_t hc = {.fd = -1}, ec = {.fd = -1};
    sai_sim_conn_t plat = {.fd = -1, .local_pid = -1};
    sai_sim_launched_t launched;
    pid_t cvm_pid = -1;
    bool running = false;
    uint8_t *d = NULL;
    size_t n = 0;
    outbuf model = {0}, prov = {0};
    sai_buf_init(&model.b, OUT_MAX);
    sai_buf_init(&prov.b, OUT_MAX);
    model_out mo = {.fd = -1};
    cJSON *hist = cJSON_CreateArray(), *done = NULL;
    char *hello = NULL;
    int listen_fd = hd ? hd->listen_fd : -1, ring[2] = {-1, -1}, ckpt_fd = -1;
    if (hd != NULL && hd->relayed) {   /* the MPI relay's streams: ours to close from here */
        ring[0] = hd->streams[0];
        ring[1] = hd->streams[1];
    }
    bool worker0 = hd == NULL || hd->rank == 0;   /* publishes the outputs */
    double t0 = sai_now();
    int rc = prepare(o, &p, err);
    if (rc)
        goto out;
    if (p.spec->stages == SAI_STAGE_SERVE) {
        rc = sai_error_set(err, SAI_EINVAL, "the spec's stages are [serve]: run it with `secureai serve`");
        goto out;
    }
    if ((p.spec->dist.workers >= 2) != (hd != NULL) || (hd && hd->world != p.spec->dist.workers)) {
        /* The enclave of a distributed job waits for DIST (rank and the two
         * ring streams) after SHARD_FDS: only a worker's host sends it. */
        rc = p.spec->dist.workers >= 2
                 ? sai_error_set(err, SAI_EINVAL, "the spec is a distributed job of %u workers: run it with "
                                 "--workers %u (dist.transport tcp) or under `mpirun -np %u` (dist.transport mpi), "
                                 "see docs/distributed.md",
                                 p.spec->dist.workers, p.spec->dist.workers, p.spec->dist.workers)
                 : sai_error_set(err, SAI_EINVAL, "--workers: the spec is not a distributed job (no dist.workers)");
        goto out;
    }
    if (p.spec->kbs.url == NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "no KBS URL (kbs.url or --kbs)");
        goto out;
    }
    if (strcmp(p.spec->tee, "sim") != 0 && !p.cvm) {
        rc = sai_error_set(err, SAI_EUNSUPP, "TEE '%s': this runtime launches sim enclaves and runs sev-snp / "
                           "tdx pipelines in confidential-VM mode only", p.spec->tee);
        goto out;
    }
    if ((rc = open_shards(p.spec->dataset.sealed_dir, &sh, err)))
        goto out;
    memcpy(res->spec_hash, p.spec_hash, 32);
    res->cvm = p.cvm;
    if (p.cvm) {
        /* Confidential VM: this guest is the TEE. The VMM bound the spec at
         * launch; the enclave half checks that binding in its own report
         * before it uses the spec, then runs as under sim (cvm.c). */
        if ((rc = sai_chan_pair(&hc, &ec, err)) || (rc = sai_pipeline__cvm_spawn(ec.fd, o->tee_root, &cvm_pid, err)))
            goto out;
        running = true;
        sai_chan_close(&ec);
        if (!o->quiet)
            fprintf(stderr, "secureai: confidential-VM mode (%s): the pipeline runs in this guest, which is the "
                    "TEE; the spec must be the one the VMM bound at launch\n", p.spec->tee);
    } else {
        /* The platform measures the image and this spec, records HOST_DATA =
         * SHA-256(spec) and launches; the host gets its end of the channel and
         * the numbers the platform will sign, nothing it could choose. */
        if ((rc = platform_connect(o, &plat, err)) || (rc = sai_chan_pair(&hc, &ec, err)) ||
            (rc = sai_sim_launch_enclave(&plat, p.canon, p.canon_len, ec.fd, &launched, err)))
            goto out;
        running = true;
        sai_chan_close(&ec);
        memcpy(p.meas, launched.measurement, 48);
        memcpy(res->measurement, p.meas, 48);
        res->insecure_dev = launched.insecure_dev;
        if (!o->quiet && worker0)
            fprintf(stderr, "%s\n", launched.insecure_dev
                                        ? "secureai: INSECURE-DEV: no platform service; you hold the platform key, "
                                          "so nothing this run produces is proven"
                                        : "secureai: enclave launched by the platform service under its own user; "
                                          "SIMULATED TEE: software isolation from you and other non-root users, "
                                          "none from root or the kernel");
    }

    /* HELLO, READY */
    sai_proto_hello_t hl = {.spec = p.canon, .spec_len = p.canon_len, .kbs_url = p.spec->kbs.url,
                          .kbs_ca = p.ca, .kbs_ca_len = p.ca_len, .threads = o->threads};
    size_t hello_len = 0;
    sai_sandbox_status_t ready;
    if ((rc = sai_pipeline__proto_hello_encode(&hl, &hello, &hello_len, err)) ||
        (rc = sai_chan_send(&hc, SAI_MSG_HELLO, hello, hello_len, NULL, 0, err)) ||
        (rc = sai_chan_recv(&hc, SAI_MSG_READY, &d, &n, 4096, NULL, 0, NULL, err)) ||
        (rc = sai_pipeline__proto_ready_decode(&ready, d, n, err))) {
        if (rc == SAI_ESTATE)   /* the enclave's own sentence */
            sai_error_prefix(err, "enclave");
        goto out;
    }
    free(d);
    d = NULL;
    double launch_s = sai_now() - t0;   /* measuring, the TEE, fork+exec, HELLO, hardening */

    /* SHARD_FDS: the shards' descriptors, then the model's file */
    sai_proto_shards_t ps = {.manifest = sh.manifest, .manifest_len = sh.manifest_len, .names = sh.names, .n = sh.n};
    memcpy(ps.mac, sh.mac, 32);
    char *stxt = NULL;
    size_t stxt_len = 0;
    int xfds[SAI_CHAN_MAX_FDS];
    if (sh.n + 1 > SAI_CHAN_MAX_FDS) {
        rc = sai_error_set(err, SAI_ELIMIT, "too many shards (%zu)", sh.n);
        goto out;
    }
    /* Only worker 0 seals the model; the others get a descriptor they never write. */
    if (!worker0 && (mo.fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        rc = sai_error_set(err, SAI_EIO, "cannot open /dev/null: %s", strerror(errno));
    if (rc || (rc = sai_pipeline__proto_shards_encode(&ps, &stxt, &stxt_len, err)) ||
        (worker0 && (rc = model_out_open(&mo, p.spec, err)))) {
        free(stxt);
        goto out;
    }
    memcpy(xfds, sh.fds, sh.n * sizeof *xfds);
    xfds[sh.n] = mo.fd;
    rc = sai_chan_send(&hc, SAI_MSG_SHARD_FDS, stxt, stxt_len, xfds, sh.n + 1, err);
    free(stxt);
    if (rc)
        goto out;
    if (hd != NULL) {
        /* The ring over loopback: accept the previous worker, dial the next
         * (no handshake here: the enclaves run it over these sockets), or
         * under mpirun the relay's two streams; then DIST with the two
         * (dist.algorithm ps: the mesh, DIST with one stream per peer). */
        char dj[96];
        sai_proto_dist_t pd = {.rank = hd->rank, .world = hd->world};
        if (hd->rank == 0 && p.spec->dist.checkpoint_every > 0) {
            /* Worker 0's checkpoints (sealed in the enclave; dist_ckpt.c):
             * kept in outputs.dir, resumed from with --resume. */
            char cp[4200];
            struct stat cst;
            snprintf(cp, sizeof cp, "%s/%s", p.spec->outputs.dir, SAI_PIPELINE_DIST_CKPT);
            if ((ckpt_fd = open(cp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || fstat(ckpt_fd, &cst) != 0) {
                rc = sai_error_set(err, SAI_EIO, "%s: %s", cp, strerror(errno));
                goto out;
            }
            if (o->resume && cst.st_size == 0) {
                rc = sai_error_set(err, SAI_ENOTFOUND, "--resume: no checkpoint in %s", cp);
                goto out;
            }
            pd.ckpt = o->resume ? SAI_PROTO_CKPT_RESUME : SAI_PROTO_CKPT_NEW;
        }
        /* dist.algorithm ps: the full mesh instead, one stream per peer (host_dist.c) */
        bool mesh = strcmp(p.spec->dist.algorithm, "ps") == 0;
        int sfd[SAI_CHAN_MAX_FDS];
        size_t ns = 0, nmesh = 0;
        pd.servers = mesh ? p.spec->dist.servers : 0;
        int dl = sai_pipeline__proto_dist_encode(&pd, dj, sizeof dj);
        if (mesh && (hd->relayed || hd->peer_ports == NULL))
            rc = sai_error_set(err, SAI_EINVAL, "dist.algorithm ps needs the TCP mesh this host cannot form here");
        else if (mesh)
            rc = sai_pipeline__host_mesh_connect(hd, listen_fd, sfd, &nmesh, err);
        else if (!hd->relayed)
            rc = sai_dist_tcp_ring_connect(ring, hd->rank, hd->world, listen_fd, hd->next_host, hd->next_port,
                                           hd->timeout_ms, err);
        listen_fd = -1;
        ns = nmesh;
        if (!mesh) {
            sfd[ns++] = ring[0];
            sfd[ns++] = ring[1];
        }
        if (ckpt_fd >= 0)
            sfd[ns++] = ckpt_fd;
        if (rc || (rc = dl < 0 ? sai_error_set(err, SAI_ELIMIT, "DIST does not fit") : 0) ||
            (rc = sai_chan_send(&hc, SAI_MSG_DIST, dj, (size_t)dl, sfd, ns, err)))
            sai_error_prefix(err, mesh ? "forming the mesh" : "forming the ring");
        for (size_t i = 0; i < nmesh; i++)
            close(sfd[i]);
        if (rc)
            goto out;
        close(ring[0]);
        close(ring[1]);
        ring[0] = ring[1] = -1;
        if (ckpt_fd >= 0)
            close(ckpt_fd);
        ckpt_fd = -1;
    }

    /* Serve the enclave until DONE. */
    /* KBS_CONN: the enclave asks for a stream to the KBS (worker 0 of a
     * checkpointing job, at each checkpoint; dist_ckpt.c) */
    static const sai_msg_type_t want[] = {SAI_MSG_PROGRESS, SAI_MSG_OUTPUT, SAI_MSG_OUTPUT_END, SAI_MSG_KBS_CONN};
    static const sai_msg_type_t want_done[] = {SAI_MSG_DONE};
    static const sai_msg_type_t want_worker[] = {SAI_MSG_PROGRESS, SAI_MSG_DONE};   /* seals nothing */
    for (;;) {
        sai_msg_type_t got;
        bool outputs_done = model.ended && prov.ended;
        rc = sai_chan_recv_any(&hc, !worker0 ? want_worker : outputs_done ? want_done : want,
                               !worker0 ? 2 : outputs_done ? 1 : 4, &got, &d, &n, SAI_CHAN_MAX_PAYLOAD, NULL, 0,
                               NULL, err);
        if (rc) {
            if (rc == SAI_ESTATE)   /* the enclave's own sentence */
                sai_error_prefix(err, "enclave");
            goto out;
        }
        if (got == SAI_MSG_PROGRESS) {
            cJSON *pj = cJSON_ParseWithLength((const char *)d, n);
            if (cJSON_IsObject(pj)) {
                print_progress(pj, o->quiet, hd);
                cJSON_AddItemToArray(hist, pj);
            } else {
                cJSON_Delete(pj);
            }
        } else if (got == SAI_MSG_KBS_CONN) {
            /* a connected socket, or none and why (the enclave's request then fails) */
            int kfd = -1;
            sai_error_t why = {0};
            if (kbs_stream(p.spec->kbs.url, &kfd, &why) == 0) {
                rc = sai_chan_send(&hc, SAI_MSG_KBS_CONN, "", 0, &kfd, 1, err);
                close(kfd);
            } else {
                rc = sai_chan_send(&hc, SAI_MSG_KBS_CONN, why.msg, strlen(why.msg), NULL, 0, err);
            }
            if (rc)
                goto out;
        } else if (got == SAI_MSG_OUTPUT || got == SAI_MSG_OUTPUT_END) {
            sai_proto_output_t po;
            if ((rc = sai_pipeline__proto_output_decode(&po, got == SAI_MSG_OUTPUT_END, d, n, err)))
                goto out;
            outbuf *ob = po.id == SAI_PROTO_OUT_MODEL ? &model : &prov;
            if (ob->ended) {
                rc = sai_error_set(err, SAI_EFORMAT, "enclave: output after its end");
                goto out;
            }
            if (po.id == SAI_PROTO_OUT_MODEL) {
                /* Sealed into the file by the enclave: only its SHA-256 and
                 * length come through the channel. */
                if (po.sealed_len > (uint64_t)OUT_MAX) {
                    rc = sai_error_set(err, SAI_ELIMIT, "enclave output too large");
                    goto out;
                }
                memcpy(model.sha256, po.sha256, 32);
                model.sealed_len = (size_t)po.sealed_len;
                model.ended = true;
            } else if (!po.end) {
                if ((rc = out_append(ob, po.data, po.len, err)))
                    goto out;
            } else {
                if ((rc = sai_hash(SAI_SHA256, ob->sha256, ob->b.data, ob->b.len, err)) != 0 ||
                    memcmp(ob->sha256, po.sha256, 32) != 0) {
                    rc = sai_error_set(err, SAI_EFORMAT, "enclave: an output arrived damaged");
                    goto out;
                }
                ob->ended = true;
            }
        } else if (got == SAI_MSG_DONE) {
            if ((rc = worker0 ? sai_pipeline__proto_done_decode(&done, d, n, err)
                              : sai_pipeline__proto_worker_done_decode(&done, d, n, err)))
                goto out;
            if (p.cvm && (rc = cvm_done(&p, done, res, o->quiet, err)))
                goto out;
            if (hd != NULL && !o->quiet) {   /* each worker's final weights (the enclaves compared them) */
                cJSON *ws = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(done, "dist"),
                                                             "weights_sha256");
                fprintf(stderr, "  [worker %u] done: weights sha256 %s\n", hd->rank,
                        cJSON_IsString(ws) ? ws->valuestring : "(not reported)");
            }
            break;
        }
        free(d);
        d = NULL;
    }
    free(d);
    d = NULL;
    /* The work is done at DONE; the enclave's exit (returning ~0.5 GB to
     * the kernel for ResNet-18) is reported as exit_s but not counted, as
     * the plain baseline's own exit is not. */
    double work_s = sai_now() - t0, te = sai_now();
    int status = 0;
    sai_chan_close(&hc);
    rc = p.cvm ? sai_pipeline__cvm_wait(cvm_pid, 60000, &status, err) : sai_sim_wait_exit(&plat, 60000, &status, err);
    running = false;
    if (rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (rc == 0)
            rc = sai_error_set(err, SAI_ESTATE, "the enclave exited abnormally after DONE (%s %d)",
                               WIFSIGNALED(status) ? "signal" : "status",
                               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        goto out;
    }
    double exit_s = sai_now() - te;
    if (!worker0)
        goto out;   /* worker 0 publishes the job's outputs */
    rc = write_outputs(p.spec, &p, o, &mo, &model, &prov, done, hist, work_s, launch_s, exit_s, res, err);
out:
    free(d);
    free(hello);
    sai_chan_close(&hc);
    sai_chan_close(&ec);
    if (running) {
        /* Give a failing enclave a moment to exit on its own; closing the
         * platform connection then stops it. */
        int st;
        sai_error_t ignore = {0};
        if (p.cvm && cvm_pid > 0) {
            if (sai_pipeline__cvm_wait(cvm_pid, 500, &st, &ignore) != 0) {
                kill(cvm_pid, SIGKILL);
                (void)!sai_pipeline__cvm_wait(cvm_pid, -1, &st, &ignore);
            }
        } else if (sai_sim_wait_exit(&plat, 500, &st, &ignore) == 0 && rc != 0 && WIFSIGNALED(st)) {
            sai_error_prefix(err, "the enclave was killed (signal %d)", WTERMSIG(st));
        }
    }
    sai_sim_disconnect(&plat);
    model_out_abandon(&mo, p.spec);
    shards_free(&sh);
    prepared_free(&p);
    sai_buf_free(&model.b);
    sai_buf_free(&prov.b);
    cJSON_Delete(hist);
    cJSON_Delete(done);
    if (listen_fd >= 0)
        close(listen_fd);
    for (int i = 0; i < 2; i++)
        if (ring[i] >= 0)
            close(ring[i]);
    if (ckpt_fd >= 0)
        close(ckpt_fd);
    return rc;
}

int sai_pipeline_host_run(const sai_pipeline_run_opts_t *o, sai_pipeline_run_result_t *res, sai_error_t *err)
{
    /* The spec decides the launcher: dist.transport mpi runs under mpirun
     * (one host per rank), tcp under --workers N (all hosts here) or as one
     * worker per machine (--rank R --peers T). */
    prepared p;
    int rc = prepare(o, &p, err);
    if (rc) {
        prepared_free(&p);
        return rc;
    }
    unsigned workers = p.spec->dist.workers;
    bool ckpts = p.spec->dist.checkpoint_every > 0;
    bool mpi = workers >= 2 && p.spec->dist.transport != NULL && strcmp(p.spec->dist.transport, "mpi") == 0;
    prepared_free(&p);
    if (o->resume && !ckpts)
        return sai_error_set(err, SAI_EINVAL, "--resume: the spec's job does not checkpoint (dist.checkpoint_every)");
    if (o->peers != NULL) {
        if (workers < 2)
            return sai_error_set(err, SAI_EINVAL, "--peers: the spec is not a distributed job (no dist.workers)");
        if (mpi)
            return sai_error_set(err, SAI_EINVAL, "--peers: the spec's dist.transport is mpi: start it with "
                                 "`mpirun -np %u secureai run SPEC`", workers);
        return sai_pipeline__host_run_peer(o, workers, res, err);
    }
    if (mpi)
        return o->workers != 0
                   ? sai_error_set(err, SAI_EINVAL, "--workers runs a TCP ring on this machine; the spec's "
                                   "dist.transport is mpi: start it with `mpirun -np %u secureai run SPEC`", workers)
                   : sai_pipeline__host_run_mpi(o, res, err);
    if (o->workers == 0)
        return host_run(o, NULL, res, err);   /* refuses a distributed spec, naming --workers */
    /* --workers N: the spec must say N workers; checked before anything forks. */
    if (workers != o->workers)
        return workers >= 2
                   ? sai_error_set(err, SAI_EINVAL, "--workers %u: the spec's dist.workers is %u (measured: the "
                                   "enclaves hold the host to it)", o->workers, workers)
                   : sai_error_set(err, SAI_EINVAL, "--workers: the spec is not a distributed job (no dist.workers)");
    return sai_pipeline__host_run_workers(o, o->workers, res, err);
}

int sai_pipeline__host_run_worker(const sai_pipeline_run_opts_t *o, const sai_host_dist_t *hd,
                                  sai_pipeline_run_result_t *res, sai_error_t *err)
{
    return host_run(o, hd, res, err);
}
