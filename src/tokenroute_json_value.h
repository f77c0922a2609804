
/*
 * Copyright (C) tokenroute authors
 *
 * The values of the tokens tokenroute_json_scan.h reports: numbers are
 * checked against the grammar and yajl's limits as the tokenizer reads
 * them, strings are decoded and integers converted on demand.  Plain C:
 * no nginx dependency.
 */


#ifndef _TOKENROUTE_JSON_VALUE_H_INCLUDED_
#define _TOKENROUTE_JSON_VALUE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "tokenroute_json_scan.h"


/*
 * The number that starts at p, p < last: its end, with *t set to
 * TOKENROUTE_JSON_INTEGER or TOKENROUTE_JSON_DOUBLE, or NULL if it breaks
 * the grammar or is beyond what yajl can convert (an integer beyond
 * int64_t, a double beyond DBL_MAX).  For the tokenizer.
 */
const unsigned char *tokenroute_json_number(const unsigned char *p,
    const unsigned char *last, tokenroute_json_token_e *t);

/*
 * Decodes the inside of a string the tokenizer accepted, [p, last)
 * without the quotes, as yajl_string_decode() does: a high surrogate
 * is joined with whatever \u escape follows it, or else becomes '?';
 * \u0000 is a NUL byte.  Writes at most size bytes to out and returns
 * the decoded length, which may be more.
 */
size_t tokenroute_json_unescape(const unsigned char *p,
    const unsigned char *last, unsigned char *out, size_t size);

/* the value of a TOKENROUTE_JSON_INTEGER token */
int64_t tokenroute_json_integer(const unsigned char *p,
    const unsigned char *last);


/*
 * The rules of unescaping, shared by tokenroute_json_unescape() and the
 * usage skimmer, which decodes a string split between pieces of a body
 * (tokenroute_skim_string.c): inline, as the skimmer runs per byte.
 */

/* the byte a one-letter escape stands for, or -1 if it is none */

static inline int
tokenroute_json_escape(unsigned c)
{
    switch (c) {

    case '"':
    case '\\':
    case '/':
        return c;

    case 'b':
        return '\b';

    case 'f':
        return '\f';

    case 'n':
        return '\n';

    case 'r':
        return '\r';

    case 't':
        return '\t';

    default:
        return -1;
    }
}


/* a hex digit's value, or more than 15 if c is none */

static inline unsigned
tokenroute_json_hex(unsigned c)
{
    if (c - '0' <= 9) {
        return c - '0';
    }

    c = (c | 0x20) - 'a';

    return (c <= 5) ? c + 10 : 16;
}


/*
 * A high surrogate hi joined with the \u lo that follows it, whatever lo
 * is: yajl_string_decode()'s arithmetic, even when lo is no low surrogate
 */
#define tokenroute_json_surrogates(hi, lo)                                    \
    (((hi) & 0x3f) << 10 | ((((hi) >> 6) & 0xf) + 1) << 16 | ((lo) & 0x3ff))

#define tokenroute_json_is_high(cp)  (((cp) & 0xfc00) == 0xd800)


/*
 * Code point cp as UTF-8 in b[4], as yajl's Utf32toUtf8(): its length.
 * "\u0000" stays one byte; a pair of surrogates is below 0x110000, so
 * yajl's '?' for larger code points is never needed.
 */

static inline size_t
tokenroute_json_utf8(uint32_t cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char) cp;
        return 1;
    }

    if (cp < 0x800) {
        b[0] = (unsigned char) (0xc0 | (cp >> 6));
        b[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        b[0] = (unsigned char) (0xe0 | (cp >> 12));
        b[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }

    b[0] = (unsigned char) (0xf0 | (cp >> 18));
    b[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
    b[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
    b[3] = (unsigned char) (0x80 | (cp & 0x3f));

    return 4;
}


#endif /* _TOKENROUTE_JSON_VALUE_H_INCLUDED_ */
