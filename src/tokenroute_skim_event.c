
/*
 * Copyright (C) tokenroute authors
 *
 * Most of a stream is content, in one shape per provider: such events
 * are read here without the skimmer's state, in one pass.  What these
 * take, the skimmer would read to the same result; anything else returns
 * -1 and is skimmed.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenroute_skim_int.h"
#include "tokenroute_usage.h"


#define TR_DELTA_HEAD      "{\"type\":\"content_block_delta\",\"index\":"
#define TR_DELTA_TEXT      ",\"delta\":{\"type\":\"text_delta\",\"text\":\""
#define TR_DELTA_JSON                                                         \
    ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\""
#define TR_DELTA_THINKING                                                     \
    ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\""

#define tr_starts(p, last, lit)                                               \
    ((size_t) ((last) - (p)) >= sizeof(lit) - 1                               \
     && memcmp(p, lit, sizeof(lit) - 1) == 0)


static const u_char_t *tokenroute_skim_choices(const u_char_t *p,
    const u_char_t *last, const u_char_t *start, tokenroute_skim_t *sk,
    const u_char_t **text);
static const u_char_t *tokenroute_skim_usage_openai(const u_char_t *p,
    const u_char_t *last, tokenroute_skim_t *sk);
static const u_char_t *tokenroute_skim_usage(const u_char_t *p,
    const u_char_t *last, const u_char_t *start, tokenroute_skim_t *sk,
    unsigned kind);
static const u_char_t *tokenroute_skim_delta_object(const u_char_t *p,
    const u_char_t *last, const u_char_t *start, int64_t *bytes,
    const u_char_t **text);
static const u_char_t *tokenroute_skim_member(const u_char_t *p,
    const u_char_t *last, const u_char_t *start);
static const u_char_t *tokenroute_skim_plain(const u_char_t *p,
    const u_char_t *last, const u_char_t *start);


/*
 * Anthropic's commonest event in exactly the shape it sends: an index
 * without leading zeros, a text without escapes or control bytes.
 */

int64_t
tokenroute_skim_delta(const char *data, size_t len)
{
    size_t           n;
    const u_char_t  *p, *q, *last;

    p = (const u_char_t *) data;
    last = p + len;

    if (len < sizeof(TR_DELTA_HEAD) - 1 + 4
        || memcmp(p, TR_DELTA_HEAD, sizeof(TR_DELTA_HEAD) - 1) != 0
        || memcmp(last - 3, "\"}}", 3) != 0)
    {
        return -1;
    }

    p += sizeof(TR_DELTA_HEAD) - 1;

    /* up to 18 digits: more go to the skimmer, which checks overflow */

    if (*p == '0') {
        p++;

    } else {
        for (n = 0; p < last && (unsigned) (*p - '0') <= 9 && n < 18; n++) {
            p++;
        }

        if (n == 0) {
            return -1;
        }
    }

    if (tr_starts(p, last, TR_DELTA_TEXT)) {
        p += sizeof(TR_DELTA_TEXT) - 1;

    } else if (tr_starts(p, last, TR_DELTA_JSON)) {
        p += sizeof(TR_DELTA_JSON) - 1;

    } else if (tr_starts(p, last, TR_DELTA_THINKING)) {
        p += sizeof(TR_DELTA_THINKING) - 1;

    } else {
        return -1;
    }

    /* the first quote, backslash or control byte must end the text */

    if (p > last - 3) {
        return -1;
    }

    q = tokenroute_skim_scan(p, last, (const u_char_t *) data);

    return (q == last - 3) ? q - p : -1;
}


/*
 * OpenAI's commonest event, a content chunk, compact as OpenAI sends it:
 * top-level members with plain values, "usage": null, and "choices" with
 * one object of plain values and a "delta" of plain values.  Plain: a
 * string without escapes or control bytes, an integer of up to 18 digits,
 * a literal.  The skimmer would read such a chunk to the same content
 * length and finish_reason; anything else (whitespace, an escape, a usage
 * or an error, tool calls, a second choice...) returns -1 and is skimmed.
 */

int
tokenroute_skim_chunk(const char *data, size_t len, int64_t *bytes,
    int *finish)
{
    return tokenroute_skim_chunk_text(data, len, bytes, finish, NULL);
}


/*
 * The same, and where its text starts when the chunk's only text is one
 * "content" string (*text is NULL otherwise): the rest of the chunk is
 * then the envelope the stream's next chunks will likely share.
 */

int
tokenroute_skim_chunk_text(const char *data, size_t len, int64_t *bytes,
    int *finish, const char **text)
{
    return tokenroute_skim_chunk_from(data, len, 0, bytes, finish, text,
                                      NULL);
}


/*
 * The same, the first from bytes known to be what *pre said of a chunk
 * they were the start of: "{" and top-level members that nothing is
 * taken from (keys the skimmer does not look for, plain values), each
 * with its comma.  What follows is read as it would be after them.
 */

int
tokenroute_skim_chunk_from(const char *data, size_t len, size_t from,
    int64_t *bytes, int *finish, const char **text, size_t *pre)
{
    tokenroute_skim_t  sk;

    /* a usage object, or no choice, is not a content chunk's */

    if (tokenroute_skim_chunk_read(data, len, from, &sk, text, pre) != 0
        || sk.usage_object || sk.choices == 0)
    {
        return -1;
    }

    *bytes = sk.content_bytes;
    *finish = sk.finish;

    return 0;
}


/*
 * Any chunk of that compact shape, a usage chunk's too: "choices" may be
 * empty, and "usage" an object of plain values and of objects of them
 * (its token counts non-negative integers).  What the skimmer would find
 * is set in the public fields of *sk (nothing else of it is touched).
 */

int
tokenroute_skim_chunk_read(const char *data, size_t len, size_t from,
    tokenroute_skim_t *sk, const char **text, size_t *pre)
{
    size_t           n, at;
    unsigned         open;
    const u_char_t  *p, *k, *last, *start, *t, **tp;

    start = (const u_char_t *) data;
    last = start + len;
    p = start + from;

    sk->content_bytes = 0;
    sk->tokens_seen = 0;
    sk->choices = 0;
    sk->type = TOKENROUTE_SKIM_OTHER;
    sk->usage_object = 0;
    sk->choices_array = 0;
    sk->finish = 0;
    sk->error = 0;
    sk->shape = TOKENROUTE_SHAPE_OPENAI;
    sk->stream = 1;

    t = NULL;
    tp = (text != NULL) ? &t : NULL;

    if (text) {
        *text = NULL;
    }

    if (from == 0) {
        if (len < 2 || *p++ != '{') {
            return -1;
        }

    } else if (from >= len) {
        return -1;
    }

    /* the members so far are all of the prefix */
    at = from;
    open = (pre != NULL);

    for ( ;; ) {
        k = p + 1;
        p = tokenroute_skim_member(p, last, start);

        if (p == NULL) {
            return -1;
        }

        n = p - 2 - k;

        if (n == 7 && memcmp(k, "choices", 7) == 0) {
            p = tokenroute_skim_choices(p, last, start, sk, tp);
            open = 0;

        } else if (n == 5 && memcmp(k, "usage", 5) == 0) {

            if (*p == '{') {
                sk->usage_object = 1;
                k = p;
                p = tokenroute_skim_usage_openai(p, last, sk);

                if (p == NULL) {
                    p = tokenroute_skim_usage(k, last, start, sk,
                                              TR_K_USAGE_OPENAI);
                }

            } else {
                p = (last - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4
                                                                 : NULL;
            }

            open = 0;

        } else if (n == 5 && memcmp(k, "error", 5) == 0) {
            return -1;

        } else {
            p = tokenroute_skim_plain(p, last, start);

            if (open
                && tokenroute_skim_key(TR_K_TOP_OPENAI, k, n) != TR_KEY_NONE)
            {
                open = 0;
            }
        }

        if (p == NULL || p == last) {
            return -1;
        }

        if (*p++ != ',') {
            break;
        }

        if (open) {
            at = p - start;
        }
    }

    if (p[-1] != '}' || p != last) {
        return -1;
    }

    if (text && t != NULL && t != start) {
        *text = (const char *) t;
    }

    if (pre != NULL) {
        *pre = at;
    }

    return 0;
}


/*
 * OpenAI's usage object, exactly as OpenAI sends it: its keys, in its
 * order, each with a non-negative integer of up to 18 digits.  What the
 * skimmer reads of it (prompt_tokens, completion_tokens, cached_tokens)
 * is set only if all of it is there; NULL leaves it to
 * tokenroute_skim_usage().
 */

static const u_char_t *
tokenroute_skim_usage_openai(const u_char_t *p, const u_char_t *last,
    tokenroute_skim_t *sk)
{
    size_t           i, n;
    int64_t          v[9];
    const u_char_t  *q;

    static const struct {
        const char  *key;
        size_t       len;
    } keys[] = {
#define tr_lit(s)  { s, sizeof(s) - 1 }
        tr_lit("{\"prompt_tokens\":"),
        tr_lit(",\"completion_tokens\":"),
        tr_lit(",\"total_tokens\":"),
        tr_lit(",\"prompt_tokens_details\":{\"cached_tokens\":"),
        tr_lit(",\"audio_tokens\":"),
        tr_lit("},\"completion_tokens_details\":{\"reasoning_tokens\":"),
        tr_lit(",\"audio_tokens\":"),
        tr_lit(",\"accepted_prediction_tokens\":"),
        tr_lit(",\"rejected_prediction_tokens\":")
#undef tr_lit
    };

    for (i = 0; i < 9; i++) {
        n = keys[i].len;

        if ((size_t) (last - p) < n || memcmp(p, keys[i].key, n) != 0) {
            return NULL;
        }

        p += n;

        /* the next key's first byte (or "}}") ends the integer */

        if (p == last || (unsigned) (*p - '0') > 9) {
            return NULL;
        }

        v[i] = *p - '0';

        if (*p++ != '0') {
            for (q = p; p < last && (unsigned) (*p - '0') <= 9; p++) {
                if (p - q == 17) {
                    return NULL;
                }

                v[i] = v[i] * 10 + (*p - '0');
            }
        }
    }

    if (last - p < 2 || p[0] != '}' || p[1] != '}') {
        return NULL;
    }

    sk->tokens[TOKENROUTE_SKIM_INPUT] = v[0];
    sk->tokens[TOKENROUTE_SKIM_OUTPUT] = v[1];
    sk->tokens[TOKENROUTE_SKIM_CACHED] = v[3];
    sk->tokens_seen |= (1 << TOKENROUTE_SKIM_INPUT)
                       | (1 << TOKENROUTE_SKIM_OUTPUT)
                       | (1 << TOKENROUTE_SKIM_CACHED);

    return p + 2;
}


/*
 * The "usage" object (kind TR_K_USAGE_OPENAI) and the objects in it: the
 * skimmer reads "prompt_tokens_details" (TR_K_DETAILS) and nothing in the
 * others (TR_K_OTHER).  A count that is negative, or not an integer, is
 * left to the skimmer; a deeper object or an array too.
 */

static const u_char_t *
tokenroute_skim_usage(const u_char_t *p, const u_char_t *last,
    const u_char_t *start, tokenroute_skim_t *sk, unsigned kind)
{
    size_t           n;
    int64_t          v;
    unsigned         key;
    const u_char_t  *k, *q;

    if (last - p < 2 || *p != '{') {
        return NULL;
    }

    if (*++p == '}') {
        return p + 1;
    }

    for ( ;; ) {
        k = p + 1;
        p = tokenroute_skim_member(p, last, start);

        if (p == NULL) {
            return NULL;
        }

        n = p - 2 - k;
        key = tokenroute_skim_key(kind, k, n);

        if (*p == '{') {

            if (kind != TR_K_USAGE_OPENAI) {
                return NULL;
            }

            p = tokenroute_skim_usage(p, last, start, sk,
                                      (key == TR_KEY_DETAILS) ? TR_K_DETAILS
                                                              : TR_K_OTHER);

        } else if (key >= TR_KEY_TOKENS) {
            q = p;
            p = tokenroute_skim_plain(p, last, start);

            if (p != NULL && (unsigned) (*q - '0') <= 9) {

                /* up to 18 digits: tokenroute_skim_plain() said so */

                for (v = 0; q < p; q++) {
                    v = v * 10 + (*q - '0');
                }

                sk->tokens[key - TR_KEY_TOKENS] = v;
                sk->tokens_seen |= 1 << (key - TR_KEY_TOKENS);

            } else if (p != NULL && *q == '-') {
                return NULL;
            }

        } else {
            p = tokenroute_skim_plain(p, last, start);
        }

        if (p == NULL || p == last) {
            return NULL;
        }

        if (*p++ != ',') {
            break;
        }
    }

    return (p[-1] == '}') ? p : NULL;
}


/* no choice, "[]", or one, "[{...}]", with its delta and finish_reason */

static const u_char_t *
tokenroute_skim_choices(const u_char_t *p, const u_char_t *last,
    const u_char_t *start, tokenroute_skim_t *sk, const u_char_t **text)
{
    size_t           n;
    const u_char_t  *k;

    if (last - p < 2 || p[0] != '[') {
        return NULL;
    }

    sk->choices_array = 1;

    if (p[1] == ']') {
        return p + 2;
    }

    if (p[1] != '{') {
        return NULL;
    }

    sk->choices++;

    p += 2;

    for ( ;; ) {
        k = p + 1;
        p = tokenroute_skim_member(p, last, start);

        if (p == NULL) {
            return NULL;
        }

        n = p - 2 - k;

        if (n == 5 && memcmp(k, "delta", 5) == 0) {
            p = tokenroute_skim_delta_object(p, last, start,
                                             &sk->content_bytes, text);

        } else if (n == 13 && memcmp(k, "finish_reason", 13) == 0) {
            sk->finish |= (*p == '"');
            p = tokenroute_skim_plain(p, last, start);

        } else {
            p = tokenroute_skim_plain(p, last, start);
        }

        if (p == NULL || p == last) {
            return NULL;
        }

        if (*p++ != ',') {
            break;
        }
    }

    if (p[-1] != '}' || p == last || *p != ']') {
        return NULL;
    }

    return p + 1;
}


/*
 * *text: where the one "content" string's text starts; start itself once
 * a second text (or a reasoning text) is seen.
 */

static const u_char_t *
tokenroute_skim_delta_object(const u_char_t *p, const u_char_t *last,
    const u_char_t *start, int64_t *bytes, const u_char_t **text)
{
    size_t           n;
    const u_char_t  *k, *v;

    if (last - p < 2 || *p != '{') {
        return NULL;
    }

    if (*++p == '}') {
        return p + 1;
    }

    for ( ;; ) {
        k = p + 1;
        p = tokenroute_skim_member(p, last, start);

        if (p == NULL) {
            return NULL;
        }

        n = p - 2 - k;

        if ((n == 7 && memcmp(k, "content", 7) == 0)
            || (n == 17 && memcmp(k, "reasoning_content", 17) == 0))
        {
            v = p;
            p = tokenroute_skim_plain(p, last, start);

            if (p != NULL && *v == '"') {
                *bytes += p - v - 2;

                if (text) {
                    *text = (*text == NULL && k[0] == 'c') ? v + 1 : start;
                }
            }

        } else if (n == 10 && memcmp(k, "tool_calls", 10) == 0) {
            return NULL;

        } else {
            p = tokenroute_skim_plain(p, last, start);
        }

        if (p == NULL || p == last) {
            return NULL;
        }

        if (*p++ != ',') {
            break;
        }
    }

    return (p[-1] == '}') ? p : NULL;
}


/* a plain key and its colon: returns where the value starts */

static const u_char_t *
tokenroute_skim_member(const u_char_t *p, const u_char_t *last,
    const u_char_t *start)
{
    const u_char_t  *q;

    if (p == last || *p != '"') {
        return NULL;
    }

    q = tokenroute_skim_scan(p + 1, last, start);

    if (last - q < 3 || q[0] != '"' || q[1] != ':') {
        return NULL;
    }

    return q + 2;
}


/* a plain value: returns where it ends */

static const u_char_t *
tokenroute_skim_plain(const u_char_t *p, const u_char_t *last,
    const u_char_t *start)
{
    unsigned         d;
    const u_char_t  *q;

    switch (*p) {

    case '"':
        q = tokenroute_skim_scan(p + 1, last, start);
        return (q != last && *q == '"') ? q + 1 : NULL;

    case 'n':
        return (last - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;

    case 't':
        return (last - p >= 4 && memcmp(p, "true", 4) == 0) ? p + 4 : NULL;

    case 'f':
        return (last - p >= 5 && memcmp(p, "false", 5) == 0) ? p + 5 : NULL;

    default:
        break;
    }

    q = p + (*p == '-');

    if (q == last) {
        return NULL;
    }

    if (*q == '0') {
        q++;

    } else {
        for (p = q; q < last && (unsigned) (*q - '0') <= 9 && q - p < 18; q++)
        {
            /* void */
        }

        if (q == p) {
            return NULL;
        }
    }

    /* what ends the integer must be there, and not make it longer */

    if (q == last) {
        return NULL;
    }

    d = *q;

    if (d - '0' <= 9 || d == '.' || (d | 0x20) == 'e') {
        return NULL;
    }

    return q;
}

