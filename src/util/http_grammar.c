/*
 * http_grammar.c — the HTTP/1.1 head grammar both strict head parsers use
 * (http_grammar.h): src/serve/http.c (request heads from anyone who
 * finished a TLS handshake) and src/kbs/http_response.c (the KBS's answers
 * over a dialed stream). Fuzzed through both: fuzz/fuzz_serve_http.c and
 * fuzz/fuzz_kbs_response.c.
 */
#include "util/http_grammar.h"

#include <string.h>
#include <strings.h>

bool sai_http_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

bool sai_http_field_char(unsigned char c)
{
    return c == ' ' || c == '\t' || (c > 0x20 && c < 0x7f);
}

bool sai_http_copy_trim(char *out, size_t cap, const uint8_t *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

int sai_http_parse_length(uint64_t *out, const char *v)
{
    uint64_t x = 0;
    if (*v == '\0' || strlen(v) > 15)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        x = x * 10 + (uint64_t)(*v - '0');
    }
    *out = x;
    return 0;
}

const char *sai_http_scan_head(const uint8_t *buf, size_t len, size_t max, size_t *end)
{
    size_t scan = len < max ? len : max;
    *end = 0;
    for (size_t i = 0; i + 3 < scan && *end == 0; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            *end = i + 4;
    for (size_t i = 0; i < (*end ? *end : scan); i++) {
        unsigned char c = buf[i];
        if (c == '\0' || (c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c >= 0x7f)
            return "control or non-ASCII byte";
        if (c == '\n' && (i == 0 || buf[i - 1] != '\r'))
            return "bare LF";
        if (c == '\r' && i + 1 < scan && buf[i + 1] != '\n')
            return "bare CR";
    }
    return NULL;
}

bool sai_http_next_line(const uint8_t *buf, size_t end, size_t *pos, const uint8_t **line, size_t *n)
{
    /* buf[0..end) ends in CRLFCRLF and every CR in it starts a CRLF, so the
     * line at *pos ends at the next CR; the one at end - 2 is the empty
     * line that closes the head. */
    if (end < 4 || *pos + 2 >= end)
        return false;
    const uint8_t *cr = memchr(buf + *pos, '\r', end - 2 - *pos);
    if (cr == NULL)
        return false;
    *line = buf + *pos;
    *n = (size_t)(cr - *line);
    *pos += *n + 2;
    return true;
}

const char *sai_http_split_field(const uint8_t *p, size_t n, size_t *name_len, const uint8_t **value,
                                 size_t *value_len)
{
    size_t i = 0;
    if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
        return "obsolete header line folding";
    while (i < n && sai_http_tchar(p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return "malformed header field";
    for (size_t j = i + 1; j < n; j++)
        if (!sai_http_field_char(p[j]))
            return "control byte in a header value";
    *name_len = i;
    *value = p + i + 1;
    *value_len = n - i - 1;
    return NULL;
}

bool sai_http_field_is(const uint8_t *p, size_t name_len, const char *name)
{
    return name_len == strlen(name) && strncasecmp((const char *)p, name, name_len) == 0;
}
