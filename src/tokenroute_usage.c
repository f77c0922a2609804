
/*
 * Copyright (C) tokenroute authors
 *
 * Token usage of a body or an event: what the skimmer found, taken by
 * shape into the counts and an event's flags (a stream's plain content
 * chunks read first by shortcuts: the envelope learned from an earlier
 * chunk, tokenroute_skim_event.c); then the counts lowered to what the
 * request allowed, or guessed from the text, and their cost.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenroute_money.h"
#include "tokenroute_skim.h"
#include "tokenroute_skim_int.h"
#include "tokenroute_usage.h"


/* kept out of tokenroute_usage_event(): their frames are large */
#define TR_USAGE_OUT_OF_LINE  __attribute__((noinline))

/* usage->line_len of a line the hook looked at and did not take */
#define TR_USAGE_NO_LINE      SIZE_MAX


static int tokenroute_usage_any(int shape, const char *event,
    size_t event_len, const char *data, size_t len,
    tokenroute_usage_t *usage);
static int tokenroute_usage_chunk(const char *event, size_t event_len,
    const char *data, size_t len, const char *line,
    tokenroute_usage_t *usage);
static int tokenroute_usage_skim(int shape, const char *event,
    size_t event_len, const char *data, size_t len, size_t from,
    tokenroute_usage_t *usage);
static int64_t tokenroute_usage_shaped(const tokenroute_usage_shape_t *shape,
    const char *data, size_t len);
static void tokenroute_usage_learn(tokenroute_usage_shape_t *shape,
    const char *data, size_t len, const char *text, int64_t text_len,
    size_t pre);
static void tokenroute_usage_apply(const tokenroute_skim_t *sk, int shape,
    tokenroute_usage_t *u, int max);


int
tokenroute_usage_json_init(tokenroute_usage_json_t *uj, int shape,
    tokenroute_usage_t *usage)
{
    uj->usage = usage;
    uj->shape = shape;
    uj->failed = 0;

    tokenroute_skim_init(&uj->skim, shape, 0);

    return 0;
}


/*
 * A body may end early, or turn out not to be JSON: what was read so far
 * is kept, so usage is updated after each piece.
 */

int
tokenroute_usage_json_feed(tokenroute_usage_json_t *uj, const char *p,
    size_t len)
{
    int  rc;

    if (uj->failed) {
        return -1;
    }

    rc = tokenroute_skim_feed(&uj->skim, p, len);

    tokenroute_usage_apply(&uj->skim, uj->shape, uj->usage, 0);

    if (rc != 0) {
        uj->failed = 1;
        return -1;
    }

    return 0;
}


int
tokenroute_usage_json_finish(tokenroute_usage_json_t *uj)
{
    int  rc;

    if (uj->failed) {
        return -1;
    }

    /* a number at the very end is complete only now */

    rc = tokenroute_skim_finish(&uj->skim);

    tokenroute_usage_apply(&uj->skim, uj->shape, uj->usage, 0);

    if (rc != 0) {
        uj->failed = 1;
        return -1;
    }

    return 0;
}


void
tokenroute_usage_json_free(tokenroute_usage_json_t *uj)
{
    tokenroute_skim_free(&uj->skim);
}


/*
 * Most of a stream is content, in one shape: the skimmer would read just
 * what the shortcuts here and in tokenroute_usage_chunk() do.  An "error"
 * event goes the long way.  The skimmer's state is in the frames of the
 * functions that need it, not in this one's.
 */

int
tokenroute_usage_event(int shape, const char *event, size_t event_len,
    const char *data, size_t len, tokenroute_usage_t *usage)
{
    /* the commonest event, taken with no frame: the rest is a tail call */

    if (data == usage->line && len == usage->line_len && event_len == 0) {
        /* tokenroute_usage_shaped() said so while the line was split */
        usage->line = NULL;
        usage->content_bytes += usage->line_n;
        return 0;
    }

    return tokenroute_usage_any(shape, event, event_len, data, len, usage);
}


static TR_USAGE_OUT_OF_LINE int
tokenroute_usage_any(int shape, const char *event, size_t event_len,
    const char *data, size_t len, tokenroute_usage_t *usage)
{
    int64_t      n;
    const char  *line;

    /* the line hook's find holds for no other event than this one */

    line = usage->line;
    usage->line = NULL;

    if (data == line && len == usage->line_len
        && !tr_str_is(event, event_len, "error"))
    {
        /* tokenroute_usage_shaped() said so while the line was split */
        usage->content_bytes += usage->line_n;
        return 0;
    }

    if (tr_str_is(data, len, "[DONE]")) {
        return TOKENROUTE_EVENT_DONE;
    }

    if (tr_str_is(event, event_len, "error")) {
        return tokenroute_usage_skim(shape, event, event_len, data, len, 0,
                                     usage);
    }

    if (shape == TOKENROUTE_SHAPE_OPENAI) {
        return tokenroute_usage_chunk(event, event_len, data, len, line,
                                      usage);
    }

    if (shape == TOKENROUTE_SHAPE_ANTHROPIC) {
        n = tokenroute_skim_delta(data, len);

        if (n >= 0) {
            usage->content_bytes += n;
            return 0;
        }
    }

    return tokenroute_usage_skim(shape, event, event_len, data, len, 0,
                                 usage);
}


/* an OpenAI chunk: line is where the line hook matched the head, if it did */

static TR_USAGE_OUT_OF_LINE int
tokenroute_usage_chunk(const char *event, size_t event_len, const char *data,
    size_t len, const char *line, tokenroute_usage_t *usage)
{
    size_t             from, pre;
    int64_t            n;
    const char        *text;
    tokenroute_skim_t  sk;

    /*
     * The line hook compared the envelope's head with data's line, and
     * found it not there, or the text escaped or the tail not there
     * (line_len TR_USAGE_NO_LINE): data up to the line's LF would fail
     * tokenroute_usage_shaped() for the same reason.  If the head
     * matched (line_n 1 or 2), data's first pre_len bytes are the head's.
     */

    if (data == line && usage->line_len == TR_USAGE_NO_LINE) {

        if (usage->line_n == 0 || len <= usage->shape.pre_len) {
            goto head;
        }

        from = usage->shape.pre_len;

        /*
         * The text's scan stopped at an escape or a control byte:
         * tokenroute_skim_chunk_read() would stop there too, with the
         * same bytes before it, and fail.
         */

        if (usage->line_n == 2) {
            return tokenroute_usage_skim(TOKENROUTE_SHAPE_OPENAI, event,
                                         event_len, data, len, from, usage);
        }

        goto read;
    }

    n = tokenroute_usage_shaped(&usage->shape, data, len);

    if (n >= 0) {
        usage->content_bytes += n;
        return 0;
    }

head:

    /*
     * The chunks of a stream that are not plain content (the role's, the
     * finish, the usage) start as the content chunks do: id, model...
     * Those bytes are not read again.
     */

    from = usage->shape.pre_len;

    if (from != 0
        && (len <= from || memcmp(data, usage->shape.head, from) != 0))
    {
        from = 0;
    }

read:

    if (tokenroute_skim_chunk_read(data, len, from, &sk, &text, &pre) != 0) {
        return tokenroute_usage_skim(TOKENROUTE_SHAPE_OPENAI, event,
                                     event_len, data, len, from, usage);
    }

    /* a chunk with usage is no content chunk's envelope */

    if (text && !sk.finish && !sk.usage_object) {
        tokenroute_usage_learn(&usage->shape, data, len, text,
                               sk.content_bytes, pre);
    }

    return tokenroute_usage_skimmed(TOKENROUTE_SHAPE_OPENAI, event, event_len,
                                    &sk, usage);
}


/* the skimmer, from bytes known to be a prefix it need not read */

static int
tokenroute_usage_skim(int shape, const char *event, size_t event_len,
    const char *data, size_t len, size_t from, tokenroute_usage_t *usage)
{
    int                rc;
    tokenroute_skim_t  sk;

    tokenroute_skim_init(&sk, shape, 1);

    if (from != 0) {
        rc = tokenroute_skim_feed(&sk, TOKENROUTE_SKIM_PREFIX,
                                  sizeof(TOKENROUTE_SKIM_PREFIX) - 1);

        if (rc == 0) {
            rc = tokenroute_skim_feed(&sk, data + from, len - from);
        }

    } else {
        rc = tokenroute_skim_feed(&sk, data, len);
    }

    if (rc == 0) {
        rc = tokenroute_skim_finish(&sk);
    }

    tokenroute_skim_free(&sk);

    if (rc != 0) {
        return -1;
    }

    return tokenroute_usage_skimmed(shape, event, event_len, &sk, usage);
}


/*
 * What tokenroute_usage_shaped() finds of the data that ends where the
 * envelope's tail does, found without knowing where the line ends: the
 * text's scan stops at its closing quote or at any control byte, and the
 * envelope has none (the chunk it was learned from was read by
 * tokenroute_skim_chunk_from(), which takes no control byte outside a
 * string and none in one): no CR or LF comes before the LF after it.
 */

const char *
tokenroute_usage_line(tokenroute_usage_t *usage, const char *p,
    const char *last)
{
    const u_char_t                  *t, *q;
    const tokenroute_usage_shape_t  *shape;

    shape = &usage->shape;

    usage->line = NULL;

    if (shape->head_len == 0
        || (size_t) (last - p) <= (size_t) shape->head_len + shape->tail_len)
    {
        return NULL;
    }

    /*
     * Not a content chunk of the envelope: line_len TR_USAGE_NO_LINE (no
     * event's data is that long), and line_n says whether the head
     * matched, for tokenroute_usage_event() not to compare it again.
     */

    usage->line = p;
    usage->line_len = TR_USAGE_NO_LINE;
    usage->line_n = 0;

    if (memcmp(p, shape->head, shape->head_len) != 0) {
        return NULL;
    }

    t = (const u_char_t *) p + shape->head_len;

    q = tokenroute_skim_scan(t, (const u_char_t *) last,
                             (const u_char_t *) p);

    if ((size_t) ((const u_char_t *) last - q) <= shape->tail_len
        || q[shape->tail_len] != '\n'
        || memcmp(q, shape->tail, shape->tail_len) != 0)
    {
        /* 2: the text has an escape or a control byte, before its end */
        usage->line_n = (q != (const u_char_t *) last && *q != '"') ? 2 : 1;
        return NULL;
    }

    usage->line_len = (const char *) q + shape->tail_len - p;
    usage->line_n = q - t;

    return (const char *) q + shape->tail_len;
}


int
tokenroute_usage_skimmed(int shape, const char *event, size_t event_len,
    const tokenroute_skim_t *sk, tokenroute_usage_t *usage)
{
    int  flags;

    flags = 0;

    if (sk->error || tr_str_is(event, event_len, "error")) {
        flags |= TOKENROUTE_EVENT_ERROR;
    }

    if (shape == TOKENROUTE_SHAPE_OPENAI) {

        if (sk->usage_object) {
            tokenroute_usage_apply(sk, shape, usage, 0);

            if (sk->choices_array && sk->choices == 0) {
                flags |= TOKENROUTE_EVENT_USAGE_ONLY;
            }
        }

        if (sk->finish) {
            flags |= TOKENROUTE_EVENT_FINAL;
        }

        usage->content_bytes += sk->content_bytes;

    } else if (shape == TOKENROUTE_SHAPE_ANTHROPIC) {

        switch (sk->type) {

        case TOKENROUTE_SKIM_MESSAGE_START:
            tokenroute_usage_apply(sk, shape, usage, 0);
            break;

        case TOKENROUTE_SKIM_MESSAGE_DELTA:
            /* usage in message_delta is cumulative */
            tokenroute_usage_apply(sk, shape, usage, 1);
            break;

        case TOKENROUTE_SKIM_BLOCK_DELTA:
            usage->content_bytes += sk->content_bytes;
            break;

        case TOKENROUTE_SKIM_MESSAGE_STOP:
            flags |= TOKENROUTE_EVENT_FINAL;
            break;

        case TOKENROUTE_SKIM_ERROR:
            flags |= TOKENROUTE_EVENT_ERROR;
            break;

        default:
            break;
        }
    }

    if (flags & TOKENROUTE_EVENT_ERROR) {
        usage->error = 1;
    }

    return flags;
}


int64_t
tokenroute_usage_cost(const tokenroute_usage_t *u,
    const tokenroute_prices_t *p)
{
    int      i;
    int64_t  cost, w5, part[5];

    if (u->cache_write_tokens < 0 || u->cache_write_1h_tokens < 0
        || p->cache_write < -1 || p->cache_write_1h < -1)
    {
        return -1;
    }

    part[0] = tokenroute_money_cost(u->input_tokens, p->input);
    part[1] = tokenroute_money_cost(u->cached_tokens, p->cached);
    part[4] = tokenroute_money_cost(u->output_tokens, p->output);

    /* the writes whose lifetime is not said are 5-minute ones */

    w5 = (u->cache_write_tokens > u->cache_write_1h_tokens)
         ? u->cache_write_tokens - u->cache_write_1h_tokens : 0;

    part[2] = (p->cache_write == -1)
              ? tokenroute_money_cost_times(w5, p->input, 5, 4)
              : tokenroute_money_cost(w5, p->cache_write);

    part[3] = (p->cache_write_1h == -1)
              ? tokenroute_money_cost_times(u->cache_write_1h_tokens,
                                            p->input, 2, 1)
              : tokenroute_money_cost(u->cache_write_1h_tokens,
                                      p->cache_write_1h);

    cost = 0;

    for (i = 0; i < 5; i++) {

        if (part[i] < 0) {
            return -1;
        }

        if (cost > INT64_MAX - part[i]) {
            cost = INT64_MAX;

        } else {
            cost += part[i];
        }
    }

    return cost;
}


int64_t
tokenroute_usage_input_price_max(const tokenroute_prices_t *p,
    int cache_writes)
{
    int64_t  max, w;

    max = (p->input > p->cached) ? p->input : p->cached;

    if (!cache_writes) {
        return max;
    }

    /* the defaults: 1.25 x input, rounded up, and 2 x input */

    w = (p->cache_write != -1) ? p->cache_write
        : (p->input > INT64_MAX - p->input / 4 - 1)
          ? INT64_MAX : p->input + p->input / 4 + (p->input % 4 != 0);

    max = (w > max) ? w : max;

    w = (p->cache_write_1h != -1) ? p->cache_write_1h
        : (p->input > INT64_MAX / 2) ? INT64_MAX : p->input * 2;

    return (w > max) ? w : max;
}


int64_t
tokenroute_usage_input(const tokenroute_usage_t *u)
{
    int64_t  sum;

    if (__builtin_add_overflow(u->input_tokens, u->cached_tokens, &sum)
        || __builtin_add_overflow(sum, u->cache_write_tokens, &sum))
    {
        return INT64_MAX;
    }

    return sum;
}


int
tokenroute_usage_clamp(tokenroute_usage_t *u, int64_t max_input,
    int64_t max_output)
{
    int       i, clamped;
    int64_t   left, *field[3];

    clamped = 0;

    if (max_output < 0) {
        max_output = 0;
    }

    if (u->output_tokens > max_output || u->output_tokens < 0) {
        u->output_tokens = (u->output_tokens < 0) ? 0 : max_output;
        clamped = 1;
    }

    /* each field is bounded before anything is added: no sum overflows */

    field[0] = &u->input_tokens;
    field[1] = &u->cache_write_tokens;
    field[2] = &u->cached_tokens;

    left = (max_input < 0) ? 0 : max_input;

    if (u->cache_write_1h_tokens < 0) {
        u->cache_write_1h_tokens = 0;
        clamped = 1;
    }

    for (i = 0; i < 3; i++) {

        if (*field[i] < 0) {
            *field[i] = 0;
            clamped = 1;
        }

        if (*field[i] > left) {
            *field[i] = left;
            clamped = 1;
        }

        left -= *field[i];
    }

    /* cache writes cut: the 5-minute ones go first, the 1-hour ones stay */

    if (u->cache_write_1h_tokens > u->cache_write_tokens) {
        u->cache_write_1h_tokens = u->cache_write_tokens;
        clamped = 1;
    }

    return clamped;
}


int64_t
tokenroute_usage_estimate_output(const tokenroute_usage_t *u)
{
    if (u->content_bytes <= 0) {
        return 0;
    }

    return u->content_bytes / 4 + (u->content_bytes % 4 != 0);
}


static void
tokenroute_usage_apply(const tokenroute_skim_t *sk, int shape,
    tokenroute_usage_t *u, int max)
{
    int       i;
    int64_t   cached, w, w5, w1, *field[TOKENROUTE_SKIM_OUTPUT + 1];
    unsigned  seen;

    seen = sk->tokens_seen;

    /* only a body's reader passes on the error here: events flag it */

    if (sk->error && !sk->stream) {
        u->error = 1;
    }

    if (shape == TOKENROUTE_SHAPE_OPENAI) {

        /* prompt_tokens includes the cached tokens */

        if (seen & (1 << TOKENROUTE_SKIM_INPUT)) {
            cached = (seen & (1 << TOKENROUTE_SKIM_CACHED))
                     ? sk->tokens[TOKENROUTE_SKIM_CACHED] : 0;

            u->input_tokens = (sk->tokens[TOKENROUTE_SKIM_INPUT] > cached)
                              ? sk->tokens[TOKENROUTE_SKIM_INPUT] - cached
                              : 0;
            u->cached_tokens = cached;
            u->seen_input = 1;
        }

        if (seen & (1 << TOKENROUTE_SKIM_OUTPUT)) {
            u->output_tokens = sk->tokens[TOKENROUTE_SKIM_OUTPUT];
            u->seen_output = 1;
        }

        return;
    }

    field[TOKENROUTE_SKIM_INPUT] = &u->input_tokens;
    field[TOKENROUTE_SKIM_CACHED] = &u->cached_tokens;
    field[TOKENROUTE_SKIM_WRITE] = &u->cache_write_tokens;
    field[TOKENROUTE_SKIM_OUTPUT] = &u->output_tokens;

    for (i = 0; i <= TOKENROUTE_SKIM_OUTPUT; i++) {

        if (!(seen & (1 << i)) || i == TOKENROUTE_SKIM_WRITE) {
            continue;
        }

        if (!max || sk->tokens[i] > *field[i]) {
            *field[i] = sk->tokens[i];
        }

        if (i == TOKENROUTE_SKIM_OUTPUT) {
            u->seen_output = 1;

        } else {
            u->seen_input = 1;
        }
    }

    /*
     * Cache writes: cache_creation_input_tokens counts them all, and the
     * cache_creation object splits them into 5-minute and 1-hour ones.
     * Whichever says more is believed: writes the split leaves out are
     * 5-minute ones.  Either may come alone.
     */

    if (!(seen & ((1 << TOKENROUTE_SKIM_WRITE) | (1 << TOKENROUTE_SKIM_WRITE_5M)
                  | (1 << TOKENROUTE_SKIM_WRITE_1H))))
    {
        return;
    }

    w = (seen & (1 << TOKENROUTE_SKIM_WRITE))
        ? sk->tokens[TOKENROUTE_SKIM_WRITE] : 0;
    w5 = (seen & (1 << TOKENROUTE_SKIM_WRITE_5M))
         ? sk->tokens[TOKENROUTE_SKIM_WRITE_5M] : 0;
    w1 = (seen & (1 << TOKENROUTE_SKIM_WRITE_1H))
         ? sk->tokens[TOKENROUTE_SKIM_WRITE_1H] : 0;

    if (__builtin_add_overflow(w5, w1, &w5)) {
        w5 = INT64_MAX;
    }

    w = (w5 > w) ? w5 : w;

    /* cumulative in a message_delta: never lowered, so w1 <= w holds */

    if (!max || w > u->cache_write_tokens) {
        u->cache_write_tokens = w;
    }

    if (!max || w1 > u->cache_write_1h_tokens) {
        u->cache_write_1h_tokens = w1;
    }

    u->seen_input = 1;
}


/*
 * A chunk of the learned envelope around a plain text (no quote,
 * backslash or control byte in it): the text's length.  -1: read it.
 */

static int64_t
tokenroute_usage_shaped(const tokenroute_usage_shape_t *shape,
    const char *data, size_t len)
{
    const u_char_t  *p, *q, *last;

    if (shape->head_len == 0
        || len < (size_t) shape->head_len + shape->tail_len
        || memcmp(data, shape->head, shape->head_len) != 0
        || memcmp(data + len - shape->tail_len, shape->tail,
                  shape->tail_len) != 0)
    {
        return -1;
    }

    p = (const u_char_t *) data + shape->head_len;
    last = (const u_char_t *) data + len;

    /* the tail starts with the text's closing quote */

    q = tokenroute_skim_scan(p, last, (const u_char_t *) data);

    return (q == last - shape->tail_len) ? q - p : -1;
}


/*
 * text: where the content text of a plain content chunk starts; pre: how
 * many bytes at its start nothing is read from (before its text)
 */

static void
tokenroute_usage_learn(tokenroute_usage_shape_t *shape, const char *data,
    size_t len, const char *text, int64_t text_len, size_t pre)
{
    size_t  head, tail;

    head = text - data;
    tail = len - head - (size_t) text_len;

    /*
     * Learned again from each chunk that did not match: the first chunk
     * of a stream often carries the role as well, the next ones not.
     */

    if (head > TOKENROUTE_USAGE_HEAD || tail > TOKENROUTE_USAGE_TAIL
        || tail == 0)
    {
        shape->head_len = 0;
        shape->pre_len = 0;
        return;
    }

    memcpy(shape->head, data, head);
    memcpy(shape->tail, data + len - tail, tail);

    shape->head_len = (uint16_t) head;
    shape->tail_len = (uint16_t) tail;

    shape->pre_len = (uint16_t) pre;
}
