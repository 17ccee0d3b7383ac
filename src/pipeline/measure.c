/*
 * measure.c — the launch measurement of a `sim` enclave, computed by the
 * host launcher over the exact bytes it is about to execute.
 *
 * The launcher opens the enclave binary once, hashes it through that
 * descriptor and then executes the same descriptor (fexecve), so the file
 * cannot be swapped between measuring and launching. The enclave never
 * reports its own measurement: the sim TEE signs what the launcher computed,
 * as the SEV-SNP PSP signs what it loaded.
 *
 *   M = SHA-384("secureai/v1/launch" || 0x00 ||
 *               u64be(|B|) || B || u64be(|S|) || S || u64be(|P|) || P)
 *   B = enclave binary, S = canonical spec, P = sandbox policy text
 */
#include "secureai/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int put_len(sai_hash_ctx *h, uint64_t n, sai_error *err)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(n >> (56 - 8 * i));
    return sai_hash_update(h, b, 8, err);
}

int sai_pipeline_measure_fd(uint8_t out[static SAI_MEASUREMENT_LEN], int binary_fd,
                            const char *canonical_spec, size_t spec_len, sai_error *err)
{
    static const char label[] = "secureai/v1/launch";
    sai_hash_ctx *h = NULL;
    uint8_t *buf = NULL;
    struct stat st;
    int rc = sai_hash_new(&h, SAI_SHA384, err);
    if (rc)
        return rc;
    if (fstat(binary_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sai_error_set(err, SAI_EIO, "the enclave binary is not a regular file");
        goto out;
    }
    const char *pol = sai_sandbox_policy_text();
    if ((rc = sai_hash_update(h, label, sizeof label, err)) ||   /* includes the NUL */
        (rc = put_len(h, (uint64_t)st.st_size, err)))
        goto out;
    buf = malloc(1 << 16);
    if (buf == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t total = 0;
    for (;;) {
        ssize_t n = pread(binary_fd, buf, 1 << 16, (off_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot read the enclave binary: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if ((rc = sai_hash_update(h, buf, (size_t)n, err)))
            goto out;
        total += (uint64_t)n;
    }
    if (total != (uint64_t)st.st_size) {
        rc = sai_error_set(err, SAI_EIO, "the enclave binary changed while it was measured");
        goto out;
    }
    if ((rc = put_len(h, spec_len, err)) || (rc = sai_hash_update(h, canonical_spec, spec_len, err)) ||
        (rc = put_len(h, strlen(pol), err)) || (rc = sai_hash_update(h, pol, strlen(pol), err)))
        goto out;
    rc = sai_hash_final(h, out, err);
out:
    free(buf);
    sai_hash_free(h);
    return rc;
}
