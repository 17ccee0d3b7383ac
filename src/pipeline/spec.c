/*
 * spec.c — the pipeline spec's shared pieces: the stage names, the naming
 * rules both readers apply, freeing a spec, and what each TEE kind protects.
 * The YAML reader is spec_yaml.c; the canonical (measured) JSON form and its
 * reader are spec_canon.c.
 */
#include "pipeline/spec_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/tee.h"

const char *const sai_spec_stage_names[SAI_SPEC_NSTAGES] = {"ingest", "preprocess", "train",
                                                            "evaluate", "infer", "serve"};

const char *sai_pipeline_stage_name(unsigned bit)
{
    for (size_t i = 0; i < SAI_SPEC_NSTAGES; i++)
        if (bit == (1u << i))
            return sai_spec_stage_names[i];
    return "?";
}

/* Identifiers that end up in URLs and file names. */
bool sai_pipeline__spec_ident_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* The sealed model's file name, next to the run's other outputs: a plain
 * name (sai_pipeline__spec_ident_ok: no slash, not . or ..), none of theirs, and not a dot
 * file (the host's temporary files are .<name>.XXXXXX). */
bool sai_pipeline__spec_model_name_ok(const char *n)
{
    static const char *const taken[] = {"run.json", "provenance.json", "report.html"};
    if (!sai_pipeline__spec_ident_ok(n) || n[0] == '.')
        return false;
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++)
        if (strcmp(n, taken[i]) == 0)
            return false;
    return true;
}

static void free_res(sai_kbs_resource_t *r)
{
    free(r->repo);
    free(r->type);
    free(r->tag);
}

void sai_pipeline_spec_free(sai_pipeline_spec_t *s)
{
    if (s == NULL)
        return;
    free(s->name);
    free(s->tee);
    free(s->dataset.sealed_dir);
    free(s->dataset.format);
    free_res(&s->dataset.key);
    free(s->dataset.identity);
    free(s->dataset.tfrecord.image);
    free(s->dataset.tfrecord.label);
    free(s->dataset.tfrecord.train);
    free(s->dataset.tfrecord.test);
    free(s->model.arch);
    free_res(&s->model.key);
    free(s->model.key_policy);
    free(s->kbs.url);
    free(s->kbs.ca);
    free(s->kbs.pin);
    free(s->kbs.wrap_key_sha256);
    free(s->dist.transport);
    free(s->dist.algorithm);
    free(s->dist.rendezvous);
    free(s->framework.framework);
    free(s->framework.script_path);
    free(s->framework.script_name);
    free(s->framework.script);
    for (size_t i = 0; i < s->framework.nargs; i++)
        free(s->framework.args[i]);
    free(s->framework.args);
    free(s->framework.python_sha256);
    free(s->framework.python_version);
    free(s->framework.torch_version);
    free(s->framework.runtime_sha256);
    free(s->outputs.dir);
    free(s->outputs.model_name);
    free(s->source);
    free(s);
}

/* ---- what each TEE kind protects ------------------------------------------ */
const char *sai_pipeline_tee_statement(const char *tee)
{
    switch (tee == NULL ? SAI_TEE_SIM : sai_tee_kind_from_canonical_name(tee)) {
    case SAI_TEE_SIM:
        return "sim: software isolation only. The platform service (its own system user, the only "
               "holder of the platform key) measured and launched the enclave under a separate user with a "
               "fixed environment; the enclave is hardened (not dumpable, no core dumps, seccomp allow-list, "
               "locked and wiped key pages) and the host only moves ciphertext. That keeps the launching user "
               "and every other non-root user outside the boundary; root, the kernel and the hypervisor are "
               "NOT outside it: there is no hardware memory protection, and the evidence is signed by a "
               "simulated platform key that proves nothing about hardware to a third party.";
    case SAI_TEE_SEV_SNP:
        return "sev-snp: the guest's memory is encrypted and integrity-protected by the AMD secure "
               "processor against the hypervisor and host; the evidence chains to AMD's root key.";
    case SAI_TEE_TDX:
        return "tdx: the trust domain's memory is encrypted and integrity-protected by the CPU against "
               "the VMM and host; the evidence is an Intel DCAP quote.";
    case SAI_TEE_SGX:
        return "sgx: the enclave's pages live in encrypted EPC memory that the OS cannot read; the "
               "evidence is an Intel DCAP quote.";
    default:
        return "unknown TEE kind: no protection is claimed.";
    }
}

/* ---- dist.rendezvous ---------------------------------------------------------- */
int sai_pipeline__spec_hostport(const char *hp, char **host, uint16_t *port, sai_error_t *err)
{
    *host = NULL;
    const char *colon = strrchr(hp, ':');
    const char *h = hp, *he = colon;
    if (colon == NULL || colon == hp || colon[1] == '\0')
        return sai_error_set(err, SAI_EINVAL, "rendezvous '%s' is not HOST:PORT", hp);
    if (h[0] == '[') {
        if (he[-1] != ']')
            return sai_error_set(err, SAI_EINVAL, "rendezvous '%s': unbalanced [", hp);
        h++;
        he--;
    }
    unsigned long v = 0;
    for (const char *c = colon + 1; *c; c++) {
        if (*c < '0' || *c > '9' || (v = v * 10 + (unsigned long)(*c - '0')) > 65535)
            return sai_error_set(err, SAI_EINVAL, "rendezvous '%s': bad port", hp);
    }
    if (v == 0 || he <= h)
        return sai_error_set(err, SAI_EINVAL, "rendezvous '%s' is not HOST:PORT", hp);
    for (const char *c = h; c < he; c++)
        if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == ':' || *c == '_'))
            return sai_error_set(err, SAI_EINVAL, "rendezvous '%s': bad host", hp);
    if ((*host = strndup(h, (size_t)(he - h))) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    *port = (uint16_t)v;
    return 0;
}

bool sai_pipeline__spec_hostport_ok(const char *hp)
{
    char *h = NULL;
    uint16_t port = 0;
    sai_error_t ignore = {0};
    int rc = sai_pipeline__spec_hostport(hp, &h, &port, &ignore);
    free(h);
    return rc == 0;
}
