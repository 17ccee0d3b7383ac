/* fuzz_sched_extender.c — the kube-scheduler extender's ExtenderArgs JSON
 * handling (src/sched/extender_json.c) on arbitrary bytes, for filter and
 * prioritize and as a --nodes NodeList, with the node cache carried across inputs: every input gets a
 * JSON reply and an HTTP status, never a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "secureai/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sai_extender_t *x;
    if (x == NULL && sai_extender_new(&x, sai_sched_policy_find("epc-aware"), NULL) != 0)
        abort();
    for (int f = 0; f < 2; f++) {
        char *out = NULL;
        int code = sai_extender_handle(x, f == 0, (const char *)data, size, &out);
        if (out == NULL || (code != 200 && code != 400))
            abort();
        free(out);
    }
    size_t n;
    (void)sai_extender_load_nodes(x, (const char *)data, size, &n, NULL);   /* --nodes FILE */
    return 0;
}
