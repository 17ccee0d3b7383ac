/*
 * fuzz_provenance.c — sai_provenance_verify on arbitrary bytes: the DSSE
 * envelope, base64, the in-toto statement and every field check. The
 * evidence verifier here accepts anything 112+ bytes long (measurement ||
 * report data), so the fuzzer can reach the checks after the evidence
 * (the evidence must then still parse as an envelope for HOST_DATA).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/pipeline.h"

static int any_evidence(void *ctx, const uint8_t *ev, size_t len, uint8_t rd[static 64],
                        uint8_t meas[static 48], char *tee, size_t tee_len, sai_error_t *err)
{
    (void)ctx;
    if (len < 112)
        return sai_error_set(err, SAI_EFORMAT, "short");
    memcpy(meas, ev, 48);
    memcpy(rd, ev + 48, 64);
    if (tee_len > 3)
        memcpy(tee, "sim", 4);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t model[4] = "abc";
    uint8_t ds[32] = {0}, meas[48] = {0};
    sai_provenance_expect_t e = {model, sizeof model, ds, meas, NULL, 0, 0, false};
    sai_evidence_verifier_t v = {NULL, any_evidence, NULL};
    sai_provenance_result_t r;
    sai_error_t err = {0};
    if (sai_provenance_verify((const char *)data, size, &e, &v, &r, &err) == 0)
        abort();   /* cannot verify without a valid signature over matching facts */
    if (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL)
        abort();   /* one line, always */
    return 0;
}
