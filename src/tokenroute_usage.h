
/*
 * Copyright (C) tokenroute authors
 *
 * Token usage read from provider responses (OpenAI Chat Completions and
 * Anthropic Messages): a non-streamed JSON body fed piece by piece, or one
 * SSE event's data at a time, each read by the skimmer in
 * tokenroute_skim.c; and its cost.  Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_USAGE_H_INCLUDED_
#define _TOKENROUTE_USAGE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "tokenroute_skim.h"


#define TOKENROUTE_SHAPE_OPENAI        1
#define TOKENROUTE_SHAPE_ANTHROPIC     2

/* tokenroute_usage_event() flags */
#define TOKENROUTE_EVENT_DONE        0x01  /* OpenAI "[DONE]" */
#define TOKENROUTE_EVENT_USAGE_ONLY  0x02  /* "choices": [] and a "usage" */
#define TOKENROUTE_EVENT_ERROR       0x04  /* an error object or event */
#define TOKENROUTE_EVENT_FINAL       0x08  /* message_stop, finish_reason */

/* containers nested deeper than this are never looked into */
#define TOKENROUTE_USAGE_DEPTH       TOKENROUTE_SKIM_DEPTH


/*
 * The envelope of a stream's OpenAI content chunks: all the bytes of one
 * but its content text.  A provider sends the same id, model, created and
 * fingerprint in every chunk of a stream, so the chunks that follow
 * differ only in their text; one that matches the envelope byte for byte
 * around a plain text is measured without being read.
 */

#define TOKENROUTE_USAGE_HEAD        384
#define TOKENROUTE_USAGE_TAIL        128

typedef struct {
    uint16_t   head_len;            /* 0: none learned */
    uint16_t   tail_len;            /* from the text's closing quote */
    uint16_t   pre_len;             /* of head: read by nothing (skim.h) */
    char       head[TOKENROUTE_USAGE_HEAD];
    char       tail[TOKENROUTE_USAGE_TAIL];
} tokenroute_usage_shape_t;


typedef struct {
    int64_t    input_tokens;        /* uncached input */
    int64_t    cached_tokens;       /* cache reads */
    int64_t    cache_write_tokens;  /* Anthropic cache writes, all */
    int64_t    cache_write_1h_tokens;   /* of them, 1-hour writes */
    int64_t    output_tokens;
    int64_t    content_bytes;       /* generated text seen in deltas */
    unsigned   seen_input:1;        /* the provider reported input usage */
    unsigned   seen_output:1;       /* ... output usage */
    unsigned   error:1;             /* an error object or error event */

    /*
     * A content chunk of the envelope, found by tokenroute_usage_line():
     * its text's length in line_n; or with line_len SIZE_MAX, a line that
     * is not one, line_n 1 if it starts with the envelope's head (0 if
     * not), 2 if its text then has an escape or a control byte.
     */
    const char               *line;
    size_t                    line_len;
    int64_t                   line_n;

    tokenroute_usage_shape_t  shape;
} tokenroute_usage_t;


/*
 * Prices, nano-USD per million tokens.  Anthropic's cache writes: the
 * 5-minute ones (and those whose lifetime is not reported) at
 * cache_write, -1 for 1.25 x input; the 1-hour ones at cache_write_1h,
 * -1 for 2 x input.
 */
typedef struct {
    int64_t    input;
    int64_t    cached;              /* cache reads */
    int64_t    cache_write;
    int64_t    cache_write_1h;
    int64_t    output;
} tokenroute_prices_t;


typedef struct tokenroute_usage_json_s  tokenroute_usage_json_t;

/* the fields are private; the struct is public so callers can embed it */
struct tokenroute_usage_json_s {
    tokenroute_usage_t   *usage;
    int                   shape;
    unsigned              failed:1;

    /* last: its number buffer needs no clearing */
    tokenroute_skim_t     skim;
};


/*
 * A non-streamed response body, read into *usage (which the caller
 * zeroes).  init returns 0: it allocates nothing, but callers keep the
 * check for -1.  feed takes the body in pieces split anywhere and returns
 * 0, or -1 once the body is not valid JSON (stop feeding; *usage keeps
 * what was read before).  finish returns -1 if the body ended early.  Only
 * the top-level "usage" object and a top-level "error" that is neither
 * null nor false are read.  free releases what very deep nesting took.
 */
int tokenroute_usage_json_init(tokenroute_usage_json_t *uj, int shape,
    tokenroute_usage_t *usage);
int tokenroute_usage_json_feed(tokenroute_usage_json_t *uj, const char *p,
    size_t len);
int tokenroute_usage_json_finish(tokenroute_usage_json_t *uj);
void tokenroute_usage_json_free(tokenroute_usage_json_t *uj);

/*
 * One SSE event (as delivered by tokenroute_sse_feed()) of a streamed
 * response: updates *usage and returns TOKENROUTE_EVENT_* flags, or -1
 * (*usage unchanged) if data is not JSON.  No heap allocation unless
 * nesting is deeper than TOKENROUTE_SKIM_STACK or a number is longer
 * than TOKENROUTE_SKIM_DIG_INLINE digits.
 */
int tokenroute_usage_event(int shape, const char *event, size_t event_len,
    const char *data, size_t len, tokenroute_usage_t *usage);

/*
 * A splitter's line hook (tokenroute_sse_line_end()) for a stream of the
 * OpenAI shape: if the "data" line's value at p (in p..last) is a content
 * chunk of the envelope learned from the stream (no CR or LF in it), and
 * a LF follows it, returns where the LF is, and the event whose data is
 * exactly that value is then read by tokenroute_usage_event() without
 * being looked at again.  NULL otherwise.  The caller sets usage->line to
 * NULL before each piece it feeds the splitter: what was found holds for
 * the piece it is in.
 */
const char *tokenroute_usage_line(tokenroute_usage_t *usage, const char *p,
    const char *last);

/*
 * The end of tokenroute_usage_event(), for an event's data that went
 * through a skimmer (stream 1) of the caller's, fed and finished without
 * error: the same flags and the same update of *usage.  For data in
 * pieces, and for tests.
 */
int tokenroute_usage_skimmed(int shape, const char *event, size_t event_len,
    const tokenroute_skim_t *sk, tokenroute_usage_t *usage);

/*
 * The cost of *u, each part rounded up: nano-USD saturated at INT64_MAX,
 * or -1 if a count or a price is negative (a write price below -1).
 */
int64_t tokenroute_usage_cost(const tokenroute_usage_t *u,
    const tokenroute_prices_t *p);

/*
 * The dearest price an input token can be charged at, per million tokens
 * and rounded up: that of uncached input, of cache reads and, with
 * cache_writes (Anthropic-type providers, where any input token may be a
 * cache write), of 5-minute and 1-hour cache writes.  Saturates at
 * INT64_MAX.
 */
int64_t tokenroute_usage_input_price_max(const tokenroute_prices_t *p,
    int cache_writes);

/*
 * All input tokens: uncached, cache reads and cache writes together,
 * saturated at INT64_MAX (each may be as large as a provider says).
 */
int64_t tokenroute_usage_input(const tokenroute_usage_t *u);

/*
 * Lowers *u to what a request allowed: output_tokens to max_output, and
 * the input to max_input in total, the budget going to uncached input
 * first, then cache writes (the 1-hour ones first), then cache reads.  A
 * negative count becomes 0.  Returns 1 if a count was lowered, else 0.
 */
int tokenroute_usage_clamp(tokenroute_usage_t *u, int64_t max_input,
    int64_t max_output);

/* output tokens guessed from content_bytes, 4 bytes a token, rounded up */
int64_t tokenroute_usage_estimate_output(const tokenroute_usage_t *u);


#endif /* _TOKENROUTE_USAGE_H_INCLUDED_ */
