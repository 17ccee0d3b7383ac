/*
 * policy.c — the appraisal policy: a small YAML document (libyaml) that says
 * which verified evidence is acceptable, and the appraisal that applies it.
 *
 * Parsing is strict (unknown keys, wrong types, bad hex are errors: a typo
 * must not silently widen a policy) and fuzzed (fuzz/fuzz_policy_yaml.c).
 * Every refusal names the rule, the values that failed it and a hint.
 * Defaults are the safe ones: sim refused, debug refused, no TEE kind
 * accepted that the policy did not name (default: sev-snp, tdx, sgx).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "attest/attest_internal.h"
#include "secureai/crypto.h"
#include "secureai/util.h"

#define MAX_LIST 64
#define MAX_TCB  SAI_ATTEST_MAX_TCB
#define MAX_STATUS 8
#define MAX_SIM_ROOTS 8

typedef struct hexlist {
    uint8_t v[MAX_LIST][48];
    size_t  len[MAX_LIST];
    size_t  n;
    bool    set;
} hexlist;

struct sai_attest_policy_t {
    unsigned tee_mask;          /* bit per sai_tee_kind_t */
    bool     tee_set;
    bool     allow_simulated, allow_debug;
    hexlist  measurements, mrtd, rtmr[4], mrenclave, mrsigner;
    sai_attest_tcb_component_t min_tcb[MAX_TCB];
    size_t   n_min_tcb;
    char     statuses[MAX_STATUS][40];
    size_t   n_statuses;
    bool     statuses_set;
    uint16_t isv_prodid[MAX_LIST];
    size_t   n_isv_prodid;
    bool     isv_prodid_set;
    uint8_t  report_data[64];
    bool     has_report_data;
    int64_t  max_age;           /* 0 = not checked */
    /* Every trusted non-AMD root, in one array (the verifiers take one list
     * of extra roots): sim platform ARKs and, flagged, the test roots of an
     * SEV-SNP emulation (emulated_roots). */
    uint8_t  sim_roots[MAX_SIM_ROOTS][32];
    bool     root_emulated[MAX_SIM_ROOTS];
    size_t   n_sim_roots;
};

void sai_attest_policy_sim_roots(const sai_attest_policy_t *p, const uint8_t (**roots)[32],
                                 size_t *n)
{
    *roots = (const uint8_t (*)[32])p->sim_roots;
    *n = p->n_sim_roots;
}

int sai_attest_policy_default(sai_attest_policy_t **out, sai_error_t *err)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}

void sai_attest_policy_free(sai_attest_policy_t *p)
{
    free(p);
}

static int add_root(sai_attest_policy_t *p, const uint8_t fp[32], bool emulated, sai_error_t *err)
{
    for (size_t i = 0; i < p->n_sim_roots; i++)
        if (memcmp(p->sim_roots[i], fp, 32) == 0 && p->root_emulated[i] != emulated)
            return sai_error_set(err, SAI_EINVAL, "policy: a root cannot be both a sim root and an emulated "
                                 "(test) root");
    if (p->n_sim_roots >= MAX_SIM_ROOTS)
        return sai_error_set(err, SAI_ELIMIT, "too many sim/emulated roots (at most %d)", MAX_SIM_ROOTS);
    p->root_emulated[p->n_sim_roots] = emulated;
    memcpy(p->sim_roots[p->n_sim_roots++], fp, 32);
    return 0;
}

int sai_attest_policy_add_sim_root(sai_attest_policy_t *p, const uint8_t fp[32], sai_error_t *err)
{
    return add_root(p, fp, false, err);
}

int sai_attest_policy_add_emulated_root(sai_attest_policy_t *p, const uint8_t fp[32], sai_error_t *err)
{
    return add_root(p, fp, true, err);
}

bool sai_attest_policy_root_is_emulated(const sai_attest_policy_t *p, const uint8_t fp[32])
{
    for (size_t i = 0; i < p->n_sim_roots; i++)
        if (p->root_emulated[i] && memcmp(p->sim_roots[i], fp, 32) == 0)
            return true;
    return false;
}

/* ---- YAML ------------------------------------------------------------------ */

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
    (void)d;
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_bool(bool *out, yaml_document_t *d, yaml_node_t *n, const char *key, sai_error_t *err)
{
    const char *s = scalar(d, n);
    if (s != NULL && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) {
        *out = true;
        return 0;
    }
    if (s != NULL && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) {
        *out = false;
        return 0;
    }
    return sai_error_set(err, SAI_EINVAL, "policy: \"%s\" must be true or false", key);
}

static int parse_uint(uint64_t *out, const char *s, uint64_t max, const char *key, sai_error_t *err)
{
    char *end = NULL;
    if (s == NULL || *s == '\0' || *s == '-')
        return sai_error_set(err, SAI_EINVAL, "policy: \"%s\" must be a non-negative integer", key);
    unsigned long long v = strtoull(s, &end, 0);
    if (*end != '\0' || v > max)
        return sai_error_set(err, SAI_EINVAL, "policy: \"%s\" value '%s' is not an integer <= %" PRIu64,
                             key, s, max);
    *out = v;
    return 0;
}

static int parse_hex_var(uint8_t out[48], size_t *len, const char *s, const char *key, sai_error_t *err)
{
    size_t n = s ? strlen(s) : 0;
    if (n != 64 && n != 96)
        return sai_error_set(err, SAI_EINVAL,
                             "policy: \"%s\" entries must be 32 or 48 bytes of hex", key);
    *len = n / 2;
    if (sai_hex_decode(out, *len, s, err) != 0)
        return sai_error_prefix(err, "policy: \"%s\"", key);
    return 0;
}

static int parse_hexlist(hexlist *l, yaml_document_t *d, yaml_node_t *n, const char *key,
                         sai_error_t *err)
{
    l->set = true;
    if (n->type == YAML_SCALAR_NODE) {
        int rc = parse_hex_var(l->v[l->n], &l->len[l->n], scalar(d, n), key, err);
        if (rc == 0)
            l->n++;
        return rc;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return sai_error_set(err, SAI_EINVAL, "policy: \"%s\" must be a list of hex strings", key);
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        if (l->n >= MAX_LIST)
            return sai_error_set(err, SAI_ELIMIT, "policy: \"%s\" has more than %d entries", key, MAX_LIST);
        int rc = parse_hex_var(l->v[l->n], &l->len[l->n], scalar(d, yaml_document_get_node(d, *i)), key, err);
        if (rc != 0)
            return rc;
        l->n++;
    }
    return 0;
}

static int parse_strlist(yaml_document_t *d, yaml_node_t *n, const char *key,
                         int (*each)(sai_attest_policy_t *, const char *, sai_error_t *),
                         sai_attest_policy_t *p, sai_error_t *err)
{
    if (n->type == YAML_SCALAR_NODE)
        return each(p, scalar(d, n), err);
    if (n->type != YAML_SEQUENCE_NODE)
        return sai_error_set(err, SAI_EINVAL, "policy: \"%s\" must be a list", key);
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        const char *s = scalar(d, yaml_document_get_node(d, *i));
        if (s == NULL)
            return sai_error_set(err, SAI_EINVAL, "policy: \"%s\" entries must be strings", key);
        int rc = each(p, s, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int add_tee(sai_attest_policy_t *p, const char *s, sai_error_t *err)
{
    sai_tee_kind_t k = sai_tee_kind_from_name(s);
    if (k == SAI_TEE_NONE)
        return sai_error_set(err, SAI_EINVAL, "policy: allowed_tee: unknown TEE kind '%s' (sim, sev-snp, tdx, sgx)", s);
    p->tee_mask |= 1u << k;
    return 0;
}

static const char *const known_statuses[] = {
    "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
    "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked", "Unknown", NULL,
};

static int add_status(sai_attest_policy_t *p, const char *s, sai_error_t *err)
{
    bool ok = false;
    for (size_t i = 0; known_statuses[i]; i++)
        ok |= strcmp(known_statuses[i], s) == 0;
    if (!ok)
        return sai_error_set(err, SAI_EINVAL, "policy: tcb_statuses: unknown status '%s'", s);
    if (p->n_statuses >= MAX_STATUS)
        return sai_error_set(err, SAI_ELIMIT, "policy: too many tcb_statuses");
    snprintf(p->statuses[p->n_statuses++], sizeof p->statuses[0], "%s", s);
    return 0;
}

static int add_sim_root(sai_attest_policy_t *p, const char *s, sai_error_t *err)
{
    uint8_t fp[32];
    if (s == NULL || strlen(s) != 64 || sai_hex_decode(fp, 32, s, err) != 0)
        return sai_error_set(err, SAI_EINVAL, "policy: sim_roots entries are SHA-256 fingerprints (64 hex digits)");
    return sai_attest_policy_add_sim_root(p, fp, err);
}

/* TEST / EMULATION ONLY: the root of an SEV-SNP emulation (docs/hardware.md). */
static int add_emulated_root(sai_attest_policy_t *p, const char *s, sai_error_t *err)
{
    uint8_t fp[32];
    if (s == NULL || strlen(s) != 64 || sai_hex_decode(fp, 32, s, err) != 0)
        return sai_error_set(err, SAI_EINVAL, "policy: emulated_roots entries are SHA-256 fingerprints (64 hex digits)");
    return sai_attest_policy_add_emulated_root(p, fp, err);
}

/* SNP: the REPORTED_TCB components; Intel: PCK PCESVN, QE ISVSVN, TDX
 * module SVN (TEE_TCB_SVN[0]), SGX enclave ISVSVN (see intel.c). */
static const char *const tcb_names[] = { "bl", "tee", "snp", "ucode", "fmc", "tdx_module",
                                         "qe", "pce", "isv_svn", NULL };

static int parse_min_tcb(sai_attest_policy_t *p, yaml_document_t *d, yaml_node_t *n, sai_error_t *err)
{
    if (n->type != YAML_MAPPING_NODE)
        return sai_error_set(err, SAI_EINVAL, "policy: \"min_tcb\" must be a mapping like {ucode: 0x48}");
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const char *k = scalar(d, yaml_document_get_node(d, pr->key));
        const char *v = scalar(d, yaml_document_get_node(d, pr->value));
        bool known = false;
        for (size_t i = 0; k && tcb_names[i]; i++)
            known |= strcmp(k, tcb_names[i]) == 0;
        if (!known)
            return sai_error_set(err, SAI_EINVAL, "policy: min_tcb: unknown component '%s' (bl, tee, snp, ucode, fmc, pce, qe, tdx_module, isv_svn)",
                                 k ? k : "?");
        uint64_t val = 0;
        int rc = parse_uint(&val, v, 0xFFFFFFFFu, k, err);
        if (rc != 0)
            return rc;
        if (p->n_min_tcb >= MAX_TCB)
            return sai_error_set(err, SAI_ELIMIT, "policy: too many min_tcb entries");
        snprintf(p->min_tcb[p->n_min_tcb].name, sizeof p->min_tcb[0].name, "%s", k);
        p->min_tcb[p->n_min_tcb++].value = (uint32_t)val;
    }
    return 0;
}

static int add_isv_prodid(sai_attest_policy_t *p, const char *s, sai_error_t *err)
{
    uint64_t v = 0;
    int rc = parse_uint(&v, s, 0xFFFF, "isv_prodid", err);
    if (rc != 0)
        return rc;
    if (p->n_isv_prodid >= MAX_LIST)
        return sai_error_set(err, SAI_ELIMIT, "policy: too many isv_prodid entries");
    p->isv_prodid[p->n_isv_prodid++] = (uint16_t)v;
    return 0;
}

static int apply_key(sai_attest_policy_t *p, yaml_document_t *d, const char *k, yaml_node_t *v,
                     sai_error_t *err)
{
    uint64_t u = 0;
    if (!strcmp(k, "allowed_tee")) {
        p->tee_set = true;
        return parse_strlist(d, v, k, add_tee, p, err);
    }
    if (!strcmp(k, "allow_simulated"))
        return parse_bool(&p->allow_simulated, d, v, k, err);
    if (!strcmp(k, "allow_debug"))
        return parse_bool(&p->allow_debug, d, v, k, err);
    if (!strcmp(k, "measurements"))
        return parse_hexlist(&p->measurements, d, v, k, err);
    if (!strcmp(k, "mrtd"))
        return parse_hexlist(&p->mrtd, d, v, k, err);
    if (!strcmp(k, "mrenclave"))
        return parse_hexlist(&p->mrenclave, d, v, k, err);
    if (!strcmp(k, "mrsigner"))
        return parse_hexlist(&p->mrsigner, d, v, k, err);
    if (!strncmp(k, "rtmr", 4) && k[4] >= '0' && k[4] <= '3' && k[5] == '\0')
        return parse_hexlist(&p->rtmr[k[4] - '0'], d, v, k, err);
    if (!strcmp(k, "min_tcb"))
        return parse_min_tcb(p, d, v, err);
    if (!strcmp(k, "tcb_statuses")) {
        p->statuses_set = true;
        return parse_strlist(d, v, k, add_status, p, err);
    }
    if (!strcmp(k, "isv_prodid")) {
        p->isv_prodid_set = true;
        return parse_strlist(d, v, k, add_isv_prodid, p, err);
    }
    if (!strcmp(k, "sim_roots"))
        return parse_strlist(d, v, k, add_sim_root, p, err);
    if (!strcmp(k, "emulated_roots"))
        return parse_strlist(d, v, k, add_emulated_root, p, err);
    if (!strcmp(k, "report_data")) {
        const char *s = scalar(d, v);
        if (s == NULL || strlen(s) != 128 || sai_hex_decode(p->report_data, 64, s, NULL) != 0)
            return sai_error_set(err, SAI_EINVAL, "policy: \"report_data\" must be 64 bytes of hex");
        p->has_report_data = true;
        return 0;
    }
    if (!strcmp(k, "max_age")) {
        int rc = parse_uint(&u, scalar(d, v), 10ull * 365 * 86400, k, err);
        if (rc == 0)
            p->max_age = (int64_t)u;
        return rc;
    }
    return sai_error_set(err, SAI_EINVAL, "policy: unknown key \"%s\"", k);
}

int sai_attest_policy_load(sai_attest_policy_t **out, const char *yaml, size_t len, sai_error_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    sai_attest_policy_t *p = NULL;
    int rc = 0;
    *out = NULL;
    if (len > 256 * 1024)
        return sai_error_set(err, SAI_ELIMIT, "policy larger than 256 KiB");
    if (!yaml_parser_initialize(&parser))
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = sai_error_set(err, SAI_EINVAL, "policy: YAML error at line %zu: %s",
                           parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return rc;
    }
    if ((rc = sai_attest_policy_default(&p, err)) != 0)
        goto out;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL)
        goto out;   /* empty document = default policy */
    if (root->type != YAML_MAPPING_NODE) {
        rc = sai_error_set(err, SAI_EINVAL, "policy: the document must be a mapping");
        goto out;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        const char *k = scalar(&doc, yaml_document_get_node(&doc, pr->key));
        yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
        if (k == NULL || v == NULL) {
            rc = sai_error_set(err, SAI_EINVAL, "policy: keys must be strings");
            goto out;
        }
        if ((rc = apply_key(p, &doc, k, v, err)) != 0)
            goto out;
    }
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        sai_attest_policy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int sai_attest_policy_load_file(sai_attest_policy_t **out, const char *path, sai_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sai_read_file(path, 256 * 1024, &buf, &len, err);
    if (rc != 0)
        return sai_error_prefix(err, "policy %s", path);
    rc = sai_attest_policy_load(out, (const char *)buf, len, err);
    free(buf);
    if (rc != 0)
        sai_error_prefix(err, "%s", path);
    return rc;
}

/* ---- appraisal --------------------------------------------------------------- */

static bool in_hexlist(const hexlist *l, const uint8_t *v, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->len[i] == len && memcmp(l->v[i], v, len) == 0)
            return true;
    return false;
}

static int check_list(const hexlist *l, const uint8_t *v, size_t len, const char *rule,
                      sai_attest_result_t *res, sai_error_t *err)
{
    if (!l->set || in_hexlist(l, v, len))
        return 0;
    char hex[97];
    sai_hex_encode(hex, v, len);
    return sai_attest__refuse(res, err, SAI_EPOLICY, rule,
                             "add the value to the policy's allow-list if this build is trusted",
                             "%s %s is not in the allow-list (%zu entries)", rule, hex, l->n);
}

static const char *tcb_hint(void)
{
    return "TCB OutOfDate: update the platform firmware/microcode, or lower min_tcb";
}

int sai_attest_policy_appraise(const sai_attest_policy_t *p, sai_attest_result_t *res,
                               const uint8_t *expected_rd, int64_t now, sai_error_t *err)
{
    int rc;
    const char *kind = sai_tee_kind_name(res->tee);
    /* A chain that ended in a root the policy lists under emulated_roots is
     * an SEV-SNP emulation's (test root): SEV-SNP evidence that stays
     * simulated (not hardware) and says so (is_emulated, product). The
     * verifier cannot tell it from a sim platform's chain; only the policy
     * that trusted the root can. */
    if (res->tee == SAI_TEE_SIM && sai_attest_policy_root_is_emulated(p, res->signer_root_fp)) {
        res->tee = SAI_TEE_SEV_SNP;
        res->is_simulated = true;
        res->is_emulated = true;
        snprintf(res->product, sizeof res->product, "%s", "EMULATED");
        kind = sai_tee_kind_name(res->tee);
    }
    unsigned mask = p->tee_set ? p->tee_mask
                               : (1u << SAI_TEE_SEV_SNP | 1u << SAI_TEE_TDX | 1u << SAI_TEE_SGX |
                                  (p->allow_simulated ? 1u << SAI_TEE_SIM : 0));
    if (res->is_simulated && !p->allow_simulated)
        return sai_attest__refuse(res, err, SAI_EPOLICY, "allow_simulated",
                                 "set allow_simulated: true only for development and tests",
                                 res->is_emulated ? "evidence is from an EMULATED SEV-SNP platform (a test root) and the "
                                                    "policy does not allow simulated evidence"
                                                  : "evidence is from the SIMULATED TEE and the policy does not allow simulated evidence");
    if (!(mask & (1u << res->tee)))
        return sai_attest__refuse(res, err, SAI_EPOLICY, "allowed_tee",
                                 "list the TEE kind in allowed_tee",
                                 "TEE kind %s is not in allowed_tee", kind ? kind : "?");
    if (res->debug && !p->allow_debug)
        return sai_attest__refuse(res, err, SAI_EPOLICY, "debug",
                                 "launch the guest/enclave without the debug policy bit",
                                 "%s is in DEBUG mode (its memory is readable by the host) and allow_debug is false",
                                 kind ? kind : "TEE");
    if (res->measurement_len > 0 &&
        (rc = check_list(&p->measurements, res->measurement, res->measurement_len, "measurements", res, err)) != 0)
        return rc;
    if (res->has_td) {
        if ((rc = check_list(&p->mrtd, res->mrtd, 48, "mrtd", res, err)) != 0)
            return rc;
        static const char *const rn[4] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };
        for (int i = 0; i < 4; i++)
            if ((rc = check_list(&p->rtmr[i], res->rtmr[i], 48, rn[i], res, err)) != 0)
                return rc;
    } else if (p->mrtd.set && res->tee == SAI_TEE_TDX) {
        return sai_attest__refuse(res, err, SAI_EPOLICY, "mrtd", NULL, "result carries no MRTD");
    }
    if (res->has_sgx) {
        if ((rc = check_list(&p->mrenclave, res->mrenclave, 32, "mrenclave", res, err)) != 0 ||
            (rc = check_list(&p->mrsigner, res->mrsigner, 32, "mrsigner", res, err)) != 0)
            return rc;
        bool ok = !p->isv_prodid_set;
        for (size_t i = 0; i < p->n_isv_prodid; i++)
            ok |= p->isv_prodid[i] == res->isv_prodid;
        if (!ok)
            return sai_attest__refuse(res, err, SAI_EPOLICY, "isv_prodid",
                                     "add the enclave's ISVPRODID to isv_prodid if this product is trusted",
                                     "ISVPRODID %u is not in the allow-list (%zu entries)",
                                     res->isv_prodid, p->n_isv_prodid);
    } else if ((p->mrenclave.set || p->mrsigner.set || p->isv_prodid_set) && res->tee == SAI_TEE_SGX) {
        return sai_attest__refuse(res, err, SAI_EPOLICY, "mrenclave", NULL, "result carries no MRENCLAVE/MRSIGNER");
    }
    for (size_t i = 0; i < p->n_min_tcb; i++) {
        const sai_attest_tcb_component_t *want = &p->min_tcb[i];
        const sai_attest_tcb_component_t *have = NULL;
        for (size_t j = 0; j < res->n_tcb; j++)
            if (strcmp(res->tcb[j].name, want->name) == 0)
                have = &res->tcb[j];
        if (have == NULL)
            return sai_attest__refuse(res, err, SAI_EPOLICY, "min_tcb", NULL,
                                     "%s evidence reports no TCB component '%s' (required >= 0x%x)",
                                     kind ? kind : "?", want->name, want->value);
        if (have->value < want->value)
            return sai_attest__refuse(res, err, SAI_EPOLICY, "min_tcb", tcb_hint(),
                                     "%s 0x%x < required 0x%x", want->name, have->value, want->value);
    }
    if (res->tcb_status[0] != '\0') {
        /* Intel results: acceptable statuses default to [UpToDate]. */
        bool ok = false;
        char list[160] = "UpToDate";
        if (p->statuses_set) {
            size_t off = 0;
            list[0] = '\0';
            for (size_t i = 0; i < p->n_statuses; i++) {
                ok |= strcmp(p->statuses[i], res->tcb_status) == 0;
                int w = snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", p->statuses[i]);
                if (w > 0 && (size_t)w < sizeof list - off)
                    off += (size_t)w;
            }
        } else {
            ok = strcmp(res->tcb_status, "UpToDate") == 0;
        }
        if (!ok) {
            char adv[96] = "";
            for (size_t i = 0, off = 0; i < res->n_advisories; i++) {
                int w = snprintf(adv + off, sizeof adv - off, "%s%s", i ? ", " : "; advisories ",
                                 res->advisory_ids[i]);
                if (w < 0 || (size_t)w >= sizeof adv - off)
                    break;
                off += (size_t)w;
            }
            bool unknown = strcmp(res->tcb_status, "Unknown") == 0;
            return sai_attest__refuse(res, err, SAI_EPOLICY, "tcb_statuses",
                                     unknown ? "no collateral was given, so the TCB status is unknown: pass the collateral (--collateral C.json) or list Unknown in tcb_statuses"
                                             : "update the platform (see the advisory ids) or accept the status in tcb_statuses",
                                     "TCB status %s is not acceptable (acceptable: %s%s)",
                                     res->tcb_status, list, adv);
        }
    }
    const uint8_t *rds[2] = { p->has_report_data ? p->report_data : NULL, expected_rd };
    for (int i = 0; i < 2; i++) {
        if (rds[i] == NULL || sai_ct_equal(rds[i], res->report_data, 64))
            continue;
        char a[129], b[129];
        sai_hex_encode(a, res->report_data, 64);
        sai_hex_encode(b, rds[i], 64);
        return sai_attest__refuse(res, err, SAI_EPOLICY, "report_data",
                                 "the evidence was made for another nonce/key (replay or wrong session)",
                                 "report data %.32s... != expected %.32s...", a, b);
    }
    if (p->max_age > 0) {
        if (res->evidence_time <= 0)
            return sai_attest__refuse(res, err, SAI_EPOLICY, "max_age", "collect fresh evidence",
                                     "evidence carries no generation time");
        int64_t age = now - res->evidence_time;
        if (age > p->max_age || age < -300)
            return sai_attest__refuse(res, err, SAI_EPOLICY, "max_age", "collect fresh evidence",
                                     "evidence age %lld s is outside 0..%lld s",
                                     (long long)age, (long long)p->max_age);
    }
    res->verdict = SAI_VERDICT_AFFIRMING;
    res->rule[0] = res->values[0] = res->hint[0] = '\0';
    return 0;
}
