/*
 * kbs_glue.c — the one way the enclave gets a KBS client: from what the
 * measured spec says, never from what the host says.
 *
 * The host chooses the KBS URL (where the KBS lives is host-side and not
 * measured), so the URL is an attacker's choice; what makes the channel
 * trustworthy is in the canonical spec: kbs.pin (the certificate's
 * SHA-256), or kbs.ca (its bytes arrive from the host and must hash to the
 * measured kbs.ca_sha256), and plain HTTP only when the spec itself says
 * kbs.insecure_http: true. A spec that says none of them is refused at load
 * (spec_yaml.c) and again here. See docs/kbs.md ("Channel") and threat 4 of
 * docs/threat-model.md.
 */
#include "pipeline/pipeline_internal.h"

#include <stdio.h>
#include <string.h>

#include "secureai/kbs.h"
#include "secureai/util.h"
#include "util/weaken.h"

int sai_pipeline_kbs_client_for_spec(const sai_pipeline_spec_t *s, const char *url, const char *ca_pem,
                                     size_t ca_len, sai_kbs_client_t **out, sai_error_t *err)
{
    *out = NULL;
    bool http = url != NULL && strncmp(url, "http://", 7) == 0;
    bool https = url != NULL && strncmp(url, "https://", 8) == 0;
    if (!http && !https)
        return sai_error_set(err, SAI_EINVAL, "key broker: the KBS URL %s is not https://HOST:PORT",
                             url ? url : "(none)");
    if (http && !s->kbs.insecure_http && !SAI_WEAKENED("kbs_downgrade"))
        return sai_error_set(err, SAI_EPOLICY, "key broker: the KBS URL %s is plain HTTP but the measured spec "
                             "does not allow it (kbs.insecure_http): refusing, a host could point the "
                             "enclave at a KBS of its own", url);
    if (s->kbs.pin == NULL && !s->kbs.has_ca_sha256 && !s->kbs.insecure_http)
        return sai_error_set(err, SAI_EINVAL, "key broker: the KBS must be pinned (kbs.pin) or CA-anchored "
                             "(kbs.ca) in the spec");
    char pinhex[65] = "";
    sai_kbs_client_opts_t ko = {0};
    if (s->kbs.pin != NULL) {
        /* "sha256:<64 hex>", checked by the spec parser */
        if (strlen(s->kbs.pin) != 71)
            return sai_error_set(err, SAI_EFORMAT, "key broker: kbs.pin is not sha256:<64 hex>");
        snprintf(pinhex, sizeof pinhex, "%s", s->kbs.pin + 7);
        ko.pin_sha256 = pinhex;
    } else if (s->kbs.has_ca_sha256) {
        uint8_t got[SAI_SHA256_LEN];
        int rc;
        if (ca_pem == NULL || ca_len == 0 || ca_len > SAI_PIPELINE_CA_MAX)
            return sai_error_set(err, SAI_EAUTH, "key broker: the spec anchors the KBS in kbs.ca but no CA "
                                 "(or one over %d bytes) was handed over", SAI_PIPELINE_CA_MAX);
        if ((rc = sai_hash(SAI_SHA256, got, ca_pem, ca_len, err)) != 0)
            return rc;
        if (!sai_ct_equal(got, s->kbs.ca_sha256, SAI_SHA256_LEN))
            return sai_error_set(err, SAI_EAUTH, "key broker: the KBS CA the host sent is not the measured "
                                 "kbs.ca");
        ko.ca_pem = ca_pem;
        ko.ca_pem_len = ca_len;
    }
    ko.url = url;
    ko.allow_insecure_http = s->kbs.insecure_http;
    ko.timeout_s = 5;
    ko.retries = (int)s->kbs.retries;
    int rc = sai_kbs_client_new(out, &ko, err);
    if (rc != 0)
        sai_error_prefix(err, "key broker");
    return rc;
}
