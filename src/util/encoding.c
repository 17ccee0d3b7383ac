/* encoding.c — hex and base64(url) for JSON envelopes and JOSE. */
#include "secureai/util.h"

#include <stdlib.h>
#include <string.h>

void sai_hex_encode(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sai_hex_decode(uint8_t *out, size_t out_len, const char *hex, sai_error_t *err)
{
    if (strlen(hex) != 2 * out_len)
        return sai_error_set(err, SAI_EINVAL, "expected %zu hex digits, got %zu",
                             2 * out_len, strlen(hex));
    for (size_t i = 0; i < out_len; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return sai_error_set(err, SAI_EINVAL, "invalid hex digit at position %zu", 2 * i);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int sai_b64url_encode(char **out, const uint8_t *in, size_t len, sai_error_t *err)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t olen = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0);
    char *s = malloc(olen + 1);
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    size_t j = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        s[j++] = tbl[v >> 18 & 63];
        s[j++] = tbl[v >> 12 & 63];
        s[j++] = tbl[v >> 6 & 63];
        s[j++] = tbl[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        s[j++] = tbl[v >> 18 & 63];
        s[j++] = tbl[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        s[j++] = tbl[v >> 18 & 63];
        s[j++] = tbl[v >> 12 & 63];
        s[j++] = tbl[v >> 6 & 63];
    }
    s[j] = '\0';
    *out = s;
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int sai_b64_decode(uint8_t **out, size_t *out_len, const char *in, size_t in_len, sai_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    while (in_len > 0 && in[in_len - 1] == '=')
        in_len--;
    if (in_len % 4 == 1)
        return sai_error_set(err, SAI_EFORMAT, "invalid base64 length");
    uint8_t *buf = malloc(in_len / 4 * 3 + 3);
    if (buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    size_t j = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in_len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0) {
            free(buf);
            return sai_error_set(err, SAI_EFORMAT, "invalid base64 character at %zu", i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[j++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = j;
    return 0;
}
