/*
 * audit.c — the KBS's tamper-evident decision log.
 *
 * Each entry (seq, ts, event, actor, subject, verdict, detail) carries
 *   hash = HMAC-SHA-256(audit key, "secureai/v1/audit" || u64 seq || u64 ts ||
 *                       len-prefixed fields || prev hash)
 * where prev is the hash of entry seq-1 (32 zero bytes for seq 1) and the
 * audit key is HKDF(master key, "secureai/v1/kbs-audit"). Verification walks
 * the rows by seq: a gap in seq (removed entry), a prev that is not the
 * previous hash (reordered or removed entry) or a hash that does not
 * recompute (edited entry) is reported with the seq where it happens. Keying
 * the chain means someone who can write the database but does not hold the
 * master key cannot rebuild a consistent chain after an edit. A cut of the
 * newest entries is only visible against a head hash recorded elsewhere:
 * `kbs audit verify` prints it, and `--expect-head` checks it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static int entry_hash(const uint8_t key[32], uint64_t seq, int64_t ts, const char *f[5],
                      const uint8_t prev[32], uint8_t out[32], sai_error *err)
{
    size_t total = 17 + 16 + 32;
    for (int i = 0; i < 5; i++)
        total += 4 + strlen(f[i]);
    uint8_t *buf = malloc(total);
    if (buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    uint8_t *p = buf;
    memcpy(p, "secureai/v1/audit", 17);
    p += 17;
    put_u64(p, seq);
    put_u64(p + 8, (uint64_t)ts);
    p += 16;
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(f[i]);
        p[0] = (uint8_t)(n >> 24); p[1] = (uint8_t)(n >> 16);
        p[2] = (uint8_t)(n >> 8);  p[3] = (uint8_t)n;
        memcpy(p + 4, f[i], n);
        p += 4 + n;
    }
    memcpy(p, prev, 32);
    int rc = sai_hmac_sha256(out, key, 32, buf, total, err);
    free(buf);
    return rc;
}

int sai_kbs_audit_append_locked(sai_kbs_store *s, const char *event, const char *actor,
                                const char *subject, const char *verdict,
                                const char *detail, sai_error *err)
{
    sqlite3 *db = sai_kbs_store_db(s);
    sqlite3_stmt *st = NULL;
    uint64_t seq = 1;
    uint8_t prev[32] = {0};
    int rc = 0;
    if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK)
        return sai_error_set(err, SAI_EIO, "audit: %s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW) {
        seq = (uint64_t)sqlite3_column_int64(st, 0) + 1;
        const char *h = (const char *)sqlite3_column_text(st, 1);
        if (h == NULL || strlen(h) != 64 || sai_hex_decode(prev, 32, h, NULL) != 0)
            rc = sai_error_set(err, SAI_EFORMAT, "audit: the last entry's hash is damaged");
    }
    sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    int64_t ts = sai_kbs_wall_now();
    const char *f[5] = {event, actor ? actor : "", subject ? subject : "",
                        verdict ? verdict : "", detail ? detail : ""};
    uint8_t h[32];
    if ((rc = entry_hash(sai_kbs_store_audit_key(s), seq, ts, f, prev, h, err)) != 0)
        return rc;
    char hex[65], prevhex[65];
    sai_hex_encode(hex, h, 32);
    sai_hex_encode(prevhex, prev, 32);
    if (sqlite3_prepare_v2(db,
            "INSERT INTO audit(seq,ts,event,actor,subject,verdict,detail,prev,hash) "
            "VALUES(?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
        return sai_error_set(err, SAI_EIO, "audit: %s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 2, ts);
    for (int i = 0; i < 5; i++)
        sqlite3_bind_text(st, 3 + i, f[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, prevhex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, hex, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sai_error_set(err, SAI_EIO, "audit: cannot append: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

int sai_kbs_audit_check(sai_kbs_store *s, uint64_t *entries, char head_hex[65], sai_error *err)
{
    sqlite3 *db = sai_kbs_store_db(s);
    sqlite3_stmt *st = NULL;
    uint8_t prev[32] = {0};
    uint64_t expect = 1;
    int rc = 0;
    *entries = 0;
    sai_hex_encode(head_hex, prev, 32);
    if (sqlite3_prepare_v2(db, "SELECT seq,ts,event,actor,subject,verdict,detail,prev,hash "
                               "FROM audit ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return sai_error_set(err, SAI_EIO, "audit: %s", sqlite3_errmsg(db));
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        int64_t ts = sqlite3_column_int64(st, 1);
        const char *f[5];
        for (int i = 0; i < 5; i++) {
            f[i] = (const char *)sqlite3_column_text(st, 2 + i);
            if (f[i] == NULL)
                f[i] = "";
        }
        const char *ph = (const char *)sqlite3_column_text(st, 7);
        const char *hh = (const char *)sqlite3_column_text(st, 8);
        if (seq != expect) {
            rc = sai_error_set(err, SAI_EAUTH, "audit chain broken: entry %llu is missing "
                               "(next entry is %llu)", (unsigned long long)expect,
                               (unsigned long long)seq);
            break;
        }
        uint8_t stored_prev[32], stored[32], want[32];
        if (ph == NULL || hh == NULL || strlen(ph) != 64 || strlen(hh) != 64 ||
            sai_hex_decode(stored_prev, 32, ph, NULL) != 0 ||
            sai_hex_decode(stored, 32, hh, NULL) != 0) {
            rc = sai_error_set(err, SAI_EAUTH, "audit chain broken: entry %llu has a damaged hash",
                               (unsigned long long)seq);
            break;
        }
        if (!sai_ct_equal(stored_prev, prev, 32)) {
            rc = sai_error_set(err, SAI_EAUTH, "audit chain broken at entry %llu: it does not "
                               "follow entry %llu (removed or reordered)",
                               (unsigned long long)seq, (unsigned long long)(seq - 1));
            break;
        }
        if ((rc = entry_hash(sai_kbs_store_audit_key(s), seq, ts, f, prev, want, err)) != 0)
            break;
        if (!sai_ct_equal(want, stored, 32)) {
            rc = sai_error_set(err, SAI_EAUTH, "audit chain broken at entry %llu: its contents "
                               "were changed", (unsigned long long)seq);
            break;
        }
        memcpy(prev, stored, 32);
        expect++;
        *entries = seq;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = sai_error_set(err, SAI_EIO, "audit: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sai_hex_encode(head_hex, prev, 32);
    return rc;
}

int sai_kbs_audit_dump_locked(sai_kbs_store *s, uint64_t limit, char **json, sai_error *err)
{
    sqlite3 *db = sai_kbs_store_db(s);
    sqlite3_stmt *st = NULL;
    *json = NULL;
    const char *sql = limit ? "SELECT * FROM (SELECT seq,ts,event,actor,subject,verdict,detail,"
                              "prev,hash FROM audit ORDER BY seq DESC LIMIT ?) ORDER BY seq"
                            : "SELECT seq,ts,event,actor,subject,verdict,detail,prev,hash "
                              "FROM audit ORDER BY seq";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sai_error_set(err, SAI_EIO, "audit: %s", sqlite3_errmsg(db));
    if (limit)
        sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
    cJSON *arr = cJSON_CreateArray();
    static const char *names[] = {"seq", "ts", "event", "actor", "subject", "verdict",
                                  "detail", "prev", "hash"};
    while (arr && sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL)
            break;
        cJSON_AddNumberToObject(o, names[0], (double)sqlite3_column_int64(st, 0));
        cJSON_AddNumberToObject(o, names[1], (double)sqlite3_column_int64(st, 1));
        for (int i = 2; i < 9; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            cJSON_AddStringToObject(o, names[i], v ? v : "");
        }
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(st);
    *json = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (*json == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}
