
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the leases' arithmetic (src/tokenroute_lease_math.c),
 * each function also compared with the code it replaced in the lease
 * files (ngx_hextoi() digit by digit, the models loop of
 * ngx_http_tokenroute_lease_admit()) on random inputs.  Prints TAP.
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_lease_math.h>
#include <tokenroute_money.h>

#include "tap.h"


#define ROUNDS  200000


static uint64_t  rng = 0x9e3779b97f4a7c15ULL;


static uint64_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}


/* ngx_hextoi() of one digit, as the slot was computed before */

static int64_t
ref_hextoi(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c = (unsigned char) (c | 0x20);

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static uint64_t
ref_slot(const unsigned char *kh)
{
    uint64_t  h;
    int       i;

    h = 0;

    for (i = 0; i < 8; i++) {
        h = h * 16 + (uint64_t) ref_hextoi(kh[i]);
    }

    return h;
}


/* the models loop of ngx_http_tokenroute_lease_admit(), as it was */

static int
ref_allowed(const unsigned char *models, size_t models_len,
    const unsigned char *id, size_t id_len)
{
    const unsigned char  *q, *last, *c;
    size_t                len;

    if (models_len == 0) {
        return 1;
    }

    q = models;
    last = models + models_len;

    while (q < last) {
        c = memchr(q, ',', last - q);
        len = c ? (size_t) (c - q) : (size_t) (last - q);

        if (len == id_len && memcmp(q, id, len) == 0) {
            return 1;
        }

        q += len + 1;
    }

    return 0;
}


static void
test_slot(void)
{
    static const char    hex[] = "0123456789abcdefABCDEF";
    unsigned char        kh[64];
    int                  i, r, bad;

    ok(tokenroute_lease_slot((const unsigned char *) "00000000ff")
       == 0, "slot of 0s");
    ok(tokenroute_lease_slot((const unsigned char *) "ffffffff")
       == 0xffffffffU, "slot of fs");
    ok(tokenroute_lease_slot((const unsigned char *) "FFFFFFFF")
       == 0xffffffffU, "slot of Fs");
    ok(tokenroute_lease_slot((const unsigned char *) "0123abcd")
       == 0x0123abcdU, "slot of 0123abcd");
    ok(tokenroute_lease_slot((const unsigned char *) "9a9A9f9F")
       == 0x9a9a9f9fU, "slot of 9a9A9f9F");

    bad = 0;

    for (r = 0; r < ROUNDS; r++) {
        for (i = 0; i < 64; i++) {
            kh[i] = (unsigned char) hex[next() % (sizeof(hex) - 1)];
        }

        if ((uint64_t) tokenroute_lease_slot(kh) != ref_slot(kh)) {
            bad++;
        }
    }

    ok(bad == 0, "slot equals ngx_hextoi's on %d random hashes (%d differ)",
       ROUNDS, bad);
}


static void
test_want(void)
{
    int64_t  max, amount, want, ref;
    uint64_t slice;
    int      r, bad;

    max = TOKENROUTE_MONEY_MAX;

    ok(tokenroute_lease_want(1000, 64, max) == 64000, "want 1000 x 64");
    ok(tokenroute_lease_want(0, 64, max) == 0, "want of nothing");
    ok(tokenroute_lease_want(max, 1000000, max) == max,
       "want saturates at the largest amount");
    ok(tokenroute_lease_want(max / 64, 64, max) == max / 64 * 64,
       "want just below the bound");
    ok(tokenroute_lease_want(max / 64 + 1, 64, max) == max,
       "want just above the bound saturates");
    ok(tokenroute_lease_want(5, 0, max) == 0, "no slice, no want");

    bad = 0;

    for (r = 0; r < ROUNDS; r++) {
        amount = (int64_t) (next() % (uint64_t) max) >> (next() % 50);
        slice = 1 + next() % 1000000;
        want = tokenroute_lease_want(amount, slice, max);

        /* as lease_redis.c computed it */
        ref = (amount > max / (int64_t) slice) ? max
              : amount * (int64_t) slice;

        if (want != ref || want < 0 || want > max) {
            bad++;
        }
    }

    ok(bad == 0, "want equals the former formula on %d draws (%d differ)",
       ROUNDS, bad);
}


static void
test_topup_grow_back(void)
{
    int64_t  reserve, cost, ref;
    int      r, bad;

    ok(tokenroute_lease_topup(1000, 200) == 800, "topup 1000 - 200");
    ok(tokenroute_lease_topup(1000, -50) == 1000, "topup over a debt");
    ok(tokenroute_lease_topup(1000, 1500) == 0, "topup of a full slice");

    ok(tokenroute_lease_grow(1000, 100, 0, 10, 200) == 2000,
       "used up quickly: doubled");
    ok(tokenroute_lease_grow(1000, 300, 0, 10, 200) == 1000,
       "a quarter left: kept");
    ok(tokenroute_lease_grow(1000, 100, 1, 10, 200) == 1000,
       "capped: kept");
    ok(tokenroute_lease_grow(1000, 100, 0, 200, 200) == 1000,
       "used up slowly: kept");
    ok(tokenroute_lease_grow((int64_t) 1 << 50, 0, 0, 0, 200)
       == (int64_t) 1 << 50, "not past 2^50");

    ok(tokenroute_lease_unspent(1000, 300) == 700, "back 1000 - 300");
    ok(tokenroute_lease_unspent(1000, 1000) == 0, "back of a whole cost");
    ok(tokenroute_lease_unspent(1000, 5000) == 0, "never below 0");
    ok(tokenroute_lease_unspent(0, 0) == 0, "back of nothing");

    bad = 0;

    for (r = 0; r < ROUNDS; r++) {
        reserve = (int64_t) (next() % (uint64_t) TOKENROUTE_MONEY_MAX);
        cost = (int64_t) (next() % (uint64_t) TOKENROUTE_MONEY_MAX)
               >> (next() % 60);

        /* as lease_settle.c computed it */
        ref = reserve - (cost < reserve ? cost : reserve);

        if (tokenroute_lease_unspent(reserve, cost) != ref) {
            bad++;
        }
    }

    ok(bad == 0, "back equals the former formula on %d draws (%d differ)",
       ROUNDS, bad);
}


static void
test_models(void)
{
    static const char   *ids[] = { "a", "ab", "b", "openai/x", "x", "ba" };
    unsigned char        list[64];
    size_t               len, id_len;
    const char          *id;
    int                  r, k, n, bad;

#define ALLOWED(l, m)                                                        \
    tokenroute_lease_model_allowed((const unsigned char *) l, strlen(l),     \
                                   (const unsigned char *) m, strlen(m))

    ok(ALLOWED("", "any") == 1, "empty list: every model");
    ok(ALLOWED("a,b", "a") == 1, "first of a list");
    ok(ALLOWED("a,b", "b") == 1, "last of a list");
    ok(ALLOWED("a,b", "ab") == 0, "not a concatenation");
    ok(ALLOWED("ab", "a") == 0, "not a prefix");
    ok(ALLOWED("xa", "a") == 0, "not a suffix");
    ok(ALLOWED("a,", "a") == 1, "a trailing comma");
    ok(ALLOWED(",a", "a") == 1, "a leading comma");
    ok(ALLOWED("b,", "a") == 0, "a trailing comma, not there");

    bad = 0;

    for (r = 0; r < ROUNDS; r++) {
        n = (int) (next() % 5);
        len = 0;

        for (k = 0; k < n; k++) {
            id = (next() % 8 == 0) ? "" : ids[next() % 6];

            if (k) {
                list[len++] = ',';
            }

            memcpy(list + len, id, strlen(id));
            len += strlen(id);
        }

        /* model ids are never empty */
        id = ids[next() % 6];
        id_len = strlen(id);

        if (tokenroute_lease_model_allowed(list, len,
                                           (const unsigned char *) id,
                                           id_len)
            != ref_allowed(list, len, (const unsigned char *) id, id_len))
        {
            bad++;
        }
    }

    ok(bad == 0, "models equal the former loop on %d lists (%d differ)",
       ROUNDS, bad);
}


int
main(void)
{
    test_slot();
    test_want();
    test_topup_grow_back();
    test_models();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
