
/*
 * Copyright (C) tokenroute authors
 *
 * The usage reader as it was before the skimmer (src/tokenroute_skim.c):
 * yajl's callback parser, and a fast path for content deltas in front of
 * it for events.  Kept, renamed and static, for t/unit/usage_diff.c only,
 * which includes this file: the new reader must read what this one reads.
 * With fast off, ref_usage_event() is yajl alone: what the old reader did
 * whenever its fast path let the event through.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "tokenroute_arena.h"
#include "tokenroute_usage.h"


/* containers nested deeper than this are never looked into */
#define REF_USAGE_DEPTH              8


typedef struct ref_usage_json_s  ref_usage_json_t;

/* the fields are private; the struct is public so callers can embed it */
struct ref_usage_json_s {
    yajl_handle           handle;
    tokenroute_usage_t   *usage;

    int64_t               tokens[6];
    int64_t               content_bytes;

    int                   shape;
    unsigned              depth;
    unsigned              key;
    unsigned              type;
    unsigned              tokens_seen;
    unsigned              choices;

    unsigned              stream:1;
    unsigned              usage_object:1;
    unsigned              choices_array:1;
    unsigned              finish:1;
    unsigned              error:1;
    unsigned              failed:1;

    unsigned char         kind[REF_USAGE_DEPTH];

    tokenroute_arena_t    arena;
    char                  arena_buf[TOKENROUTE_ARENA_SIZE];
};



static int ref_usage_json_init(ref_usage_json_t *uj, int shape,
    tokenroute_usage_t *usage);
static int ref_usage_json_feed(ref_usage_json_t *uj, const char *p,
    size_t len);
static int ref_usage_json_finish(ref_usage_json_t *uj);
static void ref_usage_json_free(ref_usage_json_t *uj);
static int ref_usage_event(int shape, const char *event, size_t event_len,
    const char *data, size_t len, tokenroute_usage_t *usage, int fast);


/* uj->tokens[] indices, in tokenroute_usage_t order */
#define TR_TOK_INPUT            0
#define TR_TOK_CACHED           1
#define TR_TOK_WRITE            2
#define TR_TOK_OUTPUT           3
#define TR_TOK_N                4
#define TR_TOK_W5M              4   /* the split of TR_TOK_WRITE */
#define TR_TOK_W1H              5

/* what the container being read is (uj->kind[]) */
#define TR_K_OTHER              0
#define TR_K_TOP                1
#define TR_K_USAGE              2
#define TR_K_DETAILS            3
#define TR_K_CHOICES            4
#define TR_K_CHOICE             5
#define TR_K_DELTA              6
#define TR_K_TOOL_CALLS         7
#define TR_K_TOOL_CALL          8
#define TR_K_FUNCTION           9
#define TR_K_MESSAGE            10
#define TR_K_CACHE_CREATION     11

/* what the next value is (uj->key); token counts are TR_KEY_TOKENS + i */
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

/* Anthropic event types (uj->type) */
#define TR_TYPE_OTHER           0
#define TR_TYPE_MESSAGE_START   1
#define TR_TYPE_MESSAGE_DELTA   2
#define TR_TYPE_BLOCK_DELTA     3
#define TR_TYPE_MESSAGE_STOP    4
#define TR_TYPE_ERROR           5

#define tr_str_is(s, len, lit)                                                \
    ((len) == sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)



static void ref_usage_apply(ref_usage_json_t *uj, int max);
static void ref_usage_tokens(ref_usage_json_t *uj,
    unsigned key, int64_t value);
static void ref_usage_error(ref_usage_json_t *uj);
static unsigned ref_usage_value(ref_usage_json_t *uj);
static int ref_usage_start(ref_usage_json_t *uj, int map);
static int ref_usage_null(void *ctx);
static int ref_usage_boolean(void *ctx, int value);
static int ref_usage_integer(void *ctx, long long value);
static int ref_usage_double(void *ctx, double value);
static int ref_usage_string(void *ctx, const unsigned char *s,
    size_t len);
static int ref_usage_start_map(void *ctx);
static int ref_usage_map_key(void *ctx, const unsigned char *key,
    size_t len);
static int ref_usage_end(void *ctx);
static int ref_usage_start_array(void *ctx);
static int ref_usage_delta(int shape, const char *event,
    size_t event_len, const char *data, size_t len,
    tokenroute_usage_t *usage);
static unsigned ref_usage_match(ref_usage_json_t *uj,
    const unsigned char *s, size_t len);


static const yajl_callbacks  ref_usage_callbacks = {
    ref_usage_null,
    ref_usage_boolean,
    ref_usage_integer,
    ref_usage_double,
    NULL,
    ref_usage_string,
    ref_usage_start_map,
    ref_usage_map_key,
    ref_usage_end,
    ref_usage_start_array,
    ref_usage_end
};


static int
ref_usage_json_init(ref_usage_json_t *uj, int shape,
    tokenroute_usage_t *usage)
{
    yajl_alloc_funcs  af;

    /* the arena's buffer needs no clearing */
    memset(uj, 0, offsetof(ref_usage_json_t, arena));

    uj->shape = shape;
    uj->usage = usage;

    /* the parser lives in the struct: a response needs no heap */
    tokenroute_arena_init(&uj->arena, uj->arena_buf, sizeof(uj->arena_buf),
                          &af);

    uj->handle = yajl_alloc(&ref_usage_callbacks, &af, uj);
    if (uj->handle == NULL) {
        return -1;
    }

    yajl_config(uj->handle, yajl_dont_validate_strings, 1);

    return 0;
}


static int
ref_usage_json_feed(ref_usage_json_t *uj, const char *p,
    size_t len)
{
    if (uj->failed) {
        return -1;
    }

    if (yajl_parse(uj->handle, (const unsigned char *) p, len)
        != yajl_status_ok)
    {
        uj->failed = 1;
        return -1;
    }

    return 0;
}


static int
ref_usage_json_finish(ref_usage_json_t *uj)
{
    if (uj->failed) {
        return -1;
    }

    if (yajl_complete_parse(uj->handle) != yajl_status_ok) {
        uj->failed = 1;
        return -1;
    }

    return 0;
}


static void
ref_usage_json_free(ref_usage_json_t *uj)
{
    if (uj->handle != NULL) {
        yajl_free(uj->handle);
        uj->handle = NULL;
    }
}


static int
ref_usage_event(int shape, const char *event, size_t event_len,
    const char *data, size_t len, tokenroute_usage_t *usage, int fast)
{
    int                 flags;
    yajl_handle         h;
    yajl_status         st;
    yajl_alloc_funcs    af;
    ref_usage_json_t    uj;
    tokenroute_arena_t  arena;
    char                buf[TOKENROUTE_ARENA_SIZE];

    if (tr_str_is(data, len, "[DONE]")) {
        return TOKENROUTE_EVENT_DONE;
    }

    if (fast) {
        flags = ref_usage_delta(shape, event, event_len, data, len,
                                       usage);
        if (flags >= 0) {
            return flags;
        }
    }

    /* the struct's own arena is unused here: only its head is cleared */
    memset(&uj, 0, offsetof(ref_usage_json_t, arena));
    uj.shape = shape;
    uj.usage = usage;
    uj.stream = 1;

    /* an event's parser lives on the stack */
    tokenroute_arena_init(&arena, buf, sizeof(buf), &af);

    h = yajl_alloc(&ref_usage_callbacks, &af, &uj);
    if (h == NULL) {
        return -1;
    }

    yajl_config(h, yajl_dont_validate_strings, 1);

    st = yajl_parse(h, (const unsigned char *) data, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st != yajl_status_ok) {
        return -1;
    }

    flags = 0;

    if (uj.error || tr_str_is(event, event_len, "error")) {
        flags |= TOKENROUTE_EVENT_ERROR;
    }

    if (shape == TOKENROUTE_SHAPE_OPENAI) {

        if (uj.usage_object) {
            ref_usage_apply(&uj, 0);

            if (uj.choices_array && uj.choices == 0) {
                flags |= TOKENROUTE_EVENT_USAGE_ONLY;
            }
        }

        if (uj.finish) {
            flags |= TOKENROUTE_EVENT_FINAL;
        }

        usage->content_bytes += uj.content_bytes;

    } else if (shape == TOKENROUTE_SHAPE_ANTHROPIC) {

        switch (uj.type) {

        case TR_TYPE_MESSAGE_START:
            ref_usage_apply(&uj, 0);
            break;

        case TR_TYPE_MESSAGE_DELTA:
            /* usage in message_delta is cumulative */
            ref_usage_apply(&uj, 1);
            break;

        case TR_TYPE_BLOCK_DELTA:
            usage->content_bytes += uj.content_bytes;
            break;

        case TR_TYPE_MESSAGE_STOP:
            flags |= TOKENROUTE_EVENT_FINAL;
            break;

        case TR_TYPE_ERROR:
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


static void
ref_usage_apply(ref_usage_json_t *uj, int max)
{
    int                  i;
    int64_t              cached, w, w5, w1, *field[TR_TOK_N];
    unsigned             writes;
    tokenroute_usage_t  *u;

    u = uj->usage;

    if (uj->shape == TOKENROUTE_SHAPE_OPENAI) {

        /* prompt_tokens includes the cached tokens */

        if (uj->tokens_seen & (1 << TR_TOK_INPUT)) {
            cached = (uj->tokens_seen & (1 << TR_TOK_CACHED))
                     ? uj->tokens[TR_TOK_CACHED] : 0;

            u->input_tokens = (uj->tokens[TR_TOK_INPUT] > cached)
                              ? uj->tokens[TR_TOK_INPUT] - cached : 0;
            u->cached_tokens = cached;
            u->seen_input = 1;
        }

        if (uj->tokens_seen & (1 << TR_TOK_OUTPUT)) {
            u->output_tokens = uj->tokens[TR_TOK_OUTPUT];
            u->seen_output = 1;
        }

        return;
    }

    field[TR_TOK_INPUT] = &u->input_tokens;
    field[TR_TOK_CACHED] = &u->cached_tokens;
    field[TR_TOK_WRITE] = &u->cache_write_tokens;
    field[TR_TOK_OUTPUT] = &u->output_tokens;

    for (i = 0; i < TR_TOK_N; i++) {

        if (!(uj->tokens_seen & (1 << i)) || i == TR_TOK_WRITE) {
            continue;
        }

        if (!max || uj->tokens[i] > *field[i]) {
            *field[i] = uj->tokens[i];
        }

        if (i == TR_TOK_OUTPUT) {
            u->seen_output = 1;

        } else {
            u->seen_input = 1;
        }
    }

    /* all the writes, or their split by lifetime if that is more */

    writes = (1 << TR_TOK_WRITE) | (1 << TR_TOK_W5M) | (1 << TR_TOK_W1H);

    if (!(uj->tokens_seen & writes)) {
        return;
    }

    w = (uj->tokens_seen & (1 << TR_TOK_WRITE)) ? uj->tokens[TR_TOK_WRITE] : 0;
    w5 = (uj->tokens_seen & (1 << TR_TOK_W5M)) ? uj->tokens[TR_TOK_W5M] : 0;
    w1 = (uj->tokens_seen & (1 << TR_TOK_W1H)) ? uj->tokens[TR_TOK_W1H] : 0;

    if (w5 > INT64_MAX - w1) {
        w = INT64_MAX;

    } else if (w5 + w1 > w) {
        w = w5 + w1;
    }

    if (!max || w > u->cache_write_tokens) {
        u->cache_write_tokens = w;
    }

    if (!max || w1 > u->cache_write_1h_tokens) {
        u->cache_write_1h_tokens = w1;
    }

    u->seen_input = 1;
}


static void
ref_usage_tokens(ref_usage_json_t *uj, unsigned key,
    int64_t value)
{
    unsigned  i;

    if (value < 0) {
        return;
    }

    i = key - TR_KEY_TOKENS;

    uj->tokens[i] = value;
    uj->tokens_seen |= 1 << i;

    if (!uj->stream) {
        /* a body may end early: keep what was read so far */
        ref_usage_apply(uj, 0);
    }
}


static void
ref_usage_error(ref_usage_json_t *uj)
{
    uj->error = 1;

    if (!uj->stream) {
        uj->usage->error = 1;
    }
}


/* every value goes through here first: returns the key it belongs to */

static unsigned
ref_usage_value(ref_usage_json_t *uj)
{
    unsigned  key;

    key = uj->key;
    uj->key = TR_KEY_NONE;

    if (uj->depth > 0 && uj->depth <= REF_USAGE_DEPTH
        && uj->kind[uj->depth - 1] == TR_K_CHOICES)
    {
        uj->choices++;
    }

    return key;
}


static int
ref_usage_start(ref_usage_json_t *uj, int map)
{
    unsigned  key, kind, parent;

    parent = (uj->depth > 0 && uj->depth <= REF_USAGE_DEPTH)
             ? uj->kind[uj->depth - 1] : TR_K_OTHER;

    key = ref_usage_value(uj);
    kind = TR_K_OTHER;

    if (key == TR_KEY_ERROR) {
        ref_usage_error(uj);

    } else if (map) {

        switch (key) {

        case TR_KEY_NONE:
            if (uj->depth == 0) {
                kind = TR_K_TOP;

            } else if (parent == TR_K_CHOICES) {
                kind = TR_K_CHOICE;

            } else if (parent == TR_K_TOOL_CALLS) {
                kind = TR_K_TOOL_CALL;
            }

            break;

        case TR_KEY_USAGE:
            kind = TR_K_USAGE;

            if (parent == TR_K_TOP) {
                uj->usage_object = 1;
            }

            break;

        case TR_KEY_DETAILS:
            kind = TR_K_DETAILS;
            break;

        case TR_KEY_CACHE_CREATION:
            kind = TR_K_CACHE_CREATION;
            break;

        case TR_KEY_DELTA:
            kind = TR_K_DELTA;
            break;

        case TR_KEY_FUNCTION:
            kind = TR_K_FUNCTION;
            break;

        case TR_KEY_MESSAGE:
            kind = TR_K_MESSAGE;
            break;

        default:
            break;
        }

    } else if (key == TR_KEY_CHOICES) {
        kind = TR_K_CHOICES;
        uj->choices_array = 1;

    } else if (key == TR_KEY_TOOL_CALLS) {
        kind = TR_K_TOOL_CALLS;
    }

    if (uj->depth < REF_USAGE_DEPTH) {
        uj->kind[uj->depth] = (unsigned char) kind;
    }

    uj->depth++;

    return 1;
}


static int
ref_usage_null(void *ctx)
{
    ref_usage_json_t  *uj = ctx;

    (void) ref_usage_value(uj);

    return 1;
}


static int
ref_usage_boolean(void *ctx, int value)
{
    ref_usage_json_t  *uj = ctx;

    if (ref_usage_value(uj) == TR_KEY_ERROR && value) {
        ref_usage_error(uj);
    }

    return 1;
}


static int
ref_usage_integer(void *ctx, long long value)
{
    unsigned           key;
    ref_usage_json_t  *uj = ctx;

    key = ref_usage_value(uj);

    if (key >= TR_KEY_TOKENS) {
        ref_usage_tokens(uj, key, value);

    } else if (key == TR_KEY_ERROR) {
        ref_usage_error(uj);
    }

    return 1;
}


static int
ref_usage_double(void *ctx, double value)
{
    unsigned           key;
    ref_usage_json_t  *uj = ctx;

    key = ref_usage_value(uj);

    if (key >= TR_KEY_TOKENS) {

        /* "12.0" or "1e3" is a count too; a fraction is not */

        if (value >= 0 && value < 9e18 && value == (double) (int64_t) value) {
            ref_usage_tokens(uj, key, (int64_t) value);
        }

    } else if (key == TR_KEY_ERROR) {
        ref_usage_error(uj);
    }

    return 1;
}


static int
ref_usage_string(void *ctx, const unsigned char *s, size_t len)
{
    ref_usage_json_t  *uj = ctx;

    switch (ref_usage_value(uj)) {

    case TR_KEY_TEXT:
        uj->content_bytes += len;
        break;

    case TR_KEY_FINISH_REASON:
        uj->finish = 1;
        break;

    case TR_KEY_ERROR:
        ref_usage_error(uj);
        break;

    case TR_KEY_TYPE:
        if (tr_str_is(s, len, "content_block_delta")) {
            uj->type = TR_TYPE_BLOCK_DELTA;

        } else if (tr_str_is(s, len, "message_delta")) {
            uj->type = TR_TYPE_MESSAGE_DELTA;

        } else if (tr_str_is(s, len, "message_start")) {
            uj->type = TR_TYPE_MESSAGE_START;

        } else if (tr_str_is(s, len, "message_stop")) {
            uj->type = TR_TYPE_MESSAGE_STOP;

        } else if (tr_str_is(s, len, "error")) {
            uj->type = TR_TYPE_ERROR;

        } else {
            uj->type = TR_TYPE_OTHER;
        }

        break;

    default:
        break;
    }

    return 1;
}


static int
ref_usage_start_map(void *ctx)
{
    return ref_usage_start(ctx, 1);
}


static int
ref_usage_start_array(void *ctx)
{
    return ref_usage_start(ctx, 0);
}


static int
ref_usage_end(void *ctx)
{
    ref_usage_json_t  *uj = ctx;

    uj->depth--;
    uj->key = TR_KEY_NONE;

    return 1;
}


static int
ref_usage_map_key(void *ctx, const unsigned char *key, size_t len)
{
    ref_usage_json_t  *uj = ctx;

    uj->key = TR_KEY_NONE;

    if (uj->depth > 0 && uj->depth <= REF_USAGE_DEPTH
        && uj->kind[uj->depth - 1] != TR_K_OTHER)
    {
        uj->key = ref_usage_match(uj, key, len);
    }

    return 1;
}


/* the keys read in each container; everything else is skipped */

static unsigned
ref_usage_match(ref_usage_json_t *uj, const unsigned char *s,
    size_t len)
{
    int  openai;

    openai = (uj->shape == TOKENROUTE_SHAPE_OPENAI);

    switch (uj->kind[uj->depth - 1]) {

    case TR_K_TOP:
        if (tr_str_is(s, len, "usage")) {
            return TR_KEY_USAGE;
        }

        if (tr_str_is(s, len, "error")) {
            return TR_KEY_ERROR;
        }

        if (!uj->stream) {
            break;
        }

        if (openai) {
            if (tr_str_is(s, len, "choices")) {
                return TR_KEY_CHOICES;
            }

            break;
        }

        if (tr_str_is(s, len, "type")) {
            return TR_KEY_TYPE;
        }

        if (tr_str_is(s, len, "delta")) {
            return TR_KEY_DELTA;
        }

        if (tr_str_is(s, len, "message")) {
            return TR_KEY_MESSAGE;
        }

        break;

    case TR_K_USAGE:
        if (openai) {
            if (tr_str_is(s, len, "prompt_tokens")) {
                return TR_KEY_TOKENS + TR_TOK_INPUT;
            }

            if (tr_str_is(s, len, "completion_tokens")) {
                return TR_KEY_TOKENS + TR_TOK_OUTPUT;
            }

            if (tr_str_is(s, len, "prompt_tokens_details")) {
                return TR_KEY_DETAILS;
            }

            break;
        }

        if (tr_str_is(s, len, "input_tokens")) {
            return TR_KEY_TOKENS + TR_TOK_INPUT;
        }

        if (tr_str_is(s, len, "output_tokens")) {
            return TR_KEY_TOKENS + TR_TOK_OUTPUT;
        }

        if (tr_str_is(s, len, "cache_read_input_tokens")) {
            return TR_KEY_TOKENS + TR_TOK_CACHED;
        }

        if (tr_str_is(s, len, "cache_creation_input_tokens")) {
            return TR_KEY_TOKENS + TR_TOK_WRITE;
        }

        if (tr_str_is(s, len, "cache_creation")) {
            return TR_KEY_CACHE_CREATION;
        }

        break;

    case TR_K_CACHE_CREATION:
        if (tr_str_is(s, len, "ephemeral_5m_input_tokens")) {
            return TR_KEY_TOKENS + TR_TOK_W5M;
        }

        if (tr_str_is(s, len, "ephemeral_1h_input_tokens")) {
            return TR_KEY_TOKENS + TR_TOK_W1H;
        }

        break;

    case TR_K_DETAILS:
        if (tr_str_is(s, len, "cached_tokens")) {
            return TR_KEY_TOKENS + TR_TOK_CACHED;
        }

        break;

    case TR_K_CHOICE:
        if (tr_str_is(s, len, "delta")) {
            return TR_KEY_DELTA;
        }

        if (tr_str_is(s, len, "finish_reason")) {
            return TR_KEY_FINISH_REASON;
        }

        break;

    case TR_K_DELTA:
        if (openai) {
            if (tr_str_is(s, len, "content")
                || tr_str_is(s, len, "reasoning_content"))
            {
                return TR_KEY_TEXT;
            }

            if (tr_str_is(s, len, "tool_calls")) {
                return TR_KEY_TOOL_CALLS;
            }

            break;
        }

        if (tr_str_is(s, len, "text")
            || tr_str_is(s, len, "partial_json")
            || tr_str_is(s, len, "thinking"))
        {
            return TR_KEY_TEXT;
        }

        break;

    case TR_K_TOOL_CALL:
        if (tr_str_is(s, len, "function")) {
            return TR_KEY_FUNCTION;
        }

        break;

    case TR_K_FUNCTION:
        if (tr_str_is(s, len, "arguments")) {
            return TR_KEY_TEXT;
        }

        break;

    case TR_K_MESSAGE:
        if (tr_str_is(s, len, "usage")) {
            return TR_KEY_USAGE;
        }

        break;

    default:
        break;
    }

    return TR_KEY_NONE;
}




#define TR_AN_DELTA  "{\"type\":\"content_block_delta\",\"index\":"
#define TR_AN_TEXT   ",\"delta\":{\"type\":\"text_delta\",\"text\":\""
#define TR_AN_JSON                                                            \
    ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\""


/*
 * The fast path for what most of a stream is: content deltas.  Such an
 * event carries no usage, no error and no end, and needs only the length
 * of its generated text, which is measured in place.  Whatever is not
 * clearly such a delta (escapes, "usage" with a value, an error, a
 * finish_reason, another event type) goes to the parser: returns -2.
 */

static int
ref_usage_delta(int shape, const char *event, size_t event_len,
    const char *data, size_t len, tokenroute_usage_t *usage)
{
    size_t       n;
    int64_t      bytes;
    unsigned     choices;
    const char  *last, *p, *s, *v;

    last = data + len;

    if (memchr(data, '\\', len) != NULL) {
        return -2;
    }

    if (shape == TOKENROUTE_SHAPE_ANTHROPIC) {

        if (event_len == 4 && memcmp(event, "ping", 4) == 0) {
            return 0;
        }

        /* exactly the shape Anthropic sends, or the parser decides */

        if (!(event_len == 19 && memcmp(event, "content_block_delta", 19) == 0)
            || len < sizeof(TR_AN_DELTA) - 1 + 3
            || memcmp(data, TR_AN_DELTA, sizeof(TR_AN_DELTA) - 1) != 0
            || memcmp(last - 3, "\"}}", 3) != 0)
        {
            return -2;
        }

        for (p = data + sizeof(TR_AN_DELTA) - 1;
             p < last && *p >= '0' && *p <= '9';
             p++)
        {
            /* void */
        }

        n = (size_t) (last - p);

        if (n > sizeof(TR_AN_TEXT) - 1
            && memcmp(p, TR_AN_TEXT, sizeof(TR_AN_TEXT) - 1) == 0)
        {
            p += sizeof(TR_AN_TEXT) - 1;

        } else if (n > sizeof(TR_AN_JSON) - 1
                   && memcmp(p, TR_AN_JSON, sizeof(TR_AN_JSON) - 1) == 0)
        {
            p += sizeof(TR_AN_JSON) - 1;

        } else {
            return -2;
        }

        if (p > last - 3) {
            return -2;
        }

        /* the value ends at the closing "}} and holds no other quote */

        if (memchr(p, '"', last - 3 - p) != NULL) {
            return -2;
        }

        usage->content_bytes += last - 3 - p;

        return 0;
    }

    /*
     * OpenAI: one pass over the strings, which pair up (no escapes).
     * "usage" may only be null here, "finish_reason" only null.
     */

    choices = 0;
    bytes = 0;

    for (p = data; p < last; /* void */) {

        p = memchr(p, '"', last - p);
        if (p == NULL) {
            break;
        }

        s = ++p;

        p = memchr(p, '"', last - p);
        if (p == NULL) {
            return -2;
        }

        n = p++ - s;

        if (p == last || *p != ':') {
            /* a string value */
            continue;
        }

        /* a key: look at its value */

        for (v = p + 1; v < last && *v == ' '; v++) {
            /* void */
        }

        if (v == last) {
            return -2;
        }

        if (tr_str_is(s, n, "usage") || tr_str_is(s, n, "finish_reason")) {
            if (*v != 'n') {
                return -2;
            }

        } else if (tr_str_is(s, n, "error")) {
            return -2;

        } else if (tr_str_is(s, n, "choices")) {
            if (*v != '[' || (v + 1 < last && v[1] == ']')) {
                return -2;
            }

            choices = 1;

        } else if (*v == '"'
                   && (tr_str_is(s, n, "content")
                       || tr_str_is(s, n, "reasoning_content")
                       || tr_str_is(s, n, "arguments")))
        {
            s = v + 1;

            p = memchr(s, '"', last - s);
            if (p == NULL) {
                return -2;
            }

            bytes += p++ - s;
        }
    }

    if (!choices) {
        return -2;
    }

    usage->content_bytes += bytes;

    return 0;
}
