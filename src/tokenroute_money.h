
/*
 * Copyright (C) tokenroute authors
 *
 * Money as an int64_t count of nano-USD, exact: USD amounts parsed and
 * formatted, the cost of tokens at a price per million, and the bound
 * that keeps every amount exact in Redis's Lua.  Plain C: no nginx
 * dependency (the CLI shares it).
 */


#ifndef _TOKENROUTE_MONEY_H_INCLUDED_
#define _TOKENROUTE_MONEY_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* money is an int64_t count of nano-USD */
#define TOKENROUTE_NUSD_PER_USD    1000000000LL

/* prices are given per million tokens */
#define TOKENROUTE_TOKENS_PER_MTOK 1000000LL

/*
 * The most any amount the gateway computes may be, 2^53 - 1 nano-USD
 * (9,007,199.254740991 USD): Redis's Lua numbers are doubles, exact only
 * below 2^53.  Reservations and charges saturate here.
 */
#define TOKENROUTE_MONEY_MAX       ((int64_t) 9007199254740991LL)

/* the longest formatted amount, with its NUL */
#define TOKENROUTE_MONEY_BUF_LEN   sizeof("-9223372036.854775808")


/*
 * Parses "5", "0.25", "$3.5", "12.000000001": an optional '$', at least one
 * integer digit, then optionally '.' and 1-9 fractional digits.  Signs,
 * exponents, spaces, more than 9 decimals and amounts over INT64_MAX nano-USD
 * are errors.  Returns 0 and sets *out, or -1.
 */
int tokenroute_money_parse_usd(const char *s, size_t len, int64_t *out);

/*
 * Formats nusd as USD with 2 to 9 decimals ("5.00", "0.000001",
 * "-12.345678901").  Like snprintf(): returns the length of the whole
 * string, writes at most size bytes including the NUL.
 */
size_t tokenroute_money_format_usd(int64_t nusd, char *buf, size_t size);

/*
 * The cost of tokens at nusd_per_mtok nano-USD per million tokens, rounded
 * up to whole nano-USD.  Returns -1 if an argument is negative and saturates
 * at INT64_MAX when the cost does not fit.
 */
int64_t tokenroute_money_cost(int64_t tokens, int64_t nusd_per_mtok);

/*
 * The cost of tokens at num / den times nusd_per_mtok (Anthropic's cache
 * writes: 5/4, 2/1), exact and rounded up once.  Returns -1 if a count
 * or a price is negative or the ratio is not positive, and saturates at
 * INT64_MAX.
 */
int64_t tokenroute_money_cost_times(int64_t tokens, int64_t nusd_per_mtok,
    int64_t num, int64_t den);

/*
 * An amount fit for Redis: a negative one is 0, one above
 * TOKENROUTE_MONEY_MAX is TOKENROUTE_MONEY_MAX.
 */
int64_t tokenroute_money_bound(int64_t nusd);

/* a + b, each bounded as tokenroute_money_bound() does, and the sum too */
int64_t tokenroute_money_add(int64_t a, int64_t b);


#endif /* _TOKENROUTE_MONEY_H_INCLUDED_ */
