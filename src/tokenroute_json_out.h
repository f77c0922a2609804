
/*
 * Copyright (C) tokenroute authors
 *
 * A growable output buffer for JSON written by hand, and the escaping of
 * JSON strings.  A failed allocation marks the buffer failed and turns
 * later additions into no-ops, so a writer checks once, at the end.
 * Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_JSON_OUT_H_INCLUDED_
#define _TOKENROUTE_JSON_OUT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


#define tokenroute_json_add_lit(b, lit)                                       \
    tokenroute_json_add(b, lit, sizeof(lit) - 1)


typedef struct {
    char                    *data;
    size_t                   len;
    size_t                   size;
    unsigned                 failed;
} tokenroute_json_buf_t;


/* room for n more bytes: 0, or -1 (and the buffer failed) */
int tokenroute_json_reserve(tokenroute_json_buf_t *b, size_t n);

void tokenroute_json_add_int(tokenroute_json_buf_t *b, int64_t v);

/*
 * The inside of a JSON string: quotes and backslashes escaped, controls
 * as \n, \t... or \u00xx; other bytes as they are (no UTF-8 check).
 */
void tokenroute_json_add_escaped(tokenroute_json_buf_t *b, const char *p,
    size_t n);

/* a JSON string: the bytes escaped, in quotes */
void tokenroute_json_add_str(tokenroute_json_buf_t *b, const char *p,
    size_t n);

/* frees the data and leaves the buffer empty and not failed */
void tokenroute_json_buf_free(tokenroute_json_buf_t *b);


/*
 * Appends n bytes.  Inline: most calls add a literal, whose copy then
 * compiles to a few moves.
 */

static inline void
tokenroute_json_add(tokenroute_json_buf_t *b, const char *p, size_t n)
{
    /* room is checked here first: the call only when the buffer grows */
    if (n == 0
        || ((b->failed || n > b->size - b->len)
            && tokenroute_json_reserve(b, n) != 0))
    {
        return;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
}


#endif /* _TOKENROUTE_JSON_OUT_H_INCLUDED_ */
