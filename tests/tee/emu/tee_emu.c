/*
 * tee_emu.c — an LD_PRELOAD interposer that emulates the guest interfaces
 * the sev-snp, tdx and sgx backends read, with the semantics of the real
 * ones (docs/hardware.md, "The emulators"):
 *
 *  - Linux configfs-tsm (drivers/virt/coco/tsm.c over fs/configfs): mkdir
 *    under .../tsm/report makes an entry with its attributes; text
 *    attributes (generation, provider, privlevel, privlevel_floor) stat as
 *    4096 bytes and read a few; binary attributes (inblob, outblob, auxblob)
 *    stat as 0; inblob is committed when the file is closed; every write
 *    (inblob, privlevel) advances generation; outblob and auxblob are made
 *    on read from the last inblob; privlevel below privlevel_floor is
 *    EINVAL; a read with no inblob written is EINVAL. The tdx_guest
 *    provider hides privlevel, privlevel_floor and auxblob.
 *  - /dev/sev-guest (include/uapi/linux/sev-guest.h): SNP_GET_REPORT,
 *    SNP_GET_EXT_REPORT (certificate buffer too small: EIO, the VMM error
 *    INVALID_LEN in exitinfo2 and the needed length in certs_len) and
 *    SNP_GET_DERIVED_KEY (the firmware status in the response); a request
 *    for a VMPL below the guest's own fails.
 *  - Gramine's /dev/attestation (libos attestation pseudo-files): every file
 *    stats as 0 bytes; user_report_data is saved on close; quote is made
 *    when it is opened, from the user_report_data saved last; keys/ files
 *    read 16 bytes. Like Gramine's, the state is process-global.
 *
 * Only paths under $SAI_EMU_ROOT are emulated; everything else goes to the
 * real functions (dlsym RTLD_NEXT). Configuration, read at each use:
 *   SAI_EMU_ROOT             prefix of the emulated tree (unset: inert)
 *   SAI_EMU_TSM_PROVIDER     sev_guest | tdx_guest: configfs-tsm exists
 *   SAI_EMU_SEV_GUEST=1      /dev/sev-guest exists
 *   SAI_EMU_TDX_GUEST=1      /dev/tdx_guest exists (no ioctls)
 *   SAI_EMU_GRAMINE=TYPE     /dev/attestation exists; attestation_type
 *   SAI_EMU_OUTBLOB=FILE     the report (SNP) or quote (TDX, SGX) served
 *   SAI_EMU_BIND=1           write the request's data into the served
 *                            report (report data; SNP also VMPL) - the
 *                            signature then no longer verifies
 *   SAI_EMU_CERTS=SPEC       the SNP certificate table: GUID=FILE[#N];...
 *                            from the GUID's string form in RFC 4122 byte
 *                            order, or "efi:GUID=..." in the EFI
 *                            mixed-endian order; FILE is DER or PEM (#N:
 *                            the N-th certificate of a PEM bundle, from 0)
 *   SAI_EMU_PRIVLEVEL_FLOOR=N  privlevel_floor, and the guest's VMPL
 *   SAI_EMU_RACE=1           after each inblob commit another writer
 *                            commits a different inblob to the same entry
 *   SAI_EMU_AUX_FAIL=1       auxblob reads fail with EIO
 *   SAI_EMU_KEY_STATUS=N     SNP_GET_DERIVED_KEY firmware status
 *   SAI_EMU_SNP_SIGN=DIR     SNP: make fresh reports instead of serving
 *                            SAI_EMU_OUTBLOB, signed with DIR/vcek.key, a
 *                            TEST chain (`secureai platform init --dir DIR`:
 *                            ECDSA P-384 ARK -> ASK -> VCEK with the KDS
 *                            extensions; DIR/platform.json gives CHIP_ID and
 *                            the TCB). Real layout (version 3), the request's
 *                            report data and VMPL, no debug bit. Never
 *                            verifies against AMD's roots: a verifier must be
 *                            told to trust DIR's ARK (emulated_roots)
 *   SAI_EMU_MEASUREMENT=HEX  SNP_SIGN: MEASUREMENT (96 hex; default zeros)
 *   SAI_EMU_HOST_DATA=HEX    SNP_SIGN: HOST_DATA (64 hex), what the VMM
 *                            sets at launch (default zeros)
 *   SAI_EMU_CORRUPT=OFF      SNP_SIGN: flip byte OFF of each report after
 *                            signing (a verifier must refuse it)
 *   SAI_EMU_SGX_KEY=16CHARS  the Gramine sealing key
 *   SAI_EMU_DELAY_US=N       Gramine: sleep after saving user_report_data
 *                            and before making a quote (widens races)
 *
 * Test code only: never linked into libsecureai or the program.
 */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/sev-guest.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define TSM_REL   "/sys/kernel/config/tsm/report"
#define MAX_FD    4096
#define MAX_ENTRY 256
#define BLOB_MAX  (64 * 1024)

/* ---- the real functions --------------------------------------------------- */

#define REAL(name) real_##name
static int (*real_open)(const char *, int, ...);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_close)(int);
static int (*real_fstat)(int, struct stat *);
static int (*real_stat)(const char *, struct stat *);
static int (*real_lstat)(const char *, struct stat *);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_rmdir)(const char *);
static int (*real_ioctl)(int, unsigned long, ...);

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
    *(void **)&real_open = dlsym(RTLD_NEXT, "open");
    *(void **)&real_read = dlsym(RTLD_NEXT, "read");
    *(void **)&real_write = dlsym(RTLD_NEXT, "write");
    *(void **)&real_close = dlsym(RTLD_NEXT, "close");
    *(void **)&real_fstat = dlsym(RTLD_NEXT, "fstat");
    *(void **)&real_stat = dlsym(RTLD_NEXT, "stat");
    *(void **)&real_lstat = dlsym(RTLD_NEXT, "lstat");
    *(void **)&real_mkdir = dlsym(RTLD_NEXT, "mkdir");
    *(void **)&real_rmdir = dlsym(RTLD_NEXT, "rmdir");
    *(void **)&real_ioctl = dlsym(RTLD_NEXT, "ioctl");
}

#define RESOLVE() pthread_once(&resolve_once, resolve)

/* ---- state ----------------------------------------------------------------- */

typedef struct entry {
    char          path[512];        /* full path of the entry directory */
    uint8_t       inblob[64];
    size_t        inlen;
    unsigned long wgen, rgen;       /* write and read generation, as tsm.c */
    unsigned      privlevel;
    uint8_t      *out, *aux;
    size_t        outlen, auxlen;
    bool          made;             /* out/aux are for rgen */
} entry;

enum kind {
    K_NONE = 0,
    K_TSM_ATTR,     /* a configfs-tsm attribute */
    K_SEV_GUEST,    /* /dev/sev-guest */
    K_TDX_GUEST,
    K_GR_FILE,      /* a Gramine /dev/attestation file */
};

enum attr { A_GENERATION, A_PROVIDER, A_PRIVLEVEL, A_FLOOR, A_INBLOB, A_OUTBLOB, A_AUXBLOB };

static const struct {
    const char *name;
    bool        bin, rd, wr;
} attrs[] = {
    [A_GENERATION] = {"generation", false, true, false},
    [A_PROVIDER] = {"provider", false, true, false},
    [A_PRIVLEVEL] = {"privlevel", false, false, true},
    [A_FLOOR] = {"privlevel_floor", false, true, false},
    [A_INBLOB] = {"inblob", true, false, true},
    [A_OUTBLOB] = {"outblob", true, true, false},
    [A_AUXBLOB] = {"auxblob", true, true, false},
};

enum grfile { G_TYPE, G_URD, G_QUOTE, G_KEY };

typedef struct ofile {
    enum kind kind;
    int       ent;        /* K_TSM_ATTR: index in entries */
    int       attr;       /* enum attr / enum grfile */
    bool      loaded;     /* data holds what reads return */
    uint8_t  *data;
    size_t    len, pos;
    uint8_t   wbuf[BLOB_MAX];
    size_t    wlen;
    bool      wrote;
} ofile;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static entry *entries[MAX_ENTRY];
static ofile *files[MAX_FD];
static uint8_t g_urd[64];          /* Gramine's g_user_report_data */

/* ---- configuration ---------------------------------------------------------- */

static const char *cfg(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static long cfg_num(const char *name, long dflt)
{
    const char *v = cfg(name);
    return v ? strtol(v, NULL, 0) : dflt;
}

static bool is_snp(void)
{
    const char *p = cfg("SAI_EMU_TSM_PROVIDER");
    return p != NULL && strcmp(p, "sev_guest") == 0;
}

/* The relative part of path if it is under the emulated root, else NULL. */
static const char *rel_path(const char *path)
{
    const char *root = cfg("SAI_EMU_ROOT");
    if (root == NULL || path == NULL)
        return NULL;
    size_t rl = strlen(root);
    if (strncmp(path, root, rl) != 0 || (path[rl] != '/' && path[rl] != '\0'))
        return NULL;
    return path + rl;
}

/* ---- file data --------------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = REAL(open)(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    uint8_t *p = malloc(BLOB_MAX);
    size_t n = 0;
    ssize_t r;
    while (p != NULL && n < BLOB_MAX && (r = REAL(read)(fd, p + n, BLOB_MAX - n)) > 0)
        n += (size_t)r;
    REAL(close)(fd);
    *len = n;
    return p;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* The idx-th certificate of a PEM bundle as DER (in place), or the file as is. */
static uint8_t *cert_der(const char *path, int idx, size_t *len)
{
    size_t n = 0;
    uint8_t *f = slurp(path, &n);
    if (f == NULL)
        return NULL;
    if (n < 10 || memcmp(f, "-----BEGIN", 10) != 0) {
        *len = n;
        return f;
    }
    char *text = malloc(n + 1);
    memcpy(text, f, n);
    text[n] = '\0';
    const char *p = text;
    for (int i = 0; i <= idx; i++) {
        p = strstr(p, "-----BEGIN CERTIFICATE-----");
        if (p == NULL) {
            free(text); free(f);
            return NULL;
        }
        if (i < idx)
            p += 5;
    }
    p = strchr(p, '\n');
    const char *end = p ? strstr(p, "-----END") : NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; p != NULL && p < end; p++) {
        int v = b64val((unsigned char)*p);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            f[o++] = (uint8_t)(acc >> bits);
        }
    }
    free(text);
    *len = o;
    return f;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" -> 16 bytes in the order written
 * (RFC 4122); efi: the first three groups little-endian (EFI_GUID). */
static int guid_bytes(const char *s, uint8_t out[16], bool efi)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    int k = 0;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i += 2) {
            unsigned v;
            if (sscanf(s, "%2x", &v) != 1)
                return -1;
            out[k++] = (uint8_t)v;
            s += 2;
        }
        if (g < 4 && *s++ != '-')
            return -1;
    }
    if (efi) {
        uint8_t t;
        t = out[0]; out[0] = out[3]; out[3] = t;
        t = out[1]; out[1] = out[2]; out[2] = t;
        t = out[4]; out[4] = out[5]; out[5] = t;
        t = out[6]; out[6] = out[7]; out[7] = t;
    }
    return 0;
}

/* The GHCB certificate table from SAI_EMU_CERTS: {GUID, u32 offset, u32
 * length}* and an all-zero entry, then the certificates. */
static uint8_t *cert_table(size_t *len)
{
    const char *spec = cfg("SAI_EMU_CERTS");
    *len = 0;
    if (spec == NULL)
        return NULL;
    char *copy = strdup(spec), *save = NULL;
    uint8_t *t = calloc(1, BLOB_MAX);
    uint8_t guid[8][16];
    uint8_t *der[8];
    size_t dl[8];
    int n = 0;
    for (char *it = strtok_r(copy, ";", &save); it != NULL && n < 8; it = strtok_r(NULL, ";", &save)) {
        bool efi = strncmp(it, "efi:", 4) == 0;
        char *g = efi ? it + 4 : it, *eq = strchr(g, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        char *file = eq + 1, *hash = strchr(file, '#');
        int idx = 0;
        if (hash != NULL) {
            *hash = '\0';
            idx = atoi(hash + 1);
        }
        if (guid_bytes(g, guid[n], efi) != 0 || (der[n] = cert_der(file, idx, &dl[n])) == NULL) {
            fprintf(stderr, "tee_emu: bad SAI_EMU_CERTS item '%s'\n", g);
            continue;
        }
        n++;
    }
    size_t off = 24 * (size_t)(n + 1);
    for (int i = 0; i < n; i++) {
        uint8_t *e = t + 24 * i;
        memcpy(e, guid[i], 16);
        for (int b = 0; b < 4; b++) {
            e[16 + b] = (uint8_t)(off >> (8 * b));
            e[20 + b] = (uint8_t)(dl[i] >> (8 * b));
        }
        memcpy(t + off, der[i], dl[i]);
        off += dl[i];
        free(der[i]);
    }
    free(copy);
    *len = off;
    return t;
}

/* ---- a fresh SNP report signed with a test VCEK (SAI_EMU_SNP_SIGN) ------------- */

static void put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exactly n bytes of hex from s (stops at a quote or the end); -1 otherwise. */
static int hex_in(uint8_t *out, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        int a = s ? hexval(s[2 * i]) : -1, b = a >= 0 ? hexval(s[2 * i + 1]) : -1;
        if (a < 0 || b < 0)
            return -1;
        out[i] = (uint8_t)(a << 4 | b);
    }
    return 0;
}

/* "key": N or "key": "..." in platform.json (written by secureai platform init). */
static const char *json_at(const char *j, const char *key)
{
    char k[32];
    snprintf(k, sizeof k, "\"%s\"", key);
    const char *p = strstr(j, k);
    if (p == NULL)
        return NULL;
    p += strlen(k);
    while (*p == ' ' || *p == '\t' || *p == ':' || *p == '"')
        p++;
    return p;
}

static uint8_t *snp_sign_report(const char *dir, const uint8_t rd[64], unsigned vmpl, size_t *len)
{
    char path[4096];
    size_t jl = 0, kl = 0;
    uint8_t *rep = NULL, *der = NULL;
    snprintf(path, sizeof path, "%s/platform.json", dir);
    uint8_t *j = slurp(path, &jl);
    snprintf(path, sizeof path, "%s/vcek.key", dir);
    uint8_t *k = slurp(path, &kl);
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *sig = NULL;
    if (j == NULL || k == NULL || jl >= BLOB_MAX)
        goto out;
    j[jl] = '\0';
    const char *tn[4] = {"bl", "tee", "snp", "ucode"};
    long tv[4];
    for (int i = 0; i < 4; i++) {
        const char *v = json_at((char *)j, tn[i]);
        if (v == NULL)
            goto out;
        tv[i] = strtol(v, NULL, 10);
    }
    uint64_t tcb = (uint64_t)tv[0] | (uint64_t)tv[1] << 8 | (uint64_t)tv[2] << 48 | (uint64_t)tv[3] << 56;
    if ((rep = calloc(1, 0x4A0)) == NULL)
        goto out;
    put64le(rep + 0x00, 3);                       /* version */
    put64le(rep + 0x08, 0x30000);                 /* policy: SMT, bit 17; no DEBUG */
    for (int b = 0; b < 4; b++)
        rep[0x30 + b] = (uint8_t)(vmpl >> (8 * b));   /* VMPL */
    rep[0x34] = 1;                                /* ECDSA P-384 with SHA-384 */
    put64le(rep + 0x38, tcb);                     /* current TCB */
    put64le(rep + 0x40, 1);                       /* platform info: SMT enabled */
    memcpy(rep + 0x50, rd, 64);                   /* REPORT_DATA: the request's */
    if (cfg("SAI_EMU_MEASUREMENT") && hex_in(rep + 0x90, 48, cfg("SAI_EMU_MEASUREMENT")) != 0)
        goto fail;
    if (cfg("SAI_EMU_HOST_DATA") && hex_in(rep + 0xC0, 32, cfg("SAI_EMU_HOST_DATA")) != 0)
        goto fail;
    memset(rep + 0x160, 0xff, 32);                /* REPORT_ID_MA: no migration agent */
    put64le(rep + 0x180, tcb);                    /* reported TCB */
    if (hex_in(rep + 0x1A0, 64, json_at((char *)j, "chip_id")) != 0)
        goto fail;
    put64le(rep + 0x1E0, tcb);                    /* committed TCB */
    put64le(rep + 0x1F0, tcb);                    /* launch TCB */
    if ((bio = BIO_new_mem_buf(k, (int)kl)) == NULL ||
        (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL || (md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, pk) != 1)
        goto fail;
    size_t dl = 0;
    if (EVP_DigestSign(md, NULL, &dl, rep, 0x2A0) != 1 || (der = malloc(dl)) == NULL ||
        EVP_DigestSign(md, der, &dl, rep, 0x2A0) != 1)
        goto fail;
    const unsigned char *dp = der;
    const BIGNUM *r = NULL, *sv = NULL;
    if ((sig = d2i_ECDSA_SIG(NULL, &dp, (long)dl)) == NULL)
        goto fail;
    ECDSA_SIG_get0(sig, &r, &sv);
    if (BN_bn2lebinpad(r, rep + 0x2A0, 72) != 72 || BN_bn2lebinpad(sv, rep + 0x2E8, 72) != 72)
        goto fail;
    long flip = cfg_num("SAI_EMU_CORRUPT", -1);
    if (flip >= 0 && flip < 0x4A0)
        rep[flip] ^= 0x01;
    *len = 0x4A0;
    goto out;
fail:
    free(rep);
    rep = NULL;
out:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    free(der);
    if (k != NULL)
        memset(k, 0, kl);
    free(k);
    free(j);
    return rep;
}

/* The served report/quote with the request bound in when SAI_EMU_BIND. */
static uint8_t *make_outblob(const uint8_t rd[64], unsigned vmpl, size_t *len)
{
    const char *sign = cfg("SAI_EMU_SNP_SIGN");
    if (sign != NULL && (is_snp() || cfg("SAI_EMU_SEV_GUEST") != NULL))
        return snp_sign_report(sign, rd, vmpl, len);
    const char *path = cfg("SAI_EMU_OUTBLOB");
    uint8_t *o = path ? slurp(path, len) : NULL;
    if (o == NULL || cfg_num("SAI_EMU_BIND", 0) == 0)
        return o;
    if (cfg("SAI_EMU_GRAMINE") != NULL && *len >= 368 + 64) {
        memcpy(o + 368, rd, 64);                  /* SGX report body + 320 */
    } else if (is_snp() || cfg("SAI_EMU_SEV_GUEST") != NULL) {
        if (*len >= 0x90) {
            memcpy(o + 0x50, rd, 64);             /* REPORT_DATA */
            for (int b = 0; b < 4; b++)
                o[0x30 + b] = (uint8_t)(vmpl >> (8 * b));   /* VMPL */
        }
    } else if (*len >= 48 + 520 + 64) {
        memcpy(o + 48 + 520, rd, 64);             /* TD report body + 520 (v4) */
    }
    return o;
}

/* ---- configfs-tsm -------------------------------------------------------------- */

static int find_entry(const char *path)
{
    for (int i = 0; i < MAX_ENTRY; i++)
        if (entries[i] != NULL && strcmp(entries[i]->path, path) == 0)
            return i;
    return -1;
}

/* Classify rel (relative to the root): 0 not emulated, 1 = the report dir,
 * 2 = an entry dir (*ent set, -1 if absent), 3 = an attribute. */
static int tsm_classify(const char *path, const char *rel, int *ent, int *attr)
{
    if (cfg("SAI_EMU_TSM_PROVIDER") == NULL)
        return 0;
    size_t tl = strlen(TSM_REL);
    if (strncmp(rel, TSM_REL, tl) != 0)
        return 0;
    if (rel[tl] == '\0')
        return 1;
    if (rel[tl] != '/')
        return 0;
    const char *name = rel + tl + 1, *slash = strchr(name, '/');
    char epath[512];
    size_t elen = slash ? (size_t)(slash - path) : strlen(path);
    if (elen >= sizeof epath || name[0] == '\0')
        return 0;
    memcpy(epath, path, elen);
    epath[elen] = '\0';
    *ent = find_entry(epath);
    if (slash == NULL)
        return 2;
    *attr = -1;
    bool tdx = !is_snp();
    for (int a = 0; a < (int)(sizeof attrs / sizeof attrs[0]); a++)
        if (strcmp(slash + 1, attrs[a].name) == 0)
            *attr = a;
    if (tdx && (*attr == A_PRIVLEVEL || *attr == A_FLOOR || *attr == A_AUXBLOB))
        *attr = -1;   /* tdx_guest hides them */
    return 3;
}

static void set_text(ofile *f, unsigned long v)
{
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, "%lu\n", v);
    f->data = malloc((size_t)n);
    memcpy(f->data, tmp, (size_t)n);
    f->len = (size_t)n;
}

/* configfs: generate on first read, then serve the buffer (mu held). */
static int tsm_load(ofile *f)
{
    entry *e = entries[f->ent];
    if (e == NULL)
        return -ENOENT;
    switch (f->attr) {
    case A_GENERATION:
        set_text(f, e->wgen);
        return 0;
    case A_PROVIDER: {
        const char *p = cfg("SAI_EMU_TSM_PROVIDER");
        f->len = strlen(p) + 1;
        f->data = malloc(f->len);
        memcpy(f->data, p, f->len - 1);
        f->data[f->len - 1] = '\n';
        return 0;
    }
    case A_FLOOR:
        set_text(f, (unsigned long)cfg_num("SAI_EMU_PRIVLEVEL_FLOOR", 0));
        return 0;
    default:
        break;
    }
    /* outblob / auxblob: tsm_report_read */
    if (e->inlen == 0)
        return -EINVAL;
    if (!e->made || e->rgen != e->wgen) {
        free(e->out);
        free(e->aux);
        e->out = e->aux = NULL;
        e->outlen = e->auxlen = 0;
        if (is_snp() && e->privlevel < (unsigned)cfg_num("SAI_EMU_PRIVLEVEL_FLOOR", 0))
            return -EIO;   /* the firmware refuses a VMPL below the guest's */
        e->out = make_outblob(e->inblob, e->privlevel, &e->outlen);
        if (e->out == NULL)
            return -EIO;
        if (is_snp())
            e->aux = cert_table(&e->auxlen);
        e->made = true;
        e->rgen = e->wgen;
    }
    if (f->attr == A_AUXBLOB && cfg_num("SAI_EMU_AUX_FAIL", 0))
        return -EIO;
    const uint8_t *src = f->attr == A_OUTBLOB ? e->out : e->aux;
    f->len = f->attr == A_OUTBLOB ? e->outlen : e->auxlen;
    f->data = malloc(f->len + 1);
    if (f->len)
        memcpy(f->data, src, f->len);
    return 0;
}

static void commit_inblob(entry *e, const uint8_t *d, size_t n)
{
    memcpy(e->inblob, d, n);
    e->inlen = n;
    e->wgen++;
    if (cfg_num("SAI_EMU_RACE", 0)) {
        memset(e->inblob, 0xEE, 64);      /* another process's request */
        e->inlen = 64;
        e->wgen++;
    }
}

/* ---- Gramine ---------------------------------------------------------------- */

static int gr_classify(const char *rel, int *which, bool *dir)
{
    if (cfg("SAI_EMU_GRAMINE") == NULL || strncmp(rel, "/dev/attestation", 16) != 0)
        return 0;
    const char *r = rel + 16;
    *dir = false;
    if (strcmp(r, "") == 0 || strcmp(r, "/keys") == 0) {
        *dir = true;
        return 1;
    }
    if (strcmp(r, "/attestation_type") == 0) *which = G_TYPE;
    else if (strcmp(r, "/user_report_data") == 0) *which = G_URD;
    else if (strcmp(r, "/quote") == 0) *which = G_QUOTE;
    else if (strcmp(r, "/keys/_sgx_mrenclave") == 0) *which = G_KEY;
    else return -1;
    return 1;
}

/* Called without mu for the quote (it may sleep). */
static int gr_load(ofile *f)
{
    switch (f->attr) {
    case G_TYPE: {
        const char *t = cfg("SAI_EMU_GRAMINE");
        f->len = strlen(t);
        f->data = malloc(f->len + 1);
        memcpy(f->data, t, f->len);
        return 0;
    }
    case G_URD:
        f->data = malloc(64);
        pthread_mutex_lock(&mu);
        memcpy(f->data, g_urd, 64);
        pthread_mutex_unlock(&mu);
        f->len = 64;
        return 0;
    case G_QUOTE: {
        uint8_t rd[64];
        long d = cfg_num("SAI_EMU_DELAY_US", 0);
        if (d > 0)
            usleep((useconds_t)d);
        pthread_mutex_lock(&mu);
        memcpy(rd, g_urd, 64);
        pthread_mutex_unlock(&mu);
        f->data = make_outblob(rd, 0, &f->len);
        return f->data ? 0 : -EACCES;
    }
    case G_KEY: {
        const char *k = cfg("SAI_EMU_SGX_KEY");
        if (k == NULL || strlen(k) != 16)
            return -ENOENT;
        f->data = malloc(16);
        memcpy(f->data, k, 16);
        f->len = 16;
        return 0;
    }
    default:
        return -ENOENT;
    }
}

/* ---- stat --------------------------------------------------------------------- */

/* 1 = filled *st, 0 = not emulated, -1 = errno set */
static int emu_stat(const char *path, struct stat *st)
{
    const char *rel = rel_path(path);
    int ent = -1, attr = -1, which;
    bool dir;
    if (rel == NULL)
        return 0;
    memset(st, 0, sizeof *st);
    st->st_nlink = 1;
    st->st_blksize = 4096;
    int c = tsm_classify(path, rel, &ent, &attr);
    if (c == 1) {
        st->st_mode = S_IFDIR | 0755;
        return 1;
    }
    if (c == 2 || c == 3) {
        if (ent < 0 || (c == 3 && attr < 0)) {
            errno = ENOENT;
            return -1;
        }
        if (c == 2) {
            st->st_mode = S_IFDIR | 0755;
            return 1;
        }
        st->st_mode = S_IFREG | (attrs[attr].rd ? 0444 : 0) | (attrs[attr].wr ? 0200 : 0);
        st->st_size = attrs[attr].bin ? 0 : 4096;   /* what configfs reports */
        return 1;
    }
    if ((strcmp(rel, "/dev/sev-guest") == 0 && cfg("SAI_EMU_SEV_GUEST")) ||
        (strcmp(rel, "/dev/tdx_guest") == 0 && cfg("SAI_EMU_TDX_GUEST"))) {
        st->st_mode = S_IFCHR | 0600;
        return 1;
    }
    int g = gr_classify(rel, &which, &dir);
    if (g == 1) {
        st->st_mode = dir ? S_IFDIR | 0755 : S_IFREG | 0666;
        st->st_size = 0;   /* Gramine's pseudo-files */
        return 1;
    }
    if (g < 0) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int stat(const char *path, struct stat *st)
{
    RESOLVE();
    int r = emu_stat(path, st);
    return r == 0 ? REAL(stat)(path, st) : r > 0 ? 0 : -1;
}

int lstat(const char *path, struct stat *st)
{
    RESOLVE();
    int r = emu_stat(path, st);
    return r == 0 ? REAL(lstat)(path, st) : r > 0 ? 0 : -1;
}

int stat64(const char *path, struct stat64 *st)
{
    return stat(path, (struct stat *)st);
}

int fstat(int fd, struct stat *st)
{
    RESOLVE();
    ofile *f = fd >= 0 && fd < MAX_FD ? files[fd] : NULL;
    if (f == NULL)
        return REAL(fstat)(fd, st);
    memset(st, 0, sizeof *st);
    st->st_nlink = 1;
    if (f->kind == K_TSM_ATTR) {
        st->st_mode = S_IFREG | 0644;
        st->st_size = attrs[f->attr].bin ? 0 : 4096;
    } else if (f->kind == K_GR_FILE) {
        st->st_mode = S_IFREG | 0666;
        st->st_size = 0;
    } else {
        st->st_mode = S_IFCHR | 0600;
    }
    return 0;
}

int fstat64(int fd, struct stat64 *st)
{
    return fstat(fd, (struct stat *)st);
}

/* ---- open / read / write / close ------------------------------------------------ */

static int emu_open(const char *path, int flags, mode_t mode, bool *handled)
{
    const char *rel = rel_path(path);
    int ent = -1, attr = -1, which;
    bool dir;
    *handled = false;
    if (rel == NULL)
        return -1;
    int acc = flags & O_ACCMODE;
    ofile nf;
    memset(&nf, 0, sizeof nf);
    int c = tsm_classify(path, rel, &ent, &attr);
    if (c == 1 || c == 2) {
        *handled = true;
        errno = c == 2 && ent < 0 ? ENOENT : EISDIR;
        return -1;
    }
    if (c == 3) {
        *handled = true;
        if (ent < 0 || attr < 0) {
            errno = (flags & O_CREAT) && ent >= 0 ? EACCES : ENOENT;   /* configfs: no new files */
            return -1;
        }
        if ((acc != O_WRONLY && !attrs[attr].rd) || (acc != O_RDONLY && !attrs[attr].wr)) {
            errno = EACCES;
            return -1;
        }
        nf.kind = K_TSM_ATTR;
        nf.ent = ent;
        nf.attr = attr;
    } else if (strcmp(rel, "/dev/sev-guest") == 0 && cfg("SAI_EMU_SEV_GUEST")) {
        *handled = true;
        nf.kind = K_SEV_GUEST;
    } else if (strcmp(rel, "/dev/tdx_guest") == 0 && cfg("SAI_EMU_TDX_GUEST")) {
        *handled = true;
        nf.kind = K_TDX_GUEST;
    } else {
        int g = gr_classify(rel, &which, &dir);
        if (g == 0)
            return -1;
        *handled = true;
        if (g < 0 || dir) {
            errno = g < 0 ? ENOENT : EISDIR;
            return -1;
        }
        if ((which == G_TYPE || which == G_QUOTE || which == G_KEY) && acc != O_RDONLY) {
            errno = EACCES;
            return -1;
        }
        nf.kind = K_GR_FILE;
        nf.attr = which;
        if (acc != O_WRONLY) {
            int r = gr_load(&nf);   /* Gramine loads str files at open */
            if (r < 0) {
                errno = -r;
                return -1;
            }
            nf.loaded = true;
        }
    }
    (void)mode;
    int fd = REAL(open)("/dev/null", O_RDWR | ((flags & O_CLOEXEC) ? O_CLOEXEC : 0));
    if (fd < 0)
        return -1;
    if (fd >= MAX_FD) {
        REAL(close)(fd);
        free(nf.data);
        errno = EMFILE;
        return -1;
    }
    ofile *f = malloc(sizeof *f);
    *f = nf;
    pthread_mutex_lock(&mu);
    files[fd] = f;
    pthread_mutex_unlock(&mu);
    return fd;
}

static int do_open(const char *path, int flags, mode_t mode)
{
    RESOLVE();
    bool handled;
    int fd = emu_open(path, flags, mode, &handled);
    if (handled)
        return fd;
    return REAL(open)(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return do_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return do_open(path, flags, mode);
}

int __open_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
    return do_open(path, flags, 0);
}

int __open64_2(const char *path, int flags);
int __open64_2(const char *path, int flags)
{
    return do_open(path, flags, 0);
}

ssize_t read(int fd, void *buf, size_t n)
{
    RESOLVE();
    ofile *f = fd >= 0 && fd < MAX_FD ? files[fd] : NULL;
    if (f == NULL)
        return REAL(read)(fd, buf, n);
    if (f->kind == K_SEV_GUEST || f->kind == K_TDX_GUEST) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&mu);
    if (!f->loaded) {
        int r = f->kind == K_TSM_ATTR ? tsm_load(f) : gr_load(f);
        if (r < 0) {
            pthread_mutex_unlock(&mu);
            errno = -r;
            return -1;
        }
        f->loaded = true;
    }
    size_t left = f->len - f->pos, k = n < left ? n : left;
    if (k)
        memcpy(buf, f->data + f->pos, k);
    f->pos += k;
    pthread_mutex_unlock(&mu);
    return (ssize_t)k;
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen)
        abort();
    return read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    RESOLVE();
    ofile *f = fd >= 0 && fd < MAX_FD ? files[fd] : NULL;
    if (f == NULL)
        return REAL(write)(fd, buf, n);
    if (f->kind == K_SEV_GUEST || f->kind == K_TDX_GUEST) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&mu);
    ssize_t rc = (ssize_t)n;
    if (f->kind == K_TSM_ATTR && f->attr == A_PRIVLEVEL) {
        /* a text attribute: store() runs on each write */
        char tmp[32];
        size_t k = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
        memcpy(tmp, buf, k);
        tmp[k] = '\0';
        char *end;
        unsigned long v = strtoul(tmp, &end, 0);
        entry *e = entries[f->ent];
        if (end == tmp || (*end != '\0' && *end != '\n')) {
            errno = EINVAL;
            rc = -1;
        } else if (v < (unsigned long)cfg_num("SAI_EMU_PRIVLEVEL_FLOOR", 0) || v > 3) {
            errno = EINVAL;
            rc = -1;
        } else if (e != NULL) {
            e->privlevel = (unsigned)v;
            e->wgen++;
        }
    } else {
        size_t cap = f->kind == K_TSM_ATTR ? 64 : 64;   /* inblob / user_report_data */
        if (f->wlen + n > cap) {
            errno = f->kind == K_TSM_ATTR ? EFBIG : EINVAL;
            rc = -1;
        } else {
            memcpy(f->wbuf + f->wlen, buf, n);
            f->wlen += n;
            f->wrote = true;
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

int close(int fd)
{
    RESOLVE();
    ofile *f = NULL;
    pthread_mutex_lock(&mu);
    if (fd >= 0 && fd < MAX_FD) {
        f = files[fd];
        files[fd] = NULL;
    }
    bool saved_urd = false;
    if (f != NULL && f->wrote) {
        if (f->kind == K_TSM_ATTR && f->attr == A_INBLOB && entries[f->ent] != NULL) {
            commit_inblob(entries[f->ent], f->wbuf, f->wlen);   /* bin attrs: at release */
        } else if (f->kind == K_GR_FILE && f->attr == G_URD && f->wlen == 64) {
            memcpy(g_urd, f->wbuf, 64);
            saved_urd = true;
        }
    }
    pthread_mutex_unlock(&mu);
    if (saved_urd && cfg_num("SAI_EMU_DELAY_US", 0) > 0)
        usleep((useconds_t)cfg_num("SAI_EMU_DELAY_US", 0));
    if (f != NULL) {
        free(f->data);
        free(f);
    }
    return REAL(close)(fd);
}

/* ---- mkdir / rmdir -------------------------------------------------------------- */

int mkdir(const char *path, mode_t mode)
{
    RESOLVE();
    const char *rel = rel_path(path);
    int ent = -1, attr;
    int c = rel ? tsm_classify(path, rel, &ent, &attr) : 0;
    if (c == 0)
        return REAL(mkdir)(path, mode);
    if (c != 2) {
        errno = c == 1 ? EEXIST : EPERM;
        return -1;
    }
    pthread_mutex_lock(&mu);
    int rc = 0;
    if (find_entry(path) >= 0) {
        errno = EEXIST;
        rc = -1;
    } else {
        int slot = -1;
        for (int i = 0; i < MAX_ENTRY && slot < 0; i++)
            if (entries[i] == NULL)
                slot = i;
        if (slot < 0) {
            errno = ENOSPC;
            rc = -1;
        } else {
            entries[slot] = calloc(1, sizeof(entry));
            snprintf(entries[slot]->path, sizeof entries[slot]->path, "%s", path);
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

int rmdir(const char *path)
{
    RESOLVE();
    const char *rel = rel_path(path);
    int ent = -1, attr;
    int c = rel ? tsm_classify(path, rel, &ent, &attr) : 0;
    if (c == 0)
        return REAL(rmdir)(path);
    pthread_mutex_lock(&mu);
    int rc = 0;
    if (c != 2 || ent < 0) {
        errno = c == 2 ? ENOENT : EPERM;
        rc = -1;
    } else {
        free(entries[ent]->out);
        free(entries[ent]->aux);
        free(entries[ent]);
        entries[ent] = NULL;
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

/* ---- /dev/sev-guest ioctls ------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    for (int b = 0; b < 4; b++)
        p[b] = (uint8_t)(v >> (8 * b));
}

static int fill_report(struct snp_report_req *req, struct snp_report_resp *resp,
                       struct snp_guest_request_ioctl *io)
{
    size_t len = 0;
    if (req->vmpl < (uint32_t)cfg_num("SAI_EMU_PRIVLEVEL_FLOOR", 0)) {
        io->exitinfo2 = 0x16;   /* firmware: INVALID_PARAM */
        errno = EIO;
        return -1;
    }
    uint8_t *rep = make_outblob(req->user_data, req->vmpl, &len);
    if (rep == NULL || len + 32 > sizeof resp->data) {
        free(rep);
        errno = EIO;
        return -1;
    }
    memset(resp, 0, sizeof *resp);
    put32(resp->data, 0);
    put32(resp->data + 4, (uint32_t)len);
    memcpy(resp->data + 32, rep, len);
    free(rep);
    return 0;
}

int ioctl(int fd, unsigned long request, ...)
{
    RESOLVE();
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    ofile *f = fd >= 0 && fd < MAX_FD ? files[fd] : NULL;
    if (f == NULL)
        return REAL(ioctl)(fd, request, arg);
    if (f->kind != K_SEV_GUEST) {
        errno = ENOTTY;
        return -1;
    }
    struct snp_guest_request_ioctl *io = arg;
    io->exitinfo2 = 0;
    if (io->msg_version != 1) {
        errno = EINVAL;
        return -1;
    }
    if (request == SNP_GET_REPORT) {
        return fill_report((struct snp_report_req *)(uintptr_t)io->req_data,
                           (struct snp_report_resp *)(uintptr_t)io->resp_data, io);
    }
    if (request == SNP_GET_EXT_REPORT) {
        struct snp_ext_report_req *req = (struct snp_ext_report_req *)(uintptr_t)io->req_data;
        size_t tl = 0;
        uint8_t *t = cert_table(&tl);
        size_t need = (tl + 4095) / 4096 * 4096;
        if (req->certs_len % 4096 != 0 || req->certs_len > 0x4000) {
            free(t);
            errno = EINVAL;
            return -1;
        }
        if (t != NULL && req->certs_len < need) {
            req->certs_len = (uint32_t)need;
            io->exitinfo2 = (uint64_t)SNP_GUEST_VMM_ERR_INVALID_LEN << SNP_GUEST_VMM_ERR_SHIFT;
            free(t);
            errno = EIO;
            return -1;
        }
        int r = fill_report(&req->data, (struct snp_report_resp *)(uintptr_t)io->resp_data, io);
        if (r == 0 && req->certs_len > 0) {
            uint8_t *dst = (uint8_t *)(uintptr_t)req->certs_address;
            memset(dst, 0, req->certs_len);
            if (t != NULL)
                memcpy(dst, t, tl);
        }
        free(t);
        return r;
    }
    if (request == SNP_GET_DERIVED_KEY) {
        struct snp_derived_key_req *req = (struct snp_derived_key_req *)(uintptr_t)io->req_data;
        struct snp_derived_key_resp *resp = (struct snp_derived_key_resp *)(uintptr_t)io->resp_data;
        if (req->vmpl < (uint32_t)cfg_num("SAI_EMU_PRIVLEVEL_FLOOR", 0)) {
            io->exitinfo2 = 0x16;
            errno = EIO;
            return -1;
        }
        memset(resp, 0, sizeof *resp);
        uint32_t status = (uint32_t)cfg_num("SAI_EMU_KEY_STATUS", 0);
        put32(resp->data, status);
        if (status == 0)
            for (int i = 0; i < 32; i++)
                resp->data[32 + i] = (uint8_t)(0x5a ^ (i * 7) ^ req->vmpl ^ (uint8_t)req->guest_field_select);
        return 0;
    }
    errno = ENOTTY;
    return -1;
}

/* Every process under the emulator says so: nothing it collects is
 * hardware-protected, whatever the served vectors verify as. */
__attribute__((constructor)) static void banner(void)
{
    const char *root = cfg("SAI_EMU_ROOT");
    if (root != NULL && cfg("SAI_EMU_QUIET") == NULL)
        fprintf(stderr, "tee_emu: EMULATED TEE guest interfaces under %s (test emulator, not hardware: "
                        "nothing collected here is hardware-protected)\n", root);
}
