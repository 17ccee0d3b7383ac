/*
 * fuzz_proto.c — every decoder of the host<->enclave protocol (proto.c) on
 * arbitrary bytes: the enclave decodes HELLO, SHARD_FDS and DIST (first
 * byte 1 with bit 7 set) from the untrusted host, the host decodes READY, OUTPUT, OUTPUT_END and DONE from
 * the enclave. The first byte picks the decoder (and, for SHARD_FDS, how
 * many descriptors came along). A decoder either fails with a one-line
 * reason and leaves nothing allocated, or returns values within their caps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_internal.h"
#include "secureai/tee.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0];
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    sai_error_t err = {0};
    int rc;
    switch (which % 6) {
    case 0: {
        sai_proto_hello_t h;
        if ((rc = sai_pipeline__proto_hello_decode(&h, d, n, &err)) == 0) {
            if (h.spec == NULL || h.kbs_url == NULL || h.spec_len != strlen(h.spec) || h.threads < 0 ||
                h.threads > 256 || h.spec_len > SAI_SIM_SPEC_MAX)
                abort();
            sai_pipeline__proto_hello_clear(&h);
        }
        break;
    }
    case 1: {
        if (which & 0x80) {   /* DIST: world must equal the measured workers, rank below it;
                                 bit 6: a ps spec (servers = workers, one stream per peer) */
            sai_proto_dist_t dd;
            unsigned workers = (which >> 3) % 8, servers = (which & 0x40) ? workers : 0;
            size_t nfds = servers ? (workers ? workers - 1 : 0) : 2;
            if ((rc = sai_pipeline__proto_dist_decode(&dd, d, n, nfds, workers, servers, &err)) == 0 &&
                (workers < 2 || dd.world != workers || dd.rank >= dd.world || dd.servers != servers ||
                 sai_pipeline__proto_dist_streams(&dd) + (dd.ckpt ? 1 : 0) != nfds))
                abort();
            break;
        }
        sai_sandbox_status_t st;
        rc = sai_pipeline__proto_ready_decode(&st, d, n, &err);
        break;
    }
    case 2: {
        sai_proto_shards_t s;
        size_t nfds = (which >> 3) % 8;
        if ((rc = sai_pipeline__proto_shards_decode(&s, d, n, nfds, &err)) == 0) {
            if (s.n + 1 != nfds)
                abort();
            for (size_t i = 0; i < s.n; i++)
                if (s.names[i] == NULL || s.names[i][0] == '\0' || strchr(s.names[i], '/') != NULL)
                    abort();
            sai_pipeline__proto_shards_clear(&s);
        }
        break;
    }
    case 3:
    case 4: {
        sai_proto_output_t o;
        if ((rc = sai_pipeline__proto_output_decode(&o, which % 6 == 4, d, n, &err)) == 0 &&
            o.id != SAI_PROTO_OUT_MODEL && o.id != SAI_PROTO_OUT_PROVENANCE)
            abort();
        break;
    }
    default: {
        cJSON *o = NULL;
        if ((rc = sai_pipeline__proto_done_decode(&o, d, n, &err)) == 0)
            cJSON_Delete(o);
        break;
    }
    }
    if (rc != 0 && (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL))
        abort();   /* one line, always */
    return 0;
}
