
/*
 * Copyright (C) tokenroute authors
 *
 * The skimmer's driver: a fast path for all the structure and for whole
 * tokens, the general loop for the tokens it leaves (split between
 * pieces, with an escape, numbers that are long or not integers),
 * literals and the levels of nesting.  Strings, numbers and
 * what is looked for are in tokenroute_skim_string.c, _number.c and
 * _keys.c.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenroute_skim_int.h"
#include "tokenroute_usage.h"


/* whitespace as yajl's lexer has it: with \v and \f */
#define tr_ws(c)                ((c) == ' ' || (unsigned) ((c) - '\t') < 5)


static const u_char_t *tokenroute_skim_fast(tokenroute_skim_t *sk,
    const u_char_t *p, const u_char_t *last, const u_char_t *start);
static const u_char_t *tokenroute_skim_value(tokenroute_skim_t *sk,
    const u_char_t *p, const u_char_t *last, const u_char_t *start);
static const u_char_t *tokenroute_skim_literal(tokenroute_skim_t *sk,
    const u_char_t *p, const u_char_t *last);
static unsigned tokenroute_skim_take(tokenroute_skim_t *sk);
static int tokenroute_skim_push(tokenroute_skim_t *sk, unsigned level);


static const char  tr_skim_true[] = "true";
static const char  tr_skim_false[] = "false";
static const char  tr_skim_null[] = "null";


void
tokenroute_skim_init(tokenroute_skim_t *sk, int shape, int stream)
{
    /* only the head: the buffers behind it are written before read */

    memset(sk, 0, offsetof(tokenroute_skim_t, str_role));

    sk->shape = shape;
    sk->stream = stream ? 1 : 0;
    sk->levels = TOKENROUTE_SKIM_STACK;

    if (!stream) {
        sk->top_kind = TR_K_TOP;

    } else {
        sk->top_kind = (shape == TOKENROUTE_SHAPE_OPENAI) ? TR_K_TOP_OPENAI
                                                     : TR_K_TOP_ANTHROPIC;
    }
}


int
tokenroute_skim_feed(tokenroute_skim_t *sk, const char *buf, size_t len)
{
    unsigned         c;
    const u_char_t  *p, *last, *start;

    start = (const u_char_t *) buf;
    last = start + len;
    p = start;

    /* a body's first piece: the template of the bodies before it */

    if (sk->body == TR_B_NONE && !sk->stream && sk->state == TR_S_VALUE
        && sk->depth == 0 && len != 0)
    {
        p += tokenroute_skim_body(sk, p, last);
    }

    for ( /* void */ ; p < last; /* void */) {

        if (sk->state < TR_S_DONE) {
            p = tokenroute_skim_fast(sk, p, last, start);

            if (p == NULL) {
                goto failed;
            }

            if (p == last) {
                break;
            }
        }

        /*
         * Between tokens the fast path takes all that is JSON, whitespace
         * included: what it leaves is a token it does not take whole (a
         * string with an escape, anything that goes on in the next piece,
         * a long or fractional number), or a byte that is not JSON there.
         */

        switch (sk->state) {

        case TR_S_VALUE:
        case TR_S_FIRST:
            p = tokenroute_skim_value(sk, p, last, start);
            if (p == NULL) {
                goto failed;
            }

            break;

        case TR_S_FIRST_KEY:
        case TR_S_KEY:
            if (*p++ != '"') {
                goto failed;
            }

            tokenroute_skim_string_start(sk, TR_R_KEY);

            p = tokenroute_skim_string(sk, p, last, start);
            if (p == NULL) {
                goto failed;
            }

            break;

        case TR_S_COLON:
        case TR_S_NEXT:
            goto failed;

        case TR_S_DONE:
            c = *p++;

            if (tr_ws(c)) {
                break;
            }

            /*
             * yajl leaves an unterminated string after the value to the
             * next call, and then to its end: only that is not garbage
             */

            if (c != '"') {
                goto failed;
            }

            tokenroute_skim_string_start(sk, TR_R_TRAIL);

            /* fall through */

        case TR_S_STRING:
        case TR_S_ESCAPE:
        case TR_S_HEX:
        case TR_S_SURROGATE:
        case TR_S_SURROGATE_ESC:
            p = tokenroute_skim_string(sk, p, last, start);
            if (p == NULL) {
                goto failed;
            }

            break;

        case TR_S_LITERAL:
            p = tokenroute_skim_literal(sk, p, last);
            if (p == NULL) {
                goto failed;
            }

            break;

        case TR_S_NUMBER:
            p = tokenroute_skim_number(sk, p, last);
            if (p == NULL) {
                goto failed;
            }

            break;

        default: /* TR_S_ERROR */
            return -1;
        }
    }

    return (sk->state == TR_S_ERROR) ? -1 : 0;

failed:

    sk->state = TR_S_ERROR;

    return -1;
}


int
tokenroute_skim_finish(tokenroute_skim_t *sk)
{
    /* a number is complete only once something follows it */

    if (sk->state == TR_S_NUMBER
        && (sk->num_state == TR_N_ZERO || sk->num_state == TR_N_INT
            || sk->num_state == TR_N_FRAC || sk->num_state == TR_N_EXP))
    {
        if (tokenroute_skim_number_done(sk) != 0) {
            goto failed;
        }
    }

    if (sk->state == TR_S_DONE
        || (sk->state == TR_S_STRING && sk->str_role == TR_R_TRAIL))
    {
        return 0;
    }

failed:

    sk->state = TR_S_ERROR;

    return -1;
}


void
tokenroute_skim_free(tokenroute_skim_t *sk)
{
    free(sk->heap);
    sk->heap = NULL;

    free(sk->dig_heap);
    sk->dig_heap = NULL;
}


/*
 * The common case, threaded by gotos with the state in registers: tokens
 * that end inside the buffer, strings without escapes, integers of up to
 * 18 digits.  Each step first tries the byte that most often comes next;
 * whitespace is looked for only then.  It stops before the first token it
 * does not take whole, with sk->state set for it, and leaves that token
 * to the general loop; or at the end of the buffer, or of the value.
 */

static const u_char_t *
tokenroute_skim_fast(tokenroute_skim_t *sk, const u_char_t *p,
    const u_char_t *last, const u_char_t *start)
{
    size_t           n, depth;
    int64_t          v;
    uint64_t         keys;
    unsigned         c, d, st, key, top, kind;
    u_char_t        *levels;
    const u_char_t  *q;

    st = sk->state;
    key = sk->key;
    top = sk->top;
    depth = sk->depth;

    /* the keys looked for in the innermost container: most have none */
    keys = tr_skim_keys[tr_kind(top)];

    goto again;

first_key:

    if (p == last) {
        st = TR_S_FIRST_KEY;
        goto out;
    }

    if (*p == '"') {
        goto key_string;
    }

    if (*p != '}') {
        st = TR_S_FIRST_KEY;
        goto space;
    }

    c = '}';
    p++;
    goto close;

key:

    if (p == last) {
        st = TR_S_KEY;
        goto out;
    }

    if (*p != '"') {
        st = TR_S_KEY;
        goto space;
    }

key_string:

    q = tokenroute_skim_scan(p + 1, last, start);

    if (q == last || *q != '"') {
        st = TR_S_KEY;
        goto out;
    }

    n = q - p - 1;

    /* tokenroute_skim_key(), with the container's keys at hand */

    if (keys == 0 || n == 0 || !(keys >> tr_hash(p + 1, n) & 1)) {
        key = TR_KEY_NONE;

    } else {
        key = tokenroute_skim_match(tr_kind(top), p + 1, n);
    }

    p = q + 1;

    /* most often a colon and a string follow */

    if (last - p > 2 && p[0] == ':' && p[1] == '"') {
        p++;
        goto string;
    }

colon:

    if (p == last) {
        st = TR_S_COLON;
        goto out;
    }

    if (*p != ':') {
        st = TR_S_COLON;
        goto space;
    }

    p++;

value:

    if (p == last) {
        st = TR_S_VALUE;
        goto out;
    }

value_byte:

    c = *p;

    if (c == '"') {

string:

        q = tokenroute_skim_scan(p + 1, last, start);

        if (q == last || *q != '"') {
            st = TR_S_VALUE;
            goto out;
        }

        if (key != TR_KEY_NONE) {
            tokenroute_skim_on_string(sk, key, p + 1, q - p - 1);
        }

        p = q + 1;
        goto taken;
    }

    switch (c) {

    case '{':
    case '[':
        c = (c == '{');

        /*
         * An element or a member not looked for, in a container that is
         * not one of those whose elements are: nothing to look for in
         * it, as tokenroute_skim_kind() has it, without the call.
         */

        if (key == TR_KEY_NONE && depth != 0
            && tr_kind(top) != TR_K_CHOICES && tr_kind(top) != TR_K_TOOL_CALLS)
        {
            kind = TR_K_OTHER;

        } else {
            kind = tokenroute_skim_kind(sk, key, tr_kind(top), depth, c);
        }

        if (top == TR_K_CHOICES << 1) {
            sk->choices++;
        }

        key = TR_KEY_NONE;
        top = kind << 1 | c;
        keys = tr_skim_keys[kind];

        if (depth == sk->levels) {
            sk->depth = depth;

            if (tokenroute_skim_push(sk, top) != 0) {
                return NULL;
            }

        } else {
            levels = (sk->heap != NULL) ? sk->heap : sk->stack;
            levels[depth] = (u_char_t) top;
        }

        depth++;
        p++;

        if (c) {
            goto first_key;
        }

        goto first;

    case 'n':
        if (last - p < 4 || memcmp(p, "null", 4) != 0) {
            st = TR_S_VALUE;
            goto out;
        }

        p += 4;
        goto taken;

    case 't':
        if (last - p < 4 || memcmp(p, "true", 4) != 0) {
            st = TR_S_VALUE;
            goto out;
        }

        p += 4;
        tokenroute_skim_on_true(sk, key);
        goto taken;

    case 'f':
        if (last - p < 5 || memcmp(p, "false", 5) != 0) {
            st = TR_S_VALUE;
            goto out;
        }

        p += 5;
        goto taken;

    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        break;

    default:
        st = TR_S_VALUE;
        goto space;
    }

    /* an integer short enough not to overflow, and what ends it */

    q = p + (c == '-');
    v = 0;

    if (q == last) {
        st = TR_S_VALUE;
        goto out;
    }

    d = *q - '0';

    if (d == 0) {
        q++;

    } else if (d <= 9) {
        n = 0;

        do {
            v = v * 10 + d;

            if (++q == last || ++n == 18) {
                break;
            }

            d = *q - '0';

        } while (d <= 9);

    } else {
        st = TR_S_VALUE;
        goto out;
    }

    if (q == last) {
        st = TR_S_VALUE;
        goto out;
    }

    d = *q;

    if (d - '0' <= 9 || d == '.' || (d | 0x20) == 'e') {
        st = TR_S_VALUE;
        goto out;
    }

    p = q;

    tokenroute_skim_on_number(sk, key, (c == '-') ? -v : v, 1);

taken:

    /* the value is taken: the key is used up, a choice is counted */

    key = TR_KEY_NONE;

    if (top == TR_K_CHOICES << 1) {
        sk->choices++;
    }

ended:

    if (depth == 0) {
        st = TR_S_DONE;
        goto out;
    }

next:

    /* in an object, most often a comma and a key follow */

    if (last - p > 2 && p[0] == ',' && p[1] == '"' && (top & TR_L_MAP)) {
        p++;
        goto key_string;
    }

    if (p == last) {
        st = TR_S_NEXT;
        goto out;
    }

    c = *p;

    if (c == ',') {
        p++;

        if (top & TR_L_MAP) {
            goto key;
        }

        goto value;
    }

    if (c != '}' && c != ']') {
        st = TR_S_NEXT;
        goto space;
    }

    p++;

close:

    if ((top & TR_L_MAP) != (c == '}')) {
        return NULL;
    }

    depth--;

    if (depth != 0) {
        levels = (sk->heap != NULL) ? sk->heap : sk->stack;
        top = levels[depth - 1];

    } else {
        top = 0;
    }

    keys = tr_skim_keys[tr_kind(top)];

    goto ended;

first:

    if (p == last) {
        st = TR_S_FIRST;
        goto out;
    }

    if (*p == ']') {
        c = ']';
        p++;
        goto close;
    }

    if (tr_ws(*p)) {
        st = TR_S_FIRST;
        goto space;
    }

    goto value_byte;

space:

    /* not the byte expected: whitespace is skipped, anything else stops */

    if (!tr_ws(*p)) {
        goto out;
    }

    do {
        p++;
    } while (p < last && tr_ws(*p));

again:

    switch (st) {

    case TR_S_VALUE:
        goto value;

    case TR_S_FIRST:
        goto first;

    case TR_S_FIRST_KEY:
        goto first_key;

    case TR_S_KEY:
        goto key;

    case TR_S_COLON:
        goto colon;

    default: /* TR_S_NEXT */
        goto next;
    }

out:

    sk->state = st;
    sk->key = key;
    sk->top = top;
    sk->depth = depth;

    return p;
}


/* a string, a literal or a number, from its first byte */

static const u_char_t *
tokenroute_skim_value(tokenroute_skim_t *sk, const u_char_t *p,
    const u_char_t *last, const u_char_t *start)
{
    unsigned  c;

    c = *p++;

    switch (c) {

    case '"':
        sk->val_key = tokenroute_skim_take(sk);
        tokenroute_skim_string_start(sk, TR_R_VALUE);

        return tokenroute_skim_string(sk, p, last, start);

    case 't':
    case 'f':
    case 'n':
        sk->val_key = tokenroute_skim_take(sk);
        sk->lit = (c == 't') ? tr_skim_true
                             : (c == 'f') ? tr_skim_false : tr_skim_null;
        sk->lit++;
        sk->state = TR_S_LITERAL;

        return tokenroute_skim_literal(sk, p, last);

    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        sk->val_key = tokenroute_skim_take(sk);
        sk->state = TR_S_NUMBER;
        sk->num_neg = (c == '-');
        sk->num_double = 0;
        sk->sticky = 0;
        sk->dig_n = 0;
        sk->mag = 0;
        sk->int_digits = 0;

        if (c == '-') {
            sk->num_state = TR_N_MINUS;

        } else if (c == '0') {
            sk->num_state = TR_N_ZERO;

        } else {
            sk->num_state = TR_N_INT;
            sk->mag = c - '0';
            sk->int_digits = 1;
        }

        return tokenroute_skim_number(sk, p, last);

    default:
        return NULL;
    }
}


static const u_char_t *
tokenroute_skim_literal(tokenroute_skim_t *sk, const u_char_t *p,
    const u_char_t *last)
{
    for ( /* void */ ; *sk->lit != '\0'; sk->lit++, p++) {

        if (p == last) {
            return last;
        }

        if (*p != (u_char_t) *sk->lit) {
            return NULL;
        }
    }

    if (sk->lit == tr_skim_true + sizeof(tr_skim_true) - 1) {
        tokenroute_skim_on_true(sk, sk->val_key);
    }

    sk->state = sk->depth ? TR_S_NEXT : TR_S_DONE;

    return p;
}


/* a value starts: the key it belongs to, and an element of "choices" */

static unsigned
tokenroute_skim_take(tokenroute_skim_t *sk)
{
    unsigned  key;

    key = sk->key;
    sk->key = TR_KEY_NONE;

    if (sk->top == TR_K_CHOICES << 1) {
        sk->choices++;
    }

    return key;
}


/*
 * yajl's stack has no limit, so neither has this one: past
 * TOKENROUTE_SKIM_STACK levels it moves to the heap.
 */

static int
tokenroute_skim_push(tokenroute_skim_t *sk, unsigned level)
{
    size_t          size;
    unsigned char  *levels;

    if (sk->depth == sk->levels) {
        size = sk->levels * 2;

        levels = realloc(sk->heap, size);
        if (levels == NULL) {
            return -1;
        }

        if (sk->heap == NULL) {
            memcpy(levels, sk->stack, sizeof(sk->stack));
        }

        sk->heap = levels;
        sk->levels = size;
    }

    levels = (sk->heap != NULL) ? sk->heap : sk->stack;
    levels[sk->depth++] = (unsigned char) level;
    sk->top = level;

    return 0;
}


