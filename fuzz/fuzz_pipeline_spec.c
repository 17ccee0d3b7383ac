/*
 * fuzz_pipeline_spec.c — the pipeline spec parser (YAML via libyaml) and
 * the canonical form: any input either fails with a message or yields a
 * spec whose canonical JSON parses back (sai_pipeline_spec_from_canonical,
 * what the enclave does with the host's HELLO) to the same canonical bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_pipeline_spec_t *s = NULL, *t = NULL;
    sai_error_t err = {0};
    if (sai_pipeline_spec_parse(&s, "fuzz.yaml", (const char *)data, size, &err) != 0) {
        if (err.msg[0] == '\0')
            abort();   /* every failure says why */
        return 0;
    }
    char *c1 = NULL, *c2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (sai_pipeline_spec_canonical(s, NULL, &c1, &n1, &err) != 0)
        abort();
    if (sai_pipeline_spec_from_canonical(&t, c1, n1, &err) != 0)
        abort();
    if (sai_pipeline_spec_canonical(t, NULL, &c2, &n2, &err) != 0 || n1 != n2 || memcmp(c1, c2, n1) != 0)
        abort();
    free(c1);
    free(c2);
    sai_pipeline_spec_free(s);
    sai_pipeline_spec_free(t);
    /* The enclave also parses canonical JSON straight from the host. */
    if (sai_pipeline_spec_from_canonical(&t, (const char *)data, size, &err) == 0)
        sai_pipeline_spec_free(t);
    return 0;
}
