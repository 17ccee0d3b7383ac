/*
 * tsm.c — the "sev-snp" and "tdx" backends over Linux configfs-tsm
 * (Documentation/ABI/testing/configfs-tsm, drivers/virt/coco/tsm.c): mkdir
 * an entry under /sys/kernel/config/tsm/report, write privlevel (SNP) and
 * 64 bytes to inblob, read outblob (SNP report / TDX quote), auxblob (SNP:
 * the GHCB certificate table carrying VCEK/VLEK, ASK, ARK) and provider.
 * Fallbacks: /dev/sev-guest (SNP_GET_EXT_REPORT, which returns the same
 * certificate table) and, for TDX, a clear error (/dev/tdx_guest alone
 * yields only a local TDREPORT). docs/hardware.md has the ABI facts.
 *
 * Every attribute is a pseudo-file: text attributes stat as 4096 bytes,
 * binary ones as 0, and reading outblob is what makes the report, so all
 * reads go to end of file (sai_read_pseudo_file), never by st_size.
 *
 * The generation protocol (as google/go-configfs-tsm does it): read
 * generation once the entry exists, before any write; count our own writes
 * (privlevel, inblob: each advances it by one); after every read the
 * generation must equal that count. Anything else means another writer
 * changed the entry between our write and our read, and the outblob may be
 * the report for its request: refused.
 *
 * Every path is prefixed by opts.root so tests drive the code against the
 * emulator (tests/tee/emu/tee_emu.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
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
#include "tee/tee_internal.h"

#define TSM_DIR "/sys/kernel/config/tsm/report"
#define OUTBLOB_MAX (64 * 1024)   /* the kernel's TSM_OUTBLOB_MAX is 32 KiB */
#define ATTR_MAX    4096          /* a configfs text attribute is one page */
#define MKDIR_TRIES 16
#define CERTS_MAX   (16 * 1024)   /* SEV_FW_BLOB_MAX_SIZE: the kernel's cap on certs_len */

typedef struct tsm_state {
    char tsm[4096];         /* root + TSM_DIR, "" if absent */
    char dev[4096];         /* root + /dev/sev-guest or /dev/tdx_guest, "" if absent */
} tsm_state;

/* Entry names: pid + a process-wide counter (atomic: several threads may
 * collect evidence at once) + a retry on EEXIST (a stale entry of an earlier
 * process with the same pid, or anyone else's). */
static atomic_uint entry_counter;

/* One write(2) of the whole value, then close: configfs commits a binary
 * attribute (inblob) when the file is released, a text attribute on write. */
static int write_attr(const char *entry, const char *name, const void *data, size_t len,
                      sai_error_t *err)
{
    char path[4500];
    if (snprintf(path, sizeof path, "%s/%s", entry, name) >= (int)sizeof path)
        return sai_error_set(err, SAI_ELIMIT, "path too long");
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO, "open %s: %s", path,
                             strerror(errno));
    ssize_t n = write(fd, data, len);
    int e = errno;
    if (close(fd) != 0 && n == (ssize_t)len) {
        n = -1;
        e = errno;
    }
    if (n != (ssize_t)len)
        return sai_error_set(err, e == EINVAL ? SAI_EINVAL : SAI_EIO, "write %s: %s", path,
                             n < 0 ? strerror(e) : "short write");
    return 0;
}

static int read_attr(const char *entry, const char *name, size_t cap, uint8_t **buf, size_t *len,
                     sai_error_t *err)
{
    char path[4500];
    if (snprintf(path, sizeof path, "%s/%s", entry, name) >= (int)sizeof path)
        return sai_error_set(err, SAI_ELIMIT, "path too long");
    return sai_read_pseudo_file(path, cap, buf, len, err);
}

/* A text attribute holding one unsigned decimal number ("5\n"). */
static int read_attr_u64(const char *entry, const char *name, unsigned long long *v, sai_error_t *err)
{
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = read_attr(entry, name, ATTR_MAX, &b, &n, err);
    if (rc != 0)
        return rc;
    char *end = NULL;
    errno = 0;
    *v = strtoull((const char *)b, &end, 10);
    bool ok = n > 0 && b[0] >= '0' && b[0] <= '9' && errno == 0 &&
              (*end == '\0' || (*end == '\n' && end[1] == '\0'));
    free(b);
    if (!ok)
        return sai_error_set(err, SAI_EFORMAT, "configfs-tsm %s/%s is not a number", entry, name);
    return 0;
}

static int tsm_open_common(sai_tee_t *t, const sai_tee_opts_t *o, const char *devname,
                           const char *what, sai_error_t *err)
{
    tsm_state *s = calloc(1, sizeof *s);
    struct stat st;
    char tsm[4096], dev[4096];
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (o->privlevel < 0 || o->privlevel > 3) {
        free(s);
        return sai_error_set(err, SAI_EINVAL, "privilege level %d is not 0..3", o->privlevel);
    }
    if (sai_tee__path(tsm, sizeof tsm, o->root, TSM_DIR) != 0 ||
        sai_tee__path(dev, sizeof dev, o->root, devname) != 0) {
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

static void tsm_close(sai_tee_t *t)
{
    free(t->priv);
    t->priv = NULL;
}

/* Make (or, with opts.tsm_entry, join) an entry; *made when we made it. */
static int entry_make(const sai_tee_t *t, char *entry, size_t cap, bool *made, sai_error_t *err)
{
    const tsm_state *s = t->priv;
    *made = false;
    if (t->opts.tsm_entry != NULL) {
        if (strchr(t->opts.tsm_entry, '/') != NULL || t->opts.tsm_entry[0] == '.' ||
            snprintf(entry, cap, "%s/%s", s->tsm, t->opts.tsm_entry) >= (int)cap)
            return sai_error_set(err, SAI_EINVAL, "bad configfs-tsm entry name '%s'", t->opts.tsm_entry);
        if (mkdir(entry, 0700) == 0)
            *made = true;
        else if (errno != EEXIST)
            return sai_error_set(err, SAI_EIO, "mkdir %s: %s", entry, strerror(errno));
        return 0;
    }
    for (int i = 0; i < MKDIR_TRIES; i++) {
        unsigned n = atomic_fetch_add(&entry_counter, 1u);
        if (snprintf(entry, cap, "%s/secureai-%ld-%u", s->tsm, (long)getpid(), n) >= (int)cap)
            return sai_error_set(err, SAI_ELIMIT, "path too long");
        if (mkdir(entry, 0700) == 0) {
            *made = true;
            return 0;
        }
        if (errno != EEXIST)
            return sai_error_set(err, SAI_EIO, "mkdir %s: %s", entry, strerror(errno));
    }
    return sai_error_set(err, SAI_EIO, "mkdir under %s: %d names in a row exist already", s->tsm,
                         MKDIR_TRIES);
}

/* The generation must be what our own writes made it (see the top). */
static int gen_check(const char *entry, unsigned long long want, const char *after, sai_error_t *err)
{
    unsigned long long g = 0;
    int rc = read_attr_u64(entry, "generation", &g, err);
    if (rc != 0)
        return rc;
    if (g != want)
        return sai_error_set(err, SAI_ESTATE,
                             "configfs-tsm entry %s was written by someone else (generation %llu after reading %s, expected %llu): the report may not be for our request",
                             entry, g, after, want);
    return 0;
}

/* One configfs-tsm round trip. *out is the outblob; with aux, *aux the
 * auxblob (NULL and 0 when the provider has none or it is empty). */
static int tsm_report(const sai_tee_t *t, const char *want_provider, const uint8_t rd[64],
                      uint8_t **out, size_t *out_len, uint8_t **aux, size_t *aux_len, sai_error_t *err)
{
    char entry[4400];
    uint8_t *prov = NULL;
    size_t pl = 0;
    bool made = false;
    unsigned long long gen = 0, floor = 0;
    int rc;
    *out = NULL;
    *out_len = 0;
    if (aux) {
        *aux = NULL;
        *aux_len = 0;
    }
    if ((rc = entry_make(t, entry, sizeof entry, &made, err)) != 0)
        return rc;
    if ((rc = read_attr(entry, "provider", ATTR_MAX, &prov, &pl, err)) != 0)
        goto out;
    while (pl > 0 && (prov[pl - 1] == '\n' || prov[pl - 1] == '\0'))
        prov[--pl] = '\0';
    if (strcmp((char *)prov, want_provider) != 0) {
        rc = sai_error_set(err, SAI_EUNSUPP, "configfs-tsm provider is '%.64s', expected '%s'",
                           (char *)prov, want_provider);
        goto out;
    }
    if ((rc = read_attr_u64(entry, "generation", &gen, err)) != 0)
        goto out;
    /* privlevel (SNP: the VMPL of the report): the kernel builds the request
     * from it and refuses a value below privlevel_floor; providers without
     * privilege levels (tdx_guest) have neither attribute. */
    sai_error_t e2;
    rc = read_attr_u64(entry, "privlevel_floor", &floor, &e2);
    if (rc == 0) {
        unsigned long long lvl = t->opts.privlevel > 0 ? (unsigned long long)t->opts.privlevel : floor;
        if (lvl < floor) {
            rc = sai_error_set(err, SAI_EINVAL,
                               "privilege level %llu is below this guest's floor %llu (configfs-tsm privlevel_floor)",
                               lvl, floor);
            goto out;
        }
        char num[8];
        int nl = snprintf(num, sizeof num, "%llu\n", lvl);
        if ((rc = write_attr(entry, "privlevel", num, (size_t)nl, err)) != 0)
            goto out;
        gen++;
    } else if (rc != SAI_ENOTFOUND) {
        *err = e2;
        goto out;
    } else if (t->opts.privlevel > 0) {
        rc = sai_error_set(err, SAI_EUNSUPP, "the %s provider takes no privilege level", want_provider);
        goto out;
    }
    if ((rc = write_attr(entry, "inblob", rd, 64, err)) != 0)
        goto out;
    gen++;
    if ((rc = read_attr(entry, "outblob", OUTBLOB_MAX, out, out_len, err)) != 0 ||
        (rc = gen_check(entry, gen, "outblob", err)) != 0)
        goto out;
    if (aux != NULL) {
        rc = read_attr(entry, "auxblob", OUTBLOB_MAX, aux, aux_len, err);
        if (rc == SAI_ENOTFOUND) {
            rc = 0;   /* a provider without certificates */
        } else if (rc != 0) {
            sai_error_prefix(err, "the certificate table (auxblob)");
            goto out;
        } else if ((rc = gen_check(entry, gen, "auxblob", err)) != 0) {
            goto out;
        }
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
    free(prov);
    return rc;
}

/* The GHCB/SNP certificate table: {GUID[16], u32 offset, u32 length}...
 * ending in an all-zero entry; offsets from the start of the table. AMD's
 * GUIDs, as GHCB spec 56421 and AMD's sev-guest tool write them (the tool
 * parses them with uuid_parse: the table holds the RFC 4122 byte order,
 * the string's bytes as written; virtee/sev and go-sev-guest copy the bytes
 * as they are). The EFI mixed-endian order is accepted too, as some hosts
 * wrote it. The bytes are made from the strings here, never typed in. */
static const struct {
    const char *guid;
    const char *what;
} cert_guids[] = {
    {"63da758d-e664-4564-adc5-f4b93be8accd", "VCEK"},
    {"a8074bc2-a25a-483e-aae6-39c045a0b8a1", "VLEK"},
    {"4ab7b379-bbac-4fe4-a02f-05aef327c782", "ASK"},
    {"c0b406a4-a803-4952-9743-3fb6014cd0ae", "ARK"},
};
#define N_CERT_GUIDS (sizeof cert_guids / sizeof cert_guids[0])

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" -> the RFC 4122 bytes (in the
 * order written) and the EFI_GUID bytes (first three fields little-endian). */
static int guid_parse(const char *s, uint8_t rfc[16], uint8_t efi[16])
{
    static const int field[5] = {8, 4, 4, 4, 12};
    char hex[33];
    size_t k = 0;
    for (int f = 0; f < 5; f++) {
        for (int i = 0; i < field[f]; i++, s++) {
            if (*s == '\0')
                return -1;
            hex[k++] = *s;
        }
        if (f < 4 && *s++ != '-')
            return -1;
    }
    hex[32] = '\0';
    if (*s != '\0' || sai_hex_decode(rfc, 16, hex, NULL) != 0)
        return -1;
    memcpy(efi, rfc, 16);
    efi[0] = rfc[3]; efi[1] = rfc[2]; efi[2] = rfc[1]; efi[3] = rfc[0];
    efi[4] = rfc[5]; efi[5] = rfc[4];
    efi[6] = rfc[7]; efi[7] = rfc[6];
    return 0;
}

static int der_to_pem(BIO *out, const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    int ok = x != NULL && p == der + len && PEM_write_bio_X509(out, x);
    X509_free(x);
    return ok ? 0 : -1;
}

/* The certificate table as a PEM bundle, signing certificate (VCEK, else
 * VLEK) first, then ASK, ARK. *pem malloc'ed, NULL when the table holds no
 * VCEK or VLEK (no table, an empty one, or only other entries): the caller
 * then reports evidence without certificates. A malformed table is an
 * error. */
static int certtable_to_pem(char **pem, const uint8_t *aux, size_t len, sai_error_t *err)
{
    uint8_t rfc[N_CERT_GUIDS][16], efi[N_CERT_GUIDS][16];
    const uint8_t *der[N_CERT_GUIDS] = {NULL};
    size_t dlen[N_CERT_GUIDS] = {0};
    static const uint8_t zero[24];
    int rc = 0;
    BIO *b = NULL;
    *pem = NULL;
    for (size_t k = 0; k < N_CERT_GUIDS; k++)
        if (guid_parse(cert_guids[k].guid, rfc[k], efi[k]) != 0)
            return sai_error_set(err, SAI_EINVAL, "bad GUID constant %s", cert_guids[k].guid);
    for (size_t off = 0;; off += 24) {
        if (off + 24 > len)
            return sai_error_set(err, SAI_EFORMAT,
                                 "SNP certificate table has no terminating entry within its %zu bytes", len);
        const uint8_t *e = aux + off;
        if (memcmp(e, zero, 24) == 0)
            break;
        uint32_t o = (uint32_t)e[16] | (uint32_t)e[17] << 8 | (uint32_t)e[18] << 16 | (uint32_t)e[19] << 24;
        uint32_t l = (uint32_t)e[20] | (uint32_t)e[21] << 8 | (uint32_t)e[22] << 16 | (uint32_t)e[23] << 24;
        if (o > len || l > len - o)
            return sai_error_set(err, SAI_EFORMAT, "SNP certificate table entry %zu points outside the table",
                                 off / 24);
        for (size_t k = 0; k < N_CERT_GUIDS; k++) {
            if (der[k] == NULL && (memcmp(e, rfc[k], 16) == 0 || memcmp(e, efi[k], 16) == 0)) {
                der[k] = aux + o;
                dlen[k] = l;
            }
        }
    }
    if (der[0] == NULL && der[1] == NULL)
        return 0;
    if ((b = BIO_new(BIO_s_mem())) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    for (size_t k = 0; k < N_CERT_GUIDS; k++) {
        if (k == 1 && der[0] != NULL)
            continue;   /* one signing certificate: VCEK before VLEK */
        if (der[k] != NULL && der_to_pem(b, der[k], dlen[k]) != 0) {
            rc = sai_error_set(err, SAI_EFORMAT, "SNP certificate table: the %s entry is not a DER certificate",
                               cert_guids[k].what);
            goto out;
        }
    }
    char *data;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || (*pem = malloc((size_t)n + 1)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*pem, data, (size_t)n);
    (*pem)[n] = '\0';
out:
    BIO_free(b);
    return rc;
}

/* The VMPL for /dev/sev-guest requests: opts.privlevel, else the
 * configfs-tsm privlevel_floor when configfs-tsm is there, else 0. */
static int sev_guest_vmpl(const sai_tee_t *t, uint32_t *vmpl, sai_error_t *err)
{
    const tsm_state *s = t->priv;
    char entry[4400];
    bool made = false;
    unsigned long long floor = 0;
    *vmpl = (uint32_t)t->opts.privlevel;
    if (t->opts.privlevel > 0 || s->tsm[0] == '\0')
        return 0;
    int rc = entry_make(t, entry, sizeof entry, &made, err);
    if (rc != 0)
        return rc;
    rc = read_attr_u64(entry, "privlevel_floor", &floor, err);
    if (made)
        rmdir(entry);
    if (rc == SAI_ENOTFOUND)
        return 0;
    if (rc == 0)
        *vmpl = (uint32_t)floor;
    return rc;
}

static int sev_guest_call(const char *dev, unsigned long req, struct snp_guest_request_ioctl *io,
                          const char *what, sai_error_t *err)
{
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, SAI_EIO, "open %s: %s", dev, strerror(errno));
    int r = ioctl(fd, req, io);
    int e = errno;
    close(fd);
    if (r != 0) {
        errno = e;
        return sai_error_set(err, e == ENOTTY ? SAI_EUNSUPP : SAI_EIO,
                             "%s %s: %s (firmware error 0x%llx, VMM error 0x%llx)", dev, what, strerror(e),
                             (unsigned long long)(io->exitinfo2 & 0xffffffffu),
                             (unsigned long long)(io->exitinfo2 >> SNP_GUEST_VMM_ERR_SHIFT));
    }
    return 0;
}

/* MSG_REPORT_RSP: u32 status, u32 report_size, 24 reserved, report. */
static int report_resp(const struct snp_report_resp *resp, uint8_t rep[SAI_SNP_REPORT_LEN],
                       sai_error_t *err)
{
    uint32_t status = (uint32_t)resp->data[0] | (uint32_t)resp->data[1] << 8 |
                      (uint32_t)resp->data[2] << 16 | (uint32_t)resp->data[3] << 24;
    uint32_t size = (uint32_t)resp->data[4] | (uint32_t)resp->data[5] << 8 |
                    (uint32_t)resp->data[6] << 16 | (uint32_t)resp->data[7] << 24;
    if (status != 0 || size != SAI_SNP_REPORT_LEN)
        return sai_error_set(err, SAI_EIO, "SNP report request: firmware status 0x%x, report size %u",
                             status, size);
    memcpy(rep, resp->data + 32, SAI_SNP_REPORT_LEN);
    return 0;
}

/* /dev/sev-guest: SNP_GET_EXT_REPORT, which also returns the certificate
 * table the host holds (*certs malloc'ed, NULL when there is none). A
 * certificate buffer that is too small comes back as EIO with the VMM error
 * INVALID_LEN and the needed size in certs_len: once more with that size.
 * Kernels without the extended request (ENOTTY) get SNP_GET_REPORT. */
static int sev_guest_report(const sai_tee_t *t, const uint8_t rd[64], uint8_t rep[SAI_SNP_REPORT_LEN],
                            uint8_t **certs, size_t *certs_len, sai_error_t *err)
{
    const tsm_state *s = t->priv;
    struct snp_ext_report_req req;
    struct snp_report_resp resp;
    struct snp_guest_request_ioctl io;
    uint32_t vmpl = 0, cap = 4096;   /* one page; a VCEK+ASK+ARK table needs two: INVALID_LEN, then again */
    int rc = sev_guest_vmpl(t, &vmpl, err);
    *certs = NULL;
    *certs_len = 0;
    if (rc != 0)
        return rc;
    for (int attempt = 0; attempt < 2; attempt++) {
        uint8_t *buf = calloc(1, cap);
        if (buf == NULL)
            return sai_error_set(err, SAI_ENOMEM, "out of memory");
        memset(&req, 0, sizeof req);
        memset(&resp, 0, sizeof resp);
        memset(&io, 0, sizeof io);
        memcpy(req.data.user_data, rd, 64);
        req.data.vmpl = vmpl;
        req.certs_address = (uint64_t)(uintptr_t)buf;
        req.certs_len = cap;
        io.msg_version = 1;
        io.req_data = (uint64_t)(uintptr_t)&req;
        io.resp_data = (uint64_t)(uintptr_t)&resp;
        rc = sev_guest_call(s->dev, SNP_GET_EXT_REPORT, &io, "SNP_GET_EXT_REPORT", err);
        if (rc != 0 && (io.exitinfo2 >> SNP_GUEST_VMM_ERR_SHIFT) == SNP_GUEST_VMM_ERR_INVALID_LEN &&
            attempt == 0 && req.certs_len > cap && req.certs_len <= CERTS_MAX) {
            cap = req.certs_len;
            free(buf);
            continue;
        }
        if (rc == SAI_EUNSUPP) {
            free(buf);
            break;
        }
        if (rc == 0 && (rc = report_resp(&resp, rep, err)) == 0) {
            *certs = buf;
            *certs_len = cap;
            return 0;
        }
        free(buf);
        return rc;
    }
    if (rc != SAI_EUNSUPP)
        return rc;
    /* no extended request: the report alone */
    struct snp_report_req r1;
    memset(&r1, 0, sizeof r1);
    memset(&resp, 0, sizeof resp);
    memset(&io, 0, sizeof io);
    memcpy(r1.user_data, rd, 64);
    r1.vmpl = vmpl;
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&r1;
    io.resp_data = (uint64_t)(uintptr_t)&resp;
    if ((rc = sev_guest_call(s->dev, SNP_GET_REPORT, &io, "SNP_GET_REPORT", err)) != 0)
        return rc;
    return report_resp(&resp, rep, err);
}

static int snp_report(sai_tee_t *t, const uint8_t rd[64], uint8_t **rep, size_t *rep_len,
                      char **pem, sai_error_t *err)
{
    const tsm_state *s = t->priv;
    uint8_t *aux = NULL;
    size_t aux_len = 0;
    int rc;
    *pem = NULL;
    *rep = NULL;
    if (s->tsm[0] != '\0') {
        if ((rc = tsm_report(t, "sev_guest", rd, rep, rep_len, &aux, &aux_len, err)) != 0)
            return rc;
        if (*rep_len != SAI_SNP_REPORT_LEN)
            rc = sai_error_set(err, SAI_EFORMAT, "outblob is %zu bytes, not an SNP report", *rep_len);
    } else {
        *rep = malloc(SAI_SNP_REPORT_LEN);
        if (*rep == NULL)
            return sai_error_set(err, SAI_ENOMEM, "out of memory");
        *rep_len = SAI_SNP_REPORT_LEN;
        rc = sev_guest_report(t, rd, *rep, &aux, &aux_len, err);
    }
    if (rc == 0 && aux != NULL && aux_len > 0)
        rc = certtable_to_pem(pem, aux, aux_len, err);
    free(aux);
    if (rc != 0) {
        free(*rep);
        *rep = NULL;
    }
    return rc;
}

static int snp_open(sai_tee_t *t, const sai_tee_opts_t *o, sai_error_t *err)
{
    return tsm_open_common(t, o, "/dev/sev-guest", "SEV-SNP", err);
}

static int snp_get_evidence(sai_tee_t *t, const uint8_t rd[64], char **json, size_t *json_len,
                            sai_error_t *err)
{
    uint8_t *rep = NULL;
    size_t len = 0;
    char *pem = NULL;
    int rc = snp_report(t, rd, &rep, &len, &pem, err);
    if (rc != 0)
        return rc;
    sai_evidence_parts_t ev = {.tee = SAI_TEE_SEV_SNP, .report = rep, .report_len = len,
                             .certs_pem = pem};
    rc = sai_evidence_build(json, json_len, &ev, err);
    free(rep);
    free(pem);
    return rc;
}

static int snp_measure(sai_tee_t *t, uint8_t out[48], size_t *len, sai_error_t *err)
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

static int snp_derive(sai_tee_t *t, const uint8_t *ctx, size_t ctx_len, uint8_t key[32], sai_error_t *err)
{
    const tsm_state *s = t->priv;
    if (s->dev[0] == '\0')
        return sai_error_set(err, SAI_EUNSUPP, "SNP sealing keys need /dev/sev-guest (SNP_GET_DERIVED_KEY)");
    struct snp_derived_key_req req;
    struct snp_derived_key_resp resp;
    struct snp_guest_request_ioctl io;
    uint32_t vmpl = 0;
    int rc = sev_guest_vmpl(t, &vmpl, err);
    if (rc != 0)
        return rc;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    memset(&io, 0, sizeof io);
    req.root_key_select = 0;                 /* VCEK-derived */
    req.guest_field_select = 1u << 3;        /* mix in MEASUREMENT */
    req.vmpl = vmpl;                         /* at least the guest's own VMPL */
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&req;
    io.resp_data = (uint64_t)(uintptr_t)&resp;
    if ((rc = sev_guest_call(s->dev, SNP_GET_DERIVED_KEY, &io, "SNP_GET_DERIVED_KEY", err)) != 0)
        goto out;
    /* MSG_KEY_RSP: u32 status, 28 reserved, key[32]. A nonzero status
     * means the firmware refused: the key field is then no key at all. */
    uint32_t status = (uint32_t)resp.data[0] | (uint32_t)resp.data[1] << 8 |
                      (uint32_t)resp.data[2] << 16 | (uint32_t)resp.data[3] << 24;
    if (status != 0) {
        rc = sai_error_set(err, SAI_EIO, "%s SNP_GET_DERIVED_KEY: firmware status 0x%x (no key)",
                           s->dev, status);
        goto out;
    }
    static const char label[] = "secureai/snp/seal/v1";
    rc = sai_hkdf_sha256(key, 32, resp.data + 32, 32, NULL, 0,
                         ctx_len ? ctx : (const uint8_t *)label, ctx_len ? ctx_len : sizeof label - 1, err);
out:
    sai_wipe(&resp, sizeof resp);
    return rc;
}

const sai_tee_backend_t sai_tee_backend_sev_snp = {
    SAI_TEE_SEV_SNP, snp_open, tsm_close, snp_measure, snp_get_evidence, snp_derive,
};

/* ---- TDX ---------------------------------------------------------------------- */

static int tdx_open(sai_tee_t *t, const sai_tee_opts_t *o, sai_error_t *err)
{
    return tsm_open_common(t, o, "/dev/tdx_guest", "TDX", err);
}

static int tdx_quote(sai_tee_t *t, const uint8_t rd[64], uint8_t **q, size_t *qlen, sai_error_t *err)
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

static int tdx_get_evidence(sai_tee_t *t, const uint8_t rd[64], char **json, size_t *json_len,
                            sai_error_t *err)
{
    uint8_t *q = NULL;
    size_t n = 0;
    int rc = tdx_quote(t, rd, &q, &n, err);
    if (rc != 0)
        return rc;
    sai_evidence_parts_t ev = {.tee = SAI_TEE_TDX, .quote = q, .quote_len = n};
    rc = sai_evidence_build(json, json_len, &ev, err);
    free(q);
    return rc;
}

static int tdx_measure(sai_tee_t *t, uint8_t out[48], size_t *len, sai_error_t *err)
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

static int tdx_derive(sai_tee_t *t, const uint8_t *ctx, size_t ctx_len, uint8_t key[32], sai_error_t *err)
{
    return sai_error_set(err, SAI_EUNSUPP,
                         "TDX has no hardware sealing key; obtain keys from the key broker after attestation");
}

const sai_tee_backend_t sai_tee_backend_tdx = {
    SAI_TEE_TDX, tdx_open, tsm_close, tdx_measure, tdx_get_evidence, tdx_derive,
};
