/*
 * config.c — kbs.yaml: a flat map of scalars over the defaults. Unknown keys
 * are an error (a misspelt limit must not silently fall back to a default).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "kbs/kbs_internal.h"

void sai_kbs_config_defaults(sai_kbs_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_addr, sizeof c->listen_addr, "127.0.0.1");
    c->port = 8443;
    snprintf(c->data_dir, sizeof c->data_dir, "kbs-data");
    c->threads = 2;
    c->max_body = 512 * 1024;
    c->header_timeout_s = 10;
    c->idle_timeout_s = 30;
    c->max_connections = 512;
    c->max_connections_per_addr = 64;
    c->max_handshakes = 128;
    c->max_handshakes_per_addr = 16;
    c->handshake_timeout_s = 5;
    /* A node's TEEs share one address: 64 of them each running a flow
     * (auth, attest, resource) at the same moment is a burst of 192
     * requests, two keys each 384; sustained, 200 requests/s is ~66
     * flows/s, a quarter of what the server does on 2 cores, so one
     * address cannot take it all (docs/kbs.md, Limits). */
    c->rate_per_s = 200;
    c->rate_burst = 400;
    c->max_sessions = 16384;
    c->max_sessions_per_addr = 256;
    c->nonce_ttl_s = 15;
    c->token_ttl_s = 300;
}

static int set_str(char *dst, size_t cap, const char *v, const char *k, sai_error_t *err)
{
    if (strlen(v) >= cap)
        return sai_error_set(err, SAI_ELIMIT, "config: %s is too long", k);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_num(double *dst, const char *v, double lo, double hi, const char *k, sai_error_t *err)
{
    char *end = NULL;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || d < lo || d > hi)
        return sai_error_set(err, SAI_EINVAL, "config: %s must be a number in %g..%g", k, lo, hi);
    *dst = d;
    return 0;
}

static int apply(sai_kbs_config_t *c, const char *k, const char *v, sai_error_t *err)
{
    double d = 0;
    int rc;
#define STR(name) if (strcmp(k, #name) == 0) return set_str(c->name, sizeof c->name, v, k, err)
#define NUM(name, lo, hi, T)                                    \
    if (strcmp(k, #name) == 0) {                                \
        if ((rc = set_num(&d, v, lo, hi, k, err)) == 0) {       \
            c->name = (T)d;                                     \
        }                                                       \
        return rc;                                              \
    }
    STR(listen_addr);
    STR(data_dir);
    STR(tls_cert);
    STR(tls_key);
    STR(admin_token_file);
    STR(attestation_policy);
    STR(seal_master_key);
    STR(enclave_writable);
    NUM(port, 0, 65535, int);
    NUM(threads, 1, 64, int);
    NUM(max_body, 1024, 64 << 20, size_t);
    NUM(header_timeout_s, 1, 3600, int);
    NUM(idle_timeout_s, 1, 3600, int);
    NUM(max_connections, 1, 1 << 20, int);
    NUM(max_connections_per_addr, 1, 1 << 20, int);
    NUM(max_handshakes, 1, 1 << 20, int);
    NUM(max_handshakes_per_addr, 1, 1 << 20, int);
    NUM(handshake_timeout_s, 1, 3600, int);
    NUM(max_sessions, 1, 1 << 22, int);
    NUM(max_sessions_per_addr, 1, 1 << 22, int);
    NUM(rate_per_s, 0, 1e9, double);
    NUM(rate_burst, 0, 1e9, double);
    NUM(nonce_ttl_s, 1, 86400, int);
    NUM(token_ttl_s, 1, 86400, int);
#undef STR
#undef NUM
    if (strcmp(k, "insecure_http") == 0 || strcmp(k, "quiet") == 0 ||
        strcmp(k, "accept_audit_cut") == 0) {
        bool b = strcmp(v, "true") == 0 || strcmp(v, "yes") == 0;
        if (!b && strcmp(v, "false") != 0 && strcmp(v, "no") != 0)
            return sai_error_set(err, SAI_EINVAL, "config: %s must be true or false", k);
        if (k[0] == 'i')
            c->insecure_http = b;
        else if (k[0] == 'q')
            c->quiet = b;
        else
            c->accept_audit_cut = b;
        return 0;
    }
    return sai_error_set(err, SAI_EINVAL, "config: unknown key \"%s\"", k);
}

static bool is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 || strcmp(addr, "localhost") == 0;
}

int sai_kbs_config_check(const sai_kbs_config_t *c, sai_error_t *err)
{
    if (c->insecure_http && !is_loopback(c->listen_addr))
        return sai_error_set(err, SAI_EPOLICY, "--insecure-http is only allowed on a loopback "
                             "address, not %s", c->listen_addr);
    if (c->port < 0 || c->port > 65535 || c->threads < 1 || c->threads > 64)
        return sai_error_set(err, SAI_EINVAL, "port or threads out of range");
    if (c->max_connections < 1 || c->max_connections_per_addr < 1 || c->max_handshakes < 1 ||
        c->max_handshakes_per_addr < 1 || c->handshake_timeout_s < 1 || c->max_sessions < 1 ||
        c->max_sessions_per_addr < 1)
        return sai_error_set(err, SAI_EINVAL, "connection, handshake and session limits must be at least 1");
    return 0;
}

int sai_kbs_config_load(sai_kbs_config_t *c, const char *path, sai_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return sai_error_set(err, SAI_EIO, "cannot open %s", path);
    yaml_parser_t p;
    yaml_event_t ev;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = 0, depth = 0;
    char key[128] = "";
    bool have_key = false, done = false;
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = sai_error_set(err, SAI_EFORMAT, "%s: YAML error at line %zu: %s", path,
                               p.problem_mark.line + 1, p.problem ? p.problem : "?");
            break;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            if (++depth > 1)
                rc = sai_error_set(err, SAI_EFORMAT, "%s: nested maps are not supported", path);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = sai_error_set(err, SAI_EFORMAT, "%s: lists are not supported", path);
            break;
        case YAML_SCALAR_EVENT: {
            const char *s = (const char *)ev.data.scalar.value;
            if (!have_key) {
                if (strlen(s) >= sizeof key)
                    rc = sai_error_set(err, SAI_EFORMAT, "%s: key too long", path);
                else
                    memcpy(key, s, strlen(s) + 1);
                have_key = true;
            } else {
                rc = apply(c, key, s, err);
                if (rc != 0)
                    sai_error_prefix(err, "%s", path);
                have_key = false;
            }
            break;
        }
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}
