/*
 * attest_glue.c — the KBS's default verifier and attester tables over the
 * attestation module (src/attest) and the TEE backends (src/tee). The KBS
 * itself only sees sai_kbs_verifier / sai_kbs_attester (kbs.h); this file is
 * the one place that knows the attestation API.
 */
#include <stdlib.h>
#include <string.h>

#include "kbs/kbs_internal.h"

#if __has_include("secureai/attest.h")
#error "wire the attestation module here"
#else
int sai_kbs_verifier_default(sai_kbs_verifier *v, const char *policy_path, sai_error *err)
{
    memset(v, 0, sizeof *v);
    return sai_error_set(err, SAI_EUNSUPP, "built without the attestation module");
}

void sai_kbs_verifier_release(sai_kbs_verifier *v)
{
    memset(v, 0, sizeof *v);
}

int sai_kbs_attester_open(sai_kbs_attester *a, const char *tee, sai_error *err)
{
    memset(a, 0, sizeof *a);
    return sai_error_set(err, SAI_EUNSUPP, "built without the TEE module");
}

void sai_kbs_attester_close(sai_kbs_attester *a)
{
    memset(a, 0, sizeof *a);
}
#endif
