
/*
 * Copyright (C) tokenroute authors
 *
 * The JSON output buffer: growth, integers and escaped strings.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined __SSE2__ && defined __GNUC__ && !defined TOKENROUTE_JSON_NO_SIMD)
#define TR_OUT_SSE2  1
#include <emmintrin.h>
#else
#define TR_OUT_SSE2  0
#endif

#include "tokenroute_json_out.h"


int
tokenroute_json_reserve(tokenroute_json_buf_t *b, size_t n)
{
    char    *p;
    size_t   size;

    if (b->failed) {
        return -1;
    }

    if (n <= b->size - b->len) {
        return 0;
    }

    if (n > SIZE_MAX / 4 - b->len) {
        b->failed = 1;
        return -1;
    }

    size = (b->size != 0) ? b->size * 2 : 256;

    while (size < b->len + n) {
        size *= 2;
    }

    p = realloc(b->data, size);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }

    b->data = p;
    b->size = size;

    return 0;
}


/* as "%lld" writes it, without printf's cost: a stream writes many */

void
tokenroute_json_add_int(tokenroute_json_buf_t *b, int64_t v)
{
    char      s[24], *p;
    uint64_t  u;

    p = s + sizeof(s);
    u = (v < 0) ? 0 - (uint64_t) v : (uint64_t) v;

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u != 0);

    if (v < 0) {
        *--p = '-';
    }

    tokenroute_json_add(b, p, s + sizeof(s) - p);
}


/*
 * The first byte from p on that a JSON string must escape (a quote, a
 * backslash, a control), or last: 16 bytes at a time where SSE2 is there.
 */

static inline const char *
tokenroute_json_plain(const char *p, const char *last)
{
    unsigned char  c;
#if (TR_OUT_SSE2)
    int            m;
    __m128i        v, quote, bslash, ctl;

    quote = _mm_set1_epi8('"');
    bslash = _mm_set1_epi8('\\');
    ctl = _mm_set1_epi8(0x1f);

    while (last - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);

        /* v <= 0x1f unsigned: max(v, 0x1f) is 0x1f */
        m = _mm_movemask_epi8(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                          _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)));

        if (m != 0) {
            return p + __builtin_ctz(m);
        }

        p += 16;
    }
#endif

    for ( /* void */ ; p < last; p++) {
        c = *p;

        if (c < 0x20 || c == '"' || c == '\\') {
            break;
        }
    }

    return p;
}


/* the bytes of a JSON string's value: quotes, backslashes and controls */

void
tokenroute_json_add_escaped(tokenroute_json_buf_t *b, const char *p,
    size_t n)
{
    char                 esc[6];
    const char          *last, *s;
    unsigned char        c;
    static const char    hex[] = "0123456789abcdef";

    /* callers pass (NULL, 0) for an absent value: NULL + 0 is undefined */
    if (n == 0) {
        return;
    }

    last = p + n;

    while (p < last) {

        s = p;
        p = tokenroute_json_plain(p, last);

        tokenroute_json_add(b, s, p - s);

        if (p == last) {
            break;
        }

        c = *p++;

        esc[0] = '\\';

        switch (c) {

        case '"':
        case '\\':
            esc[1] = c;
            break;

        case '\n':
            esc[1] = 'n';
            break;

        case '\r':
            esc[1] = 'r';
            break;

        case '\t':
            esc[1] = 't';
            break;

        case '\b':
            esc[1] = 'b';
            break;

        case '\f':
            esc[1] = 'f';
            break;

        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0x0f];
            tokenroute_json_add(b, esc, 6);
            continue;
        }

        tokenroute_json_add(b, esc, 2);
    }
}


void
tokenroute_json_add_str(tokenroute_json_buf_t *b, const char *p, size_t n)
{
    tokenroute_json_add_lit(b, "\"");
    tokenroute_json_add_escaped(b, p, n);
    tokenroute_json_add_lit(b, "\"");
}


void
tokenroute_json_buf_free(tokenroute_json_buf_t *b)
{
    free(b->data);

    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->failed = 0;
}
