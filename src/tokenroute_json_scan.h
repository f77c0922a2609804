
/*
 * Copyright (C) tokenroute authors
 *
 * A pull-style JSON tokenizer for a text held in memory: one pass,
 * strictly validating (RFC 8259), no allocation, no copy.  The caller
 * takes tokens one at a time and skips the values it does not need in one
 * call.  Its verdict on a text is yajl's with strings unchecked, which
 * t/unit/request_diff.c holds it to (the yajl-based scan of
 * t/unit/request_ref.h): string bytes are not checked for UTF-8, and a
 * number yajl cannot convert (an integer beyond int64_t, a double beyond
 * DBL_MAX) makes the text invalid.  It is stricter than yajl in three
 * ways: \v and \f are not whitespace, nothing but whitespace may follow
 * the value (yajl lets an unterminated string through), and nesting stops
 * at TOKENROUTE_JSON_DEPTH_MAX.  Decoding the values is
 * tokenroute_json_value.h's.  Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_JSON_SCAN_H_INCLUDED_
#define _TOKENROUTE_JSON_SCAN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * Objects and arrays nested deeper make the text invalid: yajl_gen's
 * YAJL_MAX_DEPTH, above the request translator's 100 levels, so that the
 * scan of a request body is never the stricter check.
 */
#define TOKENROUTE_JSON_DEPTH_MAX  128


typedef enum {
    TOKENROUTE_JSON_ERROR = 0,       /* invalid JSON; it stays so */
    TOKENROUTE_JSON_END,             /* the value ended, then the text */
    TOKENROUTE_JSON_OBJECT,
    TOKENROUTE_JSON_OBJECT_END,
    TOKENROUTE_JSON_ARRAY,
    TOKENROUTE_JSON_ARRAY_END,
    TOKENROUTE_JSON_KEY,
    TOKENROUTE_JSON_STRING,
    TOKENROUTE_JSON_INTEGER,         /* fits int64_t */
    TOKENROUTE_JSON_DOUBLE,          /* has a fraction or an exponent */
    TOKENROUTE_JSON_TRUE,
    TOKENROUTE_JSON_FALSE,
    TOKENROUTE_JSON_NULL
} tokenroute_json_token_e;


/*
 * The last token is [token, end): a string or a key with its quotes, a
 * bracket, a number, a literal.  The rest is the tokenizer's own.
 */
typedef struct {
    const unsigned char  *token;
    const unsigned char  *end;
    const unsigned char  *pos;
    const unsigned char  *last;
    unsigned              escaped;   /* the last string has backslashes */
    unsigned              state;
    unsigned              depth;
    uint64_t              arrays[(TOKENROUTE_JSON_DEPTH_MAX + 63) / 64];
} tokenroute_json_scan_t;


void tokenroute_json_scan_init(tokenroute_json_scan_t *js,
    const unsigned char *text, size_t len);
tokenroute_json_token_e tokenroute_json_scan_next(tokenroute_json_scan_t *js);

/*
 * Right after TOKENROUTE_JSON_OBJECT or TOKENROUTE_JSON_ARRAY: validates
 * the rest of that value and returns its closing token, or an error.
 */
tokenroute_json_token_e tokenroute_json_scan_skip(tokenroute_json_scan_t *js);


#endif /* _TOKENROUTE_JSON_SCAN_H_INCLUDED_ */
