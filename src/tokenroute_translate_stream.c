
/*
 * Copyright (C) tokenroute authors
 *
 * Streamed responses: the stream's life (init, feed, finish, error,
 * free), its SSE events dispatched, each parsed into the stream's JSON
 * tree (whose chunks serve event after event) unless the fast path of
 * tokenroute_translate_stream_scan.c reads it, events relayed as they
 * are when the shapes match, and the client's terminal error event.  The
 * translations are tokenroute_translate_stream_ao.c's and _oa.c's.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenroute_translate_response_int.h"
#include "tokenroute_translate_stream_tap.h"


#define TR_MESSAGE_INTERRUPTED  "The provider's stream ended early"
/* output joined up to this, within the buffer's first reserve */
#define TR_OUT_JOIN  3072

#define TR_MESSAGE_TOO_LARGE                                                  \
    "The provider sent a stream event too large to translate"


static int tokenroute_stream_event(void *ctx, const char *event,
    size_t event_len, const char *data, size_t len, int truncated);
static int tokenroute_stream_relay(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len);
static void tokenroute_stream_terminal(tokenroute_stream_t *st, int from,
    int status, tokenroute_resp_error_t *e);
static int tokenroute_stream_more(tokenroute_stream_t *st);
static int tokenroute_stream_flush(tokenroute_stream_t *st);



int
tokenroute_stream_init(tokenroute_stream_t *st, int from, int to,
    const char *model, size_t model_len, int include_usage,
    tokenroute_emit_pt emit, void *ctx)
{
    memset(st, 0, sizeof(tokenroute_stream_t));

    if ((from != TOKENROUTE_SHAPE_OPENAI && from != TOKENROUTE_SHAPE_ANTHROPIC)
        || (to != TOKENROUTE_SHAPE_OPENAI && to != TOKENROUTE_SHAPE_ANTHROPIC))
    {
        return -1;
    }

    if (tokenroute_sse_init(&st->sse, TOKENROUTE_STREAM_MAX_EVENT,
                            tokenroute_stream_event, st)
        != 0)
    {
        return -1;
    }

    /*
     * A translation reads an event's data by its length, during the call:
     * the commonest event, one data line whole in the piece fed, is not
     * copied.  A relay looks for "error" in the data as a C string.
     */

    if (from != to) {
        tokenroute_sse_lend(&st->sse);
    }

    tokenroute_json_add(&st->model, model, model_len);

    if (st->model.failed || tokenroute_json_reserve(&st->out, 4096) != 0) {
        goto failed;
    }

    st->from = from;
    st->to = to;
    st->include_usage = include_usage ? 1 : 0;
    st->emit = emit;
    st->ctx = ctx;
    st->block = -1;
    st->block_tool = -1;
    st->tap_bytes = -1;
    st->tap_output = -1;
    st->created = time(NULL);

    return 0;

failed:

    tokenroute_stream_free(st);

    return -1;
}


int
tokenroute_stream_feed(tokenroute_stream_t *st, const char *p, size_t len)
{
    int  rc;

    if (st->failed) {
        return -1;
    }

    /* a tap reads the provider's events also after the client's end */

    if (st->done && st->tap == NULL) {
        return 0;
    }

    rc = tokenroute_sse_feed(&st->sse, p, len);

    /* the events' output, joined (tokenroute_stream_more()) */

    if (!st->failed && st->out.len > 0 && tokenroute_stream_flush(st) != 0) {
        return -1;
    }

    if (rc != 0) {
        st->failed = 1;
        return -1;
    }

    return 0;
}


int
tokenroute_stream_finish(tokenroute_stream_t *st, int complete)
{
    tokenroute_resp_error_t  e;

    if (st->failed) {
        return -1;
    }

    /* an event without its closing blank line is still taken */

    st->flushing = 1;

    if (tokenroute_stream_feed(st, "\n\n", 2) != 0) {
        return -1;
    }

    st->flushing = 0;

    if (st->done) {
        return 0;
    }

    st->out.len = 0;

    if (complete && st->to == TOKENROUTE_SHAPE_ANTHROPIC
        && st->from == TOKENROUTE_SHAPE_OPENAI)
    {
        tokenroute_stream_oa_end(st);

    } else if (complete && st->to == TOKENROUTE_SHAPE_OPENAI
               && st->from == TOKENROUTE_SHAPE_ANTHROPIC && st->finished)
    {
        tokenroute_stream_ao_end(st);

    } else if (complete && st->to == TOKENROUTE_SHAPE_OPENAI
               && st->from == TOKENROUTE_SHAPE_OPENAI)
    {
        tr_add_lit(&st->out, "data: [DONE]\n\n");
        st->done = 1;

    } else {
        memset(&e, 0, sizeof(tokenroute_resp_error_t));
        e.message = TR_MESSAGE_INTERRUPTED;
        e.message_len = sizeof(TR_MESSAGE_INTERRUPTED) - 1;
        e.code = "stream_interrupted";
        e.code_len = sizeof("stream_interrupted") - 1;

        tokenroute_stream_terminal(st, 0, 0, &e);
    }

    return tokenroute_stream_flush(st);
}


int
tokenroute_stream_error(tokenroute_stream_t *st, const char *message)
{
    tokenroute_resp_error_t  e;

    if (st->failed) {
        return -1;
    }

    if (st->done) {
        return 0;
    }

    memset(&e, 0, sizeof(tokenroute_resp_error_t));
    e.message = message;
    e.message_len = (message != NULL) ? strlen(message) : 0;

    st->out.len = 0;

    tokenroute_stream_terminal(st, 0, 0, &e);

    return tokenroute_stream_flush(st);
}


void
tokenroute_stream_free(tokenroute_stream_t *st)
{
    tokenroute_sse_free(&st->sse);
    tokenroute_json_tree_free(&st->json);
    tokenroute_json_buf_free(&st->out);
    tokenroute_json_buf_free(&st->prefix);
    tokenroute_json_buf_free(&st->model);
    tokenroute_json_buf_free(&st->scratch);

    free(st->tools);

    st->tools = NULL;
    st->ntools = 0;
}


static int
tokenroute_stream_event(void *ctx, const char *event, size_t event_len,
    const char *data, size_t len, int truncated)
{
    int                        rc, fast;
    size_t                     mark;
    tokenroute_stream_t       *st = ctx;
    tokenroute_resp_error_t    e;
    tokenroute_stream_scan_t   sc;

    /*
     * Most events of an Anthropic stream are read by the scan alone, and
     * the usage reader behind the tap is told what it would have read
     */

    fast = 0;

    if (st->from == TOKENROUTE_SHAPE_ANTHROPIC
        && st->to == TOKENROUTE_SHAPE_OPENAI && !truncated && !st->tree_only
        && (!st->done || st->tap != NULL))
    {
        fast = tokenroute_stream_scan_ao(st, event, event_len, data, len,
                                         &sc);
    }

    if (st->tap != NULL) {
        st->tap_bytes = fast ? sc.bytes : -1;
        st->tap_final = fast && sc.bytes >= 0 && sc.final;
        st->tap_output = (fast && sc.bytes >= 0) ? sc.output : -1;
        st->tap_counts = (fast && sc.bytes >= 0 && sc.counts)
                         ? sc.msg_usage : NULL;

        rc = st->tap(st->tap_ctx, event, event_len, data, len, truncated);

        st->tap_bytes = -1;
        st->tap_final = 0;
        st->tap_output = -1;
        st->tap_counts = NULL;

        if (rc != 0) {
            st->failed = 1;
            return -1;
        }
    }

    if (st->done) {
        return 0;
    }

    /*
     * The output is added to the events' before in this feed: one call
     * of emit for most feeds.  An event that fails adds nothing.
     */

    mark = st->out.len;

    if (truncated) {
        /*
         * Too large to translate: dropping it would hand the client a
         * well-formed but truncated answer.
         */

        memset(&e, 0, sizeof(tokenroute_resp_error_t));
        e.message = TR_MESSAGE_TOO_LARGE;
        e.message_len = sizeof(TR_MESSAGE_TOO_LARGE) - 1;

        tokenroute_stream_terminal(st, 0, 0, &e);

        return tokenroute_stream_more(st);
    }

    if (st->from == st->to) {
        rc = tokenroute_stream_relay(st, event, event_len, data, len);

    } else if (fast) {
        rc = tokenroute_stream_ao_scanned(st, event, event_len, &sc);

    } else if (st->from == TOKENROUTE_SHAPE_ANTHROPIC) {
        rc = tokenroute_stream_ao(st, event, event_len, data, len);

    } else {
        rc = tokenroute_stream_oa(st, data, len);
    }

    if (rc != 0) {
        st->out.len = mark;
        return -1;
    }

    return tokenroute_stream_more(st);
}


/* after an event's output: emitted when enough is joined */

static int
tokenroute_stream_more(tokenroute_stream_t *st)
{
    if (st->out.failed) {
        st->failed = 1;
        return -1;
    }

    if (st->out.len >= TR_OUT_JOIN) {
        return tokenroute_stream_flush(st);
    }

    return 0;
}


static int
tokenroute_stream_flush(tokenroute_stream_t *st)
{
    if (st->out.failed) {
        st->failed = 1;
        return -1;
    }

    if (st->out.len > 0 && st->emit(st->ctx, st->out.data, st->out.len) != 0)
    {
        st->failed = 1;
        return -1;
    }

    st->out.len = 0;

    return 0;
}


/* returns 0, -1 if data is not JSON, or -2 if out of memory */

int
tokenroute_stream_parse(tokenroute_stream_t *st, const char *data,
    size_t len)
{
    return tokenroute_json_tree_parse(&st->json, data, len, NULL);
}


/*
 * The same shape on both sides: events are passed on as they are, except
 * that error events are sanitized, and the end is tracked.
 */

static int
tokenroute_stream_relay(tokenroute_stream_t *st, const char *event,
    size_t event_len, const char *data, size_t len)
{
    int                      rc;
    size_t                   n;
    const char              *p, *last, *q, *s;
    tokenroute_json_node_t  *e;
    tokenroute_json_tree_t  *j;

    if (st->from == TOKENROUTE_SHAPE_OPENAI && tr_str_is(data, len, "[DONE]")) {
        tr_add_lit(&st->out, "data: [DONE]\n\n");
        st->done = 1;
        return 0;
    }

    /*
     * data is NUL-terminated, and JSON has no NUL in it; an event cut
     * short by the end of the stream is not passed on
     */

    if (st->flushing || strstr(data, "\"error\"") != NULL) {
        j = &st->json;

        rc = tokenroute_stream_parse(st, data, len);

        if (rc == -2) {
            return -1;
        }

        if (rc != 0 && st->flushing) {
            return 0;
        }

        if (rc == 0 && st->from == TOKENROUTE_SHAPE_OPENAI) {
            e = tokenroute_json_get(j->root, "error");

            if (e != NULL && e->type != TR_J_NULL
                && e->type != TR_J_FALSE)
            {
                return tokenroute_stream_upstream_error(st);
            }

        } else if (rc == 0
                   && tokenroute_json_str(tokenroute_json_get(j->root, "type"),
                                          &s, &n)
                   && tr_str_is(s, n, "error"))
        {
            return tokenroute_stream_upstream_error(st);
        }
    }

    if (event_len > 0) {
        tr_add_lit(&st->out, "event: ");
        tokenroute_json_add(&st->out, event, event_len);
        tr_add_lit(&st->out, "\n");
    }

    /* the joined data lines, split again */

    last = data + len;

    for (p = data; /* void */; p = q + 1) {
        q = memchr(p, '\n', last - p);

        if (q == NULL) {
            q = last;
        }

        tr_add_lit(&st->out, "data: ");
        tokenroute_json_add(&st->out, p, q - p);
        tr_add_lit(&st->out, "\n");

        if (q == last) {
            break;
        }
    }

    tr_add_lit(&st->out, "\n");

    if (st->from == TOKENROUTE_SHAPE_ANTHROPIC
        && tr_str_is(event, event_len, "message_stop"))
    {
        st->done = 1;
    }

    return 0;
}


/* an error chunk or event of the provider, parsed into st->json */

int
tokenroute_stream_upstream_error(tokenroute_stream_t *st)
{
    int                       status;
    tokenroute_json_node_t   *n;
    tokenroute_resp_error_t   e;

    memset(&e, 0, sizeof(tokenroute_resp_error_t));
    status = 0;

    n = tokenroute_json_get(st->json.root, "error");

    if (n != NULL) {
        tokenroute_resp_error_read(n, &e, &status);
    }

    tokenroute_stream_terminal(st, st->from, status, &e);

    return 0;
}


/*
 * An event that is not JSON cannot be translated, and dropping it would
 * hand the client a well-formed but truncated answer: end the stream with
 * an error event instead.
 */

int
tokenroute_stream_malformed(tokenroute_stream_t *st)
{
    tokenroute_resp_error_t  e;

    if (st->flushing) {
        /* an event cut short by the end of the stream: finish() reports */
        return 0;
    }

    memset(&e, 0, sizeof(tokenroute_resp_error_t));
    e.message = "The provider sent a malformed stream event";
    e.message_len = sizeof("The provider sent a malformed stream event") - 1;

    tokenroute_stream_terminal(st, 0, 0, &e);

    return 0;
}


/*
 * The client's terminal error event; from is the provider's shape for a
 * provider's error, or 0 for the gateway's own; status 0 if unknown.
 */

static void
tokenroute_stream_terminal(tokenroute_stream_t *st, int from, int status,
    tokenroute_resp_error_t *e)
{
    if (st->to == TOKENROUTE_SHAPE_ANTHROPIC) {
        tr_add_lit(&st->out, "event: error\ndata: ");

    } else {
        tr_add_lit(&st->out, "data: ");
    }

    tokenroute_resp_error_write(&st->out, from, st->to, status, e);
    tr_add_lit(&st->out, "\n\n");

    if (st->to == TOKENROUTE_SHAPE_OPENAI) {
        tr_add_lit(&st->out, "data: [DONE]\n\n");
    }

    st->done = 1;
}


int
tokenroute_stream_tap_usage(const tokenroute_stream_t *st,
    tokenroute_usage_t *u)
{
    if (st->tap_bytes < 0) {
        return -1;
    }

    u->content_bytes += st->tap_bytes;

    if (st->tap_counts != NULL) {
        /* message_start's: all said, nothing of a 1-hour cache write */

        u->input_tokens = st->tap_counts[TR_U_INPUT];
        u->cached_tokens = st->tap_counts[TR_U_CACHE_READ];
        u->cache_write_tokens = st->tap_counts[TR_U_CACHE_WRITE];
        u->cache_write_1h_tokens = 0;
        u->output_tokens = st->tap_counts[TR_U_OUTPUT];
        u->seen_input = 1;
        u->seen_output = 1;
    }

    if (st->tap_output >= 0) {
        /* message_delta's count is cumulative: the largest is kept */

        if (st->tap_output > u->output_tokens) {
            u->output_tokens = st->tap_output;
        }

        u->seen_output = 1;
    }

    return st->tap_final ? TOKENROUTE_EVENT_FINAL : 0;
}
