/* fuzz_sched_trace.c — the Alibaba trace CSV reader (src/sched/trace.c). */
#include <stddef.h>
#include <stdint.h>

#include "secureai/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_sched_trace_opts_t o;
    sai_sched_workload_t w = {0};
    sai_error_t err;
    sai_sched_trace_defaults(&o);
    o.limit = 1000;
    (void)sai_sched_trace_parse(&o, (const char *)data, size, &w, &err);
    sai_sched_workload_free(&w);
    return 0;
}
