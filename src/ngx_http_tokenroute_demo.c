
/*
 * Copyright (C) tokenroute authors
 *
 * The built-in demo provider, "tokenroute_demo_provider": a content
 * handler that answers POST .../chat/completions like OpenAI and
 * POST .../messages like Anthropic, streaming included, so that a gateway
 * can be tried offline.  It needs neither Redis nor "tokenroute on".
 *
 * A stream sends one event per 30 ms timer tick.  The request holds one
 * extra reference while the timer is armed; the finalize after the last
 * event releases it.  A client that goes away is noticed by
 * ngx_http_test_reading(), and a request pool cleanup deletes the timer
 * whichever way the request ends.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_parse.h>

#include "ngx_http_tokenroute_module.h"


#define NGX_HTTP_TOKENROUTE_DEMO_DELAY        30

/* room for the longest event template and its numbers, id and model aside */
#define NGX_HTTP_TOKENROUTE_DEMO_EVENT_SIZE   512

/* the stream's events, in order; the Anthropic shape uses them all */
#define NGX_HTTP_TOKENROUTE_DEMO_HEAD         0  /* role / message_start */
#define NGX_HTTP_TOKENROUTE_DEMO_BLOCK_START  1  /* content_block_start */
#define NGX_HTTP_TOKENROUTE_DEMO_WORDS        2
#define NGX_HTTP_TOKENROUTE_DEMO_FINISH       3  /* finish / block_stop */
#define NGX_HTTP_TOKENROUTE_DEMO_USAGE        4  /* usage / message_delta */
#define NGX_HTTP_TOKENROUTE_DEMO_END          5  /* [DONE] / message_stop */


typedef struct {
    ngx_http_request_t  *request;
    ngx_event_t          timer;

    ngx_uint_t           api;
    ngx_uint_t           state;

    ngx_str_t            id;
    ngx_str_t            model;          /* JSON-escaped */
    time_t               created;

    ngx_str_t            text;           /* the words answered */
    u_char              *word;           /* the next word to stream */
    const char          *stop_reason;

    ngx_uint_t           prompt_tokens;
    ngx_uint_t           completion_tokens;

    unsigned             include_usage:1;
} ngx_http_tokenroute_demo_ctx_t;


/* finds the top-level "stream_options": {"include_usage": true} */

typedef struct {
    ngx_uint_t           depth;
    unsigned             options_key:1;
    unsigned             in_options:1;
    unsigned             include_key:1;
    unsigned             include_usage:1;
} ngx_http_tokenroute_demo_scan_t;


static ngx_int_t ngx_http_tokenroute_demo_handler(ngx_http_request_t *r);
static void ngx_http_tokenroute_demo_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_demo_respond(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_demo_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_tokenroute_demo_bad_request(ngx_http_request_t *r,
    ngx_uint_t shape, tokenroute_request_status_e st,
    tokenroute_request_t *req);
static void ngx_http_tokenroute_demo_text(ngx_http_tokenroute_demo_ctx_t *ctx,
    int64_t max_tokens);
static ngx_int_t ngx_http_tokenroute_demo_complete(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_demo_stream(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);
static void ngx_http_tokenroute_demo_timer_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_tokenroute_demo_send_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);
static ngx_buf_t *ngx_http_tokenroute_demo_openai_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);
static ngx_buf_t *ngx_http_tokenroute_demo_anthropic_event(
    ngx_http_request_t *r, ngx_http_tokenroute_demo_ctx_t *ctx);
static ngx_buf_t *ngx_http_tokenroute_demo_static_buf(ngx_http_request_t *r,
    ngx_str_t *s);
static void ngx_http_tokenroute_demo_next_word(
    ngx_http_tokenroute_demo_ctx_t *ctx, ngx_str_t *word);
static void ngx_http_tokenroute_demo_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_demo_watch_write(ngx_http_request_t *r);
static void ngx_http_tokenroute_demo_cleanup(void *data);
static ngx_uint_t ngx_http_tokenroute_demo_classify(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_demo_include_usage(u_char *body,
    size_t len, ngx_uint_t *include_usage);

static int ngx_http_tokenroute_demo_json_null(void *ctx);
static int ngx_http_tokenroute_demo_json_boolean(void *ctx, int value);
static int ngx_http_tokenroute_demo_json_number(void *ctx, const char *s,
    size_t len);
static int ngx_http_tokenroute_demo_json_string(void *ctx,
    const unsigned char *s, size_t len);
static int ngx_http_tokenroute_demo_json_start_map(void *ctx);
static int ngx_http_tokenroute_demo_json_map_key(void *ctx,
    const unsigned char *key, size_t len);
static int ngx_http_tokenroute_demo_json_end_map(void *ctx);
static int ngx_http_tokenroute_demo_json_start_array(void *ctx);
static int ngx_http_tokenroute_demo_json_end_array(void *ctx);


static ngx_str_t  ngx_http_tokenroute_demo_answer =
    ngx_string("Hello from the tokenroute demo provider. Set OPENAI_API_KEY "
               "or ANTHROPIC_API_KEY to reach real models.");

static ngx_str_t  ngx_http_tokenroute_demo_done =
    ngx_string("data: [DONE]\n\n");

static ngx_str_t  ngx_http_tokenroute_demo_block_start =
    ngx_string("event: content_block_start\n"
               "data: {\"type\":\"content_block_start\",\"index\":0,"
               "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");

static ngx_str_t  ngx_http_tokenroute_demo_block_stop =
    ngx_string("event: content_block_stop\n"
               "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n");

static ngx_str_t  ngx_http_tokenroute_demo_message_stop =
    ngx_string("event: message_stop\n"
               "data: {\"type\":\"message_stop\"}\n\n");


static const yajl_callbacks  ngx_http_tokenroute_demo_json_callbacks = {
    ngx_http_tokenroute_demo_json_null,
    ngx_http_tokenroute_demo_json_boolean,
    NULL,
    NULL,
    ngx_http_tokenroute_demo_json_number,
    ngx_http_tokenroute_demo_json_string,
    ngx_http_tokenroute_demo_json_start_map,
    ngx_http_tokenroute_demo_json_map_key,
    ngx_http_tokenroute_demo_json_end_map,
    ngx_http_tokenroute_demo_json_start_array,
    ngx_http_tokenroute_demo_json_end_array
};


char *
ngx_http_tokenroute_demo_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_tokenroute_demo_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tokenroute_demo_handler(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_uint_t        api, shape;
    ngx_table_elt_t  *h;

    api = ngx_http_tokenroute_demo_classify(r);

    if (api == NGX_HTTP_TOKENROUTE_API_UNKNOWN) {
        return ngx_http_tokenroute_send_error(r,
                                              ngx_http_tokenroute_shape_of(r),
                                              NGX_HTTP_NOT_FOUND,
                                              "unknown_endpoint",
                                              "Unknown API endpoint");
    }

    shape = (api == NGX_HTTP_TOKENROUTE_API_CHAT)
            ? NGX_HTTP_TOKENROUTE_OPENAI : NGX_HTTP_TOKENROUTE_ANTHROPIC;

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_tokenroute_send_error(r, shape, NGX_HTTP_NOT_ALLOWED,
                                              "method_not_allowed",
                                              "Use POST on this endpoint");
    }

    rc = ngx_http_read_client_request_body(r,
                                       ngx_http_tokenroute_demo_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_http_tokenroute_send_error(r, shape, rc, NULL, NULL);
    }

    /*
     * ngx_http_read_client_request_body() took a reference for the body
     * handler, which answers and finalizes (maybe it already has)
     */

    return NGX_DONE;
}


static void
ngx_http_tokenroute_demo_body_handler(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_tokenroute_demo_respond(r));
}


static ngx_int_t
ngx_http_tokenroute_demo_respond(ngx_http_request_t *r)
{
    u_char                          *p;
    size_t                           len;
    ngx_str_t                        body;
    ngx_uint_t                       api, shape, include_usage;
    tokenroute_request_t             req;
    tokenroute_request_status_e      st;
    ngx_http_tokenroute_demo_ctx_t  *ctx;

    api = ngx_http_tokenroute_demo_classify(r);

    shape = (api == NGX_HTTP_TOKENROUTE_API_CHAT)
            ? NGX_HTTP_TOKENROUTE_OPENAI : NGX_HTTP_TOKENROUTE_ANTHROPIC;

    switch (ngx_http_tokenroute_demo_body(r, &body)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return ngx_http_tokenroute_send_error(r, shape,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                   "The demo provider reads request bodies in memory only: "
                   "raise client_body_buffer_size");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = tokenroute_request_scan(body.data, body.len, &req);

    if (st == TOKENROUTE_REQUEST_NO_MEMORY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st != TOKENROUTE_REQUEST_OK) {
        return ngx_http_tokenroute_demo_bad_request(r, shape, st, &req);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tokenroute_demo_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->state = NGX_HTTP_TOKENROUTE_DEMO_HEAD;
     *     ctx->include_usage = 0;
     *
     * the ctx is not published with ngx_http_set_ctx(): the module's slot
     * holds the gateway's ngx_http_tokenroute_ctx_t, which its header
     * filter reads on every request of this nginx
     */

    ctx->request = r;
    ctx->api = api;
    ctx->created = ngx_time();

    ctx->id.data = ngx_pnalloc(r->pool, sizeof("chatcmpl-demo") - 1 + 16);
    if (ctx->id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(ctx->id.data, "%s%08xD%08xD",
                    api == NGX_HTTP_TOKENROUTE_API_CHAT
                    ? "chatcmpl-demo" : "msg_demo",
                    (uint32_t) ngx_random(), (uint32_t) ngx_random());
    ctx->id.len = p - ctx->id.data;

    len = req.model_len + ngx_escape_json(NULL, (u_char *) req.model,
                                          req.model_len);

    ctx->model.data = ngx_pnalloc(r->pool, len);
    if (ctx->model.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->model.len = len;
    (void) ngx_escape_json(ctx->model.data, (u_char *) req.model,
                           req.model_len);

    /* about four bytes a token, as the providers' rule of thumb has it */
    ctx->prompt_tokens = ngx_max(body.len / 4, 1);

    ngx_http_tokenroute_demo_text(ctx, req.max_tokens);

    if (!req.stream) {
        return ngx_http_tokenroute_demo_complete(r, ctx);
    }

    if (api == NGX_HTTP_TOKENROUTE_API_CHAT) {
        if (ngx_http_tokenroute_demo_include_usage(body.data, body.len,
                                                   &include_usage)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->include_usage = include_usage;
    }

    return ngx_http_tokenroute_demo_stream(r, ctx);
}


/*
 * The body as one contiguous piece of memory.  NGX_DECLINED: some of it
 * went to a temporary file.
 */

static ngx_int_t
ngx_http_tokenroute_demo_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len, size;
    ngx_buf_t    *b;
    ngx_uint_t    n;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    len = 0;
    n = 0;
    b = NULL;

    /* a chunked body ends with an empty buffer, its pos may be NULL */

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return NGX_DECLINED;
        }

        size = cl->buf->last - cl->buf->pos;

        if (size) {
            b = cl->buf;
            len += size;
            n++;
        }
    }

    if (n < 2) {
        if (b != NULL) {
            body->data = b->pos;
            body->len = len;
        }

        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size = cl->buf->last - cl->buf->pos;

        if (size) {
            p = ngx_cpymem(p, cl->buf->pos, size);
        }
    }

    body->len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_demo_bad_request(ngx_http_request_t *r, ngx_uint_t shape,
    tokenroute_request_status_e st, tokenroute_request_t *req)
{
    u_char  *p;

    u_char   msg[64];

    if (st == TOKENROUTE_REQUEST_BAD_FIELD) {
        p = ngx_snprintf(msg, sizeof(msg) - 1, "Invalid type for \"%s\"",
                         req->bad_field);
        *p = '\0';

        return ngx_http_tokenroute_send_error(r, shape, NGX_HTTP_BAD_REQUEST,
                                              "invalid_request",
                                              (char *) msg);
    }

    return ngx_http_tokenroute_send_error(r, shape, NGX_HTTP_BAD_REQUEST,
                                          st == TOKENROUTE_REQUEST_INVALID_JSON
                                          ? "invalid_json"
                                          : "invalid_request",
                                          tokenroute_request_strerror(st));
}


/* the answer's first max_tokens words; a word counts as one token */

static void
ngx_http_tokenroute_demo_text(ngx_http_tokenroute_demo_ctx_t *ctx,
    int64_t max_tokens)
{
    u_char      *p, *q, *last;
    ngx_uint_t   n;

    p = ngx_http_tokenroute_demo_answer.data;
    last = p + ngx_http_tokenroute_demo_answer.len;

    ctx->stop_reason = (ctx->api == NGX_HTTP_TOKENROUTE_API_CHAT)
                       ? "stop" : "end_turn";

    for (n = 1; /* void */ ; n++) {
        q = ngx_strlchr(p, last, ' ');

        if (q == NULL) {
            break;
        }

        if (max_tokens > 0 && (int64_t) n == max_tokens) {
            last = q;
            ctx->stop_reason = (ctx->api == NGX_HTTP_TOKENROUTE_API_CHAT)
                               ? "length" : "max_tokens";
            break;
        }

        p = q + 1;
    }

    ctx->text.data = ngx_http_tokenroute_demo_answer.data;
    ctx->text.len = last - ctx->text.data;
    ctx->word = ctx->text.data;
    ctx->completion_tokens = n;
}


static ngx_int_t
ngx_http_tokenroute_demo_complete(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx)
{
    u_char  *p, *body;
    size_t   len;

    len = NGX_HTTP_TOKENROUTE_DEMO_EVENT_SIZE + ctx->id.len + ctx->model.len
          + ctx->text.len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_CHAT) {
        p = ngx_slprintf(body, body + len,
                         "{\"id\":\"%V\",\"object\":\"chat.completion\","
                         "\"created\":%T,\"model\":\"%V\","
                         "\"choices\":[{\"index\":0,\"message\":"
                         "{\"role\":\"assistant\",\"content\":\"%V\"},"
                         "\"finish_reason\":\"%s\",\"logprobs\":null}],"
                         "\"usage\":{\"prompt_tokens\":%ui,"
                         "\"completion_tokens\":%ui,\"total_tokens\":%ui,"
                         "\"prompt_tokens_details\":{\"cached_tokens\":0}}}",
                         &ctx->id, ctx->created, &ctx->model, &ctx->text,
                         ctx->stop_reason, ctx->prompt_tokens,
                         ctx->completion_tokens,
                         ctx->prompt_tokens + ctx->completion_tokens);

    } else {
        p = ngx_slprintf(body, body + len,
                         "{\"id\":\"%V\",\"type\":\"message\","
                         "\"role\":\"assistant\",\"model\":\"%V\","
                         "\"content\":[{\"type\":\"text\",\"text\":\"%V\"}],"
                         "\"stop_reason\":\"%s\",\"stop_sequence\":null,"
                         "\"usage\":{\"input_tokens\":%ui,"
                         "\"output_tokens\":%ui}}",
                         &ctx->id, &ctx->model, &ctx->text, ctx->stop_reason,
                         ctx->prompt_tokens, ctx->completion_tokens);
    }

    return ngx_http_tokenroute_send_json(r, NGX_HTTP_OK, body, p - body);
}


/*
 * Sends the header and the first event and arms the timer.  NGX_DONE:
 * the stream took its own reference on the request, and the timer
 * handler finalizes the request after the last event.
 */

static ngx_int_t
ngx_http_tokenroute_demo_stream(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_table_elt_t     *h;
    ngx_pool_cleanup_t  *cln;

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tokenroute_demo_cleanup;
    cln->data = ctx;

    ctx->timer.handler = ngx_http_tokenroute_demo_timer_handler;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_tokenroute_demo_writer;

    rc = ngx_http_tokenroute_demo_send_event(r, ctx);

    if (rc != NGX_DONE) {
        return rc;
    }

    /* the timer's reference: the finalize after the last event drops it */
    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_tokenroute_demo_timer_handler(ngx_event_t *ev)
{
    ngx_int_t                        rc;
    ngx_connection_t                *c;
    ngx_http_log_ctx_t              *lctx;
    ngx_http_request_t              *r;
    ngx_http_tokenroute_demo_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    lctx = c->log->data;
    lctx->current_request = r;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "tokenroute demo event, state %ui", ctx->state);

    rc = ngx_http_tokenroute_demo_send_event(r, ctx);

    if (rc != NGX_DONE) {
        /* the last event or an error: release the stream's reference */
        ngx_http_finalize_request(r, rc);
    }

    /* a request terminated above is closed here, so r is not used after */

    ngx_http_run_posted_requests(c);
}


/*
 * Sends the next event.  NGX_DONE: the timer is armed for the one after;
 * otherwise the stream is over and the caller finalizes with the result.
 */

static ngx_int_t
ngx_http_tokenroute_demo_send_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    last;
    ngx_chain_t   out;

    last = (ctx->state == NGX_HTTP_TOKENROUTE_DEMO_END);

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_CHAT) {
        b = ngx_http_tokenroute_demo_openai_event(r, ctx);

    } else {
        b = ngx_http_tokenroute_demo_anthropic_event(r, ctx);
    }

    if (b == NULL) {
        return NGX_ERROR;
    }

    b->flush = 1;

    if (last) {
        b->last_buf = (r == r->main) ? 1 : 0;
        b->last_in_chain = 1;
    }

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_output_filter(r, &out);

    if (rc == NGX_ERROR || last) {
        return rc;
    }

    /* NGX_AGAIN: the event waits in r->out, the writer sends it */

    if (ngx_http_tokenroute_demo_watch_write(r) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_add_timer(&ctx->timer, NGX_HTTP_TOKENROUTE_DEMO_DELAY);

    return NGX_DONE;
}


static ngx_buf_t *
ngx_http_tokenroute_demo_openai_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx)
{
    u_char     *p;
    ngx_buf_t  *b;
    ngx_str_t   word;

    if (ctx->state == NGX_HTTP_TOKENROUTE_DEMO_END) {
        return ngx_http_tokenroute_demo_static_buf(r,
                                            &ngx_http_tokenroute_demo_done);
    }

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_TOKENROUTE_DEMO_EVENT_SIZE
                                     + ctx->id.len + ctx->model.len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_slprintf(b->last, b->end,
                     "data: {\"id\":\"%V\","
                     "\"object\":\"chat.completion.chunk\",\"created\":%T,"
                     "\"model\":\"%V\",\"choices\":",
                     &ctx->id, ctx->created, &ctx->model);

    switch (ctx->state) {

    case NGX_HTTP_TOKENROUTE_DEMO_HEAD:
        p = ngx_slprintf(p, b->end,
                         "[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                         "\"content\":\"\"},\"finish_reason\":null}]}\n\n");

        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_WORDS;
        break;

    case NGX_HTTP_TOKENROUTE_DEMO_WORDS:
        ngx_http_tokenroute_demo_next_word(ctx, &word);

        /* the answer's words need no JSON escaping */

        p = ngx_slprintf(p, b->end,
                         "[{\"index\":0,\"delta\":{\"content\":\"%V\"},"
                         "\"finish_reason\":null}]}\n\n", &word);

        if (ctx->word == ctx->text.data + ctx->text.len) {
            ctx->state = NGX_HTTP_TOKENROUTE_DEMO_FINISH;
        }

        break;

    case NGX_HTTP_TOKENROUTE_DEMO_FINISH:
        p = ngx_slprintf(p, b->end,
                         "[{\"index\":0,\"delta\":{},"
                         "\"finish_reason\":\"%s\"}]}\n\n", ctx->stop_reason);

        ctx->state = ctx->include_usage ? NGX_HTTP_TOKENROUTE_DEMO_USAGE
                                        : NGX_HTTP_TOKENROUTE_DEMO_END;
        break;

    default: /* NGX_HTTP_TOKENROUTE_DEMO_USAGE */
        p = ngx_slprintf(p, b->end,
                         "[],\"usage\":{\"prompt_tokens\":%ui,"
                         "\"completion_tokens\":%ui,\"total_tokens\":%ui,"
                         "\"prompt_tokens_details\":{\"cached_tokens\":0}}}"
                         "\n\n",
                         ctx->prompt_tokens, ctx->completion_tokens,
                         ctx->prompt_tokens + ctx->completion_tokens);

        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_END;
        break;
    }

    b->last = p;

    return b;
}


static ngx_buf_t *
ngx_http_tokenroute_demo_anthropic_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx)
{
    u_char     *p;
    ngx_buf_t  *b;
    ngx_str_t   word;

    switch (ctx->state) {

    case NGX_HTTP_TOKENROUTE_DEMO_BLOCK_START:
        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_WORDS;
        return ngx_http_tokenroute_demo_static_buf(r,
                                     &ngx_http_tokenroute_demo_block_start);

    case NGX_HTTP_TOKENROUTE_DEMO_FINISH:
        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_USAGE;
        return ngx_http_tokenroute_demo_static_buf(r,
                                      &ngx_http_tokenroute_demo_block_stop);

    case NGX_HTTP_TOKENROUTE_DEMO_END:
        return ngx_http_tokenroute_demo_static_buf(r,
                                    &ngx_http_tokenroute_demo_message_stop);
    }

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_TOKENROUTE_DEMO_EVENT_SIZE
                                     + ctx->id.len + ctx->model.len);
    if (b == NULL) {
        return NULL;
    }

    switch (ctx->state) {

    case NGX_HTTP_TOKENROUTE_DEMO_HEAD:
        p = ngx_slprintf(b->last, b->end,
                         "event: message_start\n"
                         "data: {\"type\":\"message_start\",\"message\":"
                         "{\"id\":\"%V\",\"type\":\"message\","
                         "\"role\":\"assistant\",\"model\":\"%V\","
                         "\"content\":[],\"stop_reason\":null,"
                         "\"stop_sequence\":null,\"usage\":"
                         "{\"input_tokens\":%ui,\"output_tokens\":1}}}\n\n",
                         &ctx->id, &ctx->model, ctx->prompt_tokens);

        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_BLOCK_START;
        break;

    case NGX_HTTP_TOKENROUTE_DEMO_WORDS:
        ngx_http_tokenroute_demo_next_word(ctx, &word);

        p = ngx_slprintf(b->last, b->end,
                         "event: content_block_delta\n"
                         "data: {\"type\":\"content_block_delta\",\"index\":0,"
                         "\"delta\":{\"type\":\"text_delta\","
                         "\"text\":\"%V\"}}\n\n", &word);

        if (ctx->word == ctx->text.data + ctx->text.len) {
            ctx->state = NGX_HTTP_TOKENROUTE_DEMO_FINISH;
        }

        break;

    default: /* NGX_HTTP_TOKENROUTE_DEMO_USAGE */
        p = ngx_slprintf(b->last, b->end,
                         "event: message_delta\n"
                         "data: {\"type\":\"message_delta\",\"delta\":"
                         "{\"stop_reason\":\"%s\",\"stop_sequence\":null},"
                         "\"usage\":{\"output_tokens\":%ui}}\n\n",
                         ctx->stop_reason, ctx->completion_tokens);

        ctx->state = NGX_HTTP_TOKENROUTE_DEMO_END;
        break;
    }

    b->last = p;

    return b;
}


static ngx_buf_t *
ngx_http_tokenroute_demo_static_buf(ngx_http_request_t *r, ngx_str_t *s)
{
    ngx_buf_t  *b;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NULL;
    }

    b->pos = s->data;
    b->last = s->data + s->len;
    b->memory = 1;

    return b;
}


/* a word carries its following space, as the providers' tokens do */

static void
ngx_http_tokenroute_demo_next_word(ngx_http_tokenroute_demo_ctx_t *ctx,
    ngx_str_t *word)
{
    u_char  *p, *last;

    last = ctx->text.data + ctx->text.len;

    p = ngx_strlchr(ctx->word, last, ' ');
    p = (p == NULL) ? last : p + 1;

    word->data = ctx->word;
    word->len = p - ctx->word;

    ctx->word = p;
}


/*
 * The write event handler while streaming: sends what a slow client left
 * in r->out.  Unlike ngx_http_writer() it does not finalize the request
 * once everything is out, the timer still has events to send.
 */

static void
ngx_http_tokenroute_demo_writer(ngx_http_request_t *r)
{
    ngx_event_t       *wev;
    ngx_connection_t  *c;

    c = r->connection;
    wev = c->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out");
        c->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    /* the client took data: send_timeout starts over */

    if (wev->timer_set && !wev->delayed) {
        ngx_del_timer(wev);
    }

    if (ngx_http_output_filter(r, NULL) == NGX_ERROR
        || ngx_http_tokenroute_demo_watch_write(r) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


/*
 * send_timeout runs while output waits for the client; new events do not
 * restart it, only the client reading does
 */

static ngx_int_t
ngx_http_tokenroute_demo_watch_write(ngx_http_request_t *r)
{
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = r->connection;
    wev = c->write;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->buffered || c->buffered) {
        if (!wev->delayed && !wev->timer_set) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

    } else if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    return ngx_handle_write_event(wev, clcf->send_lowat);
}


/* runs when the request is freed, however it ended */

static void
ngx_http_tokenroute_demo_cleanup(void *data)
{
    ngx_http_tokenroute_demo_ctx_t  *ctx = data;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


static ngx_uint_t
ngx_http_tokenroute_demo_classify(ngx_http_request_t *r)
{
    size_t   len;
    u_char  *last;

    len = r->uri.len;
    last = r->uri.data + len;

    if (len >= sizeof("/chat/completions") - 1
        && ngx_strncmp(last - (sizeof("/chat/completions") - 1),
                       "/chat/completions", sizeof("/chat/completions") - 1)
           == 0)
    {
        return NGX_HTTP_TOKENROUTE_API_CHAT;
    }

    if (len >= sizeof("/messages") - 1
        && ngx_strncmp(last - (sizeof("/messages") - 1),
                       "/messages", sizeof("/messages") - 1)
           == 0)
    {
        return NGX_HTTP_TOKENROUTE_API_MESSAGES;
    }

    return NGX_HTTP_TOKENROUTE_API_UNKNOWN;
}


/*
 * A second pass over a body tokenroute_request_scan() has accepted, for
 * what only OpenAI streams need.  The handle lives within this call.
 */

static ngx_int_t
ngx_http_tokenroute_demo_include_usage(u_char *body, size_t len,
    ngx_uint_t *include_usage)
{
    yajl_handle                      h;
    ngx_http_tokenroute_demo_scan_t  s;

    ngx_memzero(&s, sizeof(ngx_http_tokenroute_demo_scan_t));

    h = yajl_alloc(&ngx_http_tokenroute_demo_json_callbacks, NULL, &s);
    if (h == NULL) {
        return NGX_ERROR;
    }

    if (yajl_parse(h, body, len) == yajl_status_ok) {
        (void) yajl_complete_parse(h);
    }

    yajl_free(h);

    *include_usage = s.include_usage;

    return NGX_OK;
}


static int
ngx_http_tokenroute_demo_json_null(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    s->options_key = 0;
    s->include_key = 0;

    return 1;
}


static int
ngx_http_tokenroute_demo_json_boolean(void *ctx, int value)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    /* the last of duplicate keys wins, as in most JSON parsers */

    if (s->include_key) {
        s->include_usage = value ? 1 : 0;
    }

    s->options_key = 0;
    s->include_key = 0;

    return 1;
}


static int
ngx_http_tokenroute_demo_json_number(void *ctx, const char *str, size_t len)
{
    return ngx_http_tokenroute_demo_json_null(ctx);
}


static int
ngx_http_tokenroute_demo_json_string(void *ctx, const unsigned char *str,
    size_t len)
{
    return ngx_http_tokenroute_demo_json_null(ctx);
}


static int
ngx_http_tokenroute_demo_json_start_map(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    if (s->depth == 1 && s->options_key) {
        s->in_options = 1;
    }

    s->depth++;
    s->options_key = 0;
    s->include_key = 0;

    return 1;
}


static int
ngx_http_tokenroute_demo_json_map_key(void *ctx, const unsigned char *key,
    size_t len)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    s->options_key = (s->depth == 1
                      && len == sizeof("stream_options") - 1
                      && ngx_strncmp(key, "stream_options", len) == 0);

    s->include_key = (s->depth == 2 && s->in_options
                      && len == sizeof("include_usage") - 1
                      && ngx_strncmp(key, "include_usage", len) == 0);

    return 1;
}


static int
ngx_http_tokenroute_demo_json_end_map(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    s->depth--;

    if (s->depth == 1) {
        s->in_options = 0;
    }

    return 1;
}


static int
ngx_http_tokenroute_demo_json_start_array(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    /* arrays only nest values that are never looked at */

    s->depth++;
    s->options_key = 0;
    s->include_key = 0;

    return 1;
}


static int
ngx_http_tokenroute_demo_json_end_array(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    s->depth--;

    return 1;
}
