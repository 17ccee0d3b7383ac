/*
 * policy.c — resource release policies: which appraised TEEs may receive a
 * resource. Strict by construction: unknown members are refused when the
 * policy is stored (a typo such as "measurement" must not silently widen
 * it), a policy names the TEE kinds it allows, debug and simulated TEEs are
 * refused unless the policy says otherwise, and every refusal names the rule.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kbs/kbs_internal.h"

static const char *k_members[] = {"tee", "measurements", "min_tcb", "allow_debug",
                                  "allow_simulated", "pipeline_spec_hash"};
static const char *k_tcb[] = {"bootloader", "tee", "snp", "microcode"};

static bool hex_ok(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max || n % 2)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int validate(const cJSON *p, sai_error_t *err)
{
    if (!cJSON_IsObject(p))
        return sai_error_set(err, SAI_EINVAL, "a release policy must be a JSON object");
    for (const cJSON *m = p->child; m; m = m->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof k_members / sizeof *k_members; i++)
            known |= m->string && strcmp(m->string, k_members[i]) == 0;
        if (!known)
            return sai_error_set(err, SAI_EINVAL, "release policy: unknown member \"%s\"",
                                 m->string ? m->string : "?");
    }
    const cJSON *tee = cJSON_GetObjectItemCaseSensitive(p, "tee");
    if (!cJSON_IsArray(tee) || cJSON_GetArraySize(tee) == 0 || cJSON_GetArraySize(tee) > 4)
        return sai_error_set(err, SAI_EINVAL, "release policy: \"tee\" must list 1..4 TEE kinds");
    for (const cJSON *t = tee->child; t; t = t->next)
        if (!cJSON_IsString(t) || !sai_kbs__tee_name_ok(t->valuestring))
            return sai_error_set(err, SAI_EINVAL, "release policy: unknown TEE kind in \"tee\"");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(p, "measurements");
    if (ms) {
        if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) == 0 || cJSON_GetArraySize(ms) > 256)
            return sai_error_set(err, SAI_EINVAL, "release policy: \"measurements\" must list 1..256 hex digests");
        for (const cJSON *m = ms->child; m; m = m->next)
            if (!cJSON_IsString(m) || !hex_ok(m->valuestring, 32, 128))
                return sai_error_set(err, SAI_EINVAL, "release policy: a measurement must be 16..64 bytes of hex");
    }
    const cJSON *tcb = cJSON_GetObjectItemCaseSensitive(p, "min_tcb");
    if (tcb) {
        if (!cJSON_IsObject(tcb))
            return sai_error_set(err, SAI_EINVAL, "release policy: \"min_tcb\" must be an object");
        for (const cJSON *m = tcb->child; m; m = m->next) {
            bool known = false;
            for (size_t i = 0; i < 4; i++)
                known |= m->string && strcmp(m->string, k_tcb[i]) == 0;
            if (!known || !cJSON_IsNumber(m) || m->valuedouble < 0 || m->valuedouble > 255 ||
                m->valuedouble != (double)(int)m->valuedouble)
                return sai_error_set(err, SAI_EINVAL, "release policy: \"min_tcb\" takes bootloader, "
                                     "tee, snp, microcode as integers 0..255");
        }
    }
    const char *bools[] = {"allow_debug", "allow_simulated"};
    for (int i = 0; i < 2; i++) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(p, bools[i]);
        if (b && !cJSON_IsBool(b))
            return sai_error_set(err, SAI_EINVAL, "release policy: \"%s\" must be true or false", bools[i]);
    }
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(p, "pipeline_spec_hash");
    if (ph && (!cJSON_IsString(ph) || !hex_ok(ph->valuestring, 32, 128)))
        return sai_error_set(err, SAI_EINVAL, "release policy: \"pipeline_spec_hash\" must be hex");
    return 0;
}

int sai_kbs_policy_validate(const char *policy_json, size_t len, sai_error_t *err)
{
    cJSON *p = cJSON_ParseWithLength(policy_json, len);
    if (p == NULL)
        return sai_error_set(err, SAI_EINVAL, "release policy is not valid JSON");
    int rc = validate(p, err);
    cJSON_Delete(p);
    return rc;
}

int sai_kbs_policy_check(const char *policy_json, const sai_kbs_claims_t *c, sai_error_t *err)
{
    cJSON *p = cJSON_Parse(policy_json);
    int rc = 0;
    if (p == NULL || validate(p, err) != 0) {
        rc = sai_error_set(err, SAI_EPOLICY, "the resource's release policy is invalid; refusing");
        goto out;
    }
    bool tee_ok = false;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(p, "tee"))
        tee_ok |= strcmp(t->valuestring, c->tee) == 0;
    if (!tee_ok) {
        rc = sai_error_set(err, SAI_EPOLICY, "TEE kind %s is not allowed by the release policy", c->tee);
        goto out;
    }
    if (c->simulated && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "allow_simulated"))) {
        rc = sai_error_set(err, SAI_EPOLICY, "the TEE is simulated and the release policy does not "
                           "say allow_simulated");
        goto out;
    }
    if (c->debug && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "allow_debug"))) {
        rc = sai_error_set(err, SAI_EPOLICY, "the TEE runs in debug mode and the release policy "
                           "does not allow debug");
        goto out;
    }
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(p, "measurements");
    if (ms) {
        bool hit = false;
        const cJSON *m;
        cJSON_ArrayForEach(m, ms)
            hit |= strcasecmp(m->valuestring, c->measurement) == 0;
        if (!hit) {
            rc = sai_error_set(err, SAI_EPOLICY, "measurement %.32s... is not in the release "
                               "policy's allow-list", c->measurement);
            goto out;
        }
    }
    const cJSON *tcb = cJSON_GetObjectItemCaseSensitive(p, "min_tcb");
    for (int i = 0; tcb && i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(tcb, k_tcb[i]);
        if (v && c->tcb[i] < (int)v->valuedouble) {
            rc = sai_error_set(err, SAI_EPOLICY, "TCB %s SVN %u is below the policy minimum %d",
                               k_tcb[i], c->tcb[i], (int)v->valuedouble);
            goto out;
        }
    }
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(p, "pipeline_spec_hash");
    if (ph && strcasecmp(ph->valuestring, c->host_data) != 0) {
        rc = sai_error_set(err, SAI_EPOLICY, "the TEE was launched for another pipeline spec "
                           "(host data does not match pipeline_spec_hash)");
        goto out;
    }
out:
    cJSON_Delete(p);
    return rc;
}
