
/*
 * Copyright (C) tokenroute authors
 *
 * What the skimmer's files (tokenroute_skim*.c) share and nothing else
 * includes: its states, the kinds of containers and keys it knows, and
 * the string scan every part of it uses, inline.
 */


#ifndef _TOKENROUTE_SKIM_INT_H_INCLUDED_
#define _TOKENROUTE_SKIM_INT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#if (defined __SSE2__)
#include <emmintrin.h>
#define TR_SKIM_SSE2            1
#endif

#include "tokenroute_skim.h"


/* where the skimmer is (sk->state): the first six are between tokens */
#define TR_S_VALUE              0   /* a value must come */
#define TR_S_FIRST              1   /* after '[': a value or ']' */
#define TR_S_FIRST_KEY          2   /* after '{': a key or '}' */
#define TR_S_KEY                3   /* after ',' in an object */
#define TR_S_COLON              4
#define TR_S_NEXT               5   /* after a value in a container */
#define TR_S_DONE               6   /* after the top-level value */
#define TR_S_STRING             7
#define TR_S_ESCAPE             8   /* after a backslash */
#define TR_S_HEX                9   /* in the 4 hex digits of a \u */
#define TR_S_SURROGATE          10  /* after a high surrogate's \u */
#define TR_S_SURROGATE_ESC      11  /* ... and a backslash */
#define TR_S_LITERAL            12
#define TR_S_NUMBER             13
#define TR_S_ERROR              14

/* a number's part (sk->num_state) */
#define TR_N_MINUS              0
#define TR_N_ZERO               1
#define TR_N_INT                2
#define TR_N_DOT                3
#define TR_N_FRAC               4
#define TR_N_E                  5
#define TR_N_ESIGN              6
#define TR_N_EXP                7

/* what a string is (sk->str_role) and what is kept of it (sk->str_mode) */
#define TR_R_KEY                0
#define TR_R_VALUE              1
#define TR_R_TRAIL              2   /* after the top-level value */

#define TR_M_SKIP               0
#define TR_M_COUNT              1   /* its decoded length */
#define TR_M_CAPTURE            2   /* its first decoded bytes */

/*
 * What a container is for us (the kind of a level).  The kinds whose keys
 * differ between the APIs, or between an event and a body, come in one
 * variant each, so that matching a key needs nothing else.
 */
#define TR_K_OTHER              0
#define TR_K_TOP                1   /* a body's: "usage", "error" */
#define TR_K_TOP_OPENAI         2   /* an event's */
#define TR_K_TOP_ANTHROPIC      3
#define TR_K_USAGE_OPENAI       4
#define TR_K_USAGE_ANTHROPIC    5
#define TR_K_DETAILS            6
#define TR_K_CHOICES            7
#define TR_K_CHOICE             8
#define TR_K_DELTA_OPENAI       9
#define TR_K_DELTA_ANTHROPIC    10
#define TR_K_TOOL_CALLS         11
#define TR_K_TOOL_CALL          12
#define TR_K_FUNCTION           13
#define TR_K_MESSAGE            14
#define TR_K_CACHE_CREATION     15

#define tr_is_top(kind)         ((unsigned) (kind) - 1 < 3)

/* what a value is for us (sk->key); token counts are TR_KEY_TOKENS + i */
#define TR_KEY_NONE             0
#define TR_KEY_USAGE            1
#define TR_KEY_ERROR            2
#define TR_KEY_CHOICES          3
#define TR_KEY_TYPE             4
#define TR_KEY_MESSAGE          5
#define TR_KEY_DELTA            6
#define TR_KEY_DETAILS          7
#define TR_KEY_FINISH_REASON    8
#define TR_KEY_TEXT             9
#define TR_KEY_TOOL_CALLS       10
#define TR_KEY_FUNCTION         11
#define TR_KEY_CACHE_CREATION   12
#define TR_KEY_TOKENS           16

/*
 * the learned body (sk->body): not tried yet, read by it, to be learned
 * (none, or a second body of another layout), not to be
 */
#define TR_B_NONE               0
#define TR_B_USED               1
#define TR_B_LEARN              2   /* tokenroute_skim_body_new() */
#define TR_B_KEEP               3

/* a level of nesting (sk->top, the stack): an object?, and its kind */
#define TR_L_MAP                1
#define tr_kind(level)          ((level) >> 1)

/*
 * Per kind of container, a bit for each key it has for us, at a hash of
 * the key's first and last bytes and its length (tr_skim_keys[]).
 */
#define tr_hash(s, n)           (((s)[0] + (s)[(n) - 1] + (n) * 10) & 63)

#define tr_str_is(s, len, lit)                                                \
    ((len) == sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)


typedef unsigned char  u_char_t;


/* tokenroute_skim_string.c */
void tokenroute_skim_string_start(tokenroute_skim_t *sk, unsigned role);
const u_char_t *tokenroute_skim_string(tokenroute_skim_t *sk,
    const u_char_t *p, const u_char_t *last, const u_char_t *start);

/* tokenroute_skim_number.c */
const u_char_t *tokenroute_skim_number(tokenroute_skim_t *sk,
    const u_char_t *p, const u_char_t *last);
int tokenroute_skim_number_done(tokenroute_skim_t *sk);
void tokenroute_skim_tokens(tokenroute_skim_t *sk, unsigned key,
    int64_t value);

/* tokenroute_skim_body.c */
size_t tokenroute_skim_body(tokenroute_skim_t *sk, const u_char_t *p,
    const u_char_t *last);

/* tokenroute_skim_keys.c */
unsigned tokenroute_skim_kind(tokenroute_skim_t *sk, unsigned key,
    unsigned parent, size_t depth, unsigned map);
unsigned tokenroute_skim_match(unsigned kind, const u_char_t *s,
    size_t len);
unsigned tokenroute_skim_type(const u_char_t *s, size_t len);

extern const uint64_t  tr_skim_keys[];


/* a key, in a container of the kind: what its value is for us */

static inline unsigned
tokenroute_skim_key(unsigned kind, const u_char_t *s, size_t len)
{
    /* most keys are turned away on the hash alone */

    if (len == 0 || !(tr_skim_keys[kind] >> tr_hash(s, len) & 1)) {
        return TR_KEY_NONE;
    }

    return tokenroute_skim_match(kind, s, len);
}


/*
 * What a value does for the key it belongs to: the same in the fast path
 * (tokenroute_skim.c) and in the general loop (_string.c, _number.c and
 * the literals).
 */

/*
 * A string: s is its decoded text, or only the first TOKENROUTE_SKIM_STR
 * bytes of it if it was captured; n is its decoded length.  A longer
 * string is no type: tokenroute_skim_type() compares lengths first.
 */

static inline void
tokenroute_skim_on_string(tokenroute_skim_t *sk, unsigned key,
    const u_char_t *s, size_t n)
{
    switch (key) {

    case TR_KEY_TEXT:
        sk->content_bytes += n;
        break;

    case TR_KEY_FINISH_REASON:
        sk->finish = 1;
        break;

    case TR_KEY_ERROR:
        sk->error = 1;
        break;

    case TR_KEY_TYPE:
        sk->type = tokenroute_skim_type(s, n);
        break;

    default:
        break;
    }
}


/* a number; v counts as tokens only if exact (an integer, or 12.0) */

static inline void
tokenroute_skim_on_number(tokenroute_skim_t *sk, unsigned key, int64_t v,
    unsigned exact)
{
    if (key >= TR_KEY_TOKENS) {
        if (exact) {
            tokenroute_skim_tokens(sk, key, v);
        }

    } else if (key == TR_KEY_ERROR) {
        sk->error = 1;
    }
}


/* "error": true; false and null say nothing */

static inline void
tokenroute_skim_on_true(tokenroute_skim_t *sk, unsigned key)
{
    if (key == TR_KEY_ERROR) {
        sk->error = 1;
    }
}


/*
 * Finds the first byte in p..last that ends a run of string bytes (a
 * quote, a backslash, a control character), or returns last.  With SSE2
 * (always there on x86-64) 16 bytes are looked at a time: c ^ 2 <= 0x20
 * is a quote or a control character.  A tail shorter than that is read
 * with a load that ends at last, if the buffer (from start) is long
 * enough; the bytes before p are shifted out of its mask.
 */

static inline const u_char_t *
tokenroute_skim_scan(const u_char_t *p, const u_char_t *last,
    const u_char_t *start)
{
#if (TR_SKIM_SSE2)
    __m128i   v, x;
    unsigned  m;

    for ( ;; ) {

        if (last - p < 16) {
            if (p == last || last - start < 16) {
                break;
            }

            v = _mm_loadu_si128((const __m128i *) (last - 16));
            x = _mm_xor_si128(v, _mm_set1_epi8(2));
            m = _mm_movemask_epi8(
                    _mm_or_si128(
                        _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)),
                                       x),
                        _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

            m >>= 16 - (last - p);

            return (m != 0) ? p + __builtin_ctz(m) : last;
        }

        v = _mm_loadu_si128((const __m128i *) p);
        x = _mm_xor_si128(v, _mm_set1_epi8(2));
        m = _mm_movemask_epi8(
                _mm_or_si128(
                    _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

        if (m != 0) {
            return p + __builtin_ctz(m);
        }

        p += 16;
    }
#else
    (void) start;
#endif

    while (p < last && *p != '"' && *p != '\\' && *p >= 0x20) {
        p++;
    }

    return p;
}


#endif /* _TOKENROUTE_SKIM_INT_H_INCLUDED_ */
