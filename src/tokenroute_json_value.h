
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


#endif /* _TOKENROUTE_JSON_VALUE_H_INCLUDED_ */
