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
 * master key cannot rebuild a consistent chain after an edit.
 *
 * A cut of the newest entries leaves a valid, shorter chain. Three anchors
 * outside the audit table see it: the audit_head row (seq and hash of the
 * last entry, written in the same transaction as every entry), the file
 * audit.anchor (the same, rewritten after each group commit, so never ahead
 * of what is durable), both checked by `kbs audit verify` and at every
 * start (the server refuses to append to a cut chain unless told to accept
 * it, which it audits); and a head recorded elsewhere, `--expect-head`,
 * which must still be in the chain (the chain may have grown since). Whoever
 * can rewrite the database and the data directory can also rewrite the
 * first two; only the third, kept off the host, holds against that.
 */
#include <ctype.h>
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
                      const uint8_t prev[32], uint8_t out[32], sai_error_t *err)
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

int sai_kbs__audit_append_locked(sai_kbs_store_t *s, const char *event, const char *actor,
                                const char *subject, const char *verdict,
                                const char *detail, sai_error_t *err)
{
    sqlite3 *db = sai_kbs__store_db(s);
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
    int64_t ts = sai_kbs__wall_now();
    const char *f[5] = {event, actor ? actor : "", subject ? subject : "",
                        verdict ? verdict : "", detail ? detail : ""};
    uint8_t h[32];
    if ((rc = entry_hash(sai_kbs__store_audit_key(s), seq, ts, f, prev, h, err)) != 0)
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
    /* The head anchor moves with the entry, in its transaction. */
    if (rc == 0 && sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO audit_head(id,seq,hash) VALUES(1,?,?)",
                                      -1, &st, NULL) != SQLITE_OK)
        return sai_error_set(err, SAI_EIO, "audit: %s", sqlite3_errmsg(db));
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
        sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sai_error_set(err, SAI_EIO, "audit: cannot move the head: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
    }
    return rc;
}

int sai_kbs__store_head(sqlite3 *db, uint64_t *seq, char hash_hex[65])
{
    sqlite3_stmt *st = NULL;
    *seq = 0;
    memset(hash_hex, '0', 64);
    hash_hex[64] = '\0';
    if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit_head WHERE id=1", -1, &st, NULL) != SQLITE_OK)
        return SAI_EIO;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        snprintf(hash_hex, 65, "%s", h ? h : "");
    }
    sqlite3_finalize(st);
    return 0;
}

int sai_kbs__anchor_write(const char *path, uint64_t seq, const char *hash_hex, sai_error_t *err)
{
    char text[128];
    int n = snprintf(text, sizeof text, "secureai-kbs-audit-anchor/v1 %llu %s\n", (unsigned long long)seq,
                     hash_hex);
    return sai_write_file_atomic(path, text, (size_t)n, 0600, false, err);
}

/* 0 when the anchor (what names it: which) holds: entry seq is in the
 * chain with hash hash_hex. */
static int anchor_holds(sai_kbs_store_t *s, const char *which, uint64_t seq, const char *hash_hex,
                        uint64_t entries, const char *head, sai_error_t *err)
{
    if (seq == 0)
        return 0;
    if (seq > entries)
        return sai_error_set(err, SAI_EAUTH, "audit chain cut: %s names entry %llu (%.16s...), the chain "
                             "has %llu entries (head %.16s...)", which, (unsigned long long)seq, hash_hex,
                             (unsigned long long)entries, head);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(sai_kbs__store_db(s), "SELECT hash FROM audit WHERE seq=?", -1, &st, NULL) != SQLITE_OK)
        return sai_error_set(err, SAI_EIO, "audit: %s", sqlite3_errmsg(sai_kbs__store_db(s)));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    const char *h = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (h == NULL || strcmp(h, hash_hex) != 0)
        rc = sai_error_set(err, SAI_EAUTH, "audit chain cut and rewritten: %s names entry %llu with hash "
                           "%.16s..., the chain's entry %llu is %.16s...", which, (unsigned long long)seq,
                           hash_hex, (unsigned long long)seq, h ? h : "(none)");
    sqlite3_finalize(st);
    return rc;
}

static int count_rows(sqlite3 *db, const char *sql, uint64_t *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return SAI_EIO;
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int sai_kbs__audit_anchor_check(sai_kbs_store_t *s, const char *dir, uint64_t *entries,
                               char head_hex[65], sai_error_t *err)
{
    sqlite3 *db = sai_kbs__store_db(s);
    *entries = 0;
    memset(head_hex, '0', 64);
    head_hex[64] = '\0';
    if (sai_kbs__store_audit_missing(s))
        return sai_error_set(err, SAI_EAUTH, "audit chain cut: kbs.db has no audit table (dropped)");
    int rc = sai_kbs__audit_check(s, entries, head_hex, err);
    if (rc != 0)
        return rc;
    uint64_t seq = 0, nres = 0;
    char hash[65];
    if (sai_kbs__store_head(db, &seq, hash) != 0)
        return sai_error_set(err, SAI_EIO, "audit: cannot read the head record: %s", sqlite3_errmsg(db));
    if ((rc = anchor_holds(s, "the database's head record", seq, hash, *entries, head_hex, err)) != 0)
        return rc;
    char path[1100];
    uint8_t *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/" SAI_KBS_ANCHOR_FILE, dir);
    rc = sai_read_file(path, 4096, &text, &len, NULL);
    if (rc == 0) {
        unsigned long long fs = 0;
        char fh[65] = "";
        char *t = (char *)text;
        if (sscanf(t, "secureai-kbs-audit-anchor/v1 %llu %64[0-9a-f]", &fs, fh) != 2 || strlen(fh) != 64)
            rc = sai_error_set(err, SAI_EAUTH, "audit chain cut? %s is damaged", path);
        else
            rc = anchor_holds(s, SAI_KBS_ANCHOR_FILE, fs, fh, *entries, head_hex, err);
        free(text);
        if (rc != 0)
            return rc;
    } else if (rc != SAI_ENOTFOUND) {
        return sai_error_set(err, SAI_EIO, "cannot read %s", path);
    }
    /* Every resource was stored with an entry: resources and no entries
     * is every row deleted, head record and anchor file with them. */
    if (*entries == 0 && count_rows(db, "SELECT count(*) FROM resource", &nres) == 0 && nres > 0)
        return sai_error_set(err, SAI_EAUTH, "audit chain cut: the log is empty but the store holds %llu "
                             "resources, each stored with an entry", (unsigned long long)nres);
    return 0;
}

int sai_kbs__audit_find(sai_kbs_store_t *s, const char *hex, uint64_t entries, const char *head_hex,
                       uint64_t *seq, sai_error_t *err)
{
    char want[65];
    size_t n = strlen(hex);
    if (n != 64 || strspn(hex, "0123456789abcdefABCDEF") != 64)
        return sai_error_set(err, SAI_EINVAL, "--expect-head must be the 64 hex digits a verify printed");
    for (size_t i = 0; i < 64; i++)
        want[i] = (char)tolower((unsigned char)hex[i]);
    want[64] = '\0';
    sqlite3_stmt *st = NULL;
    sqlite3 *db = sai_kbs__store_db(s);
    if (sqlite3_prepare_v2(db, "SELECT seq FROM audit WHERE hash=?", -1, &st, NULL) != SQLITE_OK)
        return sai_error_set(err, SAI_EIO, "audit: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, want, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (seq)
            *seq = (uint64_t)sqlite3_column_int64(st, 0);
    } else {
        rc = sai_error_set(err, SAI_EAUTH, "audit chain cut: the expected head %s is not in the chain "
                           "(%llu entries, head %s): entries were cut or replaced", want,
                           (unsigned long long)entries, head_hex);
    }
    sqlite3_finalize(st);
    return rc;
}

int sai_kbs__audit_check(sai_kbs_store_t *s, uint64_t *entries, char head_hex[65], sai_error_t *err)
{
    sqlite3 *db = sai_kbs__store_db(s);
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
        if ((rc = entry_hash(sai_kbs__store_audit_key(s), seq, ts, f, prev, want, err)) != 0)
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

int sai_kbs_audit_dump_locked(sai_kbs_store_t *s, uint64_t limit, char **json, sai_error_t *err)
{
    sqlite3 *db = sai_kbs__store_db(s);
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
