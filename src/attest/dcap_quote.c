/*
 * dcap_quote.c — layout parser for Intel DCAP quotes: SGX v3, TDX v4 and v5
 * (TD 1.0 and TD 1.5 bodies), signature data, QE report, QE authentication
 * data and certification data (type 6 wrapping type 5, or bare type 5).
 *
 * Parsing only: every length comes from the untrusted quote and is checked
 * against the bytes left before it is used; nothing here is trusted until
 * dcap_verify.c has checked the signatures. The quote is bounded by its own
 * sig_len, not by the buffer (real quotes carry trailing padding).
 */
#include "secureai/dcap.h"

#include <string.h>

#define HDR_LEN        48
#define SGX_BODY_LEN  384
#define TD10_BODY_LEN 584
#define TD15_BODY_LEN 648
#define CERT_TYPE_PCK_CHAIN 5
#define CERT_TYPE_QE_REPORT 6

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* A bounded reader: every take checks the bytes left. */
typedef struct {
    const uint8_t *p;
    size_t left;
} rd;

static const uint8_t *take(rd *r, size_t n)
{
    if (n > r->left)
        return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static void parse_sgx_body(sai_dcap_sgx_body_t *b, const uint8_t *p)
{
    memcpy(b->cpusvn, p, 16);
    b->miscselect = le32(p + 16);
    memcpy(b->isvextprodid, p + 32, 16);
    memcpy(b->attributes, p + 48, 16);
    memcpy(b->mrenclave, p + 64, 32);
    memcpy(b->mrsigner, p + 128, 32);
    memcpy(b->configid, p + 192, 64);
    b->isvprodid = le16(p + 256);
    b->isvsvn = le16(p + 258);
    b->configsvn = le16(p + 260);
    memcpy(b->isvfamilyid, p + 304, 16);
    memcpy(b->report_data, p + 320, 64);
}

static void parse_td_body(sai_dcap_td_body_t *b, const uint8_t *p, bool v15)
{
    memcpy(b->tee_tcb_svn, p, 16);
    memcpy(b->mrseam, p + 16, 48);
    memcpy(b->mrsignerseam, p + 64, 48);
    memcpy(b->seam_attributes, p + 112, 8);
    memcpy(b->td_attributes, p + 120, 8);
    memcpy(b->xfam, p + 128, 8);
    memcpy(b->mrtd, p + 136, 48);
    memcpy(b->mrconfigid, p + 184, 48);
    memcpy(b->mrowner, p + 232, 48);
    memcpy(b->mrownerconfig, p + 280, 48);
    for (int i = 0; i < 4; i++)
        memcpy(b->rtmr[i], p + 328 + 48 * i, 48);
    memcpy(b->report_data, p + 520, 64);
    b->v15 = v15;
    if (v15) {
        memcpy(b->tee_tcb_svn2, p + 584, 16);
        memcpy(b->mrservicetd, p + 600, 48);
    }
}

/* QE report || QE report sig || u16 auth len || auth || u16 type || u32 size || data */
static int parse_qe_part(rd *r, sai_dcap_quote_t *q, sai_error_t *err)
{
    const uint8_t *p;
    if ((p = take(r, SGX_BODY_LEN)) == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: truncated QE report");
    q->qe_report_raw = p;
    parse_sgx_body(&q->qe_report, p);
    if ((p = take(r, 64)) == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: truncated QE report signature");
    memcpy(q->qe_report_sig, p, 64);
    if ((p = take(r, 2)) == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: truncated QE auth data size");
    q->qe_auth_len = le16(p);
    if ((q->qe_auth = take(r, q->qe_auth_len)) == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: QE auth data size %zu exceeds the quote",
                             q->qe_auth_len);
    if ((p = take(r, 6)) == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: truncated certification data header");
    q->cert_type = le16(p);
    uint32_t size = le32(p + 2);
    if (q->cert_type != CERT_TYPE_PCK_CHAIN)
        return sai_error_set(err, SAI_EFORMAT,
                             "quote: certification data type %u is not supported "
                             "(only 5, a PEM PCK certificate chain)", q->cert_type);
    if ((p = take(r, size)) == NULL)
        return sai_error_set(err, SAI_EFORMAT,
                             "quote: certification data size %u exceeds the quote", size);
    /* Some QEs count a trailing NUL in the size; it is not part of the PEM. */
    while (size > 0 && p[size - 1] == 0)
        size--;
    if (size == 0)
        return sai_error_set(err, SAI_EFORMAT, "quote: empty PCK certificate chain");
    q->cert_data = p;
    q->cert_len = size;
    return 0;
}

int sai_dcap_quote_parse(const uint8_t *buf, size_t len, sai_dcap_quote_t *q, sai_error_t *err)
{
    memset(q, 0, sizeof *q);
    if (buf == NULL)
        return sai_error_set(err, SAI_EINVAL, "quote: no data");
    if (len > SAI_DCAP_QUOTE_MAX)
        len = SAI_DCAP_QUOTE_MAX; /* the quote is bounded by sig_len anyway */
    if (len < HDR_LEN)
        return sai_error_set(err, SAI_EFORMAT, "quote: %zu bytes is shorter than a header", len);
    q->version = le16(buf);
    q->att_key_type = le16(buf + 2);
    q->tee_type = le32(buf + 4);
    q->qe_svn = le16(buf + 8);
    q->pce_svn = le16(buf + 10);
    memcpy(q->qe_vendor_id, buf + 12, 16);
    memcpy(q->user_data, buf + 28, 20);

    if (q->version != 3 && q->version != 4 && q->version != 5)
        return sai_error_set(err, SAI_EFORMAT, "quote: version %u is not supported (3, 4, 5)",
                             q->version);
    if (q->tee_type == 0x00)
        q->tee = SAI_DCAP_SGX;
    else if (q->tee_type == 0x81)
        q->tee = SAI_DCAP_TDX;
    else
        return sai_error_set(err, SAI_EFORMAT, "quote: unknown TEE type 0x%x", q->tee_type);
    if (q->att_key_type != 2)
        return sai_error_set(err, SAI_EFORMAT,
                             "quote: attestation key type %u is not supported (2, ECDSA P-256)",
                             q->att_key_type);

    rd r = { buf + HDR_LEN, len - HDR_LEN };
    size_t body_len;
    if (q->version == 3) {
        if (q->tee != SAI_DCAP_SGX)
            return sai_error_set(err, SAI_EFORMAT, "quote: v3 quote with TEE type 0x%x", q->tee_type);
        q->body_type = SAI_DCAP_BODY_SGX;
        body_len = SGX_BODY_LEN;
    } else if (q->version == 4) {
        if (q->tee == SAI_DCAP_SGX) {
            q->body_type = SAI_DCAP_BODY_SGX;
            body_len = SGX_BODY_LEN;
        } else {
            q->body_type = SAI_DCAP_BODY_TD10;
            body_len = TD10_BODY_LEN;
        }
    } else {
        const uint8_t *p = take(&r, 6);
        if (p == NULL)
            return sai_error_set(err, SAI_EFORMAT, "quote: truncated v5 body descriptor");
        q->body_type = le16(p);
        uint32_t size = le32(p + 2);
        size_t want = q->body_type == SAI_DCAP_BODY_SGX  ? SGX_BODY_LEN
                    : q->body_type == SAI_DCAP_BODY_TD10 ? TD10_BODY_LEN
                    : q->body_type == SAI_DCAP_BODY_TD15 ? TD15_BODY_LEN : 0;
        if (want == 0)
            return sai_error_set(err, SAI_EFORMAT, "quote: v5 body type %u is unknown", q->body_type);
        if (size != want)
            return sai_error_set(err, SAI_EFORMAT, "quote: v5 body type %u has size %u, expected %zu",
                                 q->body_type, size, want);
        if ((q->body_type == SAI_DCAP_BODY_SGX) != (q->tee == SAI_DCAP_SGX))
            return sai_error_set(err, SAI_EFORMAT, "quote: v5 body type %u does not match TEE type 0x%x",
                                 q->body_type, q->tee_type);
        body_len = want;
    }
    const uint8_t *body = take(&r, body_len);
    if (body == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: truncated report body");
    if (q->tee == SAI_DCAP_SGX)
        parse_sgx_body(&q->sgx, body);
    else
        parse_td_body(&q->td, body, q->body_type == SAI_DCAP_BODY_TD15);
    q->signed_data = buf;
    q->signed_len = (size_t)(body + body_len - buf);

    const uint8_t *p = take(&r, 4);
    if (p == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: truncated signature data length");
    uint32_t sig_len = le32(p);
    if (sig_len > r.left)
        return sai_error_set(err, SAI_EFORMAT,
                             "quote: signature data length %u exceeds the %zu bytes left",
                             sig_len, r.left);
    q->quote_len = q->signed_len + 4 + sig_len;
    rd s = { r.p, sig_len }; /* everything below is bounded by sig_len */

    if ((p = take(&s, 64)) == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: truncated quote signature");
    memcpy(q->signature, p, 64);
    if ((p = take(&s, 64)) == NULL)
        return sai_error_set(err, SAI_EFORMAT, "quote: truncated attestation key");
    memcpy(q->att_key, p, 64);

    int rc;
    if (q->version == 3) {
        rc = parse_qe_part(&s, q, err);
    } else {
        if ((p = take(&s, 6)) == NULL)
            return sai_error_set(err, SAI_EFORMAT, "quote: truncated certification data header");
        uint16_t outer = le16(p);
        uint32_t size = le32(p + 2);
        if (outer != CERT_TYPE_QE_REPORT)
            return sai_error_set(err, SAI_EFORMAT,
                                 "quote: outer certification data type %u is not supported "
                                 "(6, QE report certification data)", outer);
        const uint8_t *inner = take(&s, size);
        if (inner == NULL)
            return sai_error_set(err, SAI_EFORMAT,
                                 "quote: certification data size %u exceeds the signature data", size);
        rd in = { inner, size };
        rc = parse_qe_part(&in, q, err);
    }
    return rc;
}

const char *sai_dcap_verdict_name(sai_dcap_verdict_t v)
{
    switch (v) {
    case SAI_DCAP_AFFIRMING: return "affirming";
    case SAI_DCAP_WARNING: return "warning";
    case SAI_DCAP_TCB_UNKNOWN: return "tcb-unknown";
    case SAI_DCAP_CONTRAINDICATED: return "contraindicated";
    }
    return "?";
}
