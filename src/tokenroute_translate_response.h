
/*
 * Copyright (C) tokenroute authors
 *
 * Response translation between the OpenAI Chat Completions and the
 * Anthropic Messages shapes: whole JSON bodies, error bodies (sanitized
 * too when the shapes match) and SSE streams, translated event by event
 * as each completes.  Plain C on byte ranges plus yajl: no nginx
 * dependency.  The shapes are TOKENROUTE_SHAPE_OPENAI and
 * TOKENROUTE_SHAPE_ANTHROPIC (tokenroute_usage.h).
 * Bodies are tokenroute_translate_response*.c's, errors
 * tokenroute_translate_error.c's, streams tokenroute_translate_stream*.c's.
 */


#ifndef _TOKENROUTE_TRANSLATE_RESPONSE_H_INCLUDED_
#define _TOKENROUTE_TRANSLATE_RESPONSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tokenroute_json_tree.h"
#include "tokenroute_sse.h"
#include "tokenroute_usage.h"


/* a longer stream event is dropped as invalid */
#define TOKENROUTE_STREAM_MAX_EVENT  (16 * 1024 * 1024)


/* the output sink: returns 0, or -1 to abort the stream */
typedef int (*tokenroute_emit_pt)(void *ctx, const char *p, size_t len);


/*
 * A non-streamed response body (the whole provider JSON) from provider
 * shape "from" to client shape "to"; model is the public model id to
 * report (when model_len is 0 the provider's is kept).  *out is malloc'ed
 * and NUL-terminated at (*out)[*out_len].  Returns 0; -1 if the body is
 * not a valid response of its shape, or from == to (pass it through
 * unchanged); -2 if out of memory.
 */
int tokenroute_translate_response(int from, int to, const unsigned char *body,
    size_t len, const char *model, size_t model_len, unsigned char **out,
    size_t *out_len);

/*
 * A provider's error response (any status; the body may be JSON of
 * either shape, HTML or empty) in the client's error shape:
 *
 *     OpenAI     {"error":{"message","type","param":null,"code"}}
 *     Anthropic  {"type":"error","error":{"type","message"}}
 *
 * The message is the provider's, with keys (sk-..., AIza..., "Bearer x")
 * replaced by "[redacted]" and URLs by "[url]", or a generic text for the
 * status.  The type is mapped from the status, except that the provider's
 * own type is kept when from == to; the OpenAI code is the provider's
 * code, else an Anthropic provider's error type, else the type.  *out is
 * malloc'ed and NUL-terminated.  Returns 0, or -2 if out of memory.
 */
int tokenroute_translate_error(int from, int to, int status,
    const unsigned char *body, size_t len, unsigned char **out,
    size_t *out_len);


/*
 * The Anthropic error type of an HTTP status (400 invalid_request_error,
 * 401 authentication_error, ... 529 overloaded_error; other 4xx
 * invalid_request_error, 5xx api_error): the gateway's own errors and
 * translated provider errors use the one mapping.
 */
const char *tokenroute_error_anthropic_type(int status);

/*
 * The HTTP status a client of shape "to" gets for an error of "status":
 * the status itself, but 503 for a 529 to an OpenAI client (OpenAI never
 * sends 529, and its SDKs retry a 503 as an overload).
 */
int tokenroute_error_client_status(int to, int status);

/*
 * The text of p[0..n) as the inside of a JSON string: quotes, backslashes
 * and control characters escaped, each byte that does not belong to a
 * valid UTF-8 sequence replaced by U+FFFD, so that a client's or a
 * provider's bytes never make an error body invalid.  Writes to dst
 * (NULL: only counts; at most 6 * n bytes) and returns the length.
 */
size_t tokenroute_json_escape_utf8(unsigned char *dst,
    const unsigned char *p, size_t n);


typedef struct tokenroute_stream_s  tokenroute_stream_t;

/* the fields are private; the struct is public so callers can embed it */
struct tokenroute_stream_s {
    tokenroute_sse_t         sse;
    tokenroute_json_tree_t   json;
    tokenroute_json_buf_t    out;
    tokenroute_json_buf_t    prefix;    /* a text chunk's head (ao.c) */
    tokenroute_json_buf_t    model;
    tokenroute_json_buf_t    scratch;   /* a fast path's decoded string */

    int32_t                 *tools;
    uint32_t                 ntools;

    tokenroute_emit_pt       emit;
    void                    *ctx;

    /*
     * Public, set after init (NULL: none): called with each of the
     * provider's events as the stream's SSE parser gives it (its limit
     * TOKENROUTE_STREAM_MAX_EVENT), before the translation, also after
     * the end: a caller reads the provider's events (usage) without
     * parsing the SSE a second time.  Non-zero fails the feed.
     */
    tokenroute_sse_event_pt  tap;
    void                    *tap_ctx;

    /*
     * Public, for the tap, during its call: the decoded content bytes of
     * a plain content delta of an Anthropic stream, the one thing the
     * usage reader (tokenroute_usage_event()) would take from the event
     * (no flags, no counts); else -1: read the event.
     */
    int64_t                  tap_bytes;

    /*
     * Public, for the tap, with tap_bytes: the event is message_stop, the
     * usage reader's TOKENROUTE_EVENT_FINAL and nothing else.
     */
    unsigned                 tap_final;

    /* ... and message_delta's output count as the usage reader reads it */
    int64_t                  tap_output;    /* -1: none */

    /* ... and message_start's counts, by st->usage[] index, or NULL */
    const int64_t           *tap_counts;

    size_t                   prefix_base;   /* "data: " and the id... */
    size_t                   prefix_open;   /* ...up to the delta */

    int64_t                  usage[4];
    time_t                   created;
    const char              *stop_reason;

    int                      from;
    int                      to;
    int64_t                  block;
    int                      block_tool;
    int                      nblocks;

    unsigned                 include_usage:1;
    unsigned                 started:1;
    unsigned                 finished:1;
    unsigned                 block_open:1;
    unsigned                 block_text:1;
    unsigned                 done:1;
    unsigned                 failed:1;
    unsigned                 flushing:1;
    unsigned                 tree_only:1;   /* tests: no fast path */
};


/*
 * A streamed response from provider shape "from" to client shape "to"
 * (from == to relays the events, sanitizing error events, and still ends
 * an interrupted stream properly).  include_usage: the OpenAI client
 * asked for the usage chunk.  Returns 0, or -1 if out of memory or a
 * shape is unknown (nothing to free then).
 */
int tokenroute_stream_init(tokenroute_stream_t *st, int from, int to,
    const char *model, size_t model_len, int include_usage,
    tokenroute_emit_pt emit, void *ctx);

/*
 * Upstream bytes, split anywhere: each event is translated and emitted as
 * soon as it completes.  Returns 0, or -1 if emit aborted or memory ran
 * out (then on every later call too).
 */
int tokenroute_stream_feed(tokenroute_stream_t *st, const char *p,
    size_t len);

/*
 * The upstream ended: complete is 0 if it ended abnormally.  A client
 * stream that was not finished gets its proper end (complete, and the
 * provider's stream had reached its end or is OpenAI's, whose "[DONE]"
 * may be missing) or a terminal error event.  Returns 0 or -1.
 */
int tokenroute_stream_finish(tokenroute_stream_t *st, int complete);

/*
 * Emits a terminal error event in the client's shape now, unless the
 * client's stream is already finished; later input is ignored.
 */
int tokenroute_stream_error(tokenroute_stream_t *st, const char *message);

void tokenroute_stream_free(tokenroute_stream_t *st);


#endif /* _TOKENROUTE_TRANSLATE_RESPONSE_H_INCLUDED_ */
