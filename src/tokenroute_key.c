
/*
 * Copyright (C) tokenroute authors
 *
 * Parsing a client key out of its header: the token of an
 * "Authorization: Bearer ..." value, and whether a string has the format
 * of a tokenroute key.
 */


#include <stdint.h>
#include <string.h>

#include "tokenroute_key.h"


int
tokenroute_key_bearer(const unsigned char *value, size_t len,
    size_t *start, size_t *key_len)
{
    size_t         i;
    unsigned char  c;

    if (len < 7) {
        return -1;
    }

    /*
     * As SDKs spell it, compared at once; else ASCII case folding, as
     * ngx_strncasecmp(), never the locale's (t/unit/key.c holds the one
     * to the other)
     */

    if (memcmp(value, "Bearer ", 7) != 0) {

        for (i = 0; i < 7; i++) {
            c = value[i];

            if (c >= 'A' && c <= 'Z') {
                c |= 0x20;
            }

            if (c != (unsigned char) "bearer "[i]) {
                return -1;
            }
        }
    }

    for (i = 7; i < len && value[i] == ' '; i++) {
        /* void */
    }

    *start = i;
    *key_len = len - i;

    return 0;
}


/* [A-Za-z0-9_-]: one load a byte, the key being read on every request */

static const unsigned char  tr_key_char[256] = {
    /* 0x00 - 0x2f: '-' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
    /* '0' - '9' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    /* 'A' - 'Z', '_' */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    /* 'a' - 'z' */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0
    /* 0x80 - 0xff: zeroes */
};


int
tokenroute_key_valid(const unsigned char *key, size_t len)
{
    unsigned              acc;
    const unsigned char  *p, *last;

    if (len < TOKENROUTE_KEY_MIN_LEN || len > TOKENROUTE_KEY_MAX_LEN
        || memcmp(key, TOKENROUTE_KEY_PREFIX,
                  sizeof(TOKENROUTE_KEY_PREFIX) - 1) != 0)
    {
        return -1;
    }

    /* the prefix's characters are allowed ones: the rest is checked */

    acc = 1;
    last = key + len;

    for (p = key + sizeof(TOKENROUTE_KEY_PREFIX) - 1; last - p >= 4; p += 4) {
        acc &= tr_key_char[p[0]] & tr_key_char[p[1]] & tr_key_char[p[2]]
               & tr_key_char[p[3]];
    }

    while (p < last) {
        acc &= tr_key_char[*p++];
    }

    return acc ? 0 : -1;
}


int
tokenroute_key_equal(const unsigned char *a, const unsigned char *b,
    size_t len)
{
    size_t    i;
    uint64_t  x, y, acc;

    acc = 0;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        acc |= x ^ y;
    }

    for ( /* void */ ; i < len; i++) {
        acc |= a[i] ^ b[i];
    }

    return (acc == 0) ? 0 : -1;
}


int
tokenroute_key_hash_valid(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len != TOKENROUTE_KEY_HASH_LEN) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return -1;
        }
    }

    return 0;
}
