
/*
 * Copyright (C) tokenroute authors
 *
 * Response filters for requests the gateway routed.
 *
 * Header filter: says which model served the request and under which
 * request id, and decides how the body is read and rewritten:
 *
 *   pass       a stream in the client's own shape: read for usage (SSE
 *              event by event) and passed on unchanged, chunk by chunk as
 *              it arrives;
 *   strip      an OpenAI stream whose client did not ask for usage: the
 *              gateway asked for it, so that event is removed;
 *              in both, an event whose data is not JSON ends the
 *              client's stream with an error event (sse_gate.c);
 *   translate  a stream of the other shape: each event is translated as
 *              it completes;
 *   buffer     a JSON body: held whole (skimmed for usage as it comes),
 *              then passed on unchanged when in the client's own shape
 *              and valid, translated when of the other shape, or, for a
 *              provider's error, rewritten in the client's shape and
 *              cleaned of anything that identifies the provider.
 *
 * The rewriting modes are in ngx_http_tokenroute_rewrite.c, a body held
 * whole and an answer that fails before reaching the client in
 * ngx_http_tokenroute_held.c, a stream the provider ends early in
 * ngx_http_tokenroute_stream_cut.c; what they all share (the next
 * filters, the output chain, the usage read) in
 * ngx_http_tokenroute_output.c, which calls none of them.  A Bedrock
 * stream's binary frames are decoded into SSE text first
 * (ngx_http_tokenroute_eventstream.c), then read as any stream.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_eventstream.h"
#include "ngx_http_tokenroute_filter.h"
#include "ngx_http_tokenroute_output.h"
#include "ngx_http_tokenroute_headers.h"
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_translate_stream_tap.h"


/* events longer than this are passed on, unjudged, not read for usage */
#define NGX_HTTP_TOKENROUTE_SSE_MAX_DATA  (64 * 1024)


static ngx_int_t ngx_http_tokenroute_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_tokenroute_stream_body(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_tokenroute_es_decode(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_tokenroute_body(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_tokenroute_response_init(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static void ngx_http_tokenroute_response_cleanup(void *data);
static int ngx_http_tokenroute_sse_event(void *data, const char *event,
    size_t event_len, const char *text, size_t len, int truncated);
static const char *ngx_http_tokenroute_sse_line(void *data, const char *p,
    const char *last);
static int ngx_http_tokenroute_tap(void *data, const char *event,
    size_t event_len, const char *text, size_t len, int truncated);


static u_char *ngx_http_tokenroute_write_ms(u_char *p, uint64_t usec);


ngx_int_t
ngx_http_tokenroute_filter_init(ngx_conf_t *cf)
{
    /* first: it saves the filters that ours are put on top of */
    ngx_http_tokenroute_next_init();

    ngx_http_top_header_filter = ngx_http_tokenroute_header_filter;
    ngx_http_top_body_filter = ngx_http_tokenroute_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_header_filter(ngx_http_request_t *r)
{
    u_char                     *p;
    ngx_int_t                   rc;
    ngx_uint_t                  es;
    ngx_table_elt_t            *h;
    ngx_http_tokenroute_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_tokenroute_next_header(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx && ngx_http_tokenroute_headers_scrub(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * Routed (admitted, or count_tokens, which reserves nothing), or
     * failed on every attempt.
     */

    if (ctx == NULL || ctx->attempts == 0) {
        return ngx_http_tokenroute_next_header(r);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute upstream: status %ui from \"%V\", attempt %ui",
                   r->headers_out.status, &ctx->model->id, ctx->attempts);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-tokenroute-model");
    /* the public id: which deployment served is for the logs */
    h->value = ngx_http_tokenroute_public(ctx->model)->id;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-tokenroute-request-id");
    h->value.data = ctx->request_id;
    h->value.len = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-tokenroute-attempts");
    h->value.len = ngx_http_tokenroute_write_int(h->value.data,
                                                 ctx->attempts)
                   - h->value.data;

    /*
     * The gateway's own time before the provider was asked, and the part
     * of it spent waiting for Redis, like LiteLLM's overhead header.
     */

    if (ctx->t_decided) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool, 2 * (NGX_INT64_LEN + 8));
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "x-tokenroute-overhead-ms");
        p = ngx_http_tokenroute_write_ms(h->value.data,
                                         ctx->t_decided - ctx->t_start);
        p = ngx_cpymem(p, ";redis=", sizeof(";redis=") - 1);
        p = ngx_http_tokenroute_write_ms(p, ctx->t_redis);

        h->value.len = p - h->value.data;
    }

    if (!ctx->decided) {
        return ngx_http_tokenroute_next_header(r);
    }

    rc = ngx_http_tokenroute_check_status(r, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->upstream_status = r->headers_out.status;

    if (r->header_only || r->headers_out.status < NGX_HTTP_OK) {
        if (ctx->upstream_status < NGX_HTTP_SPECIAL_RESPONSE) {
            ngx_http_tokenroute_cooldown_success(ctx->model);
        }

        return ngx_http_tokenroute_next_header(r);
    }

    es = ngx_http_tokenroute_eventstream_header(r, ctx);

    rc = ngx_http_tokenroute_response_init(r, ctx);

    if (rc == NGX_DECLINED) {
        /* too large to hold: the attempt failed */
        return ngx_http_tokenroute_answer_failed(r, ctx,
                                                 NGX_HTTP_BAD_GATEWAY);
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (es && ngx_http_tokenroute_eventstream_start(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->resp->buffer) {
        /*
         * Held until the body is in: its translation decides the status
         * and the length (the xslt filter's way), and whether the model
         * answered at all.
         */
        return NGX_OK;
    }

    if (ctx->upstream_status < NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_tokenroute_cooldown_success(ctx->model);
    }

    return ngx_http_tokenroute_next_header(r);
}


/* microseconds as milliseconds with 3 decimals: "%uL.%03uL" */

static u_char *
ngx_http_tokenroute_write_ms(u_char *p, uint64_t usec)
{
    ngx_uint_t  frac;

    p = ngx_http_tokenroute_write_int(p, (int64_t) (usec / 1000));

    frac = usec % 1000;

    *p++ = '.';
    *p++ = (u_char) ('0' + frac / 100);
    *p++ = (u_char) ('0' + frac / 10 % 10);
    *p++ = (u_char) ('0' + frac % 10);

    return p;
}


static ngx_int_t
ngx_http_tokenroute_response_init(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int                               client;
    size_t                            size;
    ngx_int_t                         rc;
    ngx_str_t                        *type;
    ngx_uint_t                        sse;
    ngx_pool_cleanup_t               *cln;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_response_t   *resp;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    type = &r->headers_out.content_type;

    /* as providers send it, compared at once; else without case */

    sse = (type->len >= sizeof("text/event-stream") - 1
           && (ngx_strncmp(type->data, "text/event-stream",
                           sizeof("text/event-stream") - 1)
               == 0
               || ngx_strncasecmp(type->data, (u_char *) "text/event-stream",
                                  sizeof("text/event-stream") - 1)
                  == 0));

    /*
     * The request pool keeps the response as long as the request: a
     * stream's gets not the JSON reader's state nor, unless translated,
     * the translator's; a JSON answer's not the translator's; an error
     * answer neither.
     */

    if (r->headers_out.status >= NGX_HTTP_SPECIAL_RESPONSE) {
        size = offsetof(ngx_http_tokenroute_response_t, u);

    } else if (sse && !ctx->translate) {
        size = offsetof(ngx_http_tokenroute_response_t, u.s.stream);

    } else if (sse) {
        size = sizeof(ngx_http_tokenroute_response_t);

    } else {
        size = offsetof(ngx_http_tokenroute_response_t, u)
               + sizeof(tokenroute_usage_json_t);
    }

    resp = ngx_palloc(r->pool, size);
    if (resp == NULL) {
        return NGX_ERROR;
    }

    /*
     * the JSON parser's state is set up by its init, when it is used; the
     * translator's is cleared as before
     */
    ngx_memzero(resp, sse ? size
                          : offsetof(ngx_http_tokenroute_response_t, u));

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    resp->request = r;
    resp->status = r->headers_out.status;
    resp->last_out = &resp->out;
    resp->hold_max = trmcf->max_response_size;

    resp->provider_shape = ctx->model->provider->shape;

    client = (ctx->shape == TOKENROUTE_SHAPE_ANTHROPIC)
             ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;

    cln->handler = ngx_http_tokenroute_response_cleanup;
    cln->data = resp;

    ctx->resp = resp;

    if (resp->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* a provider's error costs nothing: rewrite it, read nothing */
        resp->mode = NGX_HTTP_TOKENROUTE_RESP_NONE;
        resp->buffer = 1;
        goto rewritten;
    }

    if (sse) {
        /*
         * No attempt follows a stream's start, and the body sent is in the
         * upstream's request buffer: our copy (route.c) is not kept for
         * the stream's life.  A body that is not a large allocation of the
         * pool (translated, signed) is left alone.
         */

        if (ctx->upstream_body.data
            && ngx_pfree(r->pool, ctx->upstream_body.data) == NGX_OK)
        {
            ngx_str_null(&ctx->upstream_body);
        }

        if (tokenroute_sse_init(&resp->u.s.sse,
                                NGX_HTTP_TOKENROUTE_SSE_MAX_DATA,
                                ngx_http_tokenroute_sse_event, ctx)
            != 0)
        {
            return NGX_ERROR;
        }

        /* the usage reader needs no NUL: most events are not copied */
        tokenroute_sse_lend(&resp->u.s.sse);

        if (!ctx->translate
            && resp->provider_shape == TOKENROUTE_SHAPE_OPENAI)
        {
            /* a content chunk's line is read once, for its end and usage */
            tokenroute_sse_line_end(&resp->u.s.sse,
                                    ngx_http_tokenroute_sse_line);
        }

        resp->mode = NGX_HTTP_TOKENROUTE_RESP_SSE;

        if (ctx->translate) {
            m = ngx_http_tokenroute_public(ctx->model);

            if (tokenroute_stream_init(&resp->u.s.stream, resp->provider_shape,
                                       client, (char *) m->id.data,
                                       m->id.len,
                                       ctx->req.include_usage == 1,
                                       ngx_http_tokenroute_emit, resp)
                != 0)
            {
                return NGX_ERROR;
            }

            /*
             * The usage is read from the events the translator's SSE
             * parser splits: the bytes are parsed once (rewrite.c).
             */

            resp->u.s.stream.tap = ngx_http_tokenroute_tap;
            resp->u.s.stream.tap_ctx = ctx;
            resp->tapped = 1;

            resp->stream_started = 1;
            resp->translate = 1;
            goto rewritten;
        }

        if (resp->provider_shape == TOKENROUTE_SHAPE_OPENAI
            && ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT
            && ctx->req.include_usage != 1)
        {
            resp->strip = 1;
            goto rewritten;
        }

        return NGX_OK;
    }

    if (tokenroute_usage_json_init(&resp->u.json, resp->provider_shape,
                                   &ctx->usage)
        != 0)
    {
        return NGX_ERROR;
    }

    resp->mode = NGX_HTTP_TOKENROUTE_RESP_JSON;

    /*
     * Held whole even in the client's own shape: a body that is not
     * JSON, or is cut short, must not reach the client as a 200.
     */

    resp->buffer = 1;
    resp->verify = !ctx->translate;

rewritten:

    if (resp->buffer) {
        rc = ngx_http_tokenroute_held_init(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);

    if (resp->buffer && !resp->verify) {
        ngx_str_set(&r->headers_out.content_type, "application/json");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
    }

    return NGX_OK;
}


static void
ngx_http_tokenroute_response_cleanup(void *data)
{
    ngx_http_tokenroute_response_t  *resp = data;

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE) {
        tokenroute_sse_free(&resp->u.s.sse);

    } else if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON) {
        tokenroute_usage_json_free(&resp->u.json);
    }

    if (resp->stream_started) {
        tokenroute_stream_free(&resp->u.s.stream);
    }
}


static ngx_int_t
ngx_http_tokenroute_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_tokenroute_ctx_t       *ctx;
    ngx_http_tokenroute_response_t  *resp;

    if (in == NULL || r != r->main) {
        return ngx_http_tokenroute_next_body(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL || ctx->resp == NULL) {
        return ngx_http_tokenroute_next_body(r, in);
    }

    resp = ctx->resp;

    if (resp->attempt_failed) {
        /* an error page of nginx's, after a held answer failed */
        return ngx_http_tokenroute_next_body(r, in);
    }

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE) {
        return ngx_http_tokenroute_stream_body(r, ctx, in);
    }

    return ngx_http_tokenroute_es_decode(r, ctx, in);
}


/*
 * A stream whose upstream answer is complete (nginx's proxy sets
 * u->length to 0 when the answer's Content-Length is reached or its last
 * chunk is parsed) gets its last buffer with the data: nginx would send
 * it on its own, in a write of its own, when it finalizes the request
 * right after this call.  One write instead of two (the terminating
 * chunk, or HTTP/2's END_STREAM, goes with the last events), and nginx's
 * own last buffer, when it comes, is not passed on a second time.  Not
 * when the answer is buffered (proxy_buffering on: u->length then stays).
 */

static ngx_int_t
ngx_http_tokenroute_stream_body(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl, *last;
    ngx_http_upstream_t             *u;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    if (resp->last_lent) {
        /*
         * nginx's own last buffer: ours went before.  Bytes after it
         * could only come from a filter run before ours that held them
         * (one that changes a stream's bytes cannot sit there: ours
         * could not read the events); they are dropped, each logged.
         */
        for (cl = in; cl; cl = cl->next) {
            if (ngx_buf_size(cl->buf) != 0) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "tokenroute: %O bytes after the end of the "
                              "stream dropped", ngx_buf_size(cl->buf));
                cl->buf->pos = cl->buf->last;
                cl->buf->file_pos = cl->buf->file_last;
            }
        }

        return ngx_http_tokenroute_next_body(r, NULL);
    }

    u = r->upstream;

    if (u == NULL || u->length != 0 || u->buffering) {
        return ngx_http_tokenroute_es_decode(r, ctx, in);
    }

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf) {
            return ngx_http_tokenroute_es_decode(r, ctx, in);
        }

        last = cl;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;
    cl->buf = b;
    cl->next = NULL;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute: the stream's end sent with its last events");

    /* lent to the call only: the links of "in" are nginx's */
    last->next = cl;
    resp->last_lent = 1;

    rc = ngx_http_tokenroute_es_decode(r, ctx, in);

    last->next = NULL;

    return rc;
}


static ngx_int_t
ngx_http_tokenroute_es_decode(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_int_t                        rc;
    ngx_chain_t                     *out;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    if (resp->es == NULL) {
        return ngx_http_tokenroute_body(r, ctx, in);
    }

    /* a Bedrock stream: its frames as SSE text first, then as any stream */

    if (ngx_http_tokenroute_eventstream_decode(r, ctx, in, &out) != NGX_OK) {
        return NGX_ERROR;
    }

    if (out == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_tokenroute_body(r, ctx, out);

    ngx_http_tokenroute_eventstream_recycle(r, ctx, out);

    return rc;
}


static ngx_int_t
ngx_http_tokenroute_body(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_chain_t                     *cl;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE
        && ngx_http_tokenroute_upstream_broken(r, resp, in))
    {
        return ngx_http_tokenroute_stream_cut(r, ctx, in);
    }

    if (resp->buffer) {
        return ngx_http_tokenroute_held_body(r, ctx, in);
    }

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE && !resp->translate) {
        return ngx_http_tokenroute_sse_gate(r, ctx, in);
    }

    if (resp->translate) {
        return ngx_http_tokenroute_rewrite(r, ctx, in);
    }

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            ngx_http_tokenroute_read(ctx, cl->buf->pos,
                                     cl->buf->last - cl->buf->pos);
        }
    }

    return ngx_http_tokenroute_next_body(r, in);
}


static int
ngx_http_tokenroute_sse_event(void *data, const char *event, size_t event_len,
    const char *text, size_t len, int truncated)
{
    ngx_http_tokenroute_ctx_t  *ctx = data;

    int                              flags;
    ngx_uint_t                       verdict;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    /* the usage reading's verdict: an event too long to read is passed */

    verdict = NGX_HTTP_TOKENROUTE_EVENT_PASS;

    if (!truncated) {
        flags = tokenroute_usage_event(resp->provider_shape, event, event_len,
                                       text, len, &ctx->usage);

        if (flags < 0) {
            verdict = NGX_HTTP_TOKENROUTE_EVENT_BAD;

        } else {
            if (flags & (TOKENROUTE_EVENT_DONE|TOKENROUTE_EVENT_FINAL)) {
                resp->complete = 1;
            }

            if ((flags & TOKENROUTE_EVENT_USAGE_ONLY) && resp->strip) {
                verdict = NGX_HTTP_TOKENROUTE_EVENT_DROP;
            }
        }
    }

    if (resp->gate == NULL) {
        /* translated: the translator judges the events */
        return 0;
    }

    return ngx_http_tokenroute_sse_gate_event(ctx, verdict);
}


static const char *
ngx_http_tokenroute_sse_line(void *data, const char *p, const char *last)
{
    ngx_http_tokenroute_ctx_t  *ctx = data;

    return tokenroute_usage_line(&ctx->usage, p, last);
}


/*
 * A translated stream's events, from the translator's SSE parser (its
 * tap), read as the filter's own parser would have read them: an event
 * whose data is past the filter's limit is not read, whatever the
 * translator's.  The translator's closing flush at the end (an event
 * without its blank line) never comes here: the tap is taken off first.
 */

static int
ngx_http_tokenroute_tap(void *data, const char *event, size_t event_len,
    const char *text, size_t len, int truncated)
{
    ngx_http_tokenroute_ctx_t  *ctx = data;

    int  flags;

    if (len > NGX_HTTP_TOKENROUTE_SSE_MAX_DATA) {
        truncated = 1;
    }

    /*
     * An event the translator has read in the shape Anthropic sends it:
     * what the usage reader would take from it is known (a delta's text
     * counted, message_delta's output count, message_stop's end; no
     * verdict to give with no gate), so it is not read a second time.
     */

    if (!truncated && ctx->resp->gate == NULL) {
        flags = tokenroute_stream_tap_usage(&ctx->resp->u.s.stream, &ctx->usage);

        if (flags >= 0) {

            if (flags & TOKENROUTE_EVENT_FINAL) {
                ctx->resp->complete = 1;
            }

            return 0;
        }
    }

    return ngx_http_tokenroute_sse_event(data, event, event_len, text, len,
                                         truncated);
}
