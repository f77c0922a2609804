
/*
 * Copyright (C) tokenroute authors
 *
 * Token usage read from provider responses (OpenAI Chat Completions and
 * Anthropic Messages): a non-streamed JSON body fed to yajl's callback
 * parser piece by piece, or one SSE event's data at a time; and its cost.
 * Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_USAGE_H_INCLUDED_
#define _TOKENROUTE_USAGE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_parse.h>

#include "tokenroute_arena.h"


#define TOKENROUTE_API_OPENAI        1
#define TOKENROUTE_API_ANTHROPIC     2

/* tokenroute_usage_event() flags */
#define TOKENROUTE_EVENT_DONE        0x01  /* OpenAI "[DONE]" */
#define TOKENROUTE_EVENT_USAGE_ONLY  0x02  /* "choices": [] and a "usage" */
#define TOKENROUTE_EVENT_ERROR       0x04  /* an error object or event */
#define TOKENROUTE_EVENT_FINAL       0x08  /* message_stop, finish_reason */

/* containers nested deeper than this are never looked into */
#define TOKENROUTE_USAGE_DEPTH       8


typedef struct {
    int64_t    input_tokens;        /* uncached input */
    int64_t    cached_tokens;       /* cache reads */
    int64_t    cache_write_tokens;  /* Anthropic cache creation */
    int64_t    output_tokens;
    int64_t    content_bytes;       /* generated text seen in deltas */
    unsigned   seen_input:1;        /* the provider reported input usage */
    unsigned   seen_output:1;       /* ... output usage */
    unsigned   error:1;             /* an error object or error event */
} tokenroute_usage_t;


typedef struct tokenroute_usage_json_s  tokenroute_usage_json_t;

/* the fields are private; the struct is public so callers can embed it */
struct tokenroute_usage_json_s {
    yajl_handle           handle;
    tokenroute_usage_t   *usage;

    int64_t               tokens[4];
    int64_t               content_bytes;

    int                   api;
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

    unsigned char         kind[TOKENROUTE_USAGE_DEPTH];

    tokenroute_arena_t    arena;
};


/*
 * A non-streamed response body, read into *usage (which the caller
 * zeroes).  init returns 0, or -1 if out of memory.  feed takes the body
 * in pieces split anywhere and returns 0, or -1 once the body is not valid
 * JSON (stop feeding; *usage keeps what was read before).  finish returns
 * -1 if the body ended early.  Only the top-level "usage" object and a
 * top-level "error" that is neither null nor false are read.
 */
int tokenroute_usage_json_init(tokenroute_usage_json_t *uj, int api,
    tokenroute_usage_t *usage);
int tokenroute_usage_json_feed(tokenroute_usage_json_t *uj, const char *p,
    size_t len);
int tokenroute_usage_json_finish(tokenroute_usage_json_t *uj);
void tokenroute_usage_json_free(tokenroute_usage_json_t *uj);

/*
 * One SSE event (as delivered by tokenroute_sse_feed()) of a streamed
 * response: updates *usage and returns TOKENROUTE_EVENT_* flags, or -1
 * (*usage unchanged) if data is not JSON.  No heap allocation for events
 * of up to a few kilobytes.
 */
int tokenroute_usage_event(int api, const char *event, size_t event_len,
    const char *data, size_t len, tokenroute_usage_t *usage);

/*
 * Prices are nano-USD per million tokens; cache writes cost 1.25 times the
 * input price.  Returns nano-USD rounded up, saturated at INT64_MAX, or -1
 * if a count or a price is negative.
 */
int64_t tokenroute_usage_cost(const tokenroute_usage_t *u,
    int64_t input_price, int64_t cached_price, int64_t output_price);

/* output tokens guessed from content_bytes, 4 bytes a token, rounded up */
int64_t tokenroute_usage_estimate_output(const tokenroute_usage_t *u);


#endif /* _TOKENROUTE_USAGE_H_INCLUDED_ */
