
/*
 * Copyright (C) tokenroute authors
 *
 * Differential test of the request translator's number checks
 * (src/tokenroute_translate_tree.c) against the library calls they stand
 * in for: tr_integer() against strpbrk() and strtoll(), tr_above_one()
 * against strtod() > 1.0, and the tree's tokenroute_json_int() against
 * strtoll() and strtod() as it had them, over numbers as JSON writes them (signs,
 * fractions, exponents, long runs of digits, values near 1 and near
 * the limits of a long long).  TOKENROUTE_FUZZ_ROUNDS and
 * TOKENROUTE_FUZZ_SEED change the run.  Prints TAP.
 */


#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_translate_int.h>

#include "tap.h"


static int64_t ref_json_int(const char *s, int64_t dflt);


static uint64_t  seed = 0x9e3779b97f4a7c15ULL;


static uint32_t
rnd(uint32_t n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;

    return (uint32_t) ((seed >> 16) % n);
}


static size_t
digits(char *p, size_t n, int lead)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        /* mostly 0 and 9, where carries and limits are */
        switch (rnd(4)) {
        case 0:
            p[i] = '0';
            break;
        case 1:
            p[i] = '9';
            break;
        default:
            p[i] = (char) ('0' + rnd(10));
        }
    }

    if (lead && n > 1 && p[0] == '0') {
        p[0] = (char) ('1' + rnd(9));
    }

    return n;
}


/* a number as JSON has it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

static size_t
gen_number(char *s)
{
    size_t  n;

    n = 0;

    if (rnd(3) == 0) {
        s[n++] = '-';
    }

    switch (rnd(4)) {
    case 0:
        s[n++] = (char) ('0' + rnd(3));
        break;
    case 1:
        n += digits(s + n, 18 + rnd(3), 1);
        break;
    default:
        n += digits(s + n, 1 + rnd(20), 1);
    }

    if (rnd(3) == 0) {
        s[n++] = '.';
        n += digits(s + n, 1 + rnd(22), 0);
    }

    if (rnd(5) == 0) {
        s[n++] = rnd(2) ? 'e' : 'E';

        if (rnd(2)) {
            s[n++] = rnd(2) ? '+' : '-';
        }

        n += digits(s + n, 1 + rnd(3), 0);
    }

    s[n] = '\0';

    return n;
}


/* tokenroute_json_int() before its count of up to 18 digits */

static int64_t
ref_json_int(const char *s, int64_t dflt)
{
    char       *end;
    double      d;
    long long   v;

    v = strtoll(s, &end, 10);

    if (*end == '\0') {
        return v;
    }

    d = strtod(s, &end);

    if (*end != '\0' || d != d) {
        return dflt;
    }

    if (d >= 9.2e18) {
        return INT64_MAX;
    }

    if (d <= -9.2e18) {
        return INT64_MIN;
    }

    return (int64_t) d;
}


int
main(void)
{
    int           rounds, r, bad_int, bad_one, bad_json, rc, ref_rc;
    char         *env, s[80], *end;
    tr_val_t      v;
    long long     n, ref;
    static const char  *fixed[] = {
        "0", "-0", "1", "-1", "1.0", "1.00000000000000000001",
        "1.0000000000000002", "1.00000000000000011", "0.99999999999999999999",
        "2", "10", "1e0", "1e1", "1E-1", "0.5e1", "999999999999999999",
        "-999999999999999999", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "12.0", "1e3",
        "123456789012345678", "1234567890123456789", NULL
    };

    env = getenv("TOKENROUTE_FUZZ_ROUNDS");
    rounds = env ? atoi(env) : 200000;

    env = getenv("TOKENROUTE_FUZZ_SEED");
    if (env) {
        seed = strtoull(env, NULL, 0) | 1;
    }

    printf("# seed %#llx, %d rounds\n", (unsigned long long) seed, rounds);

    bad_int = 0;
    bad_one = 0;
    bad_json = 0;

    /* the fixed cases first, then generated ones */

    for (r = 0; r < rounds; r++) {

        if (r < (int) (sizeof(fixed) / sizeof(fixed[0])) - 1) {
            strcpy(s, fixed[r]);

        } else {
            (void) gen_number(s);
        }

        memset(&v, 0, sizeof(tr_val_t));
        v.type = yajl_t_number;
        v.str = s;
        v.len = strlen(s);

        /* the slow paths, as the translator had them */

        ref_rc = -1;
        ref = 0;

        if (strpbrk(s, ".eE") == NULL) {
            errno = 0;
            ref = strtoll(s, &end, 10);
            ref_rc = (errno != 0 || *end != '\0') ? -1 : 0;
        }

        n = 0;
        rc = tr_integer(&v, &n);

        if (rc != ref_rc || (rc == 0 && n != ref)) {
            if (bad_int++ < 5) {
                printf("# tr_integer(%s): %d %lld, strtoll: %d %lld\n",
                       s, rc, n, ref_rc, ref);
            }
        }

        if (tokenroute_json_int(&v, -7) != ref_json_int(s, -7)) {
            if (bad_json++ < 5) {
                printf("# tokenroute_json_int(%s): %lld, before: %lld\n", s,
                       (long long) tokenroute_json_int(&v, -7),
                       (long long) ref_json_int(s, -7));
            }
        }

        if (tr_above_one(&v) != (strtod(s, NULL) > 1.0)) {
            if (bad_one++ < 5) {
                printf("# tr_above_one(%s): %d\n", s, tr_above_one(&v));
            }
        }
    }

    ok(bad_int == 0, "tr_integer() as strpbrk() and strtoll() (%d differ)",
       bad_int);
    ok(bad_json == 0, "tokenroute_json_int() as before (%d differ)",
       bad_json);
    ok(bad_one == 0, "tr_above_one() as strtod() > 1.0 (%d differ)",
       bad_one);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
