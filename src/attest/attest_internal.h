/* attest_internal.h — private helpers shared by the files in src/attest. */
#ifndef SAI_ATTEST_INT_H
#define SAI_ATTEST_INT_H

#include <cjson/cJSON.h>

#include "secureai/attest.h"

/* Record a refusal in res (verdict, rule, values, hint) and err
 * ("<rule>: <values> (hint: <hint>)"); returns code. res may be NULL. */
int sai_attest__refuse(sai_attest_result_t *res, sai_error_t *err, int code, const char *rule,
                      const char *hint, const char *fmt, ...) SAI_PRINTF(6, 7);

/* Pinned AMD roots. */
typedef struct sai_amd_root_t {
    sai_snp_product_t product;
    const char *name;
    uint8_t ark[32];
    uint8_t ask[32];
    uint8_t asvk[32];
} sai_amd_root_t;

extern const sai_amd_root_t sai_amd_roots[];
extern const size_t sai_amd_n_roots;

/* Fill res->tcb[] from a decoded TCB for product p. */
void sai_attest__set_snp_tcb(sai_attest_result_t *res, const sai_snp_tcb_t *t, sai_snp_product_t p);

/* JSON output (json_out.c): bytes as lower-case hex; a time as RFC 3339
 * UTC (omitted when <= 0). 0 or -1 (out of memory). */
int sai_attest__json_add_hex(cJSON *o, const char *name, const uint8_t *b, size_t n);
int sai_attest__json_add_time(cJSON *o, const char *name, int64_t t);
/* t as RFC 3339 UTC ("2025-12-10T22:14:21Z") for messages; "@<seconds>"
 * when it is outside 0001..9999. */
#define SAI_ATTEST_TIME_STR 32
void sai_attest__time_str(char out[SAI_ATTEST_TIME_STR], int64_t t);
/* TDX (mrtd, rtmr0-3) / SGX (mrenclave, mrsigner, isv_prodid, isv_svn)
 * fields and advisory_ids of a result; nothing for SNP/sim. */
int sai_attest__json_add_intel_claims(cJSON *o, const sai_attest_result_t *res);

#endif
