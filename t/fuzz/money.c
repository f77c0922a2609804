
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the USD amount parser and formatter
 * (src/tokenroute_money.c), which read the model directives' prices
 * (input_price=, output_price=, cached_input_price=) and the CLI's
 * amounts.  Input: the text to parse.  The parse must agree with a plain
 * restatement of its rules in 128-bit arithmetic; an amount parsed,
 * formatted and parsed again must come back unchanged; and the first 8
 * bytes as an amount must format within TOKENROUTE_MONEY_BUF_LEN, cut
 * like snprintf() into a short buffer.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_money.h>

#include "fuzz.h"


static int
ref_parse(const uint8_t *s, size_t len, int64_t *out)
{
    size_t     i, frac;
    __int128   v;

    i = 0;

    if (i < len && s[i] == '$') {
        i++;
    }

    if (i == len || s[i] < '0' || s[i] > '9') {
        return -1;
    }

    v = 0;

    for ( /* void */ ; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');

        if (v > INT64_MAX) {
            return -1;
        }
    }

    v *= TOKENROUTE_NUSD_PER_USD;

    if (i < len && s[i] == '.') {
        i++;

        for (frac = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac++) {
            if (frac == 9) {
                return -1;
            }
        }

        if (frac == 0) {
            return -1;
        }

        {
            __int128  f = 0;
            size_t    k;

            for (k = 0; k < 9; k++) {
                f = f * 10 + (k < frac ? s[i - frac + k] - '0' : 0);
            }

            v += f;
        }
    }

    if (i != len || v > INT64_MAX) {
        return -1;
    }

    *out = (int64_t) v;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int      rc, want;
    char     buf[TOKENROUTE_MONEY_BUF_LEN + 8], small[8];
    size_t   n, m;
    int64_t  v, w, again;

    v = -1;
    w = -2;

    rc = tokenroute_money_parse_usd((const char *) data, size, &v);
    want = ref_parse(data, size, &w);

    fuzz_check(rc == want, "the verdict of the rules");
    fuzz_check(rc != 0 || v == w, "the amount of the rules");

    if (rc == 0) {
        n = tokenroute_money_format_usd(v, buf, sizeof(buf));
        fuzz_check(n < TOKENROUTE_MONEY_BUF_LEN && strlen(buf) == n,
                   "formatted in full");
        fuzz_check(tokenroute_money_parse_usd(buf, n, &again) == 0
                   && again == v, "parsed back unchanged");
    }

    if (size >= 8) {
        memcpy(&v, data, 8);

        memset(buf, '#', sizeof(buf));
        n = tokenroute_money_format_usd(v, buf, TOKENROUTE_MONEY_BUF_LEN);
        fuzz_check(n < TOKENROUTE_MONEY_BUF_LEN && strlen(buf) == n,
                   "any amount fits the buffer");

        if (v >= 0) {
            fuzz_check(tokenroute_money_parse_usd(buf, n, &again) == 0
                       && again == v, "any amount parses back");
        }

        m = data[8 % size] % sizeof(small);
        memset(small, '#', sizeof(small));
        fuzz_check(tokenroute_money_format_usd(v, small, m) == n,
                   "the whole length when cut");
        fuzz_check(m == 0 || (strlen(small) == (n < m ? n : m - 1)
                              && memcmp(small, buf, strlen(small)) == 0),
                   "cut as snprintf()");
        fuzz_check(m == sizeof(small) || small[m] == '#',
                   "nothing past the size");
    }

    return 0;
}
