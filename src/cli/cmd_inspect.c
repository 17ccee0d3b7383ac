/*
 * cmd_inspect.c — `secureai inspect`: the header of a sealed file or the
 * manifest and identity of a sealed dataset. Never decrypts, never prints
 * plaintext. Without --key nothing shown is authenticated (it says so);
 * with --key the dataset manifest's MAC, or the sealed file's chunks, are
 * verified first.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "secureai/seal.h"

static const char usage[] =
    "usage: secureai inspect [--json] [--key KEYFILE] FILE|DIR\n"
    "\n"
    "Show a sealed file's header (version, key id, chunk size, length, chunks,\n"
    "salt) or a sealed dataset's manifest and dataset identity. Never prints\n"
    "plaintext. Without --key the fields are shown unauthenticated; with --key\n"
    "a file's chunks or a dataset's manifest MAC are verified first.\n"
    "\n"
    "  --json           machine-readable output\n"
    "  --key KEYFILE    verify before showing\n";

static int inspect_file(const char *path, const sai_secret_t *key, bool json)
{
    sai_error_t err = {0};
    sai_seal_header_t h;
    uint64_t fsize = 0;
    if (sai_seal_inspect(path, &h, &fsize, &err) != 0)
        return sai_cli_fail(&err, "inspect");
    const char *verified = "not checked (no --key)";
    if (key != NULL) {
        sai_seal_reader_t *r = NULL;
        int rc = sai_seal_open(&r, path, key->data, NULL, &err);
        if (rc == 0)
            rc = sai_seal_verify(r, NULL, &err);
        sai_seal_close(r);
        if (rc != 0)
            return sai_cli_fail(&err, "inspect");
        verified = "every chunk verified";
    }
    char salt[2 * SAI_SEAL_SALT_LEN + 1];
    sai_hex_encode(salt, h.salt, sizeof h.salt);
    const char *layout = fsize == h.sealed_len ? "ok" : "size differs from header (truncated or extended)";
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", "sealed-file");
        cJSON_AddNumberToObject(o, "version", h.version);
        cJSON_AddStringToObject(o, "key_id", h.key_id);
        cJSON_AddNumberToObject(o, "chunk_size", h.chunk_size);
        cJSON_AddNumberToObject(o, "length", (double)h.length);
        cJSON_AddNumberToObject(o, "chunks", (double)h.chunks);
        cJSON_AddNumberToObject(o, "header_len", (double)h.header_len);
        cJSON_AddStringToObject(o, "salt", salt);
        cJSON_AddNumberToObject(o, "file_size", (double)fsize);
        cJSON_AddBoolToObject(o, "size_ok", fsize == h.sealed_len);
        cJSON_AddBoolToObject(o, "verified", key != NULL);
        char *s = cJSON_PrintUnformatted(o);
        if (s != NULL)
            puts(s);
        free(s);
        cJSON_Delete(o);
        return 0;
    }
    printf("sealed file  %s\n", path);
    printf("version      %u\n", h.version);
    printf("key id       %s\n", h.key_id);
    printf("chunk size   %u\n", h.chunk_size);
    printf("length       %llu bytes (plaintext)\n", (unsigned long long)h.length);
    printf("chunks       %llu\n", (unsigned long long)h.chunks);
    printf("header       %zu bytes\n", h.header_len);
    printf("salt         %s\n", salt);
    printf("file size    %llu bytes: %s\n", (unsigned long long)fsize, layout);
    printf("verified     %s\n", verified);
    return 0;
}

static int inspect_dir(const char *dir, const sai_secret_t *key, bool json)
{
    sai_error_t err = {0};
    char path[4096];
    uint8_t *buf = NULL;
    size_t len = 0;
    sai_manifest_t m;
    uint8_t id[SAI_SHA256_LEN];
    char idhex[2 * SAI_SHA256_LEN + 1];
    snprintf(path, sizeof path, "%s/%s", dir, SAI_DATASET_MANIFEST);
    if (key != NULL) {
        sai_dataset_t *d = NULL;
        if (sai_dataset_open(&d, dir, key->data, &err) != 0)
            return sai_cli_fail(&err, "inspect");
        sai_dataset_close(d);
    }
    if (sai_read_file(path, SAI_DATASET_MANIFEST_MAX, &buf, &len, &err) != 0)
        return sai_cli_fail(&err, "inspect");
    if (sai_manifest_parse(&m, buf, len, &err) != 0 || sai_hash(SAI_SHA256, id, buf, len, &err) != 0) {
        free(buf);
        return sai_cli_fail(&err, "inspect: %s", path);
    }
    free(buf);
    sai_hex_encode(idhex, id, sizeof id);
    uint64_t total = 0, recs = 0;
    for (size_t i = 0; i < m.n_shards; i++) {
        total += m.shards[i].size;
        recs += m.shards[i].records;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *a;
        char hx[2 * SAI_SHA256_LEN + 1];
        cJSON_AddStringToObject(o, "kind", "sealed-dataset");
        cJSON_AddStringToObject(o, "dataset_id", idhex);
        cJSON_AddBoolToObject(o, "mac_verified", key != NULL);
        cJSON_AddStringToObject(o, "key_id", m.key_id);
        cJSON_AddNumberToObject(o, "chunk_size", m.chunk_size);
        a = cJSON_AddArrayToObject(o, "shards");
        for (size_t i = 0; i < m.n_shards; i++) {
            cJSON *s = cJSON_CreateObject();
            sai_hex_encode(hx, m.shards[i].sha256, SAI_SHA256_LEN);
            cJSON_AddStringToObject(s, "name", m.shards[i].name);
            cJSON_AddNumberToObject(s, "size", (double)m.shards[i].size);
            cJSON_AddStringToObject(s, "sha256", hx);
            cJSON_AddStringToObject(s, "format", sai_record_format_name(m.shards[i].format));
            cJSON_AddNumberToObject(s, "records", (double)m.shards[i].records);
            cJSON_AddItemToArray(a, s);
        }
        char *txt = cJSON_PrintUnformatted(o);
        if (txt != NULL)
            puts(txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        printf("sealed dataset  %s\n", dir);
        printf("dataset id      sha256:%s\n", idhex);
        printf("manifest MAC    %s\n", key ? "verified" : "not checked (no --key)");
        printf("key id          %s\n", m.key_id);
        printf("chunk size      %u\n", m.chunk_size);
        printf("shards          %zu, %llu bytes, %llu records\n", m.n_shards,
               (unsigned long long)total, (unsigned long long)recs);
        for (size_t i = 0; i < m.n_shards; i++) {
            char hx[2 * SAI_SHA256_LEN + 1];
            sai_hex_encode(hx, m.shards[i].sha256, SAI_SHA256_LEN);
            printf("  %-40s %12llu bytes  %-11s %8llu records  sha256:%.16s…\n",
                   m.shards[i].name, (unsigned long long)m.shards[i].size,
                   sai_record_format_name(m.shards[i].format),
                   (unsigned long long)m.shards[i].records, hx);
        }
    }
    sai_manifest_clear(&m);
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'}, {0}};
    bool json = false;
    const char *keyfile = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jk:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'k': keyfile = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("inspect: bad option");
        }
    }
    if (argc - optind != 1)
        return sai_cli_usage_error("inspect: expected one FILE or DIR");
    const char *in = argv[optind];
    sai_error_t err = {0};
    sai_secret_t *key = NULL;
    if (keyfile != NULL && sai_seal_key_load(&key, keyfile, &err) != 0)
        return sai_cli_fail(&err, "inspect");
    struct stat st;
    int ret;
    if (stat(in, &st) != 0)
        ret = sai_cli_fail(NULL, "inspect: cannot open %s: %s", in, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        ret = inspect_dir(in, key, json);
    else
        ret = inspect_file(in, key, json);
    sai_secret_free(key);
    return ret;
}

const sai_cmd_t sai_cmd_inspect = {"inspect", "show a sealed file's header or a dataset's manifest",
                                   usage, run};
