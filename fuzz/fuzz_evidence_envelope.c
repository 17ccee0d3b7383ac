/* fuzz_evidence_envelope.c — libFuzzer target for the evidence envelope
 * (JSON from the network): parse, inspect, full verification. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sai_attest_policy_t *pol;
    sai_error_t err;
    if (pol == NULL) {
        static const char y[] =
            "allow_simulated: true\n"
            "sim_roots: [0000000000000000000000000000000000000000000000000000000000000000]\n";
        if (sai_attest_policy_load(&pol, y, sizeof y - 1, &err) != 0)
            abort();
    }
    sai_evidence_t ev;
    if (sai_evidence_parse(&ev, (const char *)data, size, &err) == 0) {
        char *json = NULL;
        if (sai_attest_inspect_json(&json, &ev, &err) == 0)
            free(json);
        sai_evidence_clear(&ev);
    }
    sai_attest_result_t res;
    (void)sai_attest_verify_evidence((const char *)data, size, pol, NULL, 1750000000, &res, &err);
    return 0;
}
