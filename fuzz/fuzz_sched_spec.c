/* fuzz_sched_spec.c — the cluster/scenario YAML parser (src/sched/spec.c)
 * on arbitrary bytes: it must return an error, never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "secureai/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_sched_spec_t s;
    sai_error_t err;
    sai_sched_spec_init(&s);
    if (sai_sched_spec_parse(&s, (const char *)data, size, NULL, &err) == 0) {
        /* a parsed cluster must be usable by the simulator */
        if (sai_sched_cluster_nodes(&s.cluster) <= 64) {
            sai_sched_workload_t w = {0};
            sai_sched_synth_opts_t o;
            sai_sched_synth_defaults(&o);
            o.njobs = 50;
            if (sai_sched_synth_generate(&o, &w, &err) == 0) {
                sai_sched_workload_sort(&w);
                sai_sched_opts_t so = {0};
                sai_sched_metrics_t m;
                so.policy = sai_sched_policy_find("binpack");
                so.check_all = true;
                if (sai_sched_simulate(&s.cluster, &w, &so, &m, &err) == 0) {
                    if (m.invariant_failures != 0 || m.violations != 0)
                        abort();
                    sai_sched_metrics_free(&m);
                }
            }
            sai_sched_workload_free(&w);
        }
    }
    sai_sched_spec_free(&s);
    return 0;
}
