
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
static uint32_t tr_json_hex(unsigned char c);
static size_t tr_json_utf8(unsigned char *out, size_t size, size_t n,
    uint32_t cp);


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
    int            i;
    size_t         n;
    uint32_t       cp, lo;
    unsigned char  c;

    n = 0;

    while (p < last) {
        c = *p++;

        if (c != '\\') {
            goto byte;
        }

        c = *p++;

        switch (c) {

        case 'b':
            c = '\b';
            break;

        case 'f':
            c = '\f';
            break;

        case 'n':
            c = '\n';
            break;

        case 'r':
            c = '\r';
            break;

        case 't':
            c = '\t';
            break;

        case 'u':
            cp = 0;

            for (i = 0; i < 4; i++) {
                c = *p++;
                cp = (cp << 4) | tr_json_hex(c);
            }

            if ((cp & 0xfc00) == 0xd800) {

                if (last - p < 6 || p[0] != '\\' || p[1] != 'u') {
                    c = '?';
                    break;
                }

                lo = 0;

                for (i = 2; i < 6; i++) {
                    c = p[i];
                    lo = (lo << 4) | tr_json_hex(c);
                }

                p += 6;

                /* yajl's arithmetic, even when lo is no low surrogate */
                cp = ((cp & 0x3f) << 10) | ((((cp >> 6) & 0xf) + 1) << 16)
                     | (lo & 0x3ff);
            }

            n = tr_json_utf8(out, size, n, cp);
            continue;

        default:
            /* '"', '\\', '/' stand for themselves */
            break;
        }

    byte:

        if (n < size) {
            out[n] = c;
        }

        n++;
    }

    return n;
}


static uint32_t
tr_json_hex(unsigned char c)
{
    return (c <= '9') ? c - '0' : (c | 0x20) - 'a' + 10;
}


static size_t
tr_json_utf8(unsigned char *out, size_t size, size_t n, uint32_t cp)
{
    int            i, len;
    unsigned char  b[4];

    if (cp < 0x80) {
        b[0] = (unsigned char) cp;
        len = 1;

    } else if (cp < 0x800) {
        b[0] = (unsigned char) (0xc0 | (cp >> 6));
        b[1] = (unsigned char) (0x80 | (cp & 0x3f));
        len = 2;

    } else if (cp < 0x10000) {
        b[0] = (unsigned char) (0xe0 | (cp >> 12));
        b[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char) (0x80 | (cp & 0x3f));
        len = 3;

    } else {
        b[0] = (unsigned char) (0xf0 | (cp >> 18));
        b[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char) (0x80 | (cp & 0x3f));
        len = 4;
    }

    for (i = 0; i < len; i++, n++) {
        if (n < size) {
            out[n] = b[i];
        }
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

