
/*
 * Copyright (C) tokenroute authors
 *
 * The JSON output buffer: growth, integers and escaped strings.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_json_out.h"
#include "tokenroute_json_esc.h"


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


/*
 * As "%lld" writes it, without printf's cost: a stream writes many.  Two
 * digits a division, from a table of the hundred pairs.
 */

void
tokenroute_json_add_int(tokenroute_json_buf_t *b, int64_t v)
{
    char               s[24], *p;
    size_t             i;
    uint64_t           u;
    static const char  pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";

    p = s + sizeof(s);
    u = (v < 0) ? 0 - (uint64_t) v : (uint64_t) v;

    while (u >= 100) {
        i = (u % 100) * 2;
        u /= 100;
        *--p = pairs[i + 1];
        *--p = pairs[i];
    }

    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];

    } else {
        *--p = (char) ('0' + u);
    }

    if (v < 0) {
        *--p = '-';
    }

    tokenroute_json_add(b, p, s + sizeof(s) - p);
}


/* the bytes of a JSON string's value: quotes, backslashes and controls */

void
tokenroute_json_add_escaped(tokenroute_json_buf_t *b, const char *p,
    size_t n)
{
    tokenroute_json_esc_write(b, p, n, "0123456789abcdef");
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
