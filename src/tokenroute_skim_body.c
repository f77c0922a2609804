
/*
 * Copyright (C) tokenroute authors
 *
 * A held answer's shape, learned: a provider sends its answers in one
 * layout (the same keys in the same order, the same punctuation), and
 * they differ only in their strings and integers.  So a body the
 * skimmer accepted is kept, per API and per process, as a template: the
 * bytes of everything but those values (the literal runs), and the kind
 * of each value left out (a hole) with what the skimmer does with it.
 *
 * A later body that is the template with other values in the holes, each
 * a string or an integer as yajl reads it, is the same sequence of JSON
 * tokens as the body learned, so the skimmer would accept it as well and
 * find the same things in it but the token counts, which are read from
 * its holes.  Then it need not be read token by token: its literal runs
 * are compared 16 bytes at a time, its holes checked.  Any difference
 * and the skimmer reads it as always (t/unit/usage_diff.c and
 * t/fuzz/usage.c hold the two to the same result).
 *
 * What is never a hole (so must be equal): keys, strings whose content
 * the skimmer reads (generated text, an event type), literals; a body
 * with a number that is not a short integer is not learned.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenroute_json_value.h"
#include "tokenroute_skim_int.h"
#include "tokenroute_usage.h"


#define TR_BODY_MAX             4096    /* bytes of a body learned */
#define TR_BODY_HOLES           128

#define TR_H_STRING             0       /* the bytes between the quotes */
#define TR_H_INT                1       /* -?(0|[1-9][0-9]{0,17}) */


typedef struct {
    uint16_t           lit;             /* literal bytes before the hole */
    uint8_t            kind;
    uint8_t            role;            /* sk->key for the value */
} tr_body_hole_t;


typedef struct {
    size_t             holes;
    size_t             tail;            /* literal bytes after the last */
    size_t             len;             /* all literal bytes */
    unsigned           misses;          /* bodies of other layouts in a row */
    unsigned           learned:1;
    tokenroute_skim_t  done;            /* the skimmer after the body */
    tr_body_hole_t     hole[TR_BODY_HOLES];
    u_char_t           lit[TR_BODY_MAX];
} tr_body_t;


static int tokenroute_skim_body_learn_it(tr_body_t *t, int shape,
    const u_char_t *p, const u_char_t *last);
static const u_char_t *tokenroute_skim_body_string(const u_char_t *p,
    const u_char_t *last, const u_char_t *start);
static inline int tr_body_eq(const u_char_t *a, const u_char_t *b,
    size_t n);


/* one per API: TOKENROUTE_SHAPE_OPENAI and _ANTHROPIC */
static tr_body_t  tr_body[3];


/*
 * Called by tokenroute_skim_feed() for a body's first piece, with sk as
 * tokenroute_skim_init() left it (whitespace read at most).  Returns the
 * bytes taken (sk then as if it had read them), or 0: sk untouched,
 * sk->body saying whether a body of another shape was seen (learn it).
 */

size_t
tokenroute_skim_body(tokenroute_skim_t *sk, const u_char_t *p,
    const u_char_t *last)
{
    int              neg;
    size_t           i, n, k;
    int64_t          v, tv[TR_BODY_HOLES];
    unsigned         d, role[TR_BODY_HOLES];
    tr_body_t       *t;
    const u_char_t  *lit, *start, *q, *e;

    t = &tr_body[sk->shape == TOKENROUTE_SHAPE_OPENAI ? 1 : 2];

    if (!t->learned || t->done.shape != sk->shape) {
        sk->body = TR_B_LEARN;
        return 0;
    }

    start = p;
    lit = t->lit;
    k = 0;

    for (i = 0; i < t->holes; i++) {
        n = t->hole[i].lit;

        /* the literal run, and at least a byte of the value after it */

        if ((size_t) (last - p) <= n) {
            goto short_piece;
        }

        if (!tr_body_eq(p, lit, n)) {
            goto other;
        }

        p += n;
        lit += n;

        if (t->hole[i].kind == TR_H_STRING) {
            /*
             * the closing quote starts the next literal run; an escape
             * or a control character is looked at out of line
             */

            q = tokenroute_skim_scan(p, last, start);

            if (q != last && *q == '"') {
                p = q;
                continue;
            }

            q = tokenroute_skim_body_string(q, last, start);

            if (q == NULL) {
                goto other;
            }

            if (q == last) {
                goto short_piece;
            }

            p = q;
            continue;
        }

        /* an integer, as the skimmer's fast path takes it */

        neg = (*p == '-');
        q = p + neg;

        if (q == last) {
            goto short_piece;
        }

        d = *q - '0';

        if (d > 9) {
            goto other;
        }

        v = d;
        q++;

        if (d != 0) {
            e = (last - q > 17) ? q + 17 : last;

            while (q < e && (d = *q - '0') <= 9) {
                v = v * 10 + d;
                q++;
            }
        }

        /*
         * What follows is the next literal run, which starts with a byte
         * that ends a number: another digit, a '.' or an 'e' is not it.
         */

        /* a token count, to be set if the rest fits */

        if (t->hole[i].role >= TR_KEY_TOKENS) {
            tv[k] = neg ? -v : v;
            role[k] = t->hole[i].role;
            k++;
        }

        p = q;
    }

    n = t->tail;

    if ((size_t) (last - p) < n) {
        goto short_piece;
    }

    if (!tr_body_eq(p, lit, n)) {
        goto other;
    }

    p += n;

    /* the skimmer as after the body learned, with this one's counts */

    /* (no string nor number is in progress: the rest is not read) */

    memcpy(sk, &t->done, offsetof(tokenroute_skim_t, str_role));

    for (i = 0; i < k; i++) {
        tokenroute_skim_tokens(sk, role[i], tv[i]);
    }

    t->misses = 0;

    return p - start;

short_piece:

    /* a body in pieces: the template may well fit, the piece is short */
    sk->body = TR_B_KEEP;
    return 0;

other:

    /*
     * A layout of its own: learned only if the one before was not either
     * (so that two layouts in turn do not each cost a learning)
     */

    sk->body = (++t->misses >= 2) ? TR_B_LEARN : TR_B_KEEP;
    return 0;
}


/*
 * A string's bytes after its opening quote: returns its closing quote,
 * last if it goes on past it, or NULL if it is not a string yajl takes
 * (a control character, an escape it does not know).
 */

static const u_char_t *
tokenroute_skim_body_string(const u_char_t *p, const u_char_t *last,
    const u_char_t *start)
{
    int  i;

    for ( ;; ) {
        p = tokenroute_skim_scan(p, last, start);

        if (p == last || *p == '"') {
            return p;
        }

        if (*p != '\\') {
            return NULL;
        }

        if (last - p < 2) {
            return last;
        }

        if (p[1] != 'u') {
            if (tokenroute_json_escape(p[1]) < 0) {
                return NULL;
            }

            p += 2;
            continue;
        }

        if (last - p < 6) {
            return last;
        }

        for (i = 2; i < 6; i++) {
            if (tokenroute_json_hex(p[i]) > 15) {
                return NULL;
            }
        }

        p += 6;
    }
}


/*
 * The body of an answer the skimmer accepted whole (the caller knows it:
 * tokenroute_skim_finish() returned 0) becomes the template of its API.
 * A body that cannot be one leaves none.
 */

void
tokenroute_skim_body_learn(int shape, const char *body, size_t len)
{
    tr_body_t  *t;

    t = &tr_body[shape == TOKENROUTE_SHAPE_OPENAI ? 1 : 2];

    t->learned = 0;
    t->misses = 0;

    if (len > TR_BODY_MAX) {
        return;
    }

    if (tokenroute_skim_body_learn_it(t, shape, (const u_char_t *) body,
                                      (const u_char_t *) body + len)
        == 0)
    {
        t->learned = 1;
    }
}


void
tokenroute_skim_body_forget(void)
{
    tr_body[1].learned = 0;
    tr_body[2].learned = 0;
}


/*
 * Splits the body into literal runs and holes, and feeds a skimmer up to
 * each hole to know what the value is for (the key its state holds), then
 * to the end.
 */

static int
tokenroute_skim_body_learn_it(tr_body_t *t, int shape, const u_char_t *p,
    const u_char_t *last)
{
    size_t              n;
    unsigned            c, kind;
    const u_char_t     *fed, *run, *q, *r;
    tokenroute_skim_t  *sk;

    sk = &t->done;

    tokenroute_skim_init(sk, shape, 0);

    /* no template for the body while it is learned */
    sk->body = TR_B_USED;

    fed = p;
    run = p;
    t->holes = 0;
    t->len = 0;

    while (p < last) {
        c = *p;

        if (c == '"') {
            q = tokenroute_skim_body_string(p + 1, last, p);

            if (q == NULL || q == last) {
                goto failed;
            }

            /* a key is literal */

            for (r = q + 1;
                 r < last && (*r == ' ' || (unsigned) (*r - '\t') < 5);
                 r++)
            {
                /* void */
            }

            if (r < last && *r == ':') {
                p = q + 1;
                continue;
            }

            kind = TR_H_STRING;
            p++;

        } else if (c == '-' || c - '0' <= 9) {
            q = p + (c == '-');

            if (q == last || (unsigned) (*q - '0') > 9) {
                goto failed;
            }

            n = 1;

            if (*q++ != '0') {
                while (q < last && (unsigned) (*q - '0') <= 9) {
                    q++;
                    n++;
                }
            }

            if (q == last || n > 18 || *q == '.' || (*q | 0x20) == 'e'
                || (unsigned) (*q - '0') <= 9)
            {
                goto failed;
            }

            kind = TR_H_INT;

        } else {
            p++;
            continue;
        }

        /* a hole at p: what the skimmer makes of the value there */

        if (tokenroute_skim_feed(sk, (const char *) fed, p - fed) != 0) {
            goto failed;
        }

        fed = p;

        if (kind == TR_H_STRING) {
            if (sk->state != TR_S_STRING
                || sk->val_key == TR_KEY_TEXT || sk->val_key == TR_KEY_TYPE)
            {
                /* its content is read: literal */
                p = q + 1;
                continue;
            }

            c = sk->val_key;

        } else {
            if (sk->state != TR_S_VALUE && sk->state != TR_S_FIRST) {
                goto failed;
            }

            c = sk->key;
        }

        if (t->holes == TR_BODY_HOLES || p - run > 0xffff) {
            goto failed;
        }

        t->hole[t->holes].lit = (uint16_t) (p - run);
        t->hole[t->holes].kind = (uint8_t) kind;
        t->hole[t->holes].role = (uint8_t) c;
        t->holes++;

        memcpy(t->lit + t->len, run, p - run);
        t->len += p - run;

        /*
         * a string's closing quote starts the next literal run; what ends
         * an integer does
         */

        run = q;
        p = (kind == TR_H_STRING) ? q + 1 : q;
    }

    if (tokenroute_skim_feed(sk, (const char *) fed, last - fed) != 0
        || tokenroute_skim_finish(sk) != 0
        || sk->heap != NULL || sk->dig_heap != NULL)
    {
        goto failed;
    }

    t->tail = last - run;
    memcpy(t->lit + t->len, run, t->tail);
    t->len += t->tail;

    /* the counts are the holes' own: every number is one */

    memset(sk->tokens, 0, sizeof(sk->tokens));
    sk->tokens_seen = 0;
    sk->body = TR_B_USED;

    return 0;

failed:

    tokenroute_skim_free(sk);

    return -1;
}


/* a == b for n bytes, both readable */

static inline int
tr_body_eq(const u_char_t *a, const u_char_t *b, size_t n)
{
    uint64_t  x, y, z, w;
#if (TR_SKIM_SSE2)
    size_t    i;
    __m128i   u;

    if (n >= 16) {
        for (i = 0; i + 16 < n; i += 16) {
            u = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (a + i)),
                               _mm_loadu_si128((const __m128i *) (b + i)));

            if (_mm_movemask_epi8(u) != 0xffff) {
                return 0;
            }
        }

        /* the last 16, overlapping what was compared */

        u = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (a + n - 16)),
                           _mm_loadu_si128((const __m128i *) (b + n - 16)));

        return _mm_movemask_epi8(u) == 0xffff;
    }
#endif

    if (n >= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        memcpy(&z, a + n - 8, 8);
        memcpy(&w, b + n - 8, 8);

        return ((x ^ y) | (z ^ w)) == 0;
    }

    if (n >= 4) {
        x = 0; y = 0; z = 0; w = 0;

        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(&z, a + n - 4, 4);
        memcpy(&w, b + n - 4, 4);

        return ((x ^ y) | (z ^ w)) == 0;
    }

    return memcmp(a, b, n) == 0;
}
