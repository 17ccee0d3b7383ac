/*
 * seal.h — SecureAI's sealed-file format and sealed datasets.
 *
 * A sealed file is a fixed header followed by fixed-size chunks, each sealed
 * with AES-256-GCM under a per-file key (docs/format.md has the byte layout
 * and the security argument):
 *
 *   file key  = HKDF-SHA-256(data key, salt = 32 random bytes,
 *                            info = "secureai/v1/file" || key id)
 *   nonce(i)  = 11-byte big-endian i || 1 byte (1 on the last chunk, else 0)
 *   chunk i   = AES-256-GCM(file key, nonce(i), aad = header, plaintext i)
 *               at offset header_len + i * (chunk_size + 16)
 *
 * A file always has at least one chunk (an empty file has one empty last
 * chunk), so even an empty file authenticates its header.
 *
 * Ownership: every object is allocated by its *_open / *_new function and
 * freed by the matching close/free function (NULL is fine). The data key is
 * always borrowed (const uint8_t[32], normally the data of a sai_secret_t the
 * caller owns); derived keys live in sai_secret_t buffers inside the object and
 * are wiped when it is freed. Buffers passed in are borrowed for the call
 * only, except sai_seal_open_mem, which borrows its buffer until close.
 * Nothing here is thread-safe per object: give each thread its own reader
 * (opening is cheap: one header read, one HKDF, one chunk).
 */
#ifndef SECUREAI_SEAL_H
#define SECUREAI_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"
#include "secureai/crypto.h"
#include "secureai/util.h"

/* ---- format constants ----------------------------------------------------- */
#define SAI_SEAL_MAGIC            "SAI-SEAL"   /* 8 bytes, no NUL on disk */
#define SAI_SEAL_MAGIC_LEN        8
#define SAI_SEAL_VERSION          1
#define SAI_SEAL_SALT_LEN         32
#define SAI_SEAL_KEY_LEN          32            /* data key: 32 raw bytes */
#define SAI_SEAL_KEY_ID_MAX       64
#define SAI_SEAL_HEADER_FIXED     56            /* header bytes before the key id */
#define SAI_SEAL_HEADER_MAX       (SAI_SEAL_HEADER_FIXED + SAI_SEAL_KEY_ID_MAX)
#define SAI_SEAL_CHUNK_DEFAULT    65536u
#define SAI_SEAL_CHUNK_MIN        16u
#define SAI_SEAL_CHUNK_MAX        (16u << 20)
#define SAI_SEAL_LENGTH_MAX       (1ull << 60)
#define SAI_SEAL_DEFAULT_KEY_ID   "default"

/* The parsed header. key_id is NUL-terminated (key ids are restricted to
 * [A-Za-z0-9._:@/+-], 1..64 characters). */
typedef struct sai_seal_header_t {
    uint16_t version;
    uint32_t chunk_size;
    uint64_t length;                   /* plaintext bytes */
    uint8_t  salt[SAI_SEAL_SALT_LEN];
    char     key_id[SAI_SEAL_KEY_ID_MAX + 1];
    size_t   header_len;               /* bytes on disk: 56 + strlen(key_id) */
    uint64_t chunks;                   /* max(1, ceil(length / chunk_size)) */
    uint64_t sealed_len;               /* exact size of a well-formed file */
} sai_seal_header_t;

/* Parse and validate a header from the first len bytes of a file (len may
 * exceed the header). Checks magic, version, reserved bits, chunk size and
 * length ranges and the key id alphabet; authenticates nothing (the header
 * is authenticated as the AAD of every chunk, i.e. by a reader). */
int sai_seal_header_parse(sai_seal_header_t *h, const uint8_t *buf, size_t len,
                          sai_error_t *err) SAI_MUST_CHECK;
/* True when key_id is a valid key id. */
bool sai_seal_key_id_valid(const char *key_id);

/* Read and parse the header of a sealed file, without a key (for inspect).
 * *file_size receives the file's size (may be NULL). */
int sai_seal_inspect(const char *path, sai_seal_header_t *h, uint64_t *file_size,
                     sai_error_t *err) SAI_MUST_CHECK;

/* ---- key files ------------------------------------------------------------
 * A key file is exactly 32 raw random bytes, mode 0600. */
int sai_seal_keygen(const char *path, sai_error_t *err) SAI_MUST_CHECK;   /* refuses to overwrite */
/* Loads into a new sai_secret_t the caller frees with sai_secret_free. Refuses
 * a file that is not exactly 32 bytes, and one readable by group/others. */
int sai_seal_key_load(sai_secret_t **out, const char *path, sai_error_t *err) SAI_MUST_CHECK;

/* ---- writer ---------------------------------------------------------------- */
typedef struct sai_seal_params_t {
    const char *key_id;      /* NULL: SAI_SEAL_DEFAULT_KEY_ID */
    uint32_t    chunk_size;  /* 0: SAI_SEAL_CHUNK_DEFAULT */
    bool        excl;        /* fail with SAI_EEXIST if the output exists */
    unsigned    mode;        /* 0: 0644 */
    bool        hash_output; /* compute the sealed file's SHA-256 (finish) */
} sai_seal_params_t;

typedef struct sai_seal_writer_t sai_seal_writer_t;

/* Start sealing exactly `length` plaintext bytes to path. The length goes
 * into the authenticated header, so it must be known up front. Output goes
 * to "<path>.tmp.XXXXXX" and is renamed onto path by finish; memory use is
 * two chunks whatever the length. */
int sai_seal_writer_new(sai_seal_writer_t **out, const char *path,
                        const uint8_t key[static SAI_SEAL_KEY_LEN],
                        const sai_seal_params_t *p, uint64_t length,
                        sai_error_t *err) SAI_MUST_CHECK;
/* The same, sealing into fd (from its current offset) instead of a new
 * file: name is for messages only; the descriptor stays the caller's
 * (never closed), and finish neither fsyncs nor renames. p->excl and
 * p->mode do not apply. */
int sai_seal_writer_new_fd(sai_seal_writer_t **out, int fd, const char *name,
                           const uint8_t key[static SAI_SEAL_KEY_LEN],
                           const sai_seal_params_t *p, uint64_t length,
                           sai_error_t *err) SAI_MUST_CHECK;
int sai_seal_writer_write(sai_seal_writer_t *w, const void *data, size_t len,
                          sai_error_t *err) SAI_MUST_CHECK;
/* Seals the last chunk, fsyncs and renames. Fails (and removes the temp
 * file) when fewer or more than `length` bytes were written. ct_sha256, if
 * not NULL, receives the SHA-256 of the whole sealed file. */
int sai_seal_writer_finish(sai_seal_writer_t *w, uint8_t ct_sha256[SAI_SHA256_LEN],
                           sai_error_t *err) SAI_MUST_CHECK;
/* The size of the sealed output (header, chunks and tags), known from the
 * declared length as soon as the writer exists. */
uint64_t sai_seal_writer_sealed_len(const sai_seal_writer_t *w);
/* Frees; if finish did not succeed, the temp file is removed. */
void sai_seal_writer_free(sai_seal_writer_t *w);

/* Seal len bytes at pt into a new malloc'ed buffer (*out, *out_len), in
 * exactly the sealed-file format (for callers that may not create files,
 * e.g. a sandboxed enclave). p may be NULL; only key_id and chunk_size
 * apply. The caller frees *out (it holds ciphertext only). */
int sai_seal_buffer(uint8_t **out, size_t *out_len, const uint8_t key[static SAI_SEAL_KEY_LEN],
                    const sai_seal_params_t *p, const void *pt, size_t len,
                    sai_error_t *err) SAI_MUST_CHECK;

/* Seal a whole file (streaming). progress may be NULL. */
int sai_seal_file(const char *in, const char *out, const uint8_t key[static SAI_SEAL_KEY_LEN],
                  const sai_seal_params_t *p, sai_progress_t *progress,
                  uint8_t ct_sha256[SAI_SHA256_LEN], sai_error_t *err) SAI_MUST_CHECK;

/* ---- reader ----------------------------------------------------------------
 * open reads the header, checks the file size against it (truncation and
 * extension fail here, naming the chunk) and authenticates the last chunk,
 * so size() is authenticated. read_at decrypts only the chunks it spans:
 * chunks covered whole are read and decrypted in place in the caller's
 * buffer (no extra copy); partial chunks go through a one-chunk cache (the
 * last chunk decrypted), so small sequential or nearby reads cost one
 * decryption per chunk. Errors name the file and the chunk. */
typedef struct sai_seal_reader_t sai_seal_reader_t;

typedef struct sai_seal_open_opts_t {
    const char *expect_key_id;   /* NULL: any; else a mismatch is SAI_EAUTH */
    /* Map the file instead of pread'ing it: chunks are decrypted straight
     * from the page cache into the caller's buffer, with no kernel copy
     * (the fast path for loaders that read a shard for many epochs; see
     * docs/benchmarks.md). Caveat: if the untrusted host truncates the file
     * while it is mapped, the process gets SIGBUS instead of an error. */
    bool        map;
} sai_seal_open_opts_t;

int sai_seal_open(sai_seal_reader_t **out, const char *path,
                  const uint8_t key[static SAI_SEAL_KEY_LEN],
                  const sai_seal_open_opts_t *opts, sai_error_t *err) SAI_MUST_CHECK;
/* The same over an fd the reader dups (the caller keeps its own); name is
 * used in error messages. */
int sai_seal_open_fd(sai_seal_reader_t **out, int fd, const char *name,
                     const uint8_t key[static SAI_SEAL_KEY_LEN],
                     const sai_seal_open_opts_t *opts, sai_error_t *err) SAI_MUST_CHECK;
/* The same over memory; data is borrowed until sai_seal_close. */
int sai_seal_open_mem(sai_seal_reader_t **out, const void *data, size_t len, const char *name,
                      const uint8_t key[static SAI_SEAL_KEY_LEN],
                      const sai_seal_open_opts_t *opts, sai_error_t *err) SAI_MUST_CHECK;

/* Authenticated plaintext length. */
uint64_t sai_seal_size(const sai_seal_reader_t *r);
const sai_seal_header_t *sai_seal_reader_header(const sai_seal_reader_t *r);

/* Read exactly len bytes at offset into buf. offset + len > size is
 * SAI_EINVAL. On any error the part of buf this call wrote is wiped: no
 * unauthenticated plaintext is ever returned. */
int sai_seal_read_at(sai_seal_reader_t *r, uint64_t offset, void *buf, size_t len,
                     sai_error_t *err) SAI_MUST_CHECK;

/* Authenticate every chunk (decrypting into a scratch chunk, discarded). */
int sai_seal_verify(sai_seal_reader_t *r, sai_progress_t *progress, sai_error_t *err) SAI_MUST_CHECK;

/* Wipes the chunk cache and derived key, closes the fd. */
void sai_seal_close(sai_seal_reader_t *r);

/* Unseal a file to out ("-" = stdout). A file output is written to a temp
 * name and renamed only when every chunk verified, with mode 0600. For
 * stdout every chunk is verified in a first pass before anything is written;
 * the second pass re-authenticates each chunk before writing it, so even a
 * file changed between the passes yields only authenticated bytes (a prefix,
 * followed by the error). */
int sai_unseal_file(const char *in, const char *out, const uint8_t key[static SAI_SEAL_KEY_LEN],
                    bool excl, sai_progress_t *progress, sai_error_t *err) SAI_MUST_CHECK;

/* ---- record formats -------------------------------------------------------- */
typedef enum sai_record_format_t {
    SAI_REC_RAW = 0,        /* no record structure; records = 0 */
    SAI_REC_CIFAR10_BIN,    /* 3073-byte records: label (0..9) + 3x32x32 */
    SAI_REC_IDX,            /* IDX (MNIST) file: records = first dimension */
    SAI_REC_IDX_GZ,         /* gzip'ed IDX */
    SAI_REC_TFRECORD,       /* TFRecord: length, masked CRC32C, data, CRC */
} sai_record_format_t;

const char *sai_record_format_name(sai_record_format_t f);
int sai_record_format_parse(const char *name, sai_record_format_t *out);
/* Detect a plaintext file's record format from its name and content and
 * count its records. A file that only half fits a format (an .idx whose
 * sizes do not add up) is SAI_EFORMAT, not silently "raw". */
int sai_record_detect(const char *path, sai_record_format_t *fmt, uint64_t *records,
                      sai_error_t *err) SAI_MUST_CHECK;

/* ---- sealed datasets --------------------------------------------------------
 * A sealed dataset is a directory:
 *   manifest.json   the canonical manifest (its SHA-256 is the dataset id)
 *   manifest.mac    hex HMAC-SHA-256 of manifest.json's bytes under
 *                   HKDF(data key, no salt, info = "secureai/v1/manifest"),
 *                   checked before the manifest is even parsed
 *   <name>.sealed   one sealed shard per input file (relative names kept)
 */
#define SAI_DATASET_MANIFEST      "manifest.json"
#define SAI_DATASET_MAC           "manifest.mac"
#define SAI_DATASET_MANIFEST_MAX  (16u << 20)
#define SAI_DATASET_SHARDS_MAX    100000u
#define SAI_DATASET_NAME_MAX      1024u

typedef struct sai_dataset_shard_t {
    char             *name;            /* relative name of the plaintext file */
    uint64_t          size;            /* plaintext bytes */
    uint8_t           sha256[SAI_SHA256_LEN];  /* of the sealed shard file */
    sai_record_format_t format;
    uint64_t          records;
} sai_dataset_shard_t;

typedef struct sai_manifest_t {
    char               key_id[SAI_SEAL_KEY_ID_MAX + 1];
    uint32_t           chunk_size;
    size_t             n_shards;
    sai_dataset_shard_t *shards;         /* sorted by name, names unique */
} sai_manifest_t;

/* Parse canonical manifest bytes. Rejects anything that is not exactly the
 * canonical encoding (fixed key order, no whitespace), unsafe names
 * (absolute, "..", empty components), duplicates and unsorted shards.
 * Authenticates nothing: check the MAC first (sai_dataset_open does). */
int sai_manifest_parse(sai_manifest_t *m, const uint8_t *buf, size_t len,
                       sai_error_t *err) SAI_MUST_CHECK;
/* Canonical encoding; *out is malloc'ed (NUL-terminated), caller frees. */
int sai_manifest_encode(const sai_manifest_t *m, char **out, size_t *len,
                        sai_error_t *err) SAI_MUST_CHECK;
void sai_manifest_clear(sai_manifest_t *m);
/* The manifest MAC over its canonical bytes. */
int sai_manifest_mac(uint8_t mac[static SAI_SHA256_LEN],
                     const uint8_t key[static SAI_SEAL_KEY_LEN],
                     const uint8_t *bytes, size_t len, sai_error_t *err) SAI_MUST_CHECK;

/* Seal every regular file under in_dir (recursively, sorted; symlinks and
 * other file types are refused) into a new directory out_dir, built under a
 * temp name and renamed when complete. out_dir must not exist. id, if not
 * NULL, receives the dataset identity. */
int sai_dataset_seal_dir(const char *in_dir, const char *out_dir,
                         const uint8_t key[static SAI_SEAL_KEY_LEN],
                         const sai_seal_params_t *p, sai_progress_t *progress,
                         uint8_t id[SAI_SHA256_LEN], sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_dataset_t sai_dataset_t;

/* Read manifest.json and manifest.mac, verify the MAC in constant time,
 * then parse. The manifest is trusted only after this. */
int sai_dataset_open(sai_dataset_t **out, const char *dir,
                     const uint8_t key[static SAI_SEAL_KEY_LEN],
                     sai_error_t *err) SAI_MUST_CHECK;
/* Borrowed views, valid until sai_dataset_close. */
const sai_manifest_t *sai_dataset_manifest(const sai_dataset_t *d);
const uint8_t *sai_dataset_id(const sai_dataset_t *d);    /* 32 bytes */
/* Index of the shard named name, or -1. */
long sai_dataset_find(const sai_dataset_t *d, const char *name);
/* Open shard i: hashes the sealed file through the fd the reader then uses
 * and compares it with the manifest (a shard from another dataset or
 * another position fails with SAI_EAUTH), then checks key id and length
 * against the manifest. The reader is the caller's (sai_seal_close). */
int sai_dataset_open_shard(sai_dataset_t *d, size_t i, sai_seal_reader_t **out,
                           sai_error_t *err) SAI_MUST_CHECK;
/* The same with reader options (opts->map; the key id is always the
 * manifest's, whatever opts->expect_key_id says). */
int sai_dataset_open_shard_opts(sai_dataset_t *d, size_t i, const sai_seal_open_opts_t *opts,
                                sai_seal_reader_t **out, sai_error_t *err) SAI_MUST_CHECK;
void sai_dataset_close(sai_dataset_t *d);

/* ---- records of a sealed dataset ------------------------------------------------
 * Record k of a shard, decrypting only the chunks it spans. cifar10-bin and
 * idx shards have fixed-size records; TFRecord shards are addressed through
 * "<name>.sai-index", a sealed file written next to "<name>.sealed" when the
 * dataset is sealed: magic "SAI-TFRI", version, record count, the SHA-256 of
 * the sealed shard it indexes, then one u64 frame offset per record. Being
 * sealed under the data key and naming the shard's ciphertext hash (which the
 * MACed manifest pins), it cannot be swapped in from another dataset. A
 * dataset sealed without indexes is indexed at open by walking the frames.
 * Errors name the shard and the record; a shard that fails its hash check is
 * refused with the damaged chunk and the records in it named. */
#define SAI_DATASET_INDEX_SUFFIX ".sai-index"
#define SAI_DATASET_INDEX_MAGIC  "SAI-TFRI"
#define SAI_DATASET_RECORD_MAX   (256u << 20)

typedef struct sai_dataset_records_t sai_dataset_records_t;

/* d is borrowed until close. idx.gz and raw shards are SAI_EUNSUPP. */
int sai_dataset_records_open(sai_dataset_records_t **out, sai_dataset_t *d, size_t shard,
                             sai_error_t *err) SAI_MUST_CHECK;
uint64_t sai_dataset_records_count(const sai_dataset_records_t *r);
/* Record k: *data (valid until the next call on r) and *len. For TFRecord
 * the frame's CRCs are checked too and the record is its data only; for
 * cifar10-bin it is the 3073-byte record; for idx the k-th item. */
int sai_dataset_records_get(sai_dataset_records_t *r, uint64_t k, const uint8_t **data,
                            size_t *len, sai_error_t *err) SAI_MUST_CHECK;
void sai_dataset_records_close(sai_dataset_records_t *r);

/* Unseal a whole dataset into a new directory out_dir (temp name, renamed
 * when every shard verified). */
int sai_dataset_unseal_dir(const char *in_dir, const char *out_dir,
                           const uint8_t key[static SAI_SEAL_KEY_LEN],
                           sai_progress_t *progress, sai_error_t *err) SAI_MUST_CHECK;

#endif
