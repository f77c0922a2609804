
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for money (src/tokenroute_money.c): USD amounts parsed and
 * formatted, the cost of tokens, and amounts bounded and added without
 * overflow.  Prints TAP.
 */


#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <tokenroute_money.h>

#include "tap.h"


typedef struct {
    const char  *in;
    int          rc;
    int64_t      nusd;
} money_parse_case_t;


typedef struct {
    int64_t      nusd;
    const char  *out;
} money_format_case_t;


typedef struct {
    int64_t      tokens;
    int64_t      price;
    int64_t      cost;
} money_cost_case_t;


static void test_parse(void);
static void test_parse_len(void);
static void test_format(void);
static void test_format_truncate(void);
static void test_cost(void);
static void test_bound(void);
static void test_cost_times(void);
static void test_cost_wide(void);
static int64_t cost_wide(int64_t tokens, int64_t price);




static money_parse_case_t  parse_cases[] = {
    { "0", 0, 0 },
    { "5", 0, 5000000000LL },
    { "0.25", 0, 250000000LL },
    { "$3.5", 0, 3500000000LL },
    { "12.000000001", 0, 12000000001LL },
    { "0.000000001", 0, 1 },
    { "0.999999999", 0, 999999999LL },
    { "007.10", 0, 7100000000LL },
    { "$0", 0, 0 },
    { "9223372036.854775807", 0, INT64_MAX },
    { "9223372036", 0, 9223372036000000000LL },
    { "9223372036.854775808", -1, 0 },
    { "9223372037", -1, 0 },
    { "99999999999999999999999", -1, 0 },
    { "0.0000000001", -1, 0 },
    { "1.1234567890", -1, 0 },
    { "", -1, 0 },
    { "$", -1, 0 },
    { "$$5", -1, 0 },
    { "-5", -1, 0 },
    { "+5", -1, 0 },
    { "-0", -1, 0 },
    { "1e3", -1, 0 },
    { "1E3", -1, 0 },
    { ".5", -1, 0 },
    { "5.", -1, 0 },
    { "5..0", -1, 0 },
    { "5.0.0", -1, 0 },
    { " 5", -1, 0 },
    { "5 ", -1, 0 },
    { "5$", -1, 0 },
    { "1,000", -1, 0 },
    { "0x10", -1, 0 },
    { "inf", -1, 0 },
    { "nan", -1, 0 },
    { "USD5", -1, 0 },
    { NULL, 0, 0 }
};


static money_format_case_t  format_cases[] = {
    { 0, "0.00" },
    { 5000000000LL, "5.00" },
    { 250000000LL, "0.25" },
    { 1000, "0.000001" },
    { 1, "0.000000001" },
    { 12345678901LL, "12.345678901" },
    { 3500000000LL, "3.50" },
    { 1230000000LL, "1.23" },
    { 1234000000LL, "1.234" },
    { 999999999LL, "0.999999999" },
    { -1, "-0.000000001" },
    { -500000000LL, "-0.50" },
    { -12345678901LL, "-12.345678901" },
    { INT64_MAX, "9223372036.854775807" },
    { INT64_MIN, "-9223372036.854775808" },
    { 0, NULL }
};


static money_cost_case_t  cost_cases[] = {
    { 0, 0, 0 },
    { 0, 3000000000LL, 0 },
    { 1000, 0, 0 },
    { 1000000, 3000000000LL, 3000000000LL },
    { 1000, 3000000000LL, 3000000 },
    { 1, 3000000000LL, 3000 },
    /* 1 token at 1 nano-USD per million is 1e-6 nano-USD: charged 1 */
    { 1, 1, 1 },
    { 999999, 1, 1 },
    { 1000000, 1, 1 },
    { 1000001, 1, 2 },
    { 3, 333333, 1 },
    { 1500000, 1, 2 },
    { 1234567, 2500000000LL, 3086417500LL },
    { 1234567, 15000001, 18518507 },
    /* the documented bounds: 1e12 tokens at 1e15 nano-USD per Mtok */
    { 1000000000000LL, 1000000000LL, 1000000000000000LL },
    { 1000000000000LL, 1000000000000LL, 1000000000000000000LL },
    { 1000000000000LL, 1000000000000000LL, INT64_MAX },
    { 999999999999LL, 999999999999999LL, INT64_MAX },
    { 9223372LL, 1000000000000LL, 9223372000000LL },
    { 1000000000000LL, 9223372036854LL, 9223372036854000000LL },
    { 1000000000000LL, 9223372036855LL, INT64_MAX },
    { 999999, 999999999999999LL, 999999000000000LL },
    { INT64_MAX, 1000000, INT64_MAX },
    { INT64_MAX, 1000001, INT64_MAX },
    { INT64_MAX - 1, 1000000, INT64_MAX - 1 },
    { INT64_MAX, 1, 9223372036855LL },
    { INT64_MAX, INT64_MAX, INT64_MAX },
    { 1, INT64_MAX, 9223372036855LL },
    { -1, 1, -1 },
    { 1, -1, -1 },
    { INT64_MIN, 0, -1 },
    { 0, 0, -2 }
};



static void
test_parse(void)
{
    int                  rc;
    int64_t              nusd;
    money_parse_case_t  *c;

    for (c = parse_cases; c->in != NULL; c++) {
        nusd = -42;
        rc = tokenroute_money_parse_usd(c->in, strlen(c->in), &nusd);

        if (c->rc == 0) {
            ok(rc == 0 && nusd == c->nusd,
               "parse \"%s\" = %" PRId64 " (got rc %d, %" PRId64 ")",
               c->in, c->nusd, rc, nusd);

        } else {
            ok(rc == -1 && nusd == -42,
               "parse \"%s\" fails and leaves the output alone (rc %d)",
               c->in, rc);
        }
    }
}


static void
test_parse_len(void)
{
    int      rc;
    int64_t  nusd;

    /* the length bounds the input: no NUL terminator is needed */
    rc = tokenroute_money_parse_usd("2.5xyz", 3, &nusd);
    ok(rc == 0 && nusd == 2500000000LL, "parse honours len");

    rc = tokenroute_money_parse_usd("2.5", 2, &nusd);
    ok(rc == -1, "parse of a cut \"2.\" fails");

    rc = tokenroute_money_parse_usd("1\0" "5", 3, &nusd);
    ok(rc == -1, "parse rejects an embedded NUL");

    rc = tokenroute_money_parse_usd(NULL, 0, &nusd);
    ok(rc == -1, "parse rejects NULL input");

    rc = tokenroute_money_parse_usd("1", 1, NULL);
    ok(rc == -1, "parse rejects a NULL output");
}


static void
test_format(void)
{
    char                  buf[TOKENROUTE_MONEY_BUF_LEN];
    size_t                len;
    money_format_case_t  *c;

    for (c = format_cases; c->out != NULL; c++) {
        memset(buf, 'x', sizeof(buf));
        len = tokenroute_money_format_usd(c->nusd, buf, sizeof(buf));

        ok(len == strlen(c->out) && strcmp(buf, c->out) == 0,
           "format %" PRId64 " = \"%s\" (got \"%s\", %zu)",
           c->nusd, c->out, buf, len);
    }
}


static void
test_format_truncate(void)
{
    char    buf[8];
    size_t  len;

    memset(buf, 'x', sizeof(buf));
    len = tokenroute_money_format_usd(12345678901LL, buf, 5);
    ok(len == 12 && strcmp(buf, "12.3") == 0 && buf[5] == 'x',
       "format truncates like snprintf (got \"%s\", %zu)", buf, len);

    memset(buf, 'x', sizeof(buf));
    len = tokenroute_money_format_usd(5000000000LL, buf, 0);
    ok(len == 4 && buf[0] == 'x', "format with size 0 writes nothing");

    len = tokenroute_money_format_usd(5000000000LL, NULL, 0);
    ok(len == 4, "format with a NULL buffer returns the length");

    len = tokenroute_money_format_usd(5000000000LL, buf, 5);
    ok(len == 4 && strcmp(buf, "5.00") == 0, "format fits exactly");
}


static void
test_cost(void)
{
    int64_t             cost, nusd;
    money_cost_case_t  *c;

    for (c = cost_cases; c->cost != -2; c++) {
        cost = tokenroute_money_cost(c->tokens, c->price);

        ok(cost == c->cost,
           "cost of %" PRId64 " tokens at %" PRId64 "/Mtok = %" PRId64
           " (got %" PRId64 ")", c->tokens, c->price, c->cost, cost);
    }

    /* a parsed price and a formatted cost round-trip through the helpers */
    if (tokenroute_money_parse_usd("$15", 3, &nusd) != 0) {
        nusd = -1;
    }

    cost = tokenroute_money_cost(2000, nusd);
    ok(cost == 30000000, "2000 tokens at $15/Mtok cost 30000000 nano-USD");
}


/* amounts for Redis: never negative, never at or past 2^53 */

static void
test_bound(void)
{
    int64_t  max;

    max = TOKENROUTE_MONEY_MAX;

    ok(max == 9007199254740991LL, "the ceiling is 2^53 - 1");
    ok(tokenroute_money_bound(-1) == 0, "bound(-1) = 0");
    ok(tokenroute_money_bound(INT64_MIN) == 0, "bound(INT64_MIN) = 0");
    ok(tokenroute_money_bound(12345) == 12345, "bound(12345) = 12345");
    ok(tokenroute_money_bound(max) == max, "bound(max) = max");
    ok(tokenroute_money_bound(max + 1) == max, "bound(max + 1) = max");
    ok(tokenroute_money_bound(INT64_MAX) == max, "bound(INT64_MAX) = max");

    ok(tokenroute_money_add(1, 2) == 3, "add(1, 2) = 3");
    ok(tokenroute_money_add(INT64_MAX, INT64_MAX) == max,
       "add(INT64_MAX, INT64_MAX) saturates, no overflow");
    ok(tokenroute_money_add(INT64_MAX, 1) == max, "add(INT64_MAX, 1) = max");
    ok(tokenroute_money_add(max, max) == max, "add(max, max) = max");
    ok(tokenroute_money_add(max - 1, 1) == max, "add(max - 1, 1) = max");
    ok(tokenroute_money_add(-5, 7) == 7, "add(-5, 7) = 7");

    /* the extreme inputs of a reservation: 2^63-1 tokens at any price */
    ok(tokenroute_money_add(tokenroute_money_cost(INT64_MAX, 15000000000LL),
                            tokenroute_money_cost(INT64_MAX, 1))
       == max, "cost(2^63-1 tokens) + cost(2^63-1 tokens) = max");
    ok(tokenroute_money_cost(20000000000000000LL, 15000000000LL)
       == INT64_MAX, "cost(2e16 tokens at $15/Mtok) saturates");
}


/* a price times a ratio: Anthropic's cache writes, 5/4 and 2/1 */

static void
test_cost_times(void)
{
    ok(tokenroute_money_cost_times(1000000, 3000000000LL, 5, 4)
       == 3750000000LL, "a million tokens at 5/4 of $3 cost $3.75");
    ok(tokenroute_money_cost_times(1000000, 3000000000LL, 2, 1)
       == 6000000000LL, "a million tokens at 2 x $3 cost $6");
    ok(tokenroute_money_cost_times(1000000, 1, 5, 4) == 2,
       "1.25 nano-USD rounds up to 2");
    ok(tokenroute_money_cost_times(800000, 1, 5, 4) == 1,
       "rounded once, not per step: 0.8 x 1.25 = 1");
    ok(tokenroute_money_cost_times(3, 1000001, 5, 4) == 4,
       "3 tokens at 5/4 of 1000001: 3.75000375, so 4");
    ok(tokenroute_money_cost_times(500000, 1, 2, 1) == 1,
       "0.5 x 2 = 1, exactly");
    ok(tokenroute_money_cost_times(500001, 1, 2, 1) == 2,
       "1.000002 rounds up to 2");
    ok(tokenroute_money_cost_times(7, 0, 5, 4) == 0,
       "a free price costs nothing");
    ok(tokenroute_money_cost_times(INT64_MAX / 4, 1, 5, 4) == INT64_MAX,
       "saturates when tokens x 5 does not fit");
    ok(tokenroute_money_cost_times(INT64_MAX, 0, 2, 1) == 0,
       "however many tokens, a free price costs nothing");
    ok(tokenroute_money_cost_times(-1, 1, 5, 4) == -1,
       "a negative count is an error");
    ok(tokenroute_money_cost_times(1, -1, 5, 4) == -1,
       "a negative price is an error");
    ok(tokenroute_money_cost_times(1, 1, 0, 4) == -1
       && tokenroute_money_cost_times(1, 1, 5, 0) == -1,
       "a ratio that is not positive is an error");
}


int
main(void)
{
    test_parse();
    test_parse_len();
    test_format();
    test_format_truncate();
    test_cost();
    test_bound();
    test_cost_times();
    test_cost_wide();

    printf("1..%d\n", tests);

    if (failed) {
        printf("# failed %d of %d\n", failed, tests);
        return 1;
    }

    return 0;
}


/*
 * The cost of tokens against the exact answer in 128 bits, rounded up,
 * INT64_MAX past it: around the bounds of the one-division path (under
 * 2^24 tokens, 2^38 a million) and of the split one, and at random.
 */

static int64_t
cost_wide(int64_t tokens, int64_t price)
{
    unsigned __int128  exact;

    if (tokens < 0 || price < 0) {
        return -1;
    }

    exact = ((unsigned __int128) tokens * (unsigned __int128) price
             + 999999) / 1000000;

    return (exact > (unsigned __int128) INT64_MAX) ? INT64_MAX
                                                   : (int64_t) exact;
}


static void
test_cost_wide(void)
{
    int       i, j, bad;
    int64_t   t, p, got, want;
    uint64_t  x;

    static const int64_t  edge[] = {
        -1, 0, 1, 2, 999, 999999, 1000000, 1000001, 1999999,
        INT32_MAX - 1, INT32_MAX, (int64_t) INT32_MAX + 1,
        (int64_t) UINT32_MAX, (int64_t) UINT32_MAX + 1,
        (1LL << 24) - 1, 1LL << 24, (1LL << 38) - 1, 1LL << 38,
        15000000000LL, 3037000499LL, 3037000500LL, 1000000000000LL, 9007199254740991LL,
        INT64_MAX / 1000000, INT64_MAX - 1, INT64_MAX
    };

    bad = 0;

    for (i = 0; i < (int) (sizeof(edge) / sizeof(edge[0])); i++) {
        for (j = 0; j < (int) (sizeof(edge) / sizeof(edge[0])); j++) {
            got = tokenroute_money_cost(edge[i], edge[j]);
            want = cost_wide(edge[i], edge[j]);

            if (got != want && bad++ < 5) {
                printf("# cost(%" PRId64 ", %" PRId64 ") = %" PRId64
                     ", want %" PRId64 "\n", edge[i], edge[j], got, want);
            }
        }
    }

    x = 88172645463325252ULL;

    for (i = 0; i < 200000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        t = (int64_t) (x >> (x % 64 | 1)) & INT64_MAX;
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        p = (int64_t) (x >> (x % 64 | 1)) & INT64_MAX;

        if (i % 4 == 0) {
            t %= (1LL << 24) + 2;
            p %= (1LL << 38) + 2;
        }

        got = tokenroute_money_cost(t, p);
        want = cost_wide(t, p);

        if (got != want && bad++ < 5) {
            printf("# cost(%" PRId64 ", %" PRId64 ") = %" PRId64 ", want %" PRId64 "\n",
                 t, p, got, want);
        }
    }

    ok(bad == 0, "cost of tokens = the exact 128-bit cost rounded up, "
       "bounded (%d differ)", bad);
}
