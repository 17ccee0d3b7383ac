/*
 * test_http.c — the model server's request-head parser (src/serve/http.c)
 * on the cases docs/serving.md names: what it accepts, when it waits for
 * more, and the status each refusal answers with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "secureai/serve.h"

static int parse(const char *s, sai_http_req_t *r, bool *complete, int *status)
{
    sai_error_t err = {0};
    return sai_http_parse_head(r, (const uint8_t *)s, strlen(s), complete, status, &err);
}

static void test_accepts(void **state)
{
    (void)state;
    sai_http_req_t r;
    bool c;
    int st;
    const char *req = "POST /v1/predict?top=3 HTTP/1.1\r\nHost: x\r\ncontent-length: 784\r\n"
                      "Content-Type:  application/x-secureai-u8 \r\nX-Shape: 1,1,28,28\r\nConnection: close\r\n\r\nBODY";
    assert_int_equal(parse(req, &r, &c, &st), 0);
    assert_true(c);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.path, "/v1/predict");
    assert_string_equal(r.query, "top=3");
    assert_true(r.has_length);
    assert_int_equal(r.content_length, 784);
    assert_string_equal(r.content_type, "application/x-secureai-u8");
    assert_string_equal(r.shape, "1,1,28,28");
    assert_true(r.close);
    assert_int_equal(r.head_len, strlen(req) - 4);
}

static void test_waits_for_more(void **state)
{
    (void)state;
    sai_http_req_t r;
    bool c = true;
    int st;
    assert_int_equal(parse("GET /healthz HTTP/1.1\r\nHost: x\r\n", &r, &c, &st), 0);
    assert_false(c);
    assert_int_equal(parse("GET /hea", &r, &c, &st), 0);
    assert_false(c);
}

static void expect(const char *req, int code, int status)
{
    sai_http_req_t r;
    bool c = false;
    int st = 0;
    assert_int_equal(parse(req, &r, &c, &st), code);
    assert_int_equal(st, status);
    assert_false(c);
}

static void test_refusals(void **state)
{
    (void)state;
    expect("GET /x HTTP/1.1\nHost: x\r\n\r\n", SAI_EINVAL, 400);                    /* bare LF */
    expect("GET /x HTTP/1.1\r\nHost: x\rY\r\n\r\n", SAI_EINVAL, 400);                 /* bare CR */
    expect("GET /x HTTP/1.1\r\nA: 1\r\n  folded\r\n\r\n", SAI_EINVAL, 400);          /* obs-fold */
    expect("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", SAI_EINVAL, 400);
    expect("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", SAI_EINVAL, 400);
    expect("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", SAI_EINVAL, 400);
    expect("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", SAI_EUNSUPP, 501);
    expect("GET /x HTTP/1.0\r\n\r\n", SAI_EUNSUPP, 505);
    expect("GET http://a/x HTTP/1.1\r\n\r\n", SAI_EINVAL, 400);                      /* absolute-form */
    expect("GARBAGE\x01\r\n\r\n", SAI_EINVAL, 400);                                 /* refused at once */
    expect("GET /x HTTP/1.1\r\nBad Name: 1\r\n\r\n", SAI_EINVAL, 400);
    expect("GET /x HTTP/1.1\r\nA: \x7f\r\n\r\n", SAI_EINVAL, 400);
    expect("\r\n\r\n", SAI_EINVAL, 400);
}

static void test_limits(void **state)
{
    (void)state;
    char big[SAI_HTTP_HEAD_MAX + 64];
    int n = snprintf(big, sizeof big, "GET /x HTTP/1.1\r\nA: ");
    memset(big + n, 'a', sizeof big - (size_t)n - 1);
    big[sizeof big - 1] = '\0';
    expect(big, SAI_ELIMIT, 431);                                                   /* never ends */
    char many[4096];
    size_t m = (size_t)snprintf(many, sizeof many, "GET /x HTTP/1.1\r\n");
    for (int i = 0; i < 65; i++)
        m += (size_t)snprintf(many + m, sizeof many - m, "H%d: v\r\n", i);
    snprintf(many + m, sizeof many - m, "\r\n");
    expect(many, SAI_ELIMIT, 431);
    char path[400] = "GET /";
    memset(path + 5, 'p', 300);
    snprintf(path + 305, sizeof path - 305, " HTTP/1.1\r\n\r\n");
    expect(path, SAI_ELIMIT, 414);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_waits_for_more),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
