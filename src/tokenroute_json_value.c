
/*
 * Copyright (C) tokenroute authors
 *
 * The values of the JSON tokens tokenroute_json_scan.c accepts: the number
 * grammar with yajl's overflow verdicts, string unescaping as
 * yajl_string_decode() does it, and integers.  Plain C: no nginx
 * dependency.
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_json_value.h"


#define tr_json_digit(c)  ((c) >= '0' && (c) <= '9')

/*
 * A double's decimal digits kept for strtod(): more than DBL_MAX's 309,
 * so that a 1 standing for the dropped ones rounds as they would.
 */
#define TR_JSON_DIGITS   400


static int tr_json_huge(const unsigned char *p, const unsigned char *last);


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? */

const unsigned char *
tokenroute_json_number(const unsigned char *p, const unsigned char *last,
    tokenroute_json_token_e *t)
{
    int                   e;
    size_t                n;
    const unsigned char  *q, *start, *digits;

    start = p;

    if (*p == '-') {
        p++;
    }

    digits = p;

    if (p == last || !tr_json_digit(*p)) {
        return NULL;
    }

    if (*p++ != '0') {
        while (p < last && tr_json_digit(*p)) {
            p++;
        }
    }

    n = p - digits;
    e = 0;
    *t = TOKENROUTE_JSON_INTEGER;

    if (p < last && *p == '.') {
        q = ++p;

        while (p < last && tr_json_digit(*p)) {
            p++;
        }

        if (p == q) {
            return NULL;
        }

        *t = TOKENROUTE_JSON_DOUBLE;
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        q = p;

        while (p < last && tr_json_digit(*p)) {
            p++;
        }

        if (p == q) {
            return NULL;
        }

        e = 1;
        *t = TOKENROUTE_JSON_DOUBLE;
    }

    /* yajl rejects what its strtoll() and strtod() cannot hold */

    if (*t == TOKENROUTE_JSON_INTEGER) {
        if (n > 19
            || (n == 19 && memcmp(digits, "9223372036854775807", 19) > 0))
        {
            return NULL;
        }

    } else if ((e || n > 308) && tr_json_huge(start, p)) {
        return NULL;
    }

    return p;
}


/*
 * Whether strtod() overflows on a valid number, as it does in yajl: the
 * significant digits, at most TR_JSON_DIGITS of them and then a 1 for
 * any non-zero ones dropped, with the exponent adjusted, so that a long
 * text needs no long buffer.  Rare: an exponent, or 309 digits before
 * the point.
 */

static int
tr_json_huge(const unsigned char *p, const unsigned char *last)
{
    int       n, sticky, neg;
    double    d;
    int64_t   scale, e;
    char      buf[TR_JSON_DIGITS + 32];

    n = 0;
    sticky = 0;
    scale = 0;

    if (*p == '-') {
        p++;
    }

    for ( /* void */ ; p < last && tr_json_digit(*p); p++) {
        if (n == 0 && *p == '0') {
            continue;
        }

        if (n < TR_JSON_DIGITS) {
            buf[n++] = *p;

        } else {
            scale++;
            sticky |= (*p != '0');
        }
    }

    if (p < last && *p == '.') {
        for (p++; p < last && tr_json_digit(*p); p++) {
            if (n < TR_JSON_DIGITS) {
                if (n || *p != '0') {
                    buf[n++] = *p;
                }

                scale--;

            } else {
                sticky |= (*p != '0');
            }
        }
    }

    e = 0;
    neg = 0;

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (*p == '-' || *p == '+') {
            neg = (*p++ == '-');
        }

        /* saturates far beyond any scale a text in memory can have */
        for ( /* void */ ; p < last && tr_json_digit(*p); p++) {
            if (e < 100000000000000000LL) {
                e = e * 10 + (*p - '0');
            }
        }

        if (neg) {
            e = -e;
        }
    }

    if (n == 0) {
        return 0;
    }

    if (sticky) {
        buf[n++] = '1';
        scale--;
    }

    /* the value is buf * 10^e, at least 10^(n - 1 + e) */

    e += scale;

    if (n - 1 + e < 308) {
        return 0;
    }

    if (n - 1 + e > 308) {
        return 1;
    }

    snprintf(buf + n, sizeof(buf) - n, "e%d", (int) e);

    errno = 0;
    d = strtod(buf, NULL);

    return d == HUGE_VAL && errno == ERANGE;
}


size_t
tokenroute_json_unescape(const unsigned char *p, const unsigned char *last,
    unsigned char *out, size_t size)
{
    int            i, e;
    size_t         n, len;
    uint32_t       cp, lo;
    unsigned char  c, b[4];

    n = 0;

    while (p < last) {
        c = *p++;

        if (c != '\\') {
            goto byte;
        }

        c = *p++;

        if (c != 'u') {
            /* the tokenizer let only valid escapes through */
            e = tokenroute_json_escape(c);
            c = (unsigned char) e;
            goto byte;
        }

        cp = 0;

        for (i = 0; i < 4; i++) {
            cp = (cp << 4) | tokenroute_json_hex(*p++);
        }

        if (tokenroute_json_is_high(cp)) {

            if (last - p < 6 || p[0] != '\\' || p[1] != 'u') {
                c = '?';
                goto byte;
            }

            lo = 0;

            for (i = 2; i < 6; i++) {
                lo = (lo << 4) | tokenroute_json_hex(p[i]);
            }

            p += 6;

            cp = tokenroute_json_surrogates(cp, lo);
        }

        len = tokenroute_json_utf8(cp, b);

        for (i = 0; i < (int) len; i++, n++) {
            if (n < size) {
                out[n] = b[i];
            }
        }

        continue;

    byte:

        if (n < size) {
            out[n] = c;
        }

        n++;
    }

    return n;
}


int64_t
tokenroute_json_integer(const unsigned char *p, const unsigned char *last)
{
    int       neg;
    uint64_t  v;

    neg = (p < last && *p == '-');
    p += neg;

    for (v = 0; p < last; p++) {
        v = v * 10 + (*p - '0');
    }

    return neg ? -(int64_t) v : (int64_t) v;
}

