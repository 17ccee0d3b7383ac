/*
 * tsm.c — the "sev-snp" and "tdx" backends over Linux configfs-tsm
 * (Documentation/ABI/testing/configfs-tsm): mkdir an entry under
 * /sys/kernel/config/tsm/report, write 64 bytes to inblob, read outblob
 * (SNP report / TDX quote), provider, generation and, for SNP, auxblob (the
 * GUID-indexed certificate table carrying VCEK/VLEK, ASK, ARK). Fallbacks:
 * /dev/sev-guest (SNP_GET_REPORT ioctl, no certificates) and, for TDX, a
 * clear error (/dev/tdx_guest alone yields only a local TDREPORT).
 *
 * Every path is prefixed by opts.root so tests drive the code against a
 * fake tree (tests/tee/test_tee_backends.c). generation is read after the
 * inblob write and again after the reads: a change means another process
 * wrote the entry concurrently and the outblob may not be ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/sev-guest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "secureai/crypto.h"
#include "secureai/util.h"
#include "tee_int.h"

#define TSM_DIR "/sys/kernel/config/tsm/report"
#define OUTBLOB_MAX (64 * 1024)

typedef struct tsm_state {
    char tsm[4096];         /* root + TSM_DIR, "" if absent */
    char dev[4096];         /* root + /dev/sev-guest or /dev/tdx_guest, "" if absent */
} tsm_state;

static int write_file(const char *path, const void *data, size_t len, sai_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return sai_error_set(err, SAI_EIO, "open %s: %s", path, strerror(errno));
    ssize_t n = write(fd, data, len);
    int e = errno;
    close(fd);
    if (n != (ssize_t)len)
        return sai_error_set(err, SAI_EIO, "write %s: %s", path, n < 0 ? strerror(e) : "short write");
    return 0;
}

static int read_entry(const char *entry, const char *name, uint8_t **buf, size_t *len, sai_error *err)
{
    char path[4500];
    if (snprintf(path, sizeof path, "%s/%s", entry, name) >= (int)sizeof path)
        return sai_error_set(err, SAI_ELIMIT, "path too long");
    return sai_read_file(path, OUTBLOB_MAX, buf, len, err);
}

static int tsm_open_common(sai_tee *t, const sai_tee_opts *o, const char *devname,
                           const char *what, sai_error *err)
{
    tsm_state *s = calloc(1, sizeof *s);
    struct stat st;
    char tsm[4096], dev[4096];
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (sai_tee_path(tsm, sizeof tsm, o->root, TSM_DIR) != 0 ||
        sai_tee_path(dev, sizeof dev, o->root, devname) != 0) {
        free(s);
        return sai_error_set(err, SAI_ELIMIT, "root path too long");
    }
    if (stat(tsm, &st) == 0 && S_ISDIR(st.st_mode))
        memcpy(s->tsm, tsm, sizeof tsm);
    if (stat(dev, &st) == 0)
        memcpy(s->dev, dev, sizeof dev);
    if (s->tsm[0] == '\0' && s->dev[0] == '\0') {
        free(s);
        return sai_error_set(err, SAI_ENOTFOUND, "no %s guest interface found (looked at %s and %s)",
                             what, tsm, dev);
    }
    t->priv = s;
    return 0;
}

static void tsm_close(sai_tee *t)
{
    free(t->priv);
    t->priv = NULL;
}

/* One configfs-tsm round trip. *out is the outblob; *aux the auxblob (may be NULL). */
static int tsm_report(const sai_tee *t, const char *want_provider, const uint8_t rd[64],
                      uint8_t **out, size_t *out_len, uint8_t **aux, size_t *aux_len, sai_error *err)
{
    const tsm_state *s = t->priv;
    static unsigned counter;
    char entry[4400], path[4500];
    uint8_t *gen1 = NULL, *gen2 = NULL, *prov = NULL;
    size_t g1, g2, pl;
    bool made = false;
    int rc;
    *out = NULL;
    if (aux)
        *aux = NULL;
    if (t->opts.tsm_entry != NULL)
        snprintf(entry, sizeof entry, "%s/%s", s->tsm, t->opts.tsm_entry);
    else
        snprintf(entry, sizeof entry, "%s/secureai-%ld-%u", s->tsm, (long)getpid(), counter++);
    if (mkdir(entry, 0700) == 0)
        made = true;
    else if (!(errno == EEXIST && t->opts.tsm_entry != NULL))
        return sai_error_set(err, SAI_EIO, "mkdir %s: %s", entry, strerror(errno));
    snprintf(path, sizeof path, "%s/inblob", entry);
    if ((rc = write_file(path, rd, 64, err)) != 0 ||
        (rc = read_entry(entry, "generation", &gen1, &g1, err)) != 0 ||
        (rc = read_entry(entry, "provider", &prov, &pl, err)) != 0)
        goto out;
    while (pl > 0 && (prov[pl - 1] == '\n' || prov[pl - 1] == '\0'))
        prov[--pl] = '\0';
    if (strcmp((char *)prov, want_provider) != 0) {
        rc = sai_error_set(err, SAI_EUNSUPP, "configfs-tsm provider is '%s', expected '%s'",
                           (char *)prov, want_provider);
        goto out;
    }
    if ((rc = read_entry(entry, "outblob", out, out_len, err)) != 0)
        goto out;
    if (aux != NULL && read_entry(entry, "auxblob", aux, aux_len, NULL) != 0) {
        *aux = NULL;
        *aux_len = 0;
    }
    if ((rc = read_entry(entry, "generation", &gen2, &g2, err)) != 0)
        goto out;
    if (g1 != g2 || memcmp(gen1, gen2, g1) != 0) {
        rc = sai_error_set(err, SAI_ESTATE, "configfs-tsm entry %s was written concurrently (generation changed)", entry);
        goto out;
    }
out:
    if (rc != 0) {
        free(*out);
        *out = NULL;
        if (aux) {
            free(*aux);
            *aux = NULL;
        }
    }
    if (made)
        rmdir(entry);
    free(gen1); free(gen2); free(prov);
    return rc;
}

/* AMD GHCB/SNP certificate table: {GUID[16], u32 offset, u32 length}... ending
 * in an all-zero entry; offsets are from the start of the table. */
static const uint8_t GUID_VCEK[16] = { 0x8d,0x75,0xda,0x63,0x64,0xe6,0x64,0x45,0xad,0xc5,0xf4,0xb9,0x3b,0xe8,0xac,0xcd };
static const uint8_t GUID_VLEK[16] = { 0xc2,0x4b,0x07,0xa8,0x5a,0xa2,0x3e,0x48,0xaa,0xe6,0x39,0xc0,0x45,0xa0,0xb8,0xa1 };
static const uint8_t GUID_ASK[16]  = { 0x79,0xb3,0xb7,0x4a,0xac,0xbb,0xe4,0x4f,0xa0,0x2f,0x05,0xae,0xf3,0x27,0xc7,0x82 };
static const uint8_t GUID_ARK[16]  = { 0xa6,0x04,0xb4,0xc0,0x03,0xa8,0x52,0x49,0x97,0x43,0x3f,0xb6,0x01,0x4c,0xd0,0xae };

static int der_to_pem(BIO *out, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    int ok = x != NULL && PEM_write_bio_X509(out, x);
    X509_free(x);
    return ok ? 0 : -1;
}

/* Convert the auxblob to a PEM bundle, signing cert first. *pem malloc'ed. */
static int certtable_to_pem(char **pem, const uint8_t *aux, size_t len, sai_error *err)
{
    const uint8_t *order[4] = { GUID_VCEK, GUID_VLEK, GUID_ASK, GUID_ARK };
    BIO *b = BIO_new(BIO_s_mem());
    int found = 0;
    *pem = NULL;
    if (b == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    for (int k = 0; k < 4; k++) {
        for (size_t off = 0; off + 24 <= len; off += 24) {
            const uint8_t *e = aux + off;
            static const uint8_t zero[24];
            if (memcmp(e, zero, 24) == 0)
                break;
            if (memcmp(e, order[k], 16) != 0)
                continue;
            uint32_t o = (uint32_t)e[16] | (uint32_t)e[17] << 8 | (uint32_t)e[18] << 16 | (uint32_t)e[19] << 24;
            uint32_t l = (uint32_t)e[20] | (uint32_t)e[21] << 8 | (uint32_t)e[22] << 16 | (uint32_t)e[23] << 24;
            if (o > len || l > len - o || der_to_pem(b, aux + o, l) != 0) {
                BIO_free(b);
                return sai_error_set(err, SAI_EFORMAT, "SNP certificate table entry is malformed");
            }
            found++;
            break;
        }
    }
    char *data;
    long n = BIO_get_mem_data(b, &data);
    if (found > 0 && n > 0 && (*pem = malloc((size_t)n + 1)) != NULL) {
        memcpy(*pem, data, (size_t)n);
        (*pem)[n] = '\0';
    }
    BIO_free(b);
    return 0;
}

/* /dev/sev-guest SNP_GET_REPORT (no certificates). */
static int sev_guest_ioctl(const char *dev, const uint8_t rd[64], uint8_t rep[SAI_SNP_REPORT_LEN],
                           sai_error *err)
{
    struct snp_report_req req;
    struct snp_report_resp resp;
    struct snp_guest_request_ioctl io;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    memset(&io, 0, sizeof io);
    memcpy(req.user_data, rd, 64);
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&req;
    io.resp_data = (uint64_t)(uintptr_t)&resp;
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, SAI_EIO, "open %s: %s", dev, strerror(errno));
    int r = ioctl(fd, SNP_GET_REPORT, &io);
    int e = errno;
    close(fd);
    if (r != 0)
        return sai_error_set(err, SAI_EIO, "%s SNP_GET_REPORT: %s (fw error 0x%llx)", dev, strerror(e),
                             (unsigned long long)io.exitinfo2);
    /* MSG_REPORT_RSP: u32 status, u32 report_size, 24 reserved, report */
    uint32_t status = (uint32_t)resp.data[0] | (uint32_t)resp.data[1] << 8;
    uint32_t size = (uint32_t)resp.data[4] | (uint32_t)resp.data[5] << 8 | (uint32_t)resp.data[6] << 16;
    if (status != 0 || size != SAI_SNP_REPORT_LEN)
        return sai_error_set(err, SAI_EIO, "SNP_GET_REPORT status %u size %u", status, size);
    memcpy(rep, resp.data + 32, SAI_SNP_REPORT_LEN);
    return 0;
}

static int snp_report(sai_tee *t, const uint8_t rd[64], uint8_t **rep, size_t *rep_len,
                      char **pem, sai_error *err)
{
    const tsm_state *s = t->priv;
    uint8_t *aux = NULL;
    size_t aux_len = 0;
    int rc;
    *pem = NULL;
    if (s->tsm[0] != '\0') {
        if ((rc = tsm_report(t, "sev_guest", rd, rep, rep_len, &aux, &aux_len, err)) != 0)
            return rc;
        if (*rep_len != SAI_SNP_REPORT_LEN) {
            rc = sai_error_set(err, SAI_EFORMAT, "outblob is %zu bytes, not an SNP report", *rep_len);
        } else if (aux != NULL) {
            rc = certtable_to_pem(pem, aux, aux_len, err);
        }
        free(aux);
        if (rc != 0) {
            free(*rep);
            *rep = NULL;
        }
        return rc;
    }
    *rep = malloc(SAI_SNP_REPORT_LEN);
    if (*rep == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if ((rc = sev_guest_ioctl(s->dev, rd, *rep, err)) != 0) {
        free(*rep);
        *rep = NULL;
        return rc;
    }
    *rep_len = SAI_SNP_REPORT_LEN;
    return 0;
}

static int snp_open(sai_tee *t, const sai_tee_opts *o, sai_error *err)
{
    return tsm_open_common(t, o, "/dev/sev-guest", "SEV-SNP", err);
}

static int snp_get_evidence(sai_tee *t, const uint8_t rd[64], char **json, size_t *json_len,
                            sai_error *err)
{
    uint8_t *rep = NULL;
    size_t len = 0;
    char *pem = NULL;
    int rc = snp_report(t, rd, &rep, &len, &pem, err);
    if (rc != 0)
        return rc;
    sai_evidence_parts ev = {.tee = SAI_TEE_SEV_SNP, .report = rep, .report_len = len,
                             .certs_pem = pem};
    rc = sai_evidence_build(json, json_len, &ev, err);
    free(rep);
    free(pem);
    return rc;
}

static int snp_measure(sai_tee *t, uint8_t out[48], size_t *len, sai_error *err)
{
    uint8_t rd[64] = {0}, *rep = NULL;
    size_t n = 0;
    char *pem = NULL;
    int rc = snp_report(t, rd, &rep, &n, &pem, err);
    if (rc != 0)
        return rc;
    memcpy(out, rep + 0x90, 48);
    *len = 48;
    free(rep);
    free(pem);
    return 0;
}

static int snp_derive(sai_tee *t, const uint8_t *ctx, size_t ctx_len, uint8_t key[32], sai_error *err)
{
    const tsm_state *s = t->priv;
    if (s->dev[0] == '\0')
        return sai_error_set(err, SAI_EUNSUPP, "SNP sealing keys need /dev/sev-guest (SNP_GET_DERIVED_KEY)");
    struct snp_derived_key_req req;
    struct snp_derived_key_resp resp;
    struct snp_guest_request_ioctl io;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    memset(&io, 0, sizeof io);
    req.root_key_select = 0;                 /* VCEK-derived */
    req.guest_field_select = 1u << 3;        /* mix in MEASUREMENT */
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&req;
    io.resp_data = (uint64_t)(uintptr_t)&resp;
    int fd = open(s->dev, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, SAI_EIO, "open %s: %s", s->dev, strerror(errno));
    int r = ioctl(fd, SNP_GET_DERIVED_KEY, &io);
    int e = errno;
    close(fd);
    if (r != 0)
        return sai_error_set(err, SAI_EIO, "%s SNP_GET_DERIVED_KEY: %s", s->dev, strerror(e));
    /* MSG_KEY_RSP: u32 status, 28 reserved, key[32] */
    static const char label[] = "secureai/snp/seal/v1";
    int rc = sai_hkdf_sha256(key, 32, resp.data + 32, 32, NULL, 0,
                             ctx_len ? ctx : (const uint8_t *)label, ctx_len ? ctx_len : sizeof label - 1, err);
    sai_wipe(&resp, sizeof resp);
    return rc;
}

const sai_tee_backend sai_tee_backend_sev_snp = {
    SAI_TEE_SEV_SNP, snp_open, tsm_close, snp_measure, snp_get_evidence, snp_derive,
};

/* ---- TDX ---------------------------------------------------------------------- */

static int tdx_open(sai_tee *t, const sai_tee_opts *o, sai_error *err)
{
    return tsm_open_common(t, o, "/dev/tdx_guest", "TDX", err);
}

static int tdx_quote(sai_tee *t, const uint8_t rd[64], uint8_t **q, size_t *qlen, sai_error *err)
{
    const tsm_state *s = t->priv;
    if (s->tsm[0] == '\0')
        return sai_error_set(err, SAI_EUNSUPP,
                             "TDX quotes need configfs-tsm (Linux >= 6.7); %s alone only yields a local TDREPORT",
                             s->dev);
    int rc = tsm_report(t, "tdx_guest", rd, q, qlen, NULL, NULL, err);
    if (rc == 0 && *qlen < 48 + 584) {
        free(*q);
        *q = NULL;
        return sai_error_set(err, SAI_EFORMAT, "outblob of %zu bytes is not a TDX quote", *qlen);
    }
    return rc;
}

static int tdx_get_evidence(sai_tee *t, const uint8_t rd[64], char **json, size_t *json_len,
                            sai_error *err)
{
    uint8_t *q = NULL;
    size_t n = 0;
    int rc = tdx_quote(t, rd, &q, &n, err);
    if (rc != 0)
        return rc;
    sai_evidence_parts ev = {.tee = SAI_TEE_TDX, .quote = q, .quote_len = n};
    rc = sai_evidence_build(json, json_len, &ev, err);
    free(q);
    return rc;
}

static int tdx_measure(sai_tee *t, uint8_t out[48], size_t *len, sai_error *err)
{
    uint8_t rd[64] = {0}, *q = NULL;
    size_t n = 0;
    int rc = tdx_quote(t, rd, &q, &n, err);
    if (rc != 0)
        return rc;
    /* TD report body at 48 (v4); v5 has a 6-byte body descriptor first */
    size_t body = (q[0] | q[1] << 8) == 5 ? 54 : 48;
    if (n < body + 136 + 48) {
        free(q);
        return sai_error_set(err, SAI_EFORMAT, "TDX quote too short");
    }
    memcpy(out, q + body + 136, 48);     /* MRTD */
    *len = 48;
    free(q);
    return 0;
}

static int tdx_derive(sai_tee *t, const uint8_t *ctx, size_t ctx_len, uint8_t key[32], sai_error *err)
{
    return sai_error_set(err, SAI_EUNSUPP,
                         "TDX has no hardware sealing key; obtain keys from the key broker after attestation");
}

const sai_tee_backend sai_tee_backend_tdx = {
    SAI_TEE_TDX, tdx_open, tsm_close, tdx_measure, tdx_get_evidence, tdx_derive,
};
