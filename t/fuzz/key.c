
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the key header parsing (src/tokenroute_key.c).
 * Input: a header value.  The bearer token's span and the format verdict
 * must be those of the plain restatement of the rules below.
 */


#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_key.h>

#include "fuzz.h"


static int
ref_valid(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len < TOKENROUTE_KEY_MIN_LEN || len > TOKENROUTE_KEY_MAX_LEN) {
        return -1;
    }

    if (memcmp(p, "sk-tr-", 6) != 0) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (p[i] >= 0x80 || !(isalnum(p[i]) || p[i] == '-' || p[i] == '_'))
        {
            return -1;
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int     rc, want;
    size_t  i, start, key_len;

    rc = tokenroute_key_bearer(data, size, &start, &key_len);

    want = size >= 7 && data[6] == ' ';

    for (i = 0; want && i < 6; i++) {
        want = (data[i] | 0x20) == (unsigned char) "bearer"[i]
               && (data[i] < 0x80);
    }

    fuzz_check(rc == (want ? 0 : -1), "a bearer value");

    if (rc == 0) {
        fuzz_check(start >= 7 && start + key_len == size,
                   "the token is the rest of the value");
        fuzz_check(key_len == 0 || data[start] != ' ',
                   "spaces are not the token's");

        for (i = 7; i < start; i++) {
            fuzz_check(data[i] == ' ', "only spaces are skipped");
        }

        fuzz_check(tokenroute_key_valid(data + start, key_len)
                   == ref_valid(data + start, key_len), "the token's format");
    }

    /* as sent in x-api-key */
    fuzz_check(tokenroute_key_valid(data, size) == ref_valid(data, size),
               "the key's format");

    return 0;
}
