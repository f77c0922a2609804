
/*
 * Copyright (C) tokenroute authors
 *
 * Money in nano-USD: USD amounts parsed and formatted exactly, the cost
 * of tokens at a price per million rounded up, and the bound every
 * amount sent to Redis is held to.
 */


#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tokenroute_money.h"


#define TOKENROUTE_MONEY_FRAC_DIGITS  9


int
tokenroute_money_parse_usd(const char *s, size_t len, int64_t *out)
{
    int64_t      units, frac, max_units, digit;
    size_t       nfrac;
    const char  *p, *end;

    if (s == NULL || out == NULL) {
        return -1;
    }

    p = s;
    end = s + len;

    if (p < end && *p == '$') {
        p++;
    }

    if (p == end || *p < '0' || *p > '9') {
        return -1;
    }

    max_units = INT64_MAX / TOKENROUTE_NUSD_PER_USD;
    units = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        digit = *p++ - '0';

        if (units > (max_units - digit) / 10) {
            return -1;
        }

        units = units * 10 + digit;
    }

    frac = 0;
    nfrac = 0;

    if (p < end && *p == '.') {
        p++;

        while (p < end && *p >= '0' && *p <= '9') {
            if (nfrac == TOKENROUTE_MONEY_FRAC_DIGITS) {
                return -1;
            }

            frac = frac * 10 + (*p++ - '0');
            nfrac++;
        }

        if (nfrac == 0) {
            return -1;
        }
    }

    if (p != end) {
        return -1;
    }

    for ( /* void */ ; nfrac < TOKENROUTE_MONEY_FRAC_DIGITS; nfrac++) {
        frac *= 10;
    }

    units *= TOKENROUTE_NUSD_PER_USD;

    if (units > INT64_MAX - frac) {
        return -1;
    }

    *out = units + frac;

    return 0;
}


size_t
tokenroute_money_format_usd(int64_t nusd, char *buf, size_t size)
{
    int       n;
    char      tmp[TOKENROUTE_MONEY_BUF_LEN], frac[16];
    size_t    len, nfrac, copy;
    uint64_t  mag;

    /* INT64_MIN has no positive counterpart in int64_t */
    mag = (nusd < 0) ? (uint64_t) -(nusd + 1) + 1 : (uint64_t) nusd;

    n = snprintf(frac, sizeof(frac), "%09" PRIu64,
                 mag % (uint64_t) TOKENROUTE_NUSD_PER_USD);
    if (n != TOKENROUTE_MONEY_FRAC_DIGITS) {
        return 0;
    }

    for (nfrac = TOKENROUTE_MONEY_FRAC_DIGITS;
         nfrac > 2 && frac[nfrac - 1] == '0';
         nfrac--)
    {
        /* void */
    }

    n = snprintf(tmp, sizeof(tmp), "%s%" PRIu64 ".%.*s",
                 (nusd < 0) ? "-" : "",
                 mag / (uint64_t) TOKENROUTE_NUSD_PER_USD,
                 (int) nfrac, frac);
    if (n < 0) {
        return 0;
    }

    len = (size_t) n;

    if (buf != NULL && size > 0) {
        copy = (len < size) ? len : size - 1;
        memcpy(buf, tmp, copy);
        buf[copy] = '\0';
    }

    return len;
}


int64_t
tokenroute_money_cost(int64_t tokens, int64_t nusd_per_mtok)
{
    int64_t  tq, tr, pq, pr, cost, part;

    if (tokens < 0 || nusd_per_mtok < 0) {
        return -1;
    }

    /*
     * Under 2^24 tokens at under 2^38 nano-USD (about $274) a million, as
     * nearly always: the product fits in 62 bits, one division
     * (t/unit/money.c holds both paths to 128-bit arithmetic).
     */

    if (tokens < (1LL << 24) && nusd_per_mtok < (1LL << 38)) {
        return (tokens * nusd_per_mtok + TOKENROUTE_TOKENS_PER_MTOK - 1)
               / TOKENROUTE_TOKENS_PER_MTOK;
    }

    /*
     * tokens * price / 1e6 without a 128-bit product: with
     * tokens = tq * 1e6 + tr and price = pq * 1e6 + pr it is
     * tq * price + tr * pq + tr * pr / 1e6, and only the last term has a
     * fraction to round up; tr * pr < 1e12 and tr * pq < INT64_MAX
     */

    tq = tokens / TOKENROUTE_TOKENS_PER_MTOK;
    tr = tokens % TOKENROUTE_TOKENS_PER_MTOK;
    pq = nusd_per_mtok / TOKENROUTE_TOKENS_PER_MTOK;
    pr = nusd_per_mtok % TOKENROUTE_TOKENS_PER_MTOK;

    if (tq != 0 && nusd_per_mtok > INT64_MAX / tq) {
        return INT64_MAX;
    }

    cost = tq * nusd_per_mtok;

    part = tr * pq;

    if (cost > INT64_MAX - part) {
        return INT64_MAX;
    }

    cost += part;

    part = (tr * pr + TOKENROUTE_TOKENS_PER_MTOK - 1)
           / TOKENROUTE_TOKENS_PER_MTOK;

    if (cost > INT64_MAX - part) {
        return INT64_MAX;
    }

    return cost + part;
}


int64_t
tokenroute_money_cost_times(int64_t tokens, int64_t nusd_per_mtok,
    int64_t num, int64_t den)
{
    int64_t  cost;

    if (tokens < 0 || nusd_per_mtok < 0 || num <= 0 || den <= 0) {
        return -1;
    }

    if (tokens > INT64_MAX / num) {
        return (nusd_per_mtok == 0) ? 0 : INT64_MAX;
    }

    /* ceil(ceil(x) / den) == ceil(x / den): rounded up once, exactly */

    cost = tokenroute_money_cost(tokens * num, nusd_per_mtok);

    if (cost == INT64_MAX) {
        return cost;
    }

    return cost / den + (cost % den != 0);
}


int64_t
tokenroute_money_bound(int64_t nusd)
{
    if (nusd < 0) {
        return 0;
    }

    return (nusd > TOKENROUTE_MONEY_MAX) ? TOKENROUTE_MONEY_MAX : nusd;
}


int64_t
tokenroute_money_add(int64_t a, int64_t b)
{
    /* two bounded amounts add up without overflow: 2 * 2^53 < 2^63 */

    return tokenroute_money_bound(tokenroute_money_bound(a)
                                  + tokenroute_money_bound(b));
}
