/*
 * http_grammar.h — the HTTP/1.1 message-head grammar (RFC 9112, RFC 9110)
 * shared by the project's two strict head parsers: the model server's
 * request heads (src/serve/http.c) and the KBS client's response heads
 * over a stream someone else connected (src/kbs/http_response.c). They sit
 * in different modules (kbs must not depend on serve), so the grammar lives
 * here, once. Pure functions over bytes; no allocation, no messages (each
 * parser words its own refusals).
 *
 * What the grammar accepts is deliberately narrow: lines end in CRLF only,
 * no NUL, control (other than HTAB) or non-ASCII byte anywhere in a head,
 * header names are tokens, no obsolete line folding.
 */
#ifndef SAI_UTIL_HTTP_GRAMMAR_H
#define SAI_UTIL_HTTP_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A token's byte (RFC 9110 tchar). */
bool sai_http_tchar(unsigned char c);

/* A field value's byte: visible ASCII, SP or HTAB (obs-text refused). */
bool sai_http_field_char(unsigned char c);

/* Copy [p, p+n) into out (cap includes the NUL), trimmed of SP/HTAB on both
 * sides; false (out untouched) when the trimmed value does not fit. */
bool sai_http_copy_trim(char *out, size_t cap, const uint8_t *p, size_t n);

/* Content-Length: 1 to 15 decimal digits, nothing else (so no sign, no
 * list, and no overflow: 10^15 - 1 fits any uint64_t arithmetic after). */
int sai_http_parse_length(uint64_t *out, const char *v);

/* Look for the end of a head (the first CRLFCRLF) in the first
 * min(len, max) bytes of buf: *end is the offset just past it, or 0 when
 * not there yet. Every byte up to the end (all scanned bytes when there is
 * none yet) is checked, so garbage is refused before a whole head arrived.
 * NULL when all is well, else what the first bad byte is ("bare LF", ...),
 * for the caller's sentence ("<that> in the request head"). A CR in the
 * last scanned byte is not yet bare (its LF may follow). */
const char *sai_http_scan_head(const uint8_t *buf, size_t len, size_t max, size_t *end);

/* The lines of a head buf[0..end) that sai_http_scan_head accepted, without
 * the final empty line: start with *pos = 0; each call sets *line and *n
 * (without its CRLF) and returns true, false after the last one. */
bool sai_http_next_line(const uint8_t *buf, size_t end, size_t *pos, const uint8_t **line, size_t *n);

/* Split the header line p[0..n) "name: value": the name is p[0..*name_len),
 * the value [*value, *value + *value_len) is still untrimmed. NULL when it
 * is a field, else what is wrong with it ("malformed header field", ...),
 * for the caller's sentence. */
const char *sai_http_split_field(const uint8_t *p, size_t n, size_t *name_len, const uint8_t **value,
                                 size_t *value_len);

/* Whether the field name p[0..name_len) is name, ignoring case. */
bool sai_http_field_is(const uint8_t *p, size_t name_len, const char *name);

#endif
