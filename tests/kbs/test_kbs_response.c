/*
 * test_kbs_response.c — the KBS client's response-head parser
 * (src/kbs/http_response.c), which reads the KBS's answers over a stream
 * someone else connected: what it accepts and what it reports, when it waits
 * for more bytes, and each refusal with its sentence (docs/kbs.md, "Over a
 * stream someone else connected"). No network: the parser is a pure
 * function; test_kbs_counter's test_over_dialed_stream runs it against the
 * real KBS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kbs/kbs_internal.h"

static int parse_n(const char *s, size_t n, sai_kbs_resp_head_t *h, bool *complete, sai_error_t *err)
{
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    memcpy(b, s, n);
    int rc = sai_kbs__parse_response_head(h, b, n, complete, err);
    free(b);
    return rc;
}

static int parse(const char *s, sai_kbs_resp_head_t *h, bool *complete)
{
    sai_error_t err = {0};
    return parse_n(s, strlen(s), h, complete, &err);
}

static void test_accepts(void **state)
{
    (void)state;
    sai_kbs_resp_head_t h;
    bool c = false;
    /* what this KBS (evhttp) sends, body bytes behind the head */
    const char *a = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length:  17 \r\n"
                    "Date: Mon, 07 Dec 2026 08:36:02 GMT\r\n\r\n{\"value\": \"1\"}...";
    assert_int_equal(parse(a, &h, &c), 0);
    assert_true(c);
    assert_int_equal(h.status, 200);
    assert_true(h.has_length);
    assert_int_equal(h.content_length, 17);
    assert_false(h.close);
    assert_true(h.retry_after < 0);
    assert_string_equal(h.cookie, "");
    assert_int_equal(h.head_len, strstr(a, "{") - a);

    /* no reason phrase, with or without its SP; Content-Length 0 */
    assert_int_equal(parse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", &h, &c), 0);
    assert_true(c);
    assert_int_equal(h.status, 404);
    assert_true(h.has_length);
    assert_int_equal(h.content_length, 0);
    assert_int_equal(parse("HTTP/1.1 500 \r\nContent-Length: 3\r\n\r\n", &h, &c), 0);
    assert_int_equal(h.status, 500);
    assert_int_equal(h.content_length, 3);

    /* Connection: close without a length: the end of the stream ends the body */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", &h, &c), 0);
    assert_true(c);
    assert_true(h.close);
    assert_false(h.has_length);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 2\r\n\r\n", &h, &c),
                     0);
    assert_true(h.close);
    /* HTTP/1.0 closes unless it says keep-alive */
    assert_int_equal(parse("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", &h, &c), 0);
    assert_true(h.close);
    assert_int_equal(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", &h, &c), 0);
    assert_false(h.close);

    /* the same Content-Length twice is one length */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h, &c), 0);
    assert_int_equal(h.content_length, 5);
    /* Transfer-Encoding: identity is no encoding */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\n", &h, &c),
                     0);
    /* 204 has no body, whatever it says */
    assert_int_equal(parse("HTTP/1.1 204 No Content\r\n\r\n", &h, &c), 0);
    assert_true(h.has_length);
    assert_int_equal(h.content_length, 0);

    /* Retry-After in seconds; an HTTP-date is no delay the client can use */
    assert_int_equal(parse("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n", &h, &c),
                     0);
    assert_int_equal(h.status, 429);
    assert_true(h.retry_after == 1.0);
    assert_int_equal(parse("HTTP/1.1 503 x\r\nRetry-After: 0.25\r\nContent-Length: 0\r\n\r\n", &h, &c), 0);
    assert_true(h.retry_after == 0.25);
    assert_int_equal(parse("HTTP/1.1 503 x\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n"
                           "Content-Length: 0\r\n\r\n", &h, &c), 0);
    assert_true(h.retry_after < 0);
    assert_int_equal(parse("HTTP/1.1 503 x\r\nRetry-After: -1\r\nContent-Length: 0\r\n\r\n", &h, &c), 0);
    assert_true(h.retry_after < 0);

    /* Trustee's session cookie, after another cookie */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nSet-Cookie: other=1\r\nSet-Cookie: kbs-session-id="
                           "0123456789abcdef0123456789abcdef; Expires=Mon, 07 Dec 2026 09:00:00 GMT\r\n"
                           "Content-Length: 0\r\n\r\n", &h, &c), 0);
    assert_string_equal(h.cookie, "0123456789abcdef0123456789abcdef");
    /* one too long for the client, or not cookie-octets: not a session */
    char big[160];
    snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nSet-Cookie: kbs-session-id=%040d\r\nContent-Length: 0\r\n\r\n", 7);
    assert_int_equal(parse(big, &h, &c), 0);
    assert_string_equal(h.cookie, "");
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nSet-Cookie: kbs-session-id=\"a\"\r\nContent-Length: 0\r\n\r\n", &h, &c),
                     0);
    assert_string_equal(h.cookie, "");
}

static void test_waits_for_more(void **state)
{
    (void)state;
    sai_kbs_resp_head_t h;
    bool c = true;
    const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
    sai_error_t err = {0};
    /* every proper prefix is "not yet", never an answer and never a refusal */
    for (size_t n = 0; n < strlen(a); n++) {
        assert_int_equal(parse_n(a, n, &h, &c, &err), 0);
        assert_false(c);
    }
    assert_int_equal(parse_n(a, strlen(a), &h, &c, &err), 0);
    assert_true(c);
    assert_int_equal(h.head_len, strlen(a));
}

/* rc, and the sentence in err */
static void refused(const char *head, size_t n, int code, const char *sentence)
{
    sai_kbs_resp_head_t h;
    bool c = true;
    sai_error_t err = {0};
    int rc = parse_n(head, n, &h, &c, &err);
    if (rc != code || strstr(err.msg, sentence) == NULL)
        fail_msg("%.*s: got %d \"%s\", want %d \"%s\"", (int)(n < 40 ? n : 40), head, rc, err.msg, code, sentence);
    assert_false(c);
}

#define OK200 "HTTP/1.1 200 OK\r\n"
#define CASE(s, code, sentence) {s, sizeof s - 1, code, sentence}
#define BYTE "control or non-ASCII byte in the KBS's response head"
#define NOT_HTTP "the KBS's answer is not HTTP/1.x (malformed status line)"
#define NOT_3 "the KBS's status code is not three digits"
#define FIELD "malformed header field in the KBS's answer"
#define NAN_LEN "the KBS's Content-Length is not a number"
static const struct {
    const char *head;
    size_t      n;
    int         code;
    const char *sentence;
} refusals[] = {
    /* line ends and bytes; a NUL no longer cuts the head short */
    CASE("HTTP/1.1 200 OK\nContent-Length: 0\n\n", SAI_EFORMAT, "bare LF in the KBS's response head"),
    CASE(OK200 "Content-Length: 0\n\r\n", SAI_EFORMAT, "bare LF in the KBS's response head"),
    CASE("HTTP/1.1 200 OK\rX: y\r\n\r\n", SAI_EFORMAT, "bare CR in the KBS's response head"),
    CASE(OK200 "X: a\0b\r\nContent-Length: 0\r\n\r\n", SAI_EFORMAT, BYTE),
    CASE(OK200 "X: \x7f\r\n\r\n", SAI_EFORMAT, BYTE),
    CASE(OK200 "X: caf\xc3\xa9\r\n\r\n", SAI_EFORMAT, BYTE),
    /* status lines */
    CASE("HTTP/2 200 OK\r\n\r\n", SAI_EFORMAT, NOT_HTTP),
    CASE("HTTP/1.2 200 OK\r\n\r\n", SAI_EFORMAT, NOT_HTTP),
    CASE("http/1.1 200 OK\r\n\r\n", SAI_EFORMAT, NOT_HTTP),
    CASE("HTTP/1.1 20 OK\r\n\r\n", SAI_EFORMAT, NOT_HTTP),
    CASE("HTTP/1.1 2000 OK\r\n\r\n", SAI_EFORMAT, NOT_HTTP),
    CASE("\r\n\r\n", SAI_EFORMAT, NOT_HTTP),
    CASE("HTTP/1.1  20 OK\r\n\r\n", SAI_EFORMAT, NOT_3),
    CASE("HTTP/1.1 2x0 OK\r\n\r\n", SAI_EFORMAT, NOT_3),
    CASE("HTTP/1.1 099 OK\r\n\r\n", SAI_EFORMAT, "the KBS's status code 99 is outside 100-599"),
    CASE("HTTP/1.1 600 OK\r\n\r\n", SAI_EFORMAT, "the KBS's status code 600 is outside 100-599"),
    CASE("HTTP/1.1 100 Continue\r\n\r\n", SAI_EFORMAT, "the KBS sent an interim answer (100)"),
    /* header fields */
    CASE(OK200 "Content-Length 0\r\n\r\n", SAI_EFORMAT, FIELD),
    CASE(OK200 "Content-Length : 0\r\n\r\n", SAI_EFORMAT, FIELD),
    CASE(OK200 ": 0\r\n\r\n", SAI_EFORMAT, FIELD),
    CASE(OK200 "X(y): 0\r\n\r\n", SAI_EFORMAT, FIELD),
    CASE(OK200 "Content-Length: 0\r\n X: folded\r\n\r\n", SAI_EFORMAT,
         "obsolete header line folding in the KBS's answer"),
    /* the body's length */
    CASE(OK200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", SAI_EFORMAT,
         "the KBS's answer has two different Content-Lengths"),
    CASE(OK200 "Content-Length: -1\r\n\r\n", SAI_EFORMAT, NAN_LEN),
    CASE(OK200 "Content-Length: +1\r\n\r\n", SAI_EFORMAT, NAN_LEN),
    CASE(OK200 "Content-Length: 5, 5\r\n\r\n", SAI_EFORMAT, NAN_LEN),
    CASE(OK200 "Content-Length:\r\n\r\n", SAI_EFORMAT, NAN_LEN),
    CASE(OK200 "Content-Length: 18446744073709551617\r\n\r\n", SAI_EFORMAT,
         "the KBS's Content-Length has more than 15 digits"),
    CASE(OK200 "Transfer-Encoding: chunked\r\n\r\n", SAI_EUNSUPP,
         "the KBS's answer has Transfer-Encoding \"chunked\""),
    CASE(OK200 "Content-Length: 4\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", SAI_EUNSUPP,
         "the KBS's answer has Transfer-Encoding \"gzip, chunked\""),
    CASE(OK200 "Content-Type: application/json\r\n\r\n", SAI_EFORMAT,
         "the KBS's answer has no length (no Content-Length, no Connection: close)"),
};

static void test_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        refused(refusals[i].head, refusals[i].n, refusals[i].code, refusals[i].sentence);

    /* limits: a head that does not end within 16 KiB, too many fields */
    size_t n = SAI_KBS_RESP_HEAD_MAX + 100;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', n - 20);
    big[n] = '\0';
    refused(big, n, SAI_ELIMIT, "the KBS's answer has no end of its headers within 16 KiB");
    /* below the limit it is only "not yet" */
    sai_kbs_resp_head_t h;
    bool c = true;
    sai_error_t err = {0};
    assert_int_equal(parse_n(big, SAI_KBS_RESP_HEAD_MAX - 1, &h, &c, &err), 0);
    assert_false(c);
    size_t off = (size_t)snprintf(big, n, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
    for (unsigned i = 0; i < SAI_KBS_RESP_HEADERS_MAX; i++)
        off += (size_t)snprintf(big + off, n - off, "X: %u\r\n", i);
    off += (size_t)snprintf(big + off, n - off, "\r\n");
    refused(big, off, SAI_ELIMIT, "the KBS's answer has more than 100 header fields");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_waits_for_more),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
