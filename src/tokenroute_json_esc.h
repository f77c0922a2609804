
/*
 * Copyright (C) tokenroute authors
 *
 * The one copy of two loops that JSON's readers and writers share: the
 * scan for the end of a run of plain string bytes, and the escaping of a
 * string's bytes.  Inline, for the writers whose strings are short and
 * many (the parser's tree, the output buffer, the request writer).
 * Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_JSON_ESC_H_INCLUDED_
#define _TOKENROUTE_JSON_ESC_H_INCLUDED_


#include <stddef.h>

#if (defined __SSE2__ && defined __GNUC__ && !defined TOKENROUTE_JSON_NO_SIMD)
#define TOKENROUTE_JSON_SSE2  1
#include <emmintrin.h>
#else
#define TOKENROUTE_JSON_SSE2  0
#endif

#include "tokenroute_json_out.h"


/* for the loops of the hot paths, where gcc would keep a call */
#define TOKENROUTE_JSON_INLINE  inline __attribute__((always_inline))


/* byte classes of tokenroute_json_plain() */
#define TOKENROUTE_JSON_STOP  0x01    /* a quote, a backslash, a control */
#define TOKENROUTE_JSON_HIGH  0x02    /* from 0x80 on */


static const unsigned char  tokenroute_json_plain_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,     /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2
};


/*
 * The first byte from p on of a class in mask (TOKENROUTE_JSON_STOP,
 * with TOKENROUTE_JSON_HIGH too when UTF-8 is to be checked), or last:
 * 16 bytes at a time where SSE2 is there.
 */

static TOKENROUTE_JSON_INLINE const unsigned char *
tokenroute_json_plain(const unsigned char *p, const unsigned char *last,
    unsigned mask)
{
#if (TOKENROUTE_JSON_SSE2)
    int      m;
    __m128i  v, quote, bslash, ctl;

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

        if (mask & TOKENROUTE_JSON_HIGH) {
            m |= _mm_movemask_epi8(v);
        }

        if (m != 0) {
            return p + __builtin_ctz(m);
        }

        p += 16;
    }
#endif

    while (p < last && !(tokenroute_json_plain_class[*p] & mask)) {
        p++;
    }

    return p;
}


/*
 * The bytes of a JSON string's value: quote, backslash and the controls
 * escaped, \r \n \f \b \t by name, the others as \u00xx with the digits
 * of hex (lower case for our own bodies, capitals as yajl_gen wrote
 * them); '/', DEL and bytes from 0x80 on as they are.
 */

static inline void
tokenroute_json_esc_write(tokenroute_json_buf_t *b, const char *str, size_t n,
    const char *hex)
{
    char                  esc[6];
    unsigned char         c;
    const unsigned char  *p, *last, *s;

    /* callers pass (NULL, 0) for an absent value: NULL + 0 is undefined */
    if (n == 0) {
        return;
    }

    p = (const unsigned char *) str;
    last = p + n;

    while (p < last) {

        s = p;
        p = tokenroute_json_plain(p, last, TOKENROUTE_JSON_STOP);

        tokenroute_json_add(b, (const char *) s, p - s);

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


#endif /* _TOKENROUTE_JSON_ESC_H_INCLUDED_ */
