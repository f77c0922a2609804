
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the key header parsing (src/tokenroute_key.c): the
 * bearer token of an Authorization value and the key format.  Each input
 * is checked from a heap copy of its exact length, so that a sanitizer
 * build sees any read past the end.  Prints TAP.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_key.h>

#include "tap.h"


#define KEY43  "sk-tr-abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_-0123"


typedef struct {
    const char  *in;
    int          rc;
    const char  *key;
} bearer_case_t;


typedef struct {
    const char  *in;
    size_t       len;      /* 0: strlen(in) */
    int          rc;
} valid_case_t;


static bearer_case_t  bearer_cases[] = {
    { "Bearer abc", 0, "abc" },
    { "bearer abc", 0, "abc" },
    { "BEARER abc", 0, "abc" },
    { "bEaReR    abc def", 0, "abc def" },
    { "Bearer ", 0, "" },
    { "Bearer    ", 0, "" },
    { "Bearer", -1, NULL },
    { "Bearerabc", -1, NULL },
    { "Bearer\tabc", -1, NULL },
    { "Basic abc", -1, NULL },
    { " Bearer abc", -1, NULL },
    { "", -1, NULL },
    { "Bearer\xc0 abc", -1, NULL },
    { "Bearer  " KEY43, 0, KEY43 },
};


static valid_case_t  valid_cases[] = {
    { KEY43, 0, 0 },
    { "sk-tr-0123456789abcdef0123456789abcdef", 0, 0 },  /* 38: shortest */
    { "sk-tr-0123456789abcdef0123456789abcde", 0, -1 },
    { "sk-tr-", 0, -1 },
    { "", 0, -1 },
    { "sk-TR-0123456789abcdef0123456789abcdef", 0, -1 },
    { "sk-ab-0123456789abcdef0123456789abcdef", 0, -1 },
    { "sk-tr-0123456789abcdef0123456789abcde=", 0, -1 },
    { "sk-tr-0123456789abcdef0123456789abcd f", 0, -1 },
    { "sk-tr-0123456789abcdef0123456789abcd\xc3\xa9", 0, -1 },
    { "sk-tr-0123456789abcdef\0" "123456789abcdef", 38, -1 },
};


/*
 * tokenroute_key_equal() against a byte loop: every length to 80, equal
 * and unequal in each single byte (and in the top bit only), each from
 * heap copies of the exact length.
 */

static int
ref_equal(const unsigned char *a, const unsigned char *b, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (a[i] != b[i]) {
            return -1;
        }
    }

    return 0;
}


static void
test_equal(void)
{
    int             bad;
    size_t          len, i;
    unsigned char  *a, *b;

    bad = 0;
    srand(14);

    for (len = 0; len <= 80; len++) {
        a = malloc(len ? len : 1);
        b = malloc(len ? len : 1);

        if (a == NULL || b == NULL) {
            ok(0, "malloc");
            return;
        }

        for (i = 0; i < len; i++) {
            a[i] = (unsigned char) rand();
        }

        memcpy(b, a, len);

        bad += (tokenroute_key_equal(a, b, len) != ref_equal(a, b, len));
        bad += (tokenroute_key_equal(a, b, len) != 0);

        for (i = 0; i < len; i++) {
            b[i] ^= 0x80;
            bad += (tokenroute_key_equal(a, b, len) != ref_equal(a, b, len));
            bad += (tokenroute_key_equal(a, b, len) != -1);
            b[i] ^= 0x81;
            bad += (tokenroute_key_equal(a, b, len) != -1);
            b[i] ^= 0x01;
        }

        free(a);
        free(b);
    }

    ok(bad == 0, "key_equal agrees with a byte loop (%d differences)", bad);
}


/* tokenroute_key_valid() against the plain loop it replaced */

static int
ref_valid(const unsigned char *key, size_t len)
{
    size_t  i;

    if (len < TOKENROUTE_KEY_MIN_LEN || len > TOKENROUTE_KEY_MAX_LEN
        || memcmp(key, TOKENROUTE_KEY_PREFIX,
                  sizeof(TOKENROUTE_KEY_PREFIX) - 1) != 0)
    {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (!((key[i] >= 'A' && key[i] <= 'Z') || (key[i] >= 'a'
              && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9')
              || key[i] == '_' || key[i] == '-'))
        {
            return -1;
        }
    }

    return 0;
}


static void
test_valid_diff(void)
{
    int             bad, valid;
    size_t          len, i, k;
    unsigned char  *p;

    bad = 0;
    valid = 0;
    srand(1414);

    for (i = 0; i < 200000; i++) {
        len = rand() % 270;
        p = malloc(len ? len : 1);
        if (p == NULL) {
            ok(0, "malloc");
            return;
        }

        for (k = 0; k < len; k++) {
            p[k] = "abcXYZ019_-"[rand() % 11];
        }

        if (len >= 6 && rand() % 8) {
            memcpy(p, "sk-tr-", 6);
        }

        /* one byte of any value, somewhere, in most */

        if (len && rand() % 2) {
            p[rand() % len] = (unsigned char) rand();
        }

        valid += (ref_valid(p, len) == 0);
        bad += (tokenroute_key_valid(p, len) != ref_valid(p, len));
        free(p);
    }

    ok(bad == 0 && valid > 1000, "key_valid agrees with a byte loop "
       "(%d differences, %d valid)", bad, valid);
}


/*
 * The bearer prefix (its exact spelling compared at once) against a byte
 * by byte ASCII case folding: every byte at every place of the prefix,
 * after "Bearer " and "bearer ", and every length of it.
 */

static int
bearer_ref(const unsigned char *value, size_t len, size_t *start,
    size_t *key_len)
{
    size_t         i;
    unsigned char  c;

    if (len < 7) {
        return -1;
    }

    for (i = 0; i < 7; i++) {
        c = value[i];
        c = (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;

        if (c != (unsigned char) "bearer "[i]) {
            return -1;
        }
    }

    for (i = 7; i < len && value[i] == ' '; i++) {
        /* void */
    }

    *start = i;
    *key_len = len - i;

    return 0;
}


static void
test_bearer_diff(void)
{
    int            b, bad, rc, ref;
    size_t         i, k, len, s1, l1, s2, l2;
    unsigned char  v[16];

    static const char  *base[] = { "Bearer  abc", "bearer abc", "BEARER x" };

    bad = 0;

    for (k = 0; k < sizeof(base) / sizeof(base[0]); k++) {
        for (len = 0; len <= strlen(base[k]); len++) {
            for (i = 0; i < 8 && i < len; i++) {
                for (b = 0; b < 256; b++) {
                    memcpy(v, base[k], len);
                    v[i] = (unsigned char) b;

                    s1 = l1 = s2 = l2 = 999;
                    rc = tokenroute_key_bearer(v, len, &s1, &l1);
                    ref = bearer_ref(v, len, &s2, &l2);

                    if ((rc != ref || (rc == 0 && (s1 != s2 || l1 != l2)))
                        && bad++ < 5)
                    {
                        printf("# bearer: \"%s\" byte %zu = 0x%02x, "
                               "length %zu: %d, want %d\n",
                               base[k], i, b, len, rc, ref);
                    }
                }
            }
        }
    }

    ok(bad == 0, "bearer prefix = byte by byte case folding (%d differ)",
       bad);
}


int
main(void)
{
    int            rc;
    char           buf[300];
    size_t         i, len, start, key_len;
    unsigned char *p;

    for (i = 0; i < sizeof(bearer_cases) / sizeof(bearer_cases[0]); i++) {
        len = strlen(bearer_cases[i].in);
        p = malloc(len ? len : 1);
        if (p == NULL) {
            return 2;
        }

        memcpy(p, bearer_cases[i].in, len);

        start = 999;
        key_len = 999;
        rc = tokenroute_key_bearer(p, len, &start, &key_len);

        ok(rc == bearer_cases[i].rc
           && (rc != 0 || (key_len == strlen(bearer_cases[i].key)
                           && memcmp(p + start, bearer_cases[i].key,
                                     key_len) == 0
                           && start + key_len == len)),
           "bearer \"%s\": %d", bearer_cases[i].in, rc);

        free(p);
    }

    for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        len = valid_cases[i].len ? valid_cases[i].len
                                 : strlen(valid_cases[i].in);
        p = malloc(len ? len : 1);
        if (p == NULL) {
            return 2;
        }

        memcpy(p, valid_cases[i].in, len);

        rc = tokenroute_key_valid(p, len);

        ok(rc == valid_cases[i].rc, "valid \"%s\" (%zu bytes): %d",
           valid_cases[i].in, len, rc);

        free(p);
    }

    /* the longest key, and one byte more */

    memcpy(buf, "sk-tr-", 6);
    memset(buf + 6, 'x', sizeof(buf) - 6);

    ok(tokenroute_key_valid((unsigned char *) buf, TOKENROUTE_KEY_MAX_LEN)
       == 0, "a key of %d bytes is valid", TOKENROUTE_KEY_MAX_LEN);
    ok(tokenroute_key_valid((unsigned char *) buf, TOKENROUTE_KEY_MAX_LEN + 1)
       == -1, "a key of %d bytes is not", TOKENROUTE_KEY_MAX_LEN + 1);

    /* a key hash as tr:inval carries it: 64 lowercase hex digits */

    memset(buf, 'a', 64);
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 64) == 0,
       "64 lowercase hex digits are a key hash");
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 63) == -1,
       "63 are not");
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 65) == -1,
       "65 are not");
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 0) == -1,
       "nothing is not");
    memcpy(buf, "0123456789abcdef", 16);
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 64) == 0,
       "every hex digit");
    buf[10] = 'A';
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 64) == -1,
       "an uppercase digit is not");
    buf[10] = 'g';
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 64) == -1,
       "a g is not");
    buf[10] = '\0';
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 64) == -1,
       "a NUL is not");
    buf[10] = 'a';
    buf[63] = '*';
    ok(tokenroute_key_hash_valid((unsigned char *) buf, 64) == -1,
       "a * at the end is not");

    test_equal();
    test_valid_diff();
    test_bearer_diff();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
