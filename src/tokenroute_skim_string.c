
/*
 * Copyright (C) tokenroute authors
 *
 * The skimmer's strings, byte by byte where need be: split between two
 * pieces of a body, with escapes, or after the top-level value.  Escapes
 * are decoded exactly as yajl_string_decode() does (Debian's 2.1.0): the
 * length of generated text and the keys matched are the ones yajl gives.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenroute_json_value.h"
#include "tokenroute_skim_int.h"


static void tokenroute_skim_emit(tokenroute_skim_t *sk, const u_char_t *s,
    size_t n);
static int tokenroute_skim_string_done(tokenroute_skim_t *sk,
    const u_char_t *s, size_t n);


void
tokenroute_skim_string_start(tokenroute_skim_t *sk, unsigned role)
{
    unsigned  mode;

    mode = TR_M_SKIP;

    if (role == TR_R_KEY) {
        if (tr_kind(sk->top) != TR_K_OTHER) {
            mode = TR_M_CAPTURE;
        }

    } else if (role == TR_R_VALUE) {
        if (sk->val_key == TR_KEY_TEXT) {
            mode = TR_M_COUNT;

        } else if (sk->val_key == TR_KEY_TYPE) {
            mode = TR_M_CAPTURE;
        }
    }

    sk->state = TR_S_STRING;
    sk->str_role = role;
    sk->str_mode = mode;
    sk->str_split = 0;
    sk->str_len = 0;
    sk->high = 0;
}


/*
 * Reads a string on from p, in whichever of its states it is.  Returns
 * where it stopped: after the closing quote, or last; NULL if the string
 * is not valid.  A string that ends where it began, without escapes, is
 * used in place.
 */

const u_char_t *
tokenroute_skim_string(tokenroute_skim_t *sk, const u_char_t *p,
    const u_char_t *last, const u_char_t *start)
{
    int              e;
    size_t           n;
    unsigned         c, cp;
    u_char_t         b[4];
    const u_char_t  *q;

    while (p < last) {

        switch (sk->state) {

        case TR_S_STRING:
            q = tokenroute_skim_scan(p, last, start);

            if (q == last) {
                if (sk->str_mode != TR_M_SKIP) {
                    tokenroute_skim_emit(sk, p, q - p);
                }

                return last;
            }

            if (*q == '"') {

                if (sk->str_mode == TR_M_SKIP || !sk->str_split) {
                    n = q - p;

                } else {
                    tokenroute_skim_emit(sk, p, q - p);
                    p = sk->str;
                    n = sk->str_len;
                }

                if (tokenroute_skim_string_done(sk, p, n) != 0) {
                    return NULL;
                }

                return q + 1;
            }

            if (*q != '\\') {
                /* a control character */
                return NULL;
            }

            if (sk->str_mode != TR_M_SKIP) {
                tokenroute_skim_emit(sk, p, q - p);
            }

            sk->state = TR_S_ESCAPE;
            p = q + 1;
            break;

        case TR_S_ESCAPE:
            c = *p++;

            if (c == 'u') {
                sk->hex = 0;
                sk->hex_n = 0;
                sk->state = TR_S_HEX;
                break;
            }

            e = tokenroute_json_escape(c);

            if (e < 0) {
                return NULL;
            }

            sk->state = TR_S_STRING;

            if (sk->str_mode != TR_M_SKIP) {
                b[0] = (u_char_t) e;
                tokenroute_skim_emit(sk, b, 1);
            }

            break;

        case TR_S_HEX:
            c = tokenroute_json_hex(*p++);

            if (c > 15) {
                return NULL;
            }

            sk->hex = sk->hex << 4 | c;

            if (++sk->hex_n < 4) {
                break;
            }

            sk->state = TR_S_STRING;

            if (sk->str_mode == TR_M_SKIP) {
                break;
            }

            cp = sk->hex;

            if (sk->high) {
                /* whatever \u follows a high surrogate is its pair */
                cp = tokenroute_json_surrogates(sk->high, cp);
                sk->high = 0;

            } else if (tokenroute_json_is_high(cp)) {
                sk->high = cp;
                sk->state = TR_S_SURROGATE;
                break;
            }

            tokenroute_skim_emit(sk, b, tokenroute_json_utf8(cp, b));
            break;

        case TR_S_SURROGATE:
            if (*p == '\\') {
                p++;
                sk->state = TR_S_SURROGATE_ESC;
                break;
            }

            /* not a pair: "?", and the byte is read as any other */

            sk->high = 0;
            sk->state = TR_S_STRING;
            tokenroute_skim_emit(sk, (const u_char_t *) "?", 1);
            break;

        default: /* TR_S_SURROGATE_ESC */
            if (*p == 'u') {
                p++;
                sk->hex = 0;
                sk->hex_n = 0;
                sk->state = TR_S_HEX;
                break;
            }

            sk->high = 0;
            sk->state = TR_S_ESCAPE;
            tokenroute_skim_emit(sk, (const u_char_t *) "?", 1);
            break;
        }
    }

    return last;
}


/* decoded bytes of a string that is counted or captured */

static void
tokenroute_skim_emit(tokenroute_skim_t *sk, const u_char_t *s, size_t n)
{
    size_t  room;

    if (sk->str_mode == TR_M_CAPTURE && sk->str_len < TOKENROUTE_SKIM_STR) {
        room = TOKENROUTE_SKIM_STR - sk->str_len;
        memcpy(sk->str + sk->str_len, s, (n < room) ? n : room);
    }

    sk->str_len += n;
    sk->str_split = 1;
}


/* s is the decoded string, or its first bytes; n is its decoded length */

static int
tokenroute_skim_string_done(tokenroute_skim_t *sk, const u_char_t *s,
    size_t n)
{
    if (sk->str_role == TR_R_KEY) {
        sk->key = (sk->str_mode == TR_M_CAPTURE && n <= TOKENROUTE_SKIM_STR)
                  ? tokenroute_skim_key(tr_kind(sk->top), s, n)
                  : TR_KEY_NONE;
        sk->state = TR_S_COLON;
        return 0;
    }

    if (sk->str_role == TR_R_TRAIL) {
        /* a whole token after the value: garbage */
        return -1;
    }

    tokenroute_skim_on_string(sk, sk->val_key, s, n);

    sk->state = sk->depth ? TR_S_NEXT : TR_S_DONE;

    return 0;
}
