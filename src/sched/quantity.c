/*
 * quantity.c — Kubernetes resource quantities, exactly as apimachinery's
 * resource.ParseQuantity reads them (k8s.io/apimachinery/pkg/api/resource/
 * quantity.go), without floating point:
 *
 *   quantity  ::= sign? number suffix
 *   number    ::= digits | digits "." digits? | "." digits
 *   suffix    ::= "" | binarySI | decimalSI | ("e" | "E") sign? digits
 *   binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei
 *   decimalSI ::= n | u | m | k | M | G | T | P | E
 *
 * No spaces, no hex, no other suffix. The value is converted to an integer
 * count of a unit (milli-units or MiB) rounding up, as kube-scheduler does
 * (Quantity.MilliValue / Value round up), or down for node capacity.
 * Negative values parse but are refused here: the API server refuses
 * negative requests and allocatable. A value beyond SAI_K8S_QTY_MAX units
 * saturates to SAI_K8S_QTY_MAX (it fits no node; it is never wrapped or
 * turned into "no request").
 */
#include <string.h>

#include "sched/extender_internal.h"

typedef unsigned __int128 u128;
#define U128_LIMIT (((u128)1) << 120)

int sai_sched__quantity_parse(const char *s, sai_k8s_unit_t unit, bool round_up, int64_t *out)
{
    *out = 0;
    if (s == NULL)
        return -1;
    size_t len = strlen(s);
    if (len == 0 || len > SAI_K8S_QTY_MAX_CHARS)
        return -1;
    const char *p = s;
    if (*p == '+')
        p++;
    else if (*p == '-')
        return -1;                      /* negative: refused (see above) */
    /* digits, optional point, digits; at least one digit in all */
    u128 mant = 0;
    bool big = false;                   /* mantissa beyond U128_LIMIT */
    long exp10 = 0;                     /* value = mant * 10^exp10 * 2^exp2 */
    int ndig = 0;
    for (; *p >= '0' && *p <= '9'; p++, ndig++) {
        if (big) { exp10++; continue; }
        mant = mant * 10 + (u128)(*p - '0');
        if (mant >= U128_LIMIT) big = true;
    }
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++, ndig++) {
            if (big) continue;          /* dropped digits only matter for rounding */
            mant = mant * 10 + (u128)(*p - '0');
            exp10--;
            if (mant >= U128_LIMIT) big = true;
        }
    }
    if (ndig == 0)
        return -1;
    int exp2 = 0;
    if ((*p == 'e' || *p == 'E') && strcmp(p, "Ei") != 0) {
        /* "E" alone is the exa suffix; "e"/"E" followed by a signed integer is
         * a decimal exponent */
        if (strcmp(p, "E") == 0) {
            exp10 += 18;
        } else {
            const char *q = p + 1;
            bool neg = false;
            if (*q == '+' || *q == '-') { neg = *q == '-'; q++; }
            if (!(*q >= '0' && *q <= '9'))
                return -1;
            long e = 0;
            for (; *q >= '0' && *q <= '9'; q++)
                if (e < 100000) e = e * 10 + (*q - '0');
            if (*q != '\0')
                return -1;
            exp10 += neg ? -e : e;
        }
    } else if (*p != '\0') {
        static const struct { const char *suf; int e10, e2; } sufs[] = {
            {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
            {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0}, {"k", 3, 0}, {"M", 6, 0}, {"G", 9, 0},
            {"T", 12, 0}, {"P", 15, 0},
        };
        size_t i, n = sizeof sufs / sizeof sufs[0];
        for (i = 0; i < n; i++)
            if (strcmp(p, sufs[i].suf) == 0)
                break;
        if (i == n)
            return -1;
        exp10 += sufs[i].e10;
        exp2 += sufs[i].e2;
    }
    if (mant == 0) {
        *out = 0;
        return 0;
    }
    /* to the unit: milli -> *10^3; MiB -> /2^20 */
    if (unit == SAI_K8S_MILLI)
        exp10 += 3;
    else
        exp2 -= 20;
    /* num / den, exactly, saturating */
    u128 num = mant, den = 1;
    bool sat = false;
    for (; exp10 > 0 && !sat; exp10--) { if (num >= U128_LIMIT / 10) sat = true; else num *= 10; }
    for (; exp2 > 0 && !sat; exp2--) { if (num >= U128_LIMIT / 2) sat = true; else num *= 2; }
    if (sat) {
        *out = SAI_K8S_QTY_MAX;
        return 0;
    }
    bool tiny = false;
    for (; exp10 < 0; exp10++) { if (den >= U128_LIMIT / 10) { tiny = true; break; } den *= 10; }
    for (; exp2 < 0 && !tiny; exp2++) { if (den >= U128_LIMIT / 2) { tiny = true; break; } den *= 2; }
    u128 q, r;
    if (tiny) { q = 0; r = 1; }         /* below one unit, but not zero */
    else { q = num / den; r = num % den; }
    if (big && !tiny && q < (u128)SAI_K8S_QTY_MAX)
        r = r ? r : 1;                  /* digits were dropped: never exact */
    if (round_up && r != 0)
        q++;
    *out = q > (u128)SAI_K8S_QTY_MAX ? SAI_K8S_QTY_MAX : (int64_t)q;
    return 0;
}
