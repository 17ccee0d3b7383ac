/*
 * counter.c — per-job monotonic counters on the KBS (docs/distributed.md,
 * "Resume"). A distributed job's worker 0 increments its job's counter
 * each time it seals a checkpoint and writes the new value into the
 * checkpoint; on resume it requires the checkpoint's value to equal the
 * counter, so a host that hands back an older sealed checkpoint (a
 * rollback: every one of them is genuine and opens under the job's key) is
 * refused.
 *
 *   GET  /kbs/v0/counter/<repo/type/tag>                 -> {"value": n}
 *   POST /kbs/v0/counter/<repo/type/tag> {"expect": n}   -> {"value": n+1}
 *        or 409 {"error": ..., "value": current} when the counter is not n
 *
 * Both need an attestation-result token whose claims satisfy the release
 * policy of the resource of the same name (the job's group secret,
 * <spec name>/dist/group): the same policy as the job's keys, so only the
 * job's own enclaves can read or move its counter. Every increment is
 * durable (fsynced) and audited in the same transaction; refusals are
 * audited too. A counter starts at 0 and only ever grows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <sqlite3.h>

#include "kbs/server_internal.h"
#include "secureai/util.h"

static int read_value(sqlite3 *db, const char *name, uint64_t *value, sai_error_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    *value = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM counter WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
        return sai_error_set(err, SAI_EIO, "counter: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int sr = sqlite3_step(st);
    if (sr == SQLITE_ROW)
        *value = (uint64_t)sqlite3_column_int64(st, 0);
    else if (sr != SQLITE_DONE)
        rc = sai_error_set(err, SAI_EIO, "counter: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

int sai_kbs__counter_get(sai_kbs_store_t *s, const char *name, uint64_t *value, sai_error_t *err)
{
    int rc = sai_kbs__store_begin(s, err);
    if (rc)
        return rc;
    rc = read_value(sai_kbs__store_db(s), name, value, err);
    return sai_kbs__store_end(s, rc, err);
}

int sai_kbs__counter_cas(sai_kbs_store_t *s, const char *name, uint64_t expect, uint64_t *value,
                         const char *actor, sai_error_t *err)
{
    if (expect >= (uint64_t)INT64_MAX)
        return sai_error_set(err, SAI_ELIMIT, "counter %s: %" PRIu64 " is out of range", name, expect);
    int rc = sai_kbs__store_begin(s, err);
    if (rc)
        return rc;
    sqlite3 *db = sai_kbs__store_db(s);
    sqlite3_stmt *st = NULL;
    uint64_t cur = 0;
    if ((rc = read_value(db, name, &cur, err)))
        goto out;
    if (cur != expect) {
        *value = cur;
        rc = sai_error_set(err, SAI_ESTATE, "counter %s is %" PRIu64 ", not %" PRIu64 " as expected", name, cur,
                           expect);
        goto out;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO counter(name, value) VALUES(?, ?) "
                               "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sai_error_set(err, SAI_EIO, "counter: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(expect + 1));
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = sai_error_set(err, SAI_EIO, "counter: %s", sqlite3_errmsg(db));
        goto out;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "%" PRIu64 " -> %" PRIu64, expect, expect + 1);
    if ((rc = sai_kbs__audit_append_locked(s, "counter", actor, name, "ok", detail, err)))
        goto out;
    *value = expect + 1;
out:
    sqlite3_finalize(st);
    return sai_kbs__store_end(s, rc, err);
}

static void reply_value(struct evhttp_request *req, int code, const char *error, uint64_t value)
{
    cJSON *j = cJSON_CreateObject();
    char *text = NULL;
    if (j != NULL && error != NULL)
        cJSON_AddStringToObject(j, "error", error);
    if (j != NULL)
        cJSON_AddNumberToObject(j, "value", (double)value);   /* exact up to 2^53: far beyond any job */
    if (j == NULL || (text = cJSON_PrintUnformatted(j)) == NULL)
        sai_kbs__reply_error(req, 500, "out of memory");
    else
        sai_kbs__reply_json(req, code, text);
    free(text);
    cJSON_Delete(j);
}

int sai_kbs__counter_handle(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                            const char *name, const struct sai_kbs_claims_t *claims)
{
    sai_error_t err = {0};
    sai_secret_t *secret = NULL;
    char *policy = NULL, *body = NULL;
    cJSON *j = NULL;
    uint64_t value = 0;
    int code = 200, rc;
    if (!sai_kbs__resource_name_ok(name)) {
        sai_kbs__reply_error(req, code = 400, "a counter name is a resource name, repo/type/tag of [A-Za-z0-9._-]");
        goto out;
    }
    /* The counter is governed by the release policy of the resource of its
     * name: no resource, no counter. */
    if ((rc = sai_kbs__store_get_resource(s->store, name, &secret, &policy, &err)) != 0) {
        sai_kbs__reply_error(req, code = sai_kbs__http_code(rc),
                             rc == SAI_ENOTFOUND ? "no resource of this name governs a counter" : err.msg);
        sai_kbs__audit(s, "counter", peer, name, "deny", err.msg);
        goto out;
    }
    sai_secret_free(secret);
    secret = NULL;
    if ((rc = sai_kbs_policy_check(policy, claims, &err)) != 0) {
        sai_kbs__reply_error(req, code = 403, err.msg);
        sai_kbs__audit(s, "counter", peer, name, "deny", err.msg);
        goto out;
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
        if ((rc = sai_kbs__counter_get(s->store, name, &value, &err)) != 0)
            sai_kbs__reply_error(req, code = 500, err.msg);
        else
            reply_value(req, 200, NULL, value);
        goto out;
    }
    size_t len = 0;
    const cJSON *e = NULL;
    if ((body = sai_kbs__body(req, &len)) == NULL || (j = cJSON_ParseWithLength(body, len)) == NULL ||
        !cJSON_IsNumber(e = cJSON_GetObjectItemCaseSensitive(j, "expect")) || e->valuedouble < 0 ||
        e->valuedouble > 9007199254740992.0 || e->valuedouble != (double)(uint64_t)e->valuedouble) {
        sai_kbs__reply_error(req, code = 400, "the body must be {\"expect\": n}, n the counter's current value");
        goto out;
    }
    char actor[200];
    snprintf(actor, sizeof actor, "%s tee=%s measurement=%.32s", peer, claims->tee, claims->measurement);
    rc = sai_kbs__counter_cas(s->store, name, (uint64_t)e->valuedouble, &value, actor, &err);
    if (rc == SAI_ESTATE) {
        reply_value(req, code = 409, err.msg, value);
        sai_kbs__audit(s, "counter", peer, name, "deny", err.msg);
    } else if (rc != 0) {
        sai_kbs__reply_error(req, code = sai_kbs__http_code(rc), err.msg);
    } else {
        reply_value(req, 200, NULL, value);
    }
out:
    sai_secret_free(secret);
    free(policy);
    free(body);
    cJSON_Delete(j);
    return code;
}
