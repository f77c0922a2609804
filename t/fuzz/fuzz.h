
/*
 * Copyright (C) tokenroute authors
 *
 * What the libFuzzer targets in t/fuzz/ share: a check that aborts (so
 * libFuzzer saves the input) and the chunk splits.  A target that feeds
 * an incremental parser takes its first byte as the split seed: the rest
 * of the input is fed in pieces whose sizes follow from the seed (0: one
 * byte at a time), and the result must be the one feeding it whole gives.
 */


#ifndef _TOKENROUTE_FUZZ_H_INCLUDED_
#define _TOKENROUTE_FUZZ_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <yajl/yajl_parse.h>


#define fuzz_check(cond, what)                                                \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz check failed at %s:%d: %s (%s)\n",         \
                    __FILE__, __LINE__, what, #cond);                         \
            abort();                                                          \
        }                                                                     \
    } while (0)


typedef struct {
    uint32_t   state;
    unsigned   max;       /* the largest piece; 1: a byte at a time */
} fuzz_split_t;


static inline void
fuzz_split_init(fuzz_split_t *fs, unsigned seed)
{
    /* small pieces most of the time: that is where state crosses calls */
    fs->state = 0x9e3779b9u ^ (seed * 0x01000193u);
    fs->max = (seed == 0) ? 1 : (seed & 0x80) ? 1 + (seed & 0x7f) * 8
                                              : 1 + (seed & 0x0f);
}


/* the size of the next piece of at most left bytes, never 0 if left > 0 */

static inline size_t
fuzz_split_next(fuzz_split_t *fs, size_t left)
{
    size_t  n;

    fs->state ^= fs->state << 13;
    fs->state ^= fs->state >> 17;
    fs->state ^= fs->state << 5;

    n = 1 + fs->state % fs->max;

    /* an empty piece now and then: feeders must take 0 bytes too */
    if ((fs->state >> 24) == 0x5a) {
        n = 0;
    }

    return (n > left) ? left : n;
}


/*
 * Whether p holds one JSON value as yajl's parser sees it without
 * callbacks (numbers of any size are JSON, though the request scan of
 * tokenroute_json_scan.h refuses those yajl cannot convert); its strings
 * are checked for UTF-8 only if utf8.  The gateway checks no UTF-8 (the
 * provider's bytes go on as they are), so the targets ask for it only of
 * output made from UTF-8 input.
 */

static inline int
fuzz_json_valid(const void *p, size_t len, int utf8)
{
    int          ok;
    yajl_handle  h;

    h = yajl_alloc(NULL, NULL, NULL);
    if (h == NULL) {
        abort();
    }

    yajl_config(h, yajl_dont_validate_strings, !utf8);

    ok = yajl_parse(h, p, len) == yajl_status_ok
         && yajl_complete_parse(h) == yajl_status_ok;

    yajl_free(h);

    return ok;
}


/* whether p is UTF-8 as yajl checks it in strings: a JSON string of p */

static inline int
fuzz_utf8(const void *p, size_t len)
{
    int             ok;
    size_t          i;
    unsigned char  *s;

    s = malloc(len + 2);
    if (s == NULL) {
        abort();
    }

    s[0] = '"';

    for (i = 0; i < len; i++) {
        /* only the bytes matter: no escapes, no controls */
        s[i + 1] = ((const unsigned char *) p)[i];

        if (s[i + 1] < 0x20 || s[i + 1] == '"' || s[i + 1] == '\\') {
            s[i + 1] = 'x';
        }
    }

    s[len + 1] = '"';

    ok = fuzz_json_valid(s, len + 2, 1);

    free(s);

    return ok;
}


#endif /* _TOKENROUTE_FUZZ_H_INCLUDED_ */
