/*
 * snp_report.c — SEV-SNP ATTESTATION_REPORT parser (AMD SEV-SNP ABI,
 * Table "ATTESTATION_REPORT Structure"), versions 2, 3 and 5.
 *
 * Pure parsing of 1184 untrusted bytes into sai_snp_report_t: no allocation,
 * no verification (snp_verify.c does that). Reserved fields are NOT required
 * to be zero: real firmware sets bits there (POLICY bit 17 is must-be-one,
 * PLATFORM_INFO grows new bits per generation, e.g. on Turin), and a verifier
 * that insists on zeros refuses genuine reports. Only what changes the
 * meaning of the signed bytes is enforced: the version, the signature
 * algorithm and the zero upper halves of the 72-byte r and s.
 * Fuzzed by fuzz/fuzz_snp_report.c.
 */
#include <string.h>

#include "secureai/attest.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

const char *sai_snp_product_name(sai_snp_product_t p)
{
    switch (p) {
    case SAI_SNP_PRODUCT_MILAN: return "Milan";
    case SAI_SNP_PRODUCT_GENOA: return "Genoa";
    case SAI_SNP_PRODUCT_TURIN: return "Turin";
    case SAI_SNP_PRODUCT_SIM:   return "Sim";
    default:                    return "unknown";
    }
}

void sai_snp_tcb_decode(sai_snp_tcb_t *t, uint64_t raw, sai_snp_product_t p)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(raw >> (8 * i));
    memset(t, 0, sizeof *t);
    t->raw = raw;
    if (p == SAI_SNP_PRODUCT_TURIN) {
        t->fmc = b[0]; t->bl = b[1]; t->tee = b[2]; t->snp = b[3]; t->ucode = b[7];
    } else {
        t->bl = b[0]; t->tee = b[1]; t->snp = b[6]; t->ucode = b[7];
    }
}

/* Family 19h: models 00h-0Fh Milan, 10h-1Fh and A0h-AFh Genoa (incl. Bergamo/
 * Siena). Family 1Ah: models 00h-1Fh Turin. */
static sai_snp_product_t product_from_cpuid(uint8_t fam, uint8_t mod)
{
    if (fam == 0x19) {
        if (mod <= 0x0F) return SAI_SNP_PRODUCT_MILAN;
        if ((mod >= 0x10 && mod <= 0x1F) || (mod >= 0xA0 && mod <= 0xAF))
            return SAI_SNP_PRODUCT_GENOA;
    }
    if (fam == 0x1A && mod <= 0x1F)
        return SAI_SNP_PRODUCT_TURIN;
    return SAI_SNP_PRODUCT_UNKNOWN;
}

static int sig_component(uint8_t out[48], const uint8_t *le72, const char *name, sai_error_t *err)
{
    for (int i = 48; i < 72; i++)
        if (le72[i] != 0)
            return sai_error_set(err, SAI_EFORMAT,
                                 "SNP report signature %s has non-zero bytes above 48", name);
    for (int i = 0; i < 48; i++)
        out[i] = le72[47 - i];
    return 0;
}

int sai_snp_report_parse(sai_snp_report_t *r, const uint8_t *b, size_t len, sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    if (b == NULL || len != SAI_SNP_REPORT_LEN)
        return sai_error_set(err, SAI_EFORMAT, "SNP report must be %u bytes, got %zu",
                             SAI_SNP_REPORT_LEN, len);
    r->version = le32(b + 0x00);
    if (r->version != 2 && r->version != 3 && r->version != 5)
        return sai_error_set(err, SAI_EFORMAT,
                             "SNP report version %u is not supported (2, 3, 5)", r->version);
    r->guest_svn = le32(b + 0x04);
    r->policy = le64(b + 0x08);
    memcpy(r->family_id, b + 0x10, 16);
    memcpy(r->image_id, b + 0x20, 16);
    r->vmpl = le32(b + 0x30);
    r->sig_algo = le32(b + 0x34);
    if (r->sig_algo != 1)
        return sai_error_set(err, SAI_EFORMAT,
                             "SNP report signature algorithm %u is not ECDSA P-384/SHA-384 (1)",
                             r->sig_algo);
    r->current_tcb_raw = le64(b + 0x38);
    r->platform_info = le64(b + 0x40);
    r->signer_info = le32(b + 0x48);
    memcpy(r->report_data, b + 0x50, 64);
    memcpy(r->measurement, b + 0x90, 48);
    memcpy(r->host_data, b + 0xC0, 32);
    memcpy(r->id_key_digest, b + 0xE0, 48);
    memcpy(r->author_key_digest, b + 0x110, 48);
    memcpy(r->report_id, b + 0x140, 32);
    memcpy(r->report_id_ma, b + 0x160, 32);
    r->reported_tcb_raw = le64(b + 0x180);
    if (r->version >= 3) {
        r->cpuid_fam = b[0x188];
        r->cpuid_mod = b[0x189];
        r->cpuid_step = b[0x18A];
        r->cpuid_product = product_from_cpuid(r->cpuid_fam, r->cpuid_mod);
    }
    memcpy(r->chip_id, b + 0x1A0, 64);
    r->committed_tcb_raw = le64(b + 0x1E0);
    r->current_build = b[0x1E8];
    r->current_minor = b[0x1E9];
    r->current_major = b[0x1EA];
    r->committed_build = b[0x1EC];
    r->committed_minor = b[0x1ED];
    r->committed_major = b[0x1EE];
    r->launch_tcb_raw = le64(b + 0x1F0);
    if (r->version >= 5) {
        r->launch_mit_vector = le64(b + 0x1F8);
        r->current_mit_vector = le64(b + 0x200);
    }
    int rc = sig_component(r->sig_r, b + 0x2A0, "r", err);
    if (rc == 0)
        rc = sig_component(r->sig_s, b + 0x2E8, "s", err);
    if (rc != 0)
        return rc;
    r->debug = (r->policy >> 19) & 1;
    unsigned signing_key = (r->signer_info >> 2) & 7;
    if (r->version >= 3 && signing_key > 1)
        return sai_error_set(err, SAI_EFORMAT,
                             "SNP report SIGNING_KEY %u is neither VCEK (0) nor VLEK (1)",
                             signing_key);
    r->vlek = signing_key == 1;
    return 0;
}
