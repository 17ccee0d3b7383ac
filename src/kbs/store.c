/*
 * store.c — the KBS's durable state: resources (secret sealed under the
 * master key + release policy), settings (the attestation policy) and the
 * audit chain, in one SQLite database.
 *
 * Durability: WAL journal with synchronous=FULL, so a COMMIT has reached the
 * disk before the admin sees "201"; a change and its audit entry share one
 * transaction, so after kill -9 both are there or neither is (the crash test
 * in tests/kbs/test_kbs_crash.sh checks it). Secrets at rest are
 * AES-256-GCM under HKDF(master key, "secureai/v1/kbs-store") with the
 * resource name as associated data, so a row copied under another name does
 * not open. The master key is 32 random bytes in a 0600 file, optionally
 * sealed to the KBS's own TEE (masterkey.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <stdatomic.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

struct sai_kbs_store_t {
    sqlite3        *db;
    bool            audit_missing;  /* an existing database without its audit table */
    char            anchor_path[1100]; /* "" until the server enables the file anchor */
    uint64_t        anchor_seq;     /* what the file anchor says now */
    atomic_bool     dirty;      /* audit entries committed without fsync */
    sqlite3        *sync_db;    /* a second connection, for checkpoints and the WAL's fsync */
    pthread_mutex_t sync_mu;
    /* group commit: tickets of commits made without fsync, in order */
    atomic_uint_fast64_t committed;
    uint64_t        durable;    /* highest ticket an fsync covered (sync_mu) */
    bool            sync_failed; /* sticky (sync_mu) */
    int           (*sync_hook)(void *);
    void           *sync_hook_arg;

    pthread_mutex_t mu;
    sai_secret_t     *keys;       /* [0..31] store key, [32..63] audit chain key */
    sai_aead_t       *aead;
};

sqlite3 *sai_kbs__store_db(sai_kbs_store_t *s) { return s->db; }
const uint8_t *sai_kbs__store_audit_key(sai_kbs_store_t *s) { return s->keys->data + 32; }

static const char *k_schema =
    "CREATE TABLE IF NOT EXISTS resource("
    "  name TEXT PRIMARY KEY, sealed BLOB NOT NULL, policy TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS setting(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    /* per-job monotonic counters (counter.c) */
    "CREATE TABLE IF NOT EXISTS counter(name TEXT PRIMARY KEY, value INTEGER NOT NULL);";
/* The audit chain and, outside it, its head (written in the same
 * transaction as every entry: the anchor a cut of the table cannot move). */
const char *const sai_kbs_audit_schema =
    "CREATE TABLE IF NOT EXISTS audit("
    "  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, event TEXT NOT NULL,"
    "  actor TEXT NOT NULL, subject TEXT NOT NULL, verdict TEXT NOT NULL,"
    "  detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);";
static const char *k_head_schema =
    "CREATE TABLE IF NOT EXISTS audit_head(id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  seq INTEGER NOT NULL, hash TEXT NOT NULL);";

static bool has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return yes;
}

/* Tables: a new database gets all of them; an existing one is not given
 * back an audit table that is gone (that is a cut the anchor check must
 * see), and one from before the head anchor gets it from its chain. */
static int init_schema(sai_kbs_store_t *s, const char *path, sai_error_t *err)
{
    bool fresh = !has_table(s->db, "resource") && !has_table(s->db, "audit");
    bool had_head = has_table(s->db, "audit_head");
    char *emsg = NULL;
    int rc = sqlite3_exec(s->db, k_schema, NULL, NULL, &emsg);
    if (rc == SQLITE_OK && fresh)
        rc = sqlite3_exec(s->db, sai_kbs_audit_schema, NULL, NULL, &emsg);
    if (rc == SQLITE_OK && !had_head) {
        rc = sqlite3_exec(s->db, k_head_schema, NULL, NULL, &emsg);
        if (rc == SQLITE_OK && has_table(s->db, "audit"))
            rc = sqlite3_exec(s->db, "INSERT OR IGNORE INTO audit_head(id,seq,hash) "
                                     "SELECT 1, seq, hash FROM audit ORDER BY seq DESC LIMIT 1", NULL, NULL, &emsg);
    }
    if (rc != SQLITE_OK) {
        rc = sai_error_set(err, SAI_EIO, "cannot initialise %s: %s", path, emsg ? emsg : "?");
        sqlite3_free(emsg);
        return rc;
    }
    s->audit_missing = !has_table(s->db, "audit");
    return 0;
}

bool sai_kbs__store_audit_missing(sai_kbs_store_t *s) { return s->audit_missing; }

int sai_kbs__store_open(sai_kbs_store_t **out, const char *dir, bool create, sai_error_t *err)
{
    return sai_kbs__store_open_sealed(out, dir, create, NULL, err);
}

int sai_kbs__store_open_sealed(sai_kbs_store_t **out, const char *dir, bool create,
                              const char *seal_tee, sai_error_t *err)
{
    *out = NULL;
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return sai_error_set(err, SAI_EIO, "cannot create %s: %s", dir, strerror(errno));
    sai_kbs_store_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    int rc;
    uint8_t master[32];
    if ((rc = sai_secret_new(&s->keys, 64, err)) != 0)
        goto fail;
    if ((rc = sai_kbs__master_key_load(dir, create, seal_tee, master, err)) != 0)
        goto fail;
    rc = sai_hkdf_sha256(s->keys->data, 32, master, 32, NULL, 0,
                         (const uint8_t *)"secureai/v1/kbs-store", 21, err);
    if (rc == 0)
        rc = sai_hkdf_sha256(s->keys->data + 32, 32, master, 32, NULL, 0,
                             (const uint8_t *)"secureai/v1/kbs-audit", 21, err);
    sai_wipe(master, sizeof master);
    if (rc != 0)
        goto fail;
    if ((rc = sai_aead_new(&s->aead, s->keys->data, err)) != 0)
        goto fail;

    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, SAI_KBS_DB_FILE);
    /* SQLite gives kbs.db-wal and kbs.db-shm the database file's mode when
     * it creates them: create the database 0600 first (an empty file is an
     * empty database), and tighten files an older version left 0644. No
     * umask: it is process-wide and the library runs in other programs. */
    if (create) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0)
            close(fd);
    }
    static const char *const k_suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof k_suffixes / sizeof *k_suffixes; i++) {
        char f[1100];
        struct stat st;
        snprintf(f, sizeof f, "%s%s", path, k_suffixes[i]);
        if (lstat(f, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0)
            chmod(f, st.st_mode & 0700);
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        rc = sai_error_set(err, SAI_EIO, "cannot open %s: %s", path,
                           s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *emsg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     &emsg) != SQLITE_OK) {
        rc = sai_error_set(err, SAI_EIO, "cannot initialise %s: %s", path, emsg ? emsg : "?");
        sqlite3_free(emsg);
        goto fail;
    }
    if ((rc = init_schema(s, path, err)) != 0)
        goto fail;
    if (sqlite3_open_v2(path, &s->sync_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        rc = sai_error_set(err, SAI_EIO, "cannot open %s twice", path);
        goto fail;
    }
    sqlite3_busy_timeout(s->sync_db, 5000);
    sqlite3_exec(s->sync_db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    /* One read, so this connection has the WAL open (its handle is what
     * sai_kbs__store_sync_wal fsyncs). */
    sqlite3_exec(s->sync_db, "SELECT count(*) FROM setting", NULL, NULL, NULL);
    *out = s;
    return 0;
fail:
    sai_kbs__store_close(s);
    return rc;
}

void sai_kbs__store_close(sai_kbs_store_t *s)
{
    if (s == NULL)
        return;
    if (s->sync_db)
        sqlite3_close(s->sync_db);
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->sync_mu);
    sai_aead_free(s->aead);
    sai_secret_free(s->keys);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int db_fail(sai_kbs_store_t *s, sai_error_t *err, const char *what)
{
    return sai_error_set(err, SAI_EIO, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* durable: fsync at COMMIT (admin changes). Otherwise (decision records on
 * the request path) the COMMIT reaches the WAL in the page cache, which
 * survives a crash of the process, and sai_kbs__store_sync fsyncs the batch
 * within 100 ms: group commit, so a flow does not wait for the disk. */
static int begin_mode(sai_kbs_store_t *s, bool durable, sai_error_t *err)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_exec(s->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                 NULL, NULL, NULL);
    if (!durable)
        atomic_store(&s->dirty, true);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = db_fail(s, err, "cannot begin a transaction");
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    return 0;
}

static int begin(sai_kbs_store_t *s, sai_error_t *err)
{
    return begin_mode(s, true, err);
}

/* On its own connection, so the request path (s->mu) never waits for the
 * disk: a PASSIVE checkpoint runs beside writers. In WAL mode a checkpoint
 * first syncs the WAL, then the database. */
int sai_kbs__store_sync(sai_kbs_store_t *s)
{
    int rc = 0;
    uint64_t seq = 0;
    char hash[65] = "";
    pthread_mutex_lock(&s->sync_mu);
    /* The head as of now, before the checkpoint makes everything up to it
     * durable: the file anchor never names an entry a power loss can take. */
    bool anchor = s->anchor_path[0] && sai_kbs__store_head(s->sync_db, &seq, hash) == 0 &&
                  seq != s->anchor_seq;
    if (atomic_exchange(&s->dirty, false))
        rc = sqlite3_wal_checkpoint_v2(s->sync_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) ==
             SQLITE_OK ? 0 : SAI_EIO;
    if (rc == 0 && anchor && sai_kbs__anchor_write(s->anchor_path, seq, hash, NULL) == 0)
        s->anchor_seq = seq;
    pthread_mutex_unlock(&s->sync_mu);
    return rc;
}

void sai_kbs__store_anchor_enable(sai_kbs_store_t *s, const char *path, uint64_t seq)
{
    pthread_mutex_lock(&s->sync_mu);
    snprintf(s->anchor_path, sizeof s->anchor_path, "%s", path);
    s->anchor_seq = seq;
    pthread_mutex_unlock(&s->sync_mu);
}

/* ticket (non-NULL for a commit made without fsync): its group-commit
 * ticket, taken after COMMIT returned, so the WAL frames are written (to
 * the page cache) before any fsync that covers the ticket starts. */
static int end_ticket(sai_kbs_store_t *s, int rc, uint64_t *ticket, sai_error_t *err)
{
    if (rc == 0) {
        if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            rc = db_fail(s, err, "cannot commit");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
    } else {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc == 0 && ticket != NULL)
        *ticket = atomic_fetch_add(&s->committed, 1) + 1;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int end(sai_kbs_store_t *s, int rc, sai_error_t *err)
{
    return end_ticket(s, rc, NULL, err);
}

uint64_t sai_kbs__store_committed(sai_kbs_store_t *s)
{
    return atomic_load(&s->committed);
}

void sai_kbs__store_set_sync_hook(sai_kbs_store_t *s, int (*hook)(void *), void *arg)
{
    pthread_mutex_lock(&s->sync_mu);
    s->sync_hook = hook;
    s->sync_hook_arg = arg;
    pthread_mutex_unlock(&s->sync_mu);
}

/* One fsync of the WAL for every commit ticketed before it starts: the
 * sync connection's own handle on the WAL file (fsync is per file, not per
 * descriptor, so it covers the frames the request connection wrote). Runs
 * beside writers: they only wait for s->mu, never for this. */
int sai_kbs__store_sync_wal(sai_kbs_store_t *s, uint64_t *covered)
{
    pthread_mutex_lock(&s->sync_mu);
    uint64_t target = atomic_load(&s->committed);
    int rc = 0;
    if (s->sync_failed) {
        rc = SAI_EIO;
    } else if (target > s->durable) {
        sqlite3_file *wal = NULL;
        if (s->sync_hook != NULL && s->sync_hook(s->sync_hook_arg) != 0)
            rc = SAI_EIO;
        else if (sqlite3_file_control(s->sync_db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
                 wal == NULL || wal->pMethods == NULL ||
                 wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) != SQLITE_OK)
            rc = SAI_EIO;
        if (rc == 0)
            s->durable = target;
        else
            s->sync_failed = true;
    }
    *covered = s->durable;
    pthread_mutex_unlock(&s->sync_mu);
    return rc;
}

/* A durable transaction for another file of the store (counter.c). */
int sai_kbs__store_begin(sai_kbs_store_t *s, sai_error_t *err) { return begin(s, err); }
int sai_kbs__store_end(sai_kbs_store_t *s, int rc, sai_error_t *err) { return end(s, rc, err); }

/* Seal and store; exclusive: refuse (SAI_EEXIST) when the name exists. The
 * audit entry is written in the same transaction. */
static int put_resource(sai_kbs_store_t *s, const char *name, const uint8_t *secret, size_t len,
                        const char *policy_json, bool exclusive, const char *event,
                        const char *actor, const char *detail, sai_error_t *err)
{
    if (len == 0 || len > SAI_KBS_MAX_SECRET)
        return sai_error_set(err, SAI_ELIMIT, "a secret must be 1..%d bytes", SAI_KBS_MAX_SECRET);
    size_t blen = SAI_AEAD_NONCE_LEN + len + SAI_AEAD_TAG_LEN;
    uint8_t *blob = malloc(blen);
    if (blob == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = sai_random_bytes(blob, SAI_AEAD_NONCE_LEN, err);
    if (rc != 0) {
        free(blob);
        return rc;
    }
    if ((rc = begin(s, err)) != 0) {
        free(blob);
        return rc;
    }
    rc = sai_aead_seal(s->aead, blob + SAI_AEAD_NONCE_LEN, blob + SAI_AEAD_NONCE_LEN + len,
                       secret, len, (const uint8_t *)name, strlen(name), blob, err);
    sqlite3_stmt *st = NULL;
    if (rc == 0 && sqlite3_prepare_v2(s->db, exclusive
                        ? "INSERT INTO resource(name,sealed,policy,created) "
                          "VALUES(?,?,?,strftime('%s','now'))"
                        : "INSERT OR REPLACE INTO resource(name,sealed,policy,created) "
                          "VALUES(?,?,?,strftime('%s','now'))", -1, &st, NULL) != SQLITE_OK)
        rc = db_fail(s, err, "cannot prepare insert");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, blob, (int)blen, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, policy_json, -1, SQLITE_STATIC);
        int sr = sqlite3_step(st);
        if (exclusive && sr == SQLITE_CONSTRAINT)
            rc = sai_error_set(err, SAI_EEXIST, "resource %s exists; registration never overwrites", name);
        else if (sr != SQLITE_DONE)
            rc = db_fail(s, err, "cannot store resource");
    }
    sqlite3_finalize(st);
    if (rc == 0)
        rc = sai_kbs__audit_append_locked(s, event, actor, name, "ok", detail, err);
    free(blob);
    return end(s, rc, err);
}

int sai_kbs__store_put_resource(sai_kbs_store_t *s, const char *name, const uint8_t *secret,
                               size_t len, const char *policy_json, const char *actor,
                               sai_error_t *err)
{
    return put_resource(s, name, secret, len, policy_json, false, "admin.put-resource", actor,
                        policy_json, err);
}

int sai_kbs__store_register_resource(sai_kbs_store_t *s, const char *name, const uint8_t *secret,
                                    size_t len, const char *policy_json, const char *actor,
                                    const char *detail, sai_error_t *err)
{
    return put_resource(s, name, secret, len, policy_json, true, "register", actor, detail, err);
}

int sai_kbs__store_delete_resource(sai_kbs_store_t *s, const char *name, const char *actor,
                                  sai_error_t *err)
{
    int rc = begin(s, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM resource WHERE name=?", -1, &st, NULL) != SQLITE_OK)
        rc = db_fail(s, err, "cannot prepare delete");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(s, err, "cannot delete resource");
        else if (sqlite3_changes(s->db) == 0)
            rc = sai_error_set(err, SAI_ENOTFOUND, "no resource %s", name);
    }
    sqlite3_finalize(st);
    if (rc == 0)
        rc = sai_kbs__audit_append_locked(s, "admin.delete-resource", actor, name, "ok", "", err);
    return end(s, rc, err);
}

int sai_kbs__store_get_resource(sai_kbs_store_t *s, const char *name, sai_secret_t **secret,
                               char **policy, sai_error_t *err)
{
    *secret = NULL;
    *policy = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT sealed, policy FROM resource WHERE name=?", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = db_fail(s, err, "cannot prepare select");
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = sai_error_set(err, SAI_ENOTFOUND, "no resource %s", name);
        goto out;
    }
    if (step != SQLITE_ROW) {
        rc = db_fail(s, err, "cannot read resource");
        goto out;
    }
    const uint8_t *blob = sqlite3_column_blob(st, 0);
    size_t blen = (size_t)sqlite3_column_bytes(st, 0);
    if (blob == NULL || blen <= SAI_AEAD_NONCE_LEN + SAI_AEAD_TAG_LEN) {
        rc = sai_error_set(err, SAI_EFORMAT, "resource %s is damaged in the store", name);
        goto out;
    }
    size_t len = blen - SAI_AEAD_NONCE_LEN - SAI_AEAD_TAG_LEN;
    if ((rc = sai_secret_new(secret, len, err)) != 0)
        goto out;
    rc = sai_aead_open(s->aead, (*secret)->data, blob + SAI_AEAD_NONCE_LEN, len,
                       blob + SAI_AEAD_NONCE_LEN + len, (const uint8_t *)name, strlen(name),
                       blob, err);
    if (rc != 0) {
        sai_error_set(err, SAI_EAUTH, "resource %s does not authenticate under the master key", name);
        goto out;
    }
    const char *p = (const char *)sqlite3_column_text(st, 1);
    *policy = strdup(p ? p : "{}");
    if (*policy == NULL)
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        sai_secret_free(*secret);
        *secret = NULL;
        free(*policy);
        *policy = NULL;
    }
    return rc;
}

int sai_kbs__store_put_setting(sai_kbs_store_t *s, const char *key, const char *value,
                              const char *actor, sai_error_t *err)
{
    int rc = begin(s, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO setting(key,value) VALUES(?,?)", -1,
                           &st, NULL) != SQLITE_OK)
        rc = db_fail(s, err, "cannot prepare");
    if (rc == 0) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(s, err, "cannot store setting");
    }
    sqlite3_finalize(st);
    if (rc == 0) {
        uint8_t h[32];
        char hex[65];
        rc = sai_hash(SAI_SHA256, h, value, strlen(value), err);
        sai_hex_encode(hex, h, 32);
        if (rc == 0)
            rc = sai_kbs__audit_append_locked(s, "admin.put-setting", actor, key, "ok", hex, err);
    }
    return end(s, rc, err);
}

int sai_kbs__store_get_setting(sai_kbs_store_t *s, const char *key, char **value, sai_error_t *err)
{
    *value = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM setting WHERE key=?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_fail(s, err, "cannot prepare");
    } else {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *v = (const char *)sqlite3_column_text(st, 0);
            *value = strdup(v ? v : "");
            if (*value == NULL)
                rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        } else {
            rc = sai_error_set(err, SAI_ENOTFOUND, "no setting %s", key);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int sai_kbs__audit_append(sai_kbs_store_t *s, const char *event, const char *actor,
                         const char *subject, const char *verdict, const char *detail,
                         sai_error_t *err)
{
    uint64_t ticket;
    return sai_kbs__audit_append_ticket(s, event, actor, subject, verdict, detail, &ticket, err);
}

int sai_kbs__audit_append_ticket(sai_kbs_store_t *s, const char *event, const char *actor,
                                const char *subject, const char *verdict, const char *detail,
                                uint64_t *ticket, sai_error_t *err)
{
    bool admin = strncmp(event, "admin", 5) == 0;
    *ticket = 0;   /* an admin entry is durable at COMMIT: ticket 0 is always covered */
    int rc = begin_mode(s, admin, err);
    if (rc != 0)
        return rc;
    rc = sai_kbs__audit_append_locked(s, event, actor, subject, verdict, detail, err);
    return end_ticket(s, rc, admin ? NULL : ticket, err);
}

int sai_kbs__audit_check(sai_kbs_store_t *s, uint64_t *entries, char head_hex[65], sai_error_t *err);

int sai_kbs_audit_verify(const char *data_dir, uint64_t *entries, char head_hex[65], sai_error_t *err)
{
    return sai_kbs_audit_verify_anchor(data_dir, NULL, entries, head_hex, NULL, err);
}

int sai_kbs_audit_verify_anchor(const char *data_dir, const char *expect_head, uint64_t *entries,
                                char head_hex[65], uint64_t *anchor_seq, sai_error_t *err)
{
    sai_kbs_store_t *s = NULL;
    *entries = 0;
    head_hex[0] = '\0';
    if (anchor_seq)
        *anchor_seq = 0;
    int rc = sai_kbs__store_open(&s, data_dir, false, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->mu);
    rc = sai_kbs__audit_anchor_check(s, data_dir, entries, head_hex, err);
    if (rc == 0 && expect_head)
        rc = sai_kbs__audit_find(s, expect_head, *entries, head_hex, anchor_seq, err);
    pthread_mutex_unlock(&s->mu);
    sai_kbs__store_close(s);
    return rc;
}

int sai_kbs_audit_dump_locked(sai_kbs_store_t *s, uint64_t limit, char **json, sai_error_t *err);

int sai_kbs__audit_accept_cut(sai_kbs_store_t *s, const char *dir, const char *why, sai_error_t *err)
{
    int rc = begin(s, err);
    if (rc != 0)
        return rc;
    if (s->audit_missing && sqlite3_exec(s->db, sai_kbs_audit_schema, NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(s, err, "cannot recreate the audit table");
    if (rc == 0 && sqlite3_exec(s->db, "DELETE FROM audit_head; INSERT INTO audit_head(id,seq,hash) "
                                       "SELECT 1, seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                                NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(s, err, "cannot re-anchor the audit chain");
    if (rc == 0)
        rc = sai_kbs__audit_append_locked(s, "audit.cut-accepted", "kbs serve --accept-audit-cut", "audit",
                                         "accepted", why, err);
    if ((rc = end(s, rc, err)) != 0)
        return rc;
    s->audit_missing = false;
    uint64_t seq = 0;
    char hash[65], path[1100];
    snprintf(path, sizeof path, "%s/" SAI_KBS_ANCHOR_FILE, dir);
    if (sai_kbs__store_head(s->db, &seq, hash) != 0)
        return db_fail(s, err, "cannot read the audit head");
    return sai_kbs__anchor_write(path, seq, hash, err);
}

int sai_kbs_audit_export(const char *data_dir, uint64_t limit, char **json, sai_error_t *err)
{
    sai_kbs_store_t *s = NULL;
    *json = NULL;
    int rc = sai_kbs__store_open(&s, data_dir, false, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->mu);
    rc = sai_kbs_audit_dump_locked(s, limit, json, err);
    pthread_mutex_unlock(&s->mu);
    sai_kbs__store_close(s);
    return rc;
}

int sai_kbs__audit_dump(sai_kbs_store_t *s, uint64_t limit, char **json, sai_error_t *err)
{
    pthread_mutex_lock(&s->mu);
    int rc = sai_kbs_audit_dump_locked(s, limit, json, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
