/*
 * enclave.c — the enclave side of a pipeline run (the process the host
 * launched from the binary it measured; `secureai run --enclave-fd N`).
 *
 * Order matters and is the security argument:
 *   1. HELLO: the canonical spec (what was measured) and where the KBS is.
 *   2. Set up what needs the file system or fresh threads (OpenSSL config,
 *      the KBS client's event loop), then sai_sandbox_harden: not dumpable,
 *      no core, no capabilities, seccomp allow-list. Then READY.
 *      No key exists in this process before this point.
 *   3. SHARD_FDS: manifest, its MAC, one descriptor per sealed shard and
 *      one for the sealed model (a temporary file the host opened and
 *      publishes only after DONE). The enclave opens no path; it only reads
 *      and writes what the host handed over.
 *   4. Attest to the KBS (RCAR; the evidence comes from the TEE, which under
 *      `sim` is the launcher: EVIDENCE_REQ/EVIDENCE) and receive the dataset
 *      key in a locked sai_secret_t.
 *   5. Check the manifest MAC, the dataset identity (against the spec, when
 *      it names one) and each shard's SHA-256 against the manifest; the
 *      STREAM reader then authenticates every chunk as it decrypts.
 *   6. Run the stages; fetch the model key; seal the checkpoint straight
 *      into the model descriptor (ciphertext only; two chunks of memory);
 *      wipe.
 *   7. Generate a provenance key, bind it into fresh evidence, sign the
 *      statement; send the sealed model and the statement; DONE.
 * Any failure sends one ERROR sentence and exits non-zero; nothing partial
 * leaves the enclave (the host writes outputs only after DONE).
 */
#include "pipeline/pipeline_internal.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "secureai/kbs.h"
#include "secureai/seal.h"
#include "secureai/tee.h"
#include "secureai/util.h"
#include "util/weaken.h"


typedef struct enclave {
    sai_chan_t           chan;
    sai_pipeline_spec_t *spec;
    char               tee[16];
    uint8_t            measurement[SAI_MEASUREMENT_LEN];
    uint8_t            spec_hash[32];
    sai_kbs_client_t    *kbs;
    const char        *kbs_channel;    /* "tls-pin", "tls-ca" or "insecure-http" (static) */
    sai_tee_t           *tee_dev;        /* the TEE (sim: the PSP signer's socket) */
    int                tee_fd;
    /* confidential-VM mode (tee: sev-snp / tdx; cvm.c) */
    bool               is_cvm;
    const char        *tee_root;       /* the guest interfaces' prefix (tests), NULL = real */
    sai_cvm_attester_t   cvm;            /* evidence from the guest's own TEE */
    bool               emulated;       /* its evidence does not chain to AMD's roots */
    char              *kbs_url;
    /* data */
    sai_proto_shards_t   shards;         /* SHARD_FDS, decoded */
    sai_manifest_t       mf;
    bool               mf_ok;
    uint8_t          **shard_ct;      /* the sealed bytes of each shard, in memory */
    size_t            *shard_ct_len;
    sai_seal_reader_t  **readers;
    sai_stage_file_t    *files;
    size_t             nshards;
    uint8_t            dataset_id[32];
    /* a distributed job (spec dist.workers >= 2; docs/distributed.md) */
    sai_proto_dist_t     dist;           /* DIST, decoded: rank and world (== dist.workers) */
    int                peer_fds[SAI_CHAN_MAX_FDS]; /* the ring's streams to the next and from the
                                        * previous worker, or ps: one per peer in rank order */
    size_t             n_peer_fds;
    sai_fw_t           fw;             /* framework mode: the interpreter child (enclave_framework.c) */
    int                ckpt_fd;        /* worker 0 of a checkpointing job: its checkpoint file */
    sai_kbs_attester_t   ckpt_att;       /* ... and the attester its checkpoints' counter moves use */
} enclave;

/* ---- the attester: evidence straight from the TEE ------------------------
 * Under sim the TEE is the PSP signer process the launcher started with the
 * measurement it computed; the enclave holds a socket to it (handed over in
 * HELLO) and can only ask for reports over its own report data. The host
 * never produces or touches evidence. */

static int tee_evidence(void *ctx, const uint8_t rd[static 64], char **json, size_t *len, sai_error_t *err)
{
    enclave *e = ctx;
    if (e->is_cvm)
        return sai_pipeline__cvm_evidence(&e->cvm, rd, json, len, err);
    return sai_tee_get_evidence(e->tee_dev, rd, json, len, err);
}

static int get_key(enclave *e, const sai_kbs_resource_t *r, sai_secret_t **key, sai_error_t *err)
{
    /* every key this enclave fetches is 32 bytes: the dataset and model keys
     * (SAI_SEAL_KEY_LEN) and a job's group secret (SAI_DIST_SECRET_LEN) */
    _Static_assert(SAI_SEAL_KEY_LEN == SAI_DIST_SECRET_LEN, "one key length");
    char res[200];
    snprintf(res, sizeof res, "%s/%s/%s", r->repo, r->type, r->tag);
    sai_kbs_attester_t att = {.ctx = e, .tee = e->tee, .borrowed = true, .evidence = tee_evidence};
    char *token = NULL;
    int rc = sai_kbs_client_get_resource(e->kbs, &att, res, key, &token, err);
    free(token);
    if (rc)
        return sai_error_prefix(err, "key broker: resource %s", res);
    if ((*key)->len != SAI_SEAL_KEY_LEN) {
        size_t got = (*key)->len;
        sai_secret_free(*key);
        *key = NULL;
        return sai_error_set(err, SAI_EFORMAT, "key broker: resource %s is %zu bytes, not a 32-byte key", res,
                             got);
    }
    return 0;
}

/* A stream to the KBS, for a client that can no longer open sockets
 * (worker 0's checkpoint counter after the no-network filter; dist_ckpt.c):
 * KBS_CONN asks the host, which answers KBS_CONN with one connected socket,
 * or with none and its reason. The client runs TLS and the KBS's pin or CA
 * check over it: the host only moves bytes, as on the ring. */
static int kbs_dial(void *ctx, int *fd, sai_error_t *err)
{
    enclave *e = ctx;
    uint8_t *d = NULL;
    size_t n = 0, nfds = 0;
    int got[1] = {-1};
    *fd = -1;
    int rc = sai_chan_send(&e->chan, SAI_MSG_KBS_CONN, "", 0, NULL, 0, err);
    if (rc == 0)
        rc = sai_chan_recv(&e->chan, SAI_MSG_KBS_CONN, &d, &n, 1024, got, 1, &nfds, err);
    if (rc)
        return rc;
    if (nfds == 1) {
        *fd = got[0];
    } else {
        for (size_t i = 0; i < n; i++)   /* the host's words, printed as text only */
            if (d[i] < 0x20 || d[i] > 0x7e)
                d[i] = '?';
        rc = sai_error_set(err, SAI_ENET, "the host gave no connection to the KBS (it says: %.*s)",
                           (int)(n > 300 ? 300 : n), n ? (const char *)d : "nothing");
    }
    free(d);
    return rc;
}

static int get_key_cb(void *ctx, const sai_kbs_resource_t *r, sai_secret_t **key, sai_error_t *err)
{
    return get_key(ctx, r, key, err);
}

/* The model key generated here, never outside: 32 random bytes in a locked
 * buffer, registered with the KBS under r with the spec's release policy
 * (attested registration: the KBS takes it only into an enclave-writable
 * repo and never overwrites, so no one else's key can be replaced). */
static int generate_key(enclave *e, const sai_kbs_resource_t *r, const char *policy, sai_secret_t **key,
                        sai_error_t *err)
{
    char res[200];
    snprintf(res, sizeof res, "%s/%s/%s", r->repo, r->type, r->tag);
    sai_kbs_attester_t att = {.ctx = e, .tee = e->tee, .borrowed = true, .evidence = tee_evidence};
    int rc = sai_secret_new(key, SAI_SEAL_KEY_LEN, err);
    if (rc == 0)
        rc = sai_random_bytes((*key)->data, SAI_SEAL_KEY_LEN, err);
    uint8_t wk[32];
    if (rc == 0 && (e->spec->kbs.wrap_key_sha256 == NULL ||
                    sai_hex_decode(wk, 32, e->spec->kbs.wrap_key_sha256 + 7, NULL) != 0))
        rc = sai_error_set(err, SAI_EINVAL, "spec: generate_key without kbs.wrap_key_sha256");
    if (rc == 0)
        rc = sai_kbs_client_register_resource(e->kbs, &att, res, (*key)->data, SAI_SEAL_KEY_LEN, policy, wk,
                                              err);
    if (rc) {
        sai_secret_free(*key);
        *key = NULL;
        return sai_error_prefix(err, "key broker: registering the generated model key as %s", res);
    }
    return 0;
}

/* ---- the dataset ------------------------------------------------------- */

static int read_fd_all(int fd, const char *name, uint8_t **out, size_t *len, sai_error_t *err)
{
    /* pread in a loop until EOF; capped like the engine's source cap. */
    sai_buf_t b;
    sai_buf_init(&b, (size_t)SAI_NN_DATA_MAX_BYTES * 2);
    int rc = sai_buf_reserve(&b, 1 << 20);
    for (;;) {
        if (rc == 0 && b.len == b.cap)
            rc = sai_buf_reserve(&b, 1);
        if (rc != 0) {
            rc = rc == SAI_ELIMIT ? sai_error_set(err, SAI_ELIMIT, "shard %s is too large", name)
                                  : sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        ssize_t k = pread(fd, b.data + b.len, b.cap - b.len, (off_t)b.len);
        if (k < 0) {
            rc = sai_error_set(err, SAI_EIO, "shard %s: read failed", name);
            goto out;
        }
        if (k == 0)
            break;
        sai_buf_commit(&b, (size_t)k);
    }
    *out = sai_buf_take(&b, len);
out:
    sai_buf_free(&b);
    return rc;
}

static int src_read(void *ctx, uint64_t off, void *buf, size_t len, sai_error_t *err)
{
    return sai_seal_read_at(ctx, off, buf, len, err);
}

static int open_dataset(enclave *e, const sai_secret_t *key, const char *const *names, const int *fds,
                        size_t nfds, sai_error_t *err)
{
    int rc;
    /* The MAC first: nothing of the manifest is believed before it. */
    uint8_t mac[32];
    const uint8_t *want = e->shards.mac;
    if ((rc = sai_manifest_mac(mac, key->data, e->shards.manifest, e->shards.manifest_len, err)))
        return rc;
    if (!sai_ct_equal(mac, want, 32))
        return sai_error_set(err, SAI_EAUTH, "dataset: the manifest's MAC does not verify under the "
                             "released key (not this dataset, or altered)");
    if ((rc = sai_manifest_parse(&e->mf, e->shards.manifest, e->shards.manifest_len, err)))
        return sai_error_prefix(err, "dataset manifest");
    e->mf_ok = true;
    if ((rc = sai_hash(SAI_SHA256, e->dataset_id, e->shards.manifest, e->shards.manifest_len, err)))
        return rc;
    if (e->spec->dataset.identity != NULL) {
        uint8_t exp[32];
        char got[65];
        if (sai_hex_decode(exp, 32, e->spec->dataset.identity, NULL) != 0)
            return sai_error_set(err, SAI_EINVAL, "spec: bad dataset identity");
        sai_hex_encode(got, e->dataset_id, 32);
        if (!sai_ct_equal(exp, e->dataset_id, 32))
            return sai_error_set(err, SAI_EAUTH, "dataset: identity %.16s... is not the %.16s... the spec "
                                 "names (the host substituted another dataset)", got, e->spec->dataset.identity);
    }
    size_t n = e->mf.n_shards;
    e->nshards = n;
    e->shard_ct = calloc(n, sizeof *e->shard_ct);
    e->shard_ct_len = calloc(n, sizeof *e->shard_ct_len);
    e->readers = calloc(n, sizeof *e->readers);
    e->files = calloc(n, sizeof *e->files);
    if (n && (!e->shard_ct || !e->shard_ct_len || !e->readers || !e->files))
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const sai_dataset_shard_t *sh = &e->mf.shards[i];
        size_t j = 0;
        while (j < nfds && strcmp(names[j], sh->name) != 0)
            j++;
        if (j == nfds)
            return sai_error_set(err, SAI_ENOTFOUND, "shard %s: the host did not hand it over", sh->name);
        /* Read the ciphertext once, hash it, decrypt from that copy: the
         * host cannot change the file between the check and the use. */
        if ((rc = read_fd_all(fds[j], sh->name, &e->shard_ct[i], &e->shard_ct_len[i], err)))
            return rc;
        uint8_t h[32];
        if ((rc = sai_hash(SAI_SHA256, h, e->shard_ct[i], e->shard_ct_len[i], err)))
            return rc;
        if (!sai_ct_equal(h, sh->sha256, 32))
            return sai_error_set(err, SAI_EAUTH, "shard %s: its SHA-256 does not match the manifest "
                                 "(altered, truncated or substituted)", sh->name);
        sai_seal_open_opts_t o = {.expect_key_id = e->mf.key_id};
        if ((rc = sai_seal_open_mem(&e->readers[i], e->shard_ct[i], e->shard_ct_len[i], sh->name, key->data,
                                    &o, err)))
            return sai_error_prefix(err, "shard %s", sh->name);
        if (sai_seal_size(e->readers[i]) != sh->size)
            return sai_error_set(err, SAI_EAUTH, "shard %s: length differs from the manifest", sh->name);
        e->files[i].name = sh->name;
        e->files[i].src.read_at = src_read;
        e->files[i].src.ctx = e->readers[i];
        e->files[i].src.size = sh->size;
        e->files[i].src.name = sh->name;
    }
    return 0;
}

/* ---- output to the host ------------------------------------------------------ */

/* The data in chunks, then OUTPUT_END with its SHA-256 (computed once by
 * the caller: the model's is also the provenance subject's). */
static int send_output(enclave *e, sai_proto_out_t id, const uint8_t *data, size_t len, const uint8_t sha256[32],
                       sai_error_t *err)
{
    uint8_t *pkt = malloc(SAI_CHAN_MAX_PAYLOAD);
    if (pkt == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = 0;
    size_t off = 0, room = SAI_CHAN_MAX_PAYLOAD - 1;
    do {
        size_t k = len - off < room ? len - off : room;
        pkt[0] = (uint8_t)id;
        if (k)
            memcpy(pkt + 1, data + off, k);
        rc = sai_chan_send(&e->chan, SAI_MSG_OUTPUT, pkt, k + 1, NULL, 0, err);
        off += k;
    } while (rc == 0 && off < len);
    if (rc == 0)
        rc = sai_chan_send(&e->chan, SAI_MSG_OUTPUT_END, pkt,
                           sai_pipeline__proto_output_end_encode(pkt, id, sha256, 0), NULL, 0, err);
    free(pkt);
    return rc;
}

static void progress_line(void *ctx, const char *line)
{
    enclave *e = ctx;
    sai_error_t ignore = {0};
    if (sai_chan_send(&e->chan, SAI_MSG_PROGRESS, line, strlen(line), NULL, 0, &ignore) != 0)
        return;   /* progress is best effort; a dead host shows at the next real message */
}

/* ---- main ---------------------------------------------------------------------- */

static int parse_hello(enclave *e, const uint8_t *d, size_t n, int tee_fd, sai_error_t *err)
{
    sai_proto_hello_t h;
    int rc = sai_pipeline__proto_hello_decode(&h, d, n, err);
    if (rc)
        return rc;
    if ((rc = sai_pipeline_spec_from_canonical(&e->spec, h.spec, h.spec_len, err)))
        goto out;
    if ((rc = sai_hash(SAI_SHA256, e->spec_hash, h.spec, h.spec_len, err)))
        goto out;
    snprintf(e->tee, sizeof e->tee, "%s", e->spec->tee);
    /* Nothing of the spec is used before it is known to be the measured one. */
    sai_tee_kind_t kind = sai_tee_kind_from_name(e->tee);
    if (e->is_cvm) {
        /* Confidential VM: the guest is the TEE; the VMM bound the spec at
         * launch (HOST_DATA / MRCONFIGID), the guest's own report says
         * which (cvm.c). The attester is forked now: before the KBS
         * client's thread and before the sandbox closes the file system. */
        if (kind != SAI_TEE_SEV_SNP && kind != SAI_TEE_TDX) {
            rc = sai_error_set(err, SAI_EUNSUPP, "TEE '%s': confidential-VM mode is for sev-snp and tdx", e->tee);
            goto out;
        }
        if ((rc = sai_pipeline__cvm_attester_start(&e->cvm, kind, e->tee_root, e->chan.fd, err)) ||
            (rc = sai_pipeline__cvm_launch_claims(&e->cvm, kind, e->spec_hash, e->measurement, &e->emulated, err)))
            goto out;
    } else {
        sai_tee_opts_t to;
        memset(&to, 0, sizeof to);
        to.psp_fd = tee_fd;
        if (kind != SAI_TEE_SIM || tee_fd < 0) {
            rc = sai_error_set(err, SAI_EUNSUPP, "TEE '%s': the sim platform launches sim enclaves only (sev-snp "
                               "and tdx run in confidential-VM mode)", e->tee);
            goto out;
        }
        if ((rc = sai_tee_open(&e->tee_dev, kind, &to, err))) {
            sai_error_prefix(err, "TEE");
            goto out;
        }
        /* The spec the host sent must be the one the platform measured: its
         * SHA-256 is the HOST_DATA the platform recorded at launch (and signs
         * into every report), which the host cannot change. */
        uint8_t hd[32];
        bool insecure = false;
        if ((rc = sai_sim_launch_claims(e->tee_dev, e->measurement, hd, &insecure, err))) {
            sai_error_prefix(err, "TEE");
            goto out;
        }
        if (!SAI_WEAKENED("spec_host_data") && !sai_ct_equal(hd, e->spec_hash, 32)) {
            rc = sai_error_set(err, SAI_EAUTH, "the spec the host sent is not the one the platform measured "
                               "(its SHA-256 differs from HOST_DATA)");
            goto out;
        }
    }
    e->kbs_url = h.kbs_url;
    h.kbs_url = NULL;
    sai_nn_set_threads(h.threads);
    /* The KBS is trusted only through what the spec measured (kbs_glue.c):
     * its pin, else its CA (the host sends the bytes; they must hash to the
     * measured kbs.ca_sha256), plain HTTP only with kbs.insecure_http. The
     * host's URL is trusted for reachability only. */
    if ((rc = sai_pipeline_kbs_client_for_spec(e->spec, e->kbs_url, h.kbs_ca, h.kbs_ca_len, &e->kbs, err)))
        goto out;
    e->kbs_channel = sai_kbs_channel_name(sai_kbs_client_channel(e->kbs));
out:
    sai_pipeline__proto_hello_clear(&h);
    return rc;
}

static void rfc3339(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int run(enclave *e, sai_error_t *err)
{
    uint8_t *d = NULL;
    size_t n = 0, nfds = 0;
    int fds[SAI_CHAN_MAX_FDS], model_fd = -1;
    int rc;
    sai_seal_writer_t *sw = NULL;
    sai_secret_t *dkey = NULL, *mkey = NULL, *gkey = NULL;
    sai_stage_result_t sr = {0};
    uint8_t *evidence = NULL;
    size_t ev_len = 0;
    uint64_t sealed_len = 0;
    char *stmt = NULL;
    sai_ec_key_t *pk = NULL;
    sai_pipeline_dist_run_t *dr = NULL;   /* a distributed job's ring (enclave_dist.c) */
    sai_pipeline_dist_ckpt_t *ckpt = NULL;   /* worker 0's checkpoints (dist_ckpt.c) */
    double t0 = sai_now(), t;

    if ((rc = sai_chan_recv(&e->chan, SAI_MSG_HELLO, &d, &n, SAI_CHAN_MAX_PAYLOAD, NULL, 0, NULL, err)))
        return rc;
    rc = parse_hello(e, d, n, e->tee_fd, err);
    free(d);
    d = NULL;
    if (rc)
        return rc;
    /* Framework mode: the interpreter starts (and sandboxes itself) now,
     * while exec is still possible and before any key exists. */
    if (e->spec->framework.framework != NULL && (rc = sai_pipeline__fw_start_for(&e->fw, e->spec, err)))
        return rc;

    /* Load what lazily reads files while the file system is still there;
     * OpenSSL reads no configuration file (the platform also gives the
     * enclave no environment, so no OPENSSL_CONF or OPENSSL_MODULES). */
    OPENSSL_init_ssl(SAI_WEAKENED("enclave_env") ? OPENSSL_INIT_LOAD_CONFIG : OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
    uint8_t warm[16];
    if ((rc = sai_random_bytes(warm, sizeof warm, err)))
        return rc;
    sai_sandbox_status_t st;
    if ((rc = sai_sandbox_harden(&st, err)))
        return rc;
    char ready[160];
    int ready_len = sai_pipeline__proto_ready_encode(&st, ready, sizeof ready);
    if (ready_len < 0)
        return sai_error_set(err, SAI_ELIMIT, "READY does not fit");
    if ((rc = sai_chan_send(&e->chan, SAI_MSG_READY, ready, (size_t)ready_len, NULL, 0, err)))
        return rc;

    /* `secureai serve`: the model server instead of the stages (serve_enclave.c). */
    if (e->spec->stages == SAI_STAGE_SERVE) {
        sai_pipeline_enclave_ctx_t sc = {.chan = &e->chan, .spec = e->spec, .tee = e->tee,
                                         .measurement = e->measurement, .spec_hash = e->spec_hash, .kbs = &e->kbs,
                                         .ctx = e, .get_key = get_key_cb, .evidence = tee_evidence};
        return sai_pipeline__serve_enclave(&sc, err);
    }

    /* The shards. */
    if ((rc = sai_chan_recv(&e->chan, SAI_MSG_SHARD_FDS, &d, &n, SAI_CHAN_MAX_PAYLOAD, fds, SAI_CHAN_MAX_FDS,
                            &nfds, err)))
        return rc;
    rc = sai_pipeline__proto_shards_decode(&e->shards, d, n, nfds, err);
    free(d);
    d = NULL;
    if (rc)
        goto out;
    model_fd = fds[--nfds];   /* the last descriptor is the sealed model's */

    /* A distributed job: DIST says which rank this is and hands over the
     * two ring streams the host formed (ps: one stream per peer); the world
     * size and the algorithm must be the measured ones (proto.c). */
    if (e->spec->dist.workers >= 2) {
        int rfds[SAI_CHAN_MAX_FDS];
        size_t nr = 0;
        if ((rc = sai_chan_recv(&e->chan, SAI_MSG_DIST, &d, &n, 256, rfds, SAI_CHAN_MAX_FDS, &nr, err)))
            goto out;
        rc = sai_pipeline__proto_dist_decode(&e->dist, d, n, nr, e->spec->dist.workers, e->spec->dist.servers,
                                             err);
        free(d);
        d = NULL;
        if (rc) {
            for (size_t i = 0; i < nr; i++)
                close(rfds[i]);
            goto out;
        }
        e->n_peer_fds = sai_pipeline__proto_dist_streams(&e->dist);
        memcpy(e->peer_fds, rfds, e->n_peer_fds * sizeof *rfds);
        if (e->dist.ckpt)
            e->ckpt_fd = rfds[e->n_peer_fds];
        /* Checkpoints are measured (dist.checkpoint_every): worker 0 must
         * get a checkpoint file, no other worker writes one. */
        if ((e->dist.ckpt != 0) != (e->dist.rank == 0 && e->spec->dist.checkpoint_every > 0)) {
            rc = sai_error_set(err, SAI_EPOLICY, "DIST: %s", e->dist.ckpt ? "a checkpoint file for a worker that "
                               "does not checkpoint" : "no checkpoint file for worker 0 of a job that checkpoints "
                               "(dist.checkpoint_every)");
            goto out;
        }
        /* `ps` tells a job's enclaves apart by rank (an operator stopping
         * one; tests/dist/test_dist_fault.sh kills one) */
        char nm[16];
        snprintf(nm, sizeof nm, "sai-encl-w%u", (unsigned)e->dist.rank);
        (void)prctl(PR_SET_NAME, nm, 0, 0, 0);
    }

    /* Attest and receive the dataset key. */
    t = sai_now();
    if ((rc = get_key(e, &e->spec->dataset.key, &dkey, err)))
        goto out;
    double attest_s = sai_now() - t;

    t = sai_now();
    if ((rc = open_dataset(e, dkey, (const char *const *)e->shards.names, fds, nfds, err)))
        goto out;
    double open_s = sai_now() - t;
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    nfds = 0;

    /* The model key too (released, or generated here and registered),
     * before any untrusted record is decoded: then the enclave closes its
     * KBS connections and gives up the network for good. */
    t = sai_now();
    if (!e->spec->model.has_key) {
        rc = sai_error_set(err, SAI_EINVAL, "the spec has no model.key (where the model key is, or "
                           "where to register a generated one)");
        goto out;
    }
    if ((rc = e->spec->model.generate_key
                  ? generate_key(e, &e->spec->model.key, e->spec->model.key_policy, &mkey, err)
                  : get_key(e, &e->spec->model.key, &mkey, err)))
        goto out;
    /* A distributed job's group secret (the other half of every ring key,
     * docs/distributed.md "Key schedule"): resource <spec name>/dist/group,
     * released by the KBS under its release policy, like the keys above. */
    if (e->spec->dist.workers >= 2) {
        char dist_type[] = "dist", group_tag[] = "group";
        sai_kbs_resource_t gr = {.repo = e->spec->name, .type = dist_type, .tag = group_tag};
        if ((rc = get_key(e, &gr, &gkey, err)))
            goto out;
    }
    /* Worker 0 of a checkpointing job: the job's KBS counter moves for this
     * attempt, and a resume is held to it (dist_ckpt.c), while the enclave
     * still has its KBS connection. */
    if (e->ckpt_fd >= 0) {
        char counter[200];
        uint8_t job[SAI_DIST_JOB_ID_LEN];
        snprintf(counter, sizeof counter, "%s/dist/group", e->spec->name);
        e->ckpt_att = (sai_kbs_attester_t){.ctx = e, .tee = e->tee, .borrowed = true, .evidence = tee_evidence};
        rc = sai_pipeline__dist_job_id(job, e->spec_hash, err);
        if (rc == 0) {
            rc = sai_pipeline__dist_ckpt_begin(&ckpt, e->kbs, &e->ckpt_att, counter, e->ckpt_fd,
                                               e->dist.ckpt == SAI_PROTO_CKPT_RESUME, e->spec->dist.checkpoint_every,
                                               mkey->data, job, err);
            e->kbs = NULL;   /* taken: the checkpoints move the counter again, over streams the host connects */
        }
        e->ckpt_fd = -1;   /* taken */
        if (rc) {
            sai_error_prefix(err, "worker 0: %s", e->dist.ckpt == SAI_PROTO_CKPT_RESUME ? "resume" : "checkpoints");
            goto out;
        }
        sai_kbs_client_set_dialer(ckpt->kbs, kbs_dial, e);
    }
    double model_key_s = sai_now() - t;
    sai_kbs_client_free(e->kbs);
    e->kbs = NULL;
    if ((rc = sai_sandbox_no_network(err)))
        goto out;
    /* A distributed job: join the ring or the ps mesh (the peers' policy, the handshake);
     * the stages then train over it (enclave_dist.c). */
    if (e->spec->dist.workers >= 2) {
        if (e->is_cvm || !(e->spec->stages & SAI_STAGE_TRAIN) || e->spec->framework.framework != NULL) {
            rc = sai_error_set(err, SAI_EUNSUPP, "a distributed job needs the engine's train stage and a sim "
                               "enclave (confidential-VM workers and framework mode are one worker)");
            goto out;
        }
        if ((rc = sai_pipeline__dist_join(&dr, e->tee_dev, e->measurement, e->spec_hash, gkey->data, e->dist.rank,
                                          e->dist.world, e->dist.servers, e->peer_fds, e->n_peer_fds, err)))
            goto out;
        dr->ckpt = ckpt;
        ckpt = NULL;
    }

    /* The stages. */
    if ((rc = e->spec->framework.framework != NULL
                  ? sai_pipeline__fw_train(&e->fw, e->spec, e->files, e->nshards, progress_line, e, &sr, err)
                  : sai_pipeline__stages_ex(e->spec, e->files, e->nshards, progress_line, e,
                                            dr ? sai_pipeline__dist_train : NULL, dr, &sr, err)))
        goto out;
    sai_secret_free(dkey);
    dkey = NULL;
    if (dr != NULL) {
        /* Every worker's evidence to worker 0; only worker 0 seals and signs. */
        if ((rc = sai_pipeline__dist_finish(dr, err)))
            goto out;
        if (dr->rank != 0) {
            char wdone[256];
            size_t wl = sai_pipeline__dist_worker_done(dr, wdone, sizeof wdone);
            rc = sai_chan_send(&e->chan, SAI_MSG_DONE, wdone, wl, NULL, 0, err);
            goto out;
        }
    }

    t = sai_now();
    char kid[200];
    snprintf(kid, sizeof kid, "%s/%s/%s", e->spec->model.key.repo, e->spec->model.key.type, e->spec->model.key.tag);
    /* Sealed straight into the host's file, hashed chunk by chunk while in
     * cache (the hash is the provenance subject's): no sealed copy of the
     * whole checkpoint in memory, no second pass, no copy through the
     * channel. */
    sai_seal_params_t sp = {.key_id = kid, .hash_output = true};
    uint8_t model_sha[32];
    if ((rc = sai_seal_writer_new_fd(&sw, model_fd, "the sealed model", mkey->data, &sp, sr.ckpt_len, err)) ||
        (rc = sai_seal_writer_write(sw, sr.ckpt, sr.ckpt_len, err)) ||
        (rc = sai_seal_writer_finish(sw, model_sha, err)))
        goto out;
    sealed_len = sai_seal_writer_sealed_len(sw);
    sai_seal_writer_free(sw);
    sw = NULL;
    sai_secret_free(mkey);
    mkey = NULL;
    /* The plaintext model is not needed past this point. */
    sai_wipe(sr.ckpt, sr.ckpt_len);
    free(sr.ckpt);
    sr.ckpt = NULL;
    sr.ckpt_len = 0;
    double seal_s = sai_now() - t;

    /* Provenance: a fresh key, bound into fresh evidence. */
    t = sai_now();
    uint8_t pub[SAI_P384_POINT_LEN], rd[64];
    char *evjson = NULL;
    size_t evlen = 0;
    if ((rc = sai_ec_generate(&pk, err)) || (rc = sai_ec_public_raw(pk, pub, err)) ||
        (rc = sai_provenance_report_data(rd, pub, err)) || (rc = tee_evidence(e, rd, &evjson, &evlen, err)))
        goto out;
    evidence = (uint8_t *)evjson;
    ev_len = evlen;
    char metrics[512], when[40];
    snprintf(metrics, sizeof metrics,
             "{\"test_accuracy\":%.5f,\"test_loss\":%.5f,\"train_loss\":%.5f,\"train_accuracy\":%.5f,"
             "\"steps\":%llu,\"train_records\":%d,\"test_records\":%d,\"train_images_per_s\":%.1f}",
             sr.test_accuracy, sr.test_loss, sr.train_loss, sr.train_accuracy, (unsigned long long)sr.steps,
             sr.train_n, sr.test_n, sr.train_images_per_s);
    rfc3339(when, sizeof when);
    char resource[200];
    snprintf(resource, sizeof resource, "%s/%s/%s", e->spec->dataset.key.repo, e->spec->dataset.key.type,
             e->spec->dataset.key.tag);
    sai_provenance_facts_t f = {0};
    f.subject_name = e->spec->outputs.model_name;
    memcpy(f.subject_sha256, model_sha, 32);
    memcpy(f.dataset_identity, e->dataset_id, 32);
    f.dataset_resource = resource;
    memcpy(f.measurement, e->measurement, 48);
    memcpy(f.spec_hash, e->spec_hash, 32);
    f.engine_version = SAI_VERSION;
    f.metrics_json = metrics;
    f.epochs_json = sr.epochs_json;
    f.tee = e->tee;
    f.time = when;
    f.evidence = evidence;
    f.evidence_len = ev_len;
    f.kbs_channel = e->kbs_channel;   /* recorded at set-up: the client is gone by now */
    if (dr != NULL)
        sai_pipeline__dist_facts(dr, &f);   /* every other worker's evidence */
    size_t stmt_len = 0;
    if ((rc = sai_provenance_sign(&stmt, &stmt_len, &f, pk, err)))
        goto out;
    double prov_s = sai_now() - t;

    t = sai_now();
    uint8_t stmt_sha[32];
    uint8_t mend[SAI_PROTO_OUTPUT_END_MAX];
    size_t mend_len = sai_pipeline__proto_output_end_encode(mend, SAI_PROTO_OUT_MODEL, model_sha, sealed_len);
    if ((rc = sai_hash(SAI_SHA256, stmt_sha, stmt, stmt_len, err)) ||
        (rc = sai_chan_send(&e->chan, SAI_MSG_OUTPUT_END, mend, mend_len, NULL, 0, err)) ||
        (rc = send_output(e, SAI_PROTO_OUT_PROVENANCE, (const uint8_t *)stmt, stmt_len, stmt_sha, err)))
        goto out;
    double output_s = sai_now() - t;
    char hex[65], mhex[97], cvm_info[600] = "";
    sai_hex_encode(hex, e->dataset_id, 32);
    sai_hex_encode(mhex, e->measurement, 48);
    if (e->is_cvm)
        snprintf(cvm_info, sizeof cvm_info,
                 ",\"launched_by\":\"confidential-vm\",\"launch_measurement\":\"%s\",\"emulated\":%s,"
                 "\"protection\":\"%s\"", mhex, e->emulated ? "true" : "false",
                 e->emulated ? SAI_PROVENANCE_EMULATED_TEXT : sai_pipeline_tee_statement(e->tee));
    char dist_info[256] = "";
    if (dr != NULL) {   /* ,"dist":{rank, world, weights_sha256} */
        size_t dl = sai_pipeline__dist_worker_done(dr, dist_info + 1, sizeof dist_info - 1);
        dist_info[0] = ',';
        dist_info[dl] = '\0';   /* drops the closing brace of the object it wrote */
        memmove(dist_info + 1, dist_info + 2, dl);
    }
    char done[2900];
    snprintf(done, sizeof done,
             "{\"metrics\":%s,\"throughput\":{\"train_images_per_s\":%.1f,\"infer_images_per_s\":%.1f},"
             "\"timing\":{\"attest_s\":%.4f,\"model_key_s\":%.4f,\"ingest_s\":%.4f,\"train_s\":%.4f,"
             "\"evaluate_s\":%.4f,\"infer_s\":%.4f,\"seal_s\":%.4f,\"provenance_s\":%.4f,\"output_s\":%.4f,"
             "\"enclave_s\":%.4f,\"train_cpu_s\":%.4f,\"train_sys_s\":%.4f,\"train_minflt\":%ld,"
             "\"train_nvcsw\":%ld,\"train_nivcsw\":%ld},"
             "\"dataset_identity\":\"%s\",\"sandbox\":%s,"
             "\"attestation\":{\"verdict\":\"affirming\","
             "\"detail\":\"the KBS verified the evidence and released the dataset and model keys\"%s}%s}",
             metrics, sr.train_images_per_s, sr.infer_images_per_s, attest_s, model_key_s, open_s + sr.ingest_s,
             sr.train_s, sr.evaluate_s, sr.infer_s, seal_s, prov_s, output_s, sai_now() - t0,
             sr.train_usage.cpu_s, sr.train_usage.sys_s, sr.train_usage.minflt, sr.train_usage.nvcsw,
             sr.train_usage.nivcsw, hex, ready, cvm_info, dist_info);
    rc = sai_chan_send(&e->chan, SAI_MSG_DONE, done, strlen(done), NULL, 0, err);
out:
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    if (model_fd >= 0)
        close(model_fd);
    sai_seal_writer_free(sw);
    sai_secret_free(dkey);
    sai_secret_free(mkey);
    sai_secret_free(gkey);
    sai_pipeline__dist_ckpt_free(ckpt);
    sai_pipeline__stage_result_clear(&sr);
    free(evidence);
    free(stmt);
    sai_ec_free(pk);
    sai_pipeline__dist_leave(dr);
    return rc;
}

static int enclave_main(int chan_fd, int tee_fd, bool cvm, const char *tee_root, sai_error_t *err)
{
    enclave e;
    memset(&e, 0, sizeof e);
    e.chan.fd = chan_fd;
    e.tee_fd = tee_fd;
    e.is_cvm = cvm;
    e.tee_root = tee_root;
    e.cvm.fd = -1;
    e.cvm.pid = -1;
    e.fw.sock = -1;
    e.ckpt_fd = -1;
    signal(SIGPIPE, SIG_IGN);
    /* Die with the platform's launch monitor (it exits when the host goes
     * away), set again here after exec; a monitor that died before this
     * line shows as a hung-up PSP socket. In a confidential VM: with the
     * host half, our parent. */
    struct pollfd pf = {cvm ? chan_fd : tee_fd, 0, 0};
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLERR))))
        _exit(1);
    int rc = run(&e, err);
    if (rc) {
        sai_error_t ignore = {0};
        const char *msg = err && err->msg[0] ? err->msg : sai_strerror(rc);
        if (sai_chan_send(&e.chan, SAI_MSG_ERROR, msg, strlen(msg), NULL, 0, &ignore) != 0)
            rc = rc ? rc : SAI_EIO;   /* the host is gone; nothing more to tell */
    }
    for (size_t i = 0; i < e.nshards; i++) {
        sai_seal_close(e.readers ? e.readers[i] : NULL);
        free(e.shard_ct ? e.shard_ct[i] : NULL);
    }
    free(e.readers);
    free(e.shard_ct);
    free(e.shard_ct_len);
    free(e.files);
    if (e.mf_ok)
        sai_manifest_clear(&e.mf);
    sai_pipeline__proto_shards_clear(&e.shards);
    free(e.kbs_url);
    sai_kbs_client_free(e.kbs);
    sai_tee_close(e.tee_dev);
    sai_pipeline__cvm_attester_stop(&e.cvm);
    if (e.tee_fd >= 0)
        close(e.tee_fd);
    for (size_t i = 0; i < e.n_peer_fds; i++)
        if (e.peer_fds[i] >= 0)
            close(e.peer_fds[i]);
    sai_pipeline__fw_stop(&e.fw);
    if (e.ckpt_fd >= 0)
        close(e.ckpt_fd);
    sai_pipeline_spec_free(e.spec);
    sai_chan_close(&e.chan);
    return rc;
}

int sai_pipeline_enclave_main(int chan_fd, int tee_fd, sai_error_t *err)
{
    return enclave_main(chan_fd, tee_fd, false, NULL, err);
}

int sai_pipeline_enclave_main_cvm(int chan_fd, const char *tee_root, sai_error_t *err)
{
    return enclave_main(chan_fd, -1, true, tee_root, err);
}
