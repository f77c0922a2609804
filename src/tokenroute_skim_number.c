
/*
 * Copyright (C) tokenroute authors
 *
 * The skimmer's numbers, with yajl's rules: an integer out of the range
 * of long long, or a double that overflows, makes the text not JSON; a
 * token count is taken if it is not negative and, as a double, whole and
 * below 9e18.  A double is worked out with strtod() only when its value
 * is needed, or when its magnitude is too close to DBL_MAX to tell.
 */


#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_skim_int.h"


static void tokenroute_skim_spill(tokenroute_skim_t *sk);
static int tokenroute_skim_digit(tokenroute_skim_t *sk, unsigned d,
    unsigned frac);
static int tokenroute_skim_double(tokenroute_skim_t *sk, int value,
    double *d);


/* the significant digits: in the struct, or on the heap once many */
#define tr_dig(sk)      ((sk)->dig_heap != NULL ? (sk)->dig_heap : (sk)->dig)


/*
 * A number, as yajl lexes it.  The integer part is kept in mag while it
 * has up to 19 digits; a longer one, or any fraction or exponent, goes
 * to dig[] as significant digits and a decimal exponent, for strtod().
 */

const u_char_t *
tokenroute_skim_number(tokenroute_skim_t *sk, const u_char_t *p,
    const u_char_t *last)
{
    unsigned  c, d;

    while (p < last) {
        c = *p;
        d = c - '0';

        switch (sk->num_state) {

        case TR_N_MINUS:
            if (d > 9) {
                return NULL;
            }

            p++;

            if (d == 0) {
                sk->num_state = TR_N_ZERO;
                break;
            }

            sk->mag = d;
            sk->int_digits = 1;
            sk->num_state = TR_N_INT;
            break;

        case TR_N_INT:
            if (d <= 9) {
                p++;

                if (sk->int_digits < 19) {
                    sk->mag = sk->mag * 10 + d;
                    sk->int_digits++;
                    break;
                }

                if (sk->int_digits == 19) {
                    tokenroute_skim_spill(sk);
                    sk->int_digits = 20;
                }

                if (tokenroute_skim_digit(sk, d, 0) != 0) {
                    return NULL;
                }

                break;
            }

            /* fall through */

        case TR_N_ZERO:
            if (c == '.' || (c | 0x20) == 'e') {
                p++;

                if (!sk->num_double) {
                    sk->num_double = 1;
                    sk->exp = 0;
                    sk->exp_neg = 0;

                    if (sk->int_digits < 20) {
                        tokenroute_skim_spill(sk);
                    }
                }

                sk->num_state = (c == '.') ? TR_N_DOT : TR_N_E;
                break;
            }

            return (tokenroute_skim_number_done(sk) == 0) ? p : NULL;

        case TR_N_DOT:
            if (d > 9) {
                return NULL;
            }

            sk->num_state = TR_N_FRAC;

            /* fall through */

        case TR_N_FRAC:
            if (d <= 9) {
                p++;

                if (tokenroute_skim_digit(sk, d, 1) != 0) {
                    return NULL;
                }

                break;
            }

            if ((c | 0x20) == 'e') {
                p++;
                sk->num_state = TR_N_E;
                break;
            }

            return (tokenroute_skim_number_done(sk) == 0) ? p : NULL;

        case TR_N_E:
            if (c == '+' || c == '-') {
                p++;
                sk->exp_neg = (c == '-');
                sk->num_state = TR_N_ESIGN;
                break;
            }

            /* fall through */

        case TR_N_ESIGN:
            if (d > 9) {
                return NULL;
            }

            sk->num_state = TR_N_EXP;

            /* fall through */

        default: /* TR_N_EXP */
            if (d <= 9) {
                p++;

                /* beyond a billion a number is 0 or infinite anyway */
                if (sk->exp < 1000000000) {
                    sk->exp = sk->exp * 10 + d;
                }

                break;
            }

            return (tokenroute_skim_number_done(sk) == 0) ? p : NULL;
        }
    }

    return last;
}


/* the integer part read so far moves to dig[] */

static void
tokenroute_skim_spill(tokenroute_skim_t *sk)
{
    char     *dig, tmp[20];
    size_t    n;
    uint64_t  v;

    n = 0;

    for (v = sk->mag; v != 0; v /= 10) {
        tmp[n++] = (char) ('0' + v % 10);
    }

    sk->dig_exp = 0;
    dig = tr_dig(sk);

    /* dig_n is 0 here: 19 digits fit in the struct */

    while (n > 0) {
        dig[sk->dig_n++] = tmp[--n];
    }
}


/* returns -1 only if more digits than the struct holds find no memory */

static int
tokenroute_skim_digit(tokenroute_skim_t *sk, unsigned d, unsigned frac)
{
    if (sk->dig_n == 0 && d == 0) {
        /* a leading zero of a fraction */
        sk->dig_exp -= frac;
        return 0;
    }

    if (sk->dig_n == TOKENROUTE_SKIM_DIG_INLINE && sk->dig_heap == NULL) {
        sk->dig_heap = malloc(TOKENROUTE_SKIM_DIGITS + 24);
        if (sk->dig_heap == NULL) {
            return -1;
        }

        memcpy(sk->dig_heap, sk->dig, TOKENROUTE_SKIM_DIG_INLINE);
    }

    if (sk->dig_n < TOKENROUTE_SKIM_DIGITS) {
        tr_dig(sk)[sk->dig_n++] = (char) ('0' + d);
        sk->dig_exp -= frac;
        return 0;
    }

    /* beyond what strtod() needs: only whether any is not zero matters */

    sk->dig_exp += !frac;

    if (d != 0) {
        sk->sticky = 1;
    }

    return 0;
}


/*
 * A complete number, with yajl's rules: an integer out of the range of
 * long long, or a double that overflows, is an error; a token count is
 * taken if it is not negative and, as a double, whole and below 9e18.
 */

int
tokenroute_skim_number_done(tokenroute_skim_t *sk)
{
    double    d;
    int64_t   v;
    unsigned  key, exact;

    key = sk->val_key;

    if (!sk->num_double) {

        /* -9223372036854775808 overflows too */

        if (sk->int_digits > 19 || sk->mag > INT64_MAX) {
            return -1;
        }

        v = sk->num_neg ? -(int64_t) sk->mag : (int64_t) sk->mag;

        tokenroute_skim_on_number(sk, key, v, 1);

    } else {

        if (tokenroute_skim_double(sk, key >= TR_KEY_TOKENS, &d) != 0) {
            return -1;
        }

        /* d is read only if the number is counted */
        exact = (key >= TR_KEY_TOKENS && d >= 0 && d < 9e18
                 && d == (double) (int64_t) d);

        tokenroute_skim_on_number(sk, key, exact ? (int64_t) d : 0, exact);
    }

    sk->state = sk->depth ? TR_S_NEXT : TR_S_DONE;

    return 0;
}


/*
 * Returns -1 if the double overflows.  Its value is worked out only if
 * asked for, or if its magnitude is too close to DBL_MAX to tell.
 */

static int
tokenroute_skim_double(tokenroute_skim_t *sk, int value, double *d)
{
    char    *dig;
    size_t   n, size;
    int64_t  e;

    dig = tr_dig(sk);
    size = (sk->dig_heap != NULL) ? TOKENROUTE_SKIM_DIGITS + 24
                                  : sizeof(sk->dig);

    e = sk->dig_exp + (sk->exp_neg ? -sk->exp : sk->exp);
    n = sk->dig_n;

    if (sk->sticky) {
        dig[n++] = '1';
        e--;
    }

    if (n == 0) {
        *d = sk->num_neg ? -0.0 : 0.0;
        return 0;
    }

    if (!value) {
        /* the power of ten of the leading digit; DBL_MAX is 1.79e308 */

        if ((int64_t) n - 1 + e < 308) {
            return 0;
        }

        if ((int64_t) n - 1 + e > 308) {
            return -1;
        }
    }

    /* with up to 801 digits, such exponents are 0 or infinity anyway */

    if (e > 99999) {
        e = 99999;

    } else if (e < -99999) {
        e = -99999;
    }

    snprintf(dig + n, size - n, "e%d", (int) e);

    errno = 0;
    *d = strtod(dig, NULL);

    if (*d == HUGE_VAL && errno == ERANGE) {
        return -1;
    }

    if (sk->num_neg) {
        *d = -*d;
    }

    return 0;
}


void
tokenroute_skim_tokens(tokenroute_skim_t *sk, unsigned key, int64_t value)
{
    unsigned  i;

    if (value < 0) {
        return;
    }

    i = key - TR_KEY_TOKENS;

    sk->tokens[i] = value;
    sk->tokens_seen |= 1 << i;
}

