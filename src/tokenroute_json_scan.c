
/*
 * Copyright (C) tokenroute authors
 *
 * The JSON tokenizer proper: whitespace, strings skipped 16 or 32 bytes at
 * a time with SSE2, literals, the container stack, next() and skip().
 * Numbers are checked and values decoded in tokenroute_json_value.c.
 */


#include <string.h>

#if (defined __SSE2__ && defined __GNUC__ && !defined TOKENROUTE_JSON_NO_SIMD)
#define TR_JSON_SSE2  1
#include <emmintrin.h>
#else
#define TR_JSON_SSE2  0
#endif

#include "tokenroute_json_scan.h"
#include "tokenroute_json_value.h"


/* the string loop is inlined where it runs, for its constants */
#if (defined __GNUC__)
#define TR_JSON_INLINE  inline __attribute__((always_inline))
#else
#define TR_JSON_INLINE  inline
#endif


/*
 * What the tokenizer expects next.  The ':' after a key and the ','
 * after a value are taken with the token before it, so COLON and NEXT
 * only remain when they were not there.
 */
enum {
    TR_JSON_VALUE = 0,
    TR_JSON_FIRST_VALUE,             /* after '[': a value or ']' */
    TR_JSON_KEY,
    TR_JSON_FIRST_KEY,               /* after '{': a key or '}' */
    TR_JSON_COLON,                   /* an error, reported one token late */
    TR_JSON_NEXT,                    /* no ',': the close or an error */
    TR_JSON_DONE,                    /* only whitespace may follow */
    TR_JSON_FAILED
};


/* byte classes */
#define TR_JSON_SPACE    0x01
#define TR_JSON_STOP     0x02        /* ends a run of string bytes */
#define TR_JSON_ESCAPE   0x04        /* follows a backslash, but 'u' */
#define TR_JSON_HEX      0x08

#define TR_JSON_ONES     0x0101010101010101ULL
#define TR_JSON_HIGHS    0x8080808080808080ULL


static const unsigned char  tr_json_class[256] = {
    /* 0x00 - 0x1f: control characters; \t \n \r are whitespace */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 2, 2, 3, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* ' ', '"' (a stop, and escapable), '/' */
    1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4,
    /* digits */
    8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0,
    /* 'A' - 'F' */
    0, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0,
    /* 'a' - 'f', with the 'b' and 'f' escapes, 'n' */
    0, 8, 12, 8, 8, 8, 12, 0, 0, 0, 0, 0, 0, 0, 4, 0,
    /* 'r', 't' */
    0, 0, 4, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    /* 0x80 - 0xff: zeroes, UTF-8 is the provider's to check */
};


static inline const unsigned char *
tr_json_space(const unsigned char *p, const unsigned char *last)
{
    while (p < last && (tr_json_class[*p] & TR_JSON_SPACE)) {
        p++;
    }

    return p;
}


/* whether the container at this depth (1 is the outermost) is an array */

static inline unsigned
tr_json_array(const tokenroute_json_scan_t *js, unsigned depth)
{
    depth--;

    return (js->arrays[depth >> 6] >> (depth & 63)) & 1;
}


static inline int
tr_json_push(tokenroute_json_scan_t *js, unsigned depth, unsigned array)
{
    uint64_t  bit;

    if (depth == TOKENROUTE_JSON_DEPTH_MAX) {
        return -1;
    }

    bit = (uint64_t) 1 << (depth & 63);

    if (array) {
        js->arrays[depth >> 6] |= bit;

    } else {
        js->arrays[depth >> 6] &= ~bit;
    }

    return 0;
}


#if (TR_JSON_SSE2)

/*
 * The stops among 16 bytes as a bit mask: '"' ^ 2 is ' ', and control
 * characters ^ 2 stay below it, so one unsigned compare finds both.
 */

static TR_JSON_INLINE unsigned
tr_json_stops(const unsigned char *p)
{
    __m128i  v, x, m;

    v = _mm_loadu_si128((const __m128i *) p);
    x = _mm_xor_si128(v, _mm_set1_epi8(2));
    m = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x);
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));

    return (unsigned) _mm_movemask_epi8(m);
}

#endif


/*
 * Past the opening quote: the bytes up to the next quote, backslash or
 * control character are skipped 16 or 32 (8 without SSE2) at a time,
 * chat bodies being mostly long strings.  Returns the end of the
 * string, or NULL.
 */

static TR_JSON_INLINE const unsigned char *
tr_json_string(const unsigned char *p, const unsigned char *last,
    unsigned *escaped)
{
#if (TR_JSON_SSE2)
    unsigned  mask;
#else
    uint64_t  w, q, b;
#endif

    *escaped = 0;

    for ( ;; ) {

#if (TR_JSON_SSE2)

        if (last - p >= 16) {
            mask = tr_json_stops(p);

            if (mask == 0) {
                /* a long string: 32 bytes a round */

                for (p += 16; last - p >= 32; p += 32) {
                    mask = tr_json_stops(p) | (tr_json_stops(p + 16) << 16);

                    if (mask) {
                        break;
                    }
                }

                if (mask == 0) {
                    continue;
                }
            }

            p += __builtin_ctz(mask);

        } else {
            while (p < last && !(tr_json_class[*p] & TR_JSON_STOP)) {
                p++;
            }

            if (p == last) {
                return NULL;
            }
        }

#else

        /* "has a zero byte" and "has a byte below 0x20", 8 bytes a time */

        while (last - p >= 8) {
            memcpy(&w, p, 8);

            q = w ^ (TR_JSON_ONES * '"');
            b = w ^ (TR_JSON_ONES * '\\');

            if ((((q - TR_JSON_ONES) & ~q) | ((b - TR_JSON_ONES) & ~b)
                 | ((w - TR_JSON_ONES * 0x20) & ~w)) & TR_JSON_HIGHS)
            {
                break;
            }

            p += 8;
        }

        while (p < last && !(tr_json_class[*p] & TR_JSON_STOP)) {
            p++;
        }

        if (p == last) {
            return NULL;
        }

#endif

        if (*p == '"') {
            return p + 1;
        }

        if (*p != '\\' || last - p < 2) {
            return NULL;
        }

        if (p[1] == 'u') {
            if (last - p < 6
                || !(tr_json_class[p[2]] & TR_JSON_HEX)
                || !(tr_json_class[p[3]] & TR_JSON_HEX)
                || !(tr_json_class[p[4]] & TR_JSON_HEX)
                || !(tr_json_class[p[5]] & TR_JSON_HEX))
            {
                return NULL;
            }

            p += 6;

        } else if (tr_json_class[p[1]] & TR_JSON_ESCAPE) {
            p += 2;

        } else {
            return NULL;
        }

        *escaped = 1;
    }
}


/* a value other than an object or an array: its end, or NULL */

static TR_JSON_INLINE const unsigned char *
tr_json_scalar(const unsigned char *p, const unsigned char *last,
    tokenroute_json_token_e *t, unsigned *escaped)
{
    size_t  n;

    n = last - p;

    switch (*p) {

    case '"':
        *t = TOKENROUTE_JSON_STRING;
        return tr_json_string(p + 1, last, escaped);

    case 't':
        *t = TOKENROUTE_JSON_TRUE;
        return (n >= 4 && memcmp(p, "true", 4) == 0) ? p + 4 : NULL;

    case 'f':
        *t = TOKENROUTE_JSON_FALSE;
        return (n >= 5 && memcmp(p, "false", 5) == 0) ? p + 5 : NULL;

    case 'n':
        *t = TOKENROUTE_JSON_NULL;
        return (n >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;

    default:
        return tokenroute_json_number(p, last, t);
    }
}


/* after a value ending at p: the ',' that may follow it is taken now */

static TR_JSON_INLINE tokenroute_json_token_e
tr_json_after(tokenroute_json_scan_t *js, const unsigned char *p,
    tokenroute_json_token_e t)
{
    const unsigned char  *last;

    if (js->depth == 0) {
        js->pos = p;
        js->state = TR_JSON_DONE;
        return t;
    }

    last = js->last;
    p = tr_json_space(p, last);

    if (p < last && *p == ',') {
        js->pos = p + 1;
        js->state = tr_json_array(js, js->depth) ? TR_JSON_VALUE
                                                 : TR_JSON_KEY;

    } else {
        js->pos = p;
        js->state = TR_JSON_NEXT;
    }

    return t;
}


void
tokenroute_json_scan_init(tokenroute_json_scan_t *js,
    const unsigned char *text, size_t len)
{
    js->token = text;
    js->end = text;
    js->pos = text;
    js->last = text + len;
    js->escaped = 0;
    js->state = TR_JSON_VALUE;
    js->depth = 0;
}


/*
 * A value is reported before what follows it is checked, as yajl calls
 * back before it reads on: a caller sees the first problem in text order,
 * the one the yajl-based oracle of t/unit/request_diff.c sees.
 */

tokenroute_json_token_e
tokenroute_json_scan_next(tokenroute_json_scan_t *js)
{
    unsigned                  array;
    const unsigned char      *p, *q, *last;
    tokenroute_json_token_e   t;

    last = js->last;
    p = tr_json_space(js->pos, last);

    if (p == last) {
        js->pos = p;

        if (js->state == TR_JSON_DONE) {
            return TOKENROUTE_JSON_END;
        }

        goto failed;
    }

    switch (js->state) {

    case TR_JSON_FIRST_KEY:
        if (*p == '}') {
            array = 0;
            goto close;
        }

        /* fall through */

    case TR_JSON_KEY:
        if (*p != '"') {
            goto failed;
        }

        q = tr_json_string(p + 1, last, &js->escaped);
        if (q == NULL) {
            goto failed;
        }

        js->token = p;
        js->end = q;

        p = tr_json_space(q, last);

        if (p < last && *p == ':') {
            js->pos = p + 1;
            js->state = TR_JSON_VALUE;

        } else {
            js->pos = p;
            js->state = TR_JSON_COLON;
        }

        return TOKENROUTE_JSON_KEY;

    case TR_JSON_FIRST_VALUE:
        if (*p == ']') {
            array = 1;
            goto close;
        }

        /* fall through */

    case TR_JSON_VALUE:
        js->token = p;

        if (*p == '{' || *p == '[') {
            array = (*p == '[');

            if (tr_json_push(js, js->depth, array) != 0) {
                goto failed;
            }

            js->depth++;
            js->end = p + 1;
            js->pos = p + 1;

            if (array) {
                js->state = TR_JSON_FIRST_VALUE;
                return TOKENROUTE_JSON_ARRAY;
            }

            js->state = TR_JSON_FIRST_KEY;
            return TOKENROUTE_JSON_OBJECT;
        }

        q = tr_json_scalar(p, last, &t, &js->escaped);
        if (q == NULL) {
            goto failed;
        }

        js->end = q;

        return tr_json_after(js, q, t);

    case TR_JSON_NEXT:
        array = tr_json_array(js, js->depth);

        if (*p == (array ? ']' : '}')) {
            goto close;
        }

        /* fall through */

    default:
        /* no ':' or ',', trailing garbage, or after an error */
        goto failed;
    }

close:

    js->token = p;
    js->end = p + 1;
    js->depth--;

    return tr_json_after(js, p + 1,
                         array ? TOKENROUTE_JSON_ARRAY_END
                               : TOKENROUTE_JSON_OBJECT_END);

failed:

    js->state = TR_JSON_FAILED;

    return TOKENROUTE_JSON_ERROR;
}


/*
 * The inside of an object or an array in one loop, the states being
 * places in the code and whitespace a case of the byte switch: most of a
 * chat body is skipped so.
 */

tokenroute_json_token_e
tokenroute_json_scan_skip(tokenroute_json_scan_t *js)
{
    unsigned                  depth, top, escaped;
    const unsigned char      *p, *last;
    tokenroute_json_token_e   t;

    p = js->pos;
    last = js->last;
    depth = js->depth;
    top = depth - 1;

    if (js->state == TR_JSON_FIRST_KEY) {
        goto first_key;
    }

    if (js->state != TR_JSON_FIRST_VALUE) {
        goto failed;
    }

first_value:

    p = tr_json_space(p, last);

    if (p < last && *p == ']') {
        goto close;
    }

value:

    if (p == last) {
        goto failed;
    }

    switch (*p) {

    case '"':
        p = tr_json_string(p + 1, last, &escaped);
        break;

    case '{':
    case '[':
        if (tr_json_push(js, depth, *p == '[') != 0) {
            goto failed;
        }

        depth++;

        if (*p++ == '[') {
            goto first_value;
        }

        goto first_key;

    case ' ': case '\t': case '\n': case '\r':
        p = tr_json_space(p + 1, last);
        goto value;

    default:
        p = tr_json_scalar(p, last, &t, &escaped);
        break;
    }

    if (p == NULL) {
        goto failed;
    }

next:

    if (p == last) {
        goto failed;
    }

    switch (*p) {

    case ',':
        p++;

        if (tr_json_array(js, depth)) {
            goto value;
        }

        goto key;

    case ']':
    case '}':
        if ((*p == ']') != tr_json_array(js, depth)) {
            goto failed;
        }

        break;

    case ' ': case '\t': case '\n': case '\r':
        p = tr_json_space(p + 1, last);
        goto next;

    default:
        goto failed;
    }

close:

    p++;

    if (--depth != top) {
        goto next;
    }

    js->token = p - 1;
    js->end = p;
    js->depth = depth;

    return tr_json_after(js, p, (p[-1] == ']') ? TOKENROUTE_JSON_ARRAY_END
                                               : TOKENROUTE_JSON_OBJECT_END);

first_key:

    p = tr_json_space(p, last);

    if (p < last && *p == '}') {
        goto close;
    }

key:

    if (p == last) {
        goto failed;
    }

    if (*p != '"') {
        if (!(tr_json_class[*p] & TR_JSON_SPACE)) {
            goto failed;
        }

        p = tr_json_space(p + 1, last);
        goto key;
    }

    p = tr_json_string(p + 1, last, &escaped);
    if (p == NULL) {
        goto failed;
    }

colon:

    if (p == last) {
        goto failed;
    }

    if (*p != ':') {
        if (!(tr_json_class[*p] & TR_JSON_SPACE)) {
            goto failed;
        }

        p = tr_json_space(p + 1, last);
        goto colon;
    }

    p++;

    goto value;

failed:

    js->state = TR_JSON_FAILED;

    return TOKENROUTE_JSON_ERROR;
}
