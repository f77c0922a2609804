
/*
 * Copyright (C) tokenroute authors
 *
 * Response filters for requests the gateway routed.
 *
 * Header filter: says which model served the request and under which
 * request id, and decides how the body is read and rewritten:
 *
 *   pass       a JSON body or a stream in the client's own shape: read
 *              for usage (skimmed as it passes, SSE event by event) and
 *              passed on unchanged, chunk by chunk as it arrives;
 *   strip      an OpenAI stream whose client did not ask for usage: the
 *              gateway asked for it, so that event is removed;
 *   translate  a stream of the other shape: each event is translated as
 *              it completes;
 *   buffer     a JSON body of the other shape, or a provider's error
 *              (translated to the client's shape and cleaned of anything
 *              that identifies the provider): held whole, then rewritten.
 *
 * Rewritten output goes into buffers of our own, recycled once sent.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/* events longer than this are passed on but not read for usage */
#define NGX_HTTP_TOKENROUTE_SSE_MAX_DATA  (64 * 1024)

/* a JSON response or error held for rewriting may not exceed this */
#define NGX_HTTP_TOKENROUTE_HOLD_MAX      (16 * 1024 * 1024)


static ngx_int_t ngx_http_tokenroute_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_tokenroute_response_init(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static void ngx_http_tokenroute_response_cleanup(void *data);
static int ngx_http_tokenroute_sse_event(void *data, const char *event,
    size_t event_len, const char *text, size_t len, int truncated);
static void ngx_http_tokenroute_read(ngx_http_tokenroute_ctx_t *ctx,
    u_char *p, size_t len);
static ngx_int_t ngx_http_tokenroute_rewrite(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_tokenroute_strip_line(
    ngx_http_tokenroute_response_t *resp, u_char *p, size_t len);
static ngx_int_t ngx_http_tokenroute_rewrite_held(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_hold(
    ngx_http_tokenroute_response_t *resp, u_char *p, size_t len);
static int ngx_http_tokenroute_emit(void *data, const char *p, size_t len);
static ngx_uint_t ngx_http_tokenroute_upstream_broken(ngx_http_request_t *r,
    ngx_http_tokenroute_response_t *resp, ngx_chain_t *in);
static ngx_int_t ngx_http_tokenroute_stream_cut(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);


static u_char *ngx_http_tokenroute_write_ms(u_char *p, uint64_t usec);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_tokenroute_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_tokenroute_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_tokenroute_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_header_filter(ngx_http_request_t *r)
{
    u_char                     *p;
    ngx_table_elt_t            *h;
    ngx_http_tokenroute_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    /* admitted: routed, or failed on every attempt */

    if (ctx == NULL || ctx->admit != NGX_HTTP_TOKENROUTE_ADMIT_OK
        || ctx->attempts == 0)
    {
        return ngx_http_next_header_filter(r);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-tokenroute-model");
    h->value = ctx->model->id;

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
        return ngx_http_next_header_filter(r);
    }

    ctx->upstream_status = r->headers_out.status;

    if (ctx->upstream_status < NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_tokenroute_cooldown_success(ctx->model);
    }

    if (r->header_only || r->headers_out.status < NGX_HTTP_OK) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_tokenroute_response_init(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->resp->buffer) {
        /*
         * Held until the body is in: its translation decides the status
         * and the length (the xslt filter's way).
         */
        return NGX_OK;
    }

    return ngx_http_next_header_filter(r);
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
    int                              client;
    ngx_str_t                       *type;
    ngx_uint_t                       sse;
    ngx_pool_cleanup_t              *cln;
    ngx_http_tokenroute_response_t  *resp;

    resp = ngx_palloc(r->pool, sizeof(ngx_http_tokenroute_response_t));
    if (resp == NULL) {
        return NGX_ERROR;
    }

    /* the JSON parser's state is set up by its init, when it is used */
    ngx_memzero(resp, offsetof(ngx_http_tokenroute_response_t, json));

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    resp->request = r;
    resp->status = r->headers_out.status;
    resp->last_out = &resp->out;

    resp->api = (ctx->model->provider->type == NGX_HTTP_TOKENROUTE_ANTHROPIC)
                ? TOKENROUTE_API_ANTHROPIC : TOKENROUTE_API_OPENAI;

    client = (ctx->shape == NGX_HTTP_TOKENROUTE_ANTHROPIC)
             ? TOKENROUTE_API_ANTHROPIC : TOKENROUTE_API_OPENAI;

    type = &r->headers_out.content_type;

    sse = (type->len >= sizeof("text/event-stream") - 1
           && ngx_strncasecmp(type->data, (u_char *) "text/event-stream",
                              sizeof("text/event-stream") - 1)
              == 0);

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
        if (tokenroute_sse_init(&resp->sse, NGX_HTTP_TOKENROUTE_SSE_MAX_DATA,
                                ngx_http_tokenroute_sse_event, ctx)
            != 0)
        {
            return NGX_ERROR;
        }

        resp->mode = NGX_HTTP_TOKENROUTE_RESP_SSE;

        if (ctx->translate) {
            if (tokenroute_stream_init(&resp->stream, resp->api, client,
                                       (char *) ctx->model->id.data,
                                       ctx->model->id.len,
                                       ctx->req.include_usage == 1,
                                       ngx_http_tokenroute_emit, resp)
                != 0)
            {
                return NGX_ERROR;
            }

            resp->stream_started = 1;
            resp->translate = 1;
            goto rewritten;
        }

        if (resp->api == TOKENROUTE_API_OPENAI
            && ctx->api == NGX_HTTP_TOKENROUTE_API_CHAT
            && ctx->req.include_usage != 1)
        {
            resp->strip = 1;
            goto rewritten;
        }

        return NGX_OK;
    }

    if (tokenroute_usage_json_init(&resp->json, resp->api, &ctx->usage) != 0)
    {
        return NGX_ERROR;
    }

    resp->mode = NGX_HTTP_TOKENROUTE_RESP_JSON;

    if (!ctx->translate) {
        return NGX_OK;
    }

    resp->buffer = 1;

rewritten:

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);

    if (resp->buffer) {
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
        tokenroute_sse_free(&resp->sse);

    } else if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON) {
        tokenroute_usage_json_free(&resp->json);
    }

    if (resp->stream_started) {
        tokenroute_stream_free(&resp->stream);
    }
}


static ngx_int_t
ngx_http_tokenroute_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                     *cl;
    ngx_http_tokenroute_ctx_t       *ctx;
    ngx_http_tokenroute_response_t  *resp;

    if (in == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL || ctx->resp == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    resp = ctx->resp;

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE
        && ngx_http_tokenroute_upstream_broken(r, resp, in))
    {
        return ngx_http_tokenroute_stream_cut(r, ctx, in);
    }

    if (resp->strip || resp->translate || resp->buffer) {
        return ngx_http_tokenroute_rewrite(r, ctx, in);
    }

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            ngx_http_tokenroute_read(ctx, cl->buf->pos,
                                     cl->buf->last - cl->buf->pos);
        }

        if (cl->buf->last_buf
            && resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON && !resp->failed)
        {
            resp->complete = (tokenroute_usage_json_finish(&resp->json) == 0);
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/* usage, from the provider's bytes, whatever the client receives */

static void
ngx_http_tokenroute_read(ngx_http_tokenroute_ctx_t *ctx, u_char *p,
    size_t len)
{
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    if (len == 0) {
        return;
    }

    resp->body_bytes += len;

    if (resp->failed) {
        return;
    }

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE) {
        if (tokenroute_sse_feed(&resp->sse, (char *) p, len) != 0) {
            resp->failed = 1;
        }

    } else if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON) {
        if (tokenroute_usage_json_feed(&resp->json, (char *) p, len) != 0) {
            resp->failed = 1;
        }
    }
}


static int
ngx_http_tokenroute_sse_event(void *data, const char *event, size_t event_len,
    const char *text, size_t len, int truncated)
{
    ngx_http_tokenroute_ctx_t  *ctx = data;

    int                              flags;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    if (truncated) {
        return 0;
    }

    flags = tokenroute_usage_event(resp->api, event, event_len, text, len,
                                   &ctx->usage);
    if (flags < 0) {
        return 0;
    }

    if (flags & (TOKENROUTE_EVENT_DONE|TOKENROUTE_EVENT_FINAL)) {
        resp->complete = 1;
    }

    if ((flags & TOKENROUTE_EVENT_USAGE_ONLY) && resp->strip) {
        resp->drop_event = 1;
    }

    return 0;
}


/*
 * The rewriting modes: the input is consumed, what the client gets is
 * emitted into our own buffers, and sent with the input's flush and
 * last_buf flags.
 */

static ngx_int_t
ngx_http_tokenroute_rewrite(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    u_char                          *p, *q, *last;
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_uint_t                       flush, last_buf;
    ngx_chain_t                     *cl, *out;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    flush = 0;
    last_buf = 0;

    for ( /* void */ ; in; in = in->next) {

        flush |= in->buf->flush;
        last_buf |= in->buf->last_buf;

        if (!ngx_buf_in_memory(in->buf)) {
            continue;
        }

        p = in->buf->pos;
        last = in->buf->last;

        if (resp->strip) {
            /* a line at a time: the splitter then tells where events end */

            while (p < last) {
                /* providers end lines with \n; a lone \r only delays */
                q = memchr(p, '\n', last - p);
                q = (q == NULL) ? last : q + 1;

                ngx_http_tokenroute_read(ctx, p, q - p);

                if (ngx_http_tokenroute_strip_line(resp, p, q - p) != NGX_OK)
                {
                    return NGX_ERROR;
                }

                p = q;
            }

        } else {
            ngx_http_tokenroute_read(ctx, p, last - p);

            if (resp->translate) {
                if (tokenroute_stream_feed(&resp->stream, (char *) p,
                                           last - p)
                    != 0)
                {
                    return NGX_ERROR;
                }

            } else if (ngx_http_tokenroute_hold(resp, p, last - p) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        in->buf->pos = in->buf->last;
    }

    if (last_buf) {
        if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON && !resp->failed) {
            resp->complete = (tokenroute_usage_json_finish(&resp->json) == 0);
        }

        if (resp->buffer) {
            if (ngx_http_tokenroute_rewrite_held(r, ctx) != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (resp->translate) {
            if (tokenroute_stream_finish(&resp->stream, resp->complete) != 0) {
                return NGX_ERROR;
            }

        } else if (resp->hold_len) {
            /* a stream that ends mid-event: pass what there is */
            if (ngx_http_tokenroute_emit(resp, (char *) resp->hold,
                                         resp->hold_len)
                != 0)
            {
                return NGX_ERROR;
            }

            resp->hold_len = 0;
        }
    }

    if (resp->out == NULL) {
        if (!flush && !last_buf) {
            return NGX_OK;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;
        resp->out = cl;

    } else {
        for (cl = resp->out; cl->next; cl = cl->next) {
            /* void */
        }

        b = cl->buf;
    }

    b->flush = flush;
    b->last_buf = last_buf;
    b->last_in_chain = 1;

    out = resp->out;
    resp->out = NULL;
    resp->last_out = &resp->out;

    rc = ngx_http_next_body_filter(r, out);

    ngx_chain_update_chains(r->pool, &resp->free, &resp->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_tokenroute_module);

    return rc;
}


/* strip mode: bytes are held until their event is complete */

static ngx_int_t
ngx_http_tokenroute_strip_line(ngx_http_tokenroute_response_t *resp,
    u_char *p, size_t len)
{
    if (ngx_http_tokenroute_hold(resp, p, len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (tokenroute_sse_pending(&resp->sse) != 0) {
        return NGX_OK;
    }

    if (!resp->drop_event) {
        if (ngx_http_tokenroute_emit(resp, (char *) resp->hold,
                                     resp->hold_len)
            != 0)
        {
            return NGX_ERROR;
        }
    }

    resp->hold_len = 0;
    resp->drop_event = 0;

    return NGX_OK;
}


/*
 * The whole body is in: a provider error becomes an error in the
 * client's shape (and loses anything naming the provider); a JSON
 * response of the other shape is translated.
 */

static ngx_int_t
ngx_http_tokenroute_rewrite_held(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int                              client, rc;
    size_t                           len;
    u_char                          *out;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;
    out = NULL;
    len = 0;

    client = (ctx->shape == NGX_HTTP_TOKENROUTE_ANTHROPIC)
             ? TOKENROUTE_API_ANTHROPIC : TOKENROUTE_API_OPENAI;

    if (resp->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        rc = tokenroute_translate_error(resp->api, client, resp->status,
                                        resp->hold, resp->hold_len,
                                        &out, &len);

    } else {
        rc = tokenroute_translate_response(resp->api, client, resp->hold,
                                           resp->hold_len,
                                           (char *) ctx->model->id.data,
                                           ctx->model->id.len, &out, &len);

        if (rc == -1) {
            /*
             * Not a response of its shape: an error the client can parse,
             * with a status that says so, rather than a body it cannot.
             */

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tokenroute: the response of model \"%V\" "
                          "cannot be translated", &ctx->model->id);

            r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
            r->headers_out.status_line.len = 0;

            rc = tokenroute_translate_error(resp->api, client,
                                            NGX_HTTP_BAD_GATEWAY,
                                            resp->hold, resp->hold_len,
                                            &out, &len);
        }
    }

    if (rc != 0) {
        return NGX_ERROR;
    }

    r->headers_out.content_length_n = len;

    rc = ngx_http_tokenroute_emit(resp, (char *) out, len);

    free(out);

    resp->hold_len = 0;

    if (rc != 0) {
        return NGX_ERROR;
    }

    /* the header held back by the header filter */

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_hold(ngx_http_tokenroute_response_t *resp, u_char *p,
    size_t len)
{
    u_char  *n;
    size_t   size;

    if (resp->hold_len + len > resp->hold_size) {

        if (resp->hold_len + len > NGX_HTTP_TOKENROUTE_HOLD_MAX) {
            ngx_log_error(NGX_LOG_ERR, resp->request->connection->log, 0,
                          "tokenroute: response too large to rewrite");
            return NGX_ERROR;
        }

        size = ngx_max(2 * resp->hold_size, resp->hold_len + len);
        size = ngx_max(size, 1024);

        n = ngx_palloc(resp->request->pool, size);
        if (n == NULL) {
            return NGX_ERROR;
        }

        if (resp->hold_len) {
            ngx_memcpy(n, resp->hold, resp->hold_len);
        }

        if (resp->hold) {
            ngx_pfree(resp->request->pool, resp->hold);
        }

        resp->hold = n;
        resp->hold_size = size;
    }

    ngx_memcpy(resp->hold + resp->hold_len, p, len);
    resp->hold_len += len;

    return NGX_OK;
}


/* appends to the output chain, reusing buffers already sent */

static int
ngx_http_tokenroute_emit(void *data, const char *p, size_t len)
{
    ngx_http_tokenroute_response_t  *resp = data;

    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (len == 0) {
        return 0;
    }

    cl = (resp->last_out == &resp->out) ? NULL
         : (ngx_chain_t *) ((u_char *) resp->last_out
                            - offsetof(ngx_chain_t, next));

    if (cl == NULL || (size_t) (cl->buf->end - cl->buf->last) < len) {

        cl = ngx_chain_get_free_buf(resp->request->pool, &resp->free);
        if (cl == NULL) {
            return -1;
        }

        b = cl->buf;
        size = ngx_max(len, 4096);

        if (b->start == NULL || (size_t) (b->end - b->start) < size) {
            b->start = ngx_palloc(resp->request->pool, size);
            if (b->start == NULL) {
                return -1;
            }

            b->end = b->start + size;
        }

        b->pos = b->start;
        b->last = b->start;
        b->temporary = 1;
        b->flush = 0;
        b->last_buf = 0;
        b->last_in_chain = 0;
        b->tag = (ngx_buf_tag_t) &ngx_http_tokenroute_module;

        cl->next = NULL;
        *resp->last_out = cl;
        resp->last_out = &cl->next;
    }

    cl->buf->last = ngx_cpymem(cl->buf->last, p, len);

    return 0;
}


/*
 * The provider's connection ended a stream before its end: nginx then
 * closes the upstream connection and sends only a flush, no last buffer
 * (ngx_http_upstream_finalize_request()), and closes the client's
 * connection.  A normal end comes with last_buf.
 */

static ngx_uint_t
ngx_http_tokenroute_upstream_broken(ngx_http_request_t *r,
    ngx_http_tokenroute_response_t *resp, ngx_chain_t *in)
{
    ngx_uint_t    flush;
    ngx_chain_t  *cl;

    if (resp->complete || resp->cut || r->upstream == NULL
        || r->upstream->peer.connection != NULL)
    {
        return 0;
    }

    flush = 0;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf) {
            return 0;
        }

        flush |= cl->buf->flush;
    }

    return flush;
}


/*
 * A stream cut after bytes reached the client cannot be retried: the
 * client gets a well-formed error event in its own shape, and is charged
 * for what was produced (the log phase estimates the rest).
 */

static ngx_int_t
ngx_http_tokenroute_stream_cut(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl, **ll, *ours;
    ngx_http_tokenroute_response_t  *resp;

    static u_char  openai_error[] =
        "data: {\"error\":{\"message\":\"The provider's stream ended "
        "early\",\"type\":\"server_error\",\"param\":null,"
        "\"code\":\"stream_interrupted\"}}\n\n";

    static u_char  anthropic_error[] =
        "event: error\ndata: {\"type\":\"error\",\"error\":"
        "{\"type\":\"api_error\",\"message\":\"The provider's stream "
        "ended early\"}}\n\n";

    resp = ctx->resp;
    resp->cut = 1;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "tokenroute: the stream of model \"%V\" ended early",
                  &ctx->model->id);

    if (resp->translate) {
        /* the translator knows whether the client's stream had ended */

        rc = ngx_http_tokenroute_rewrite(r, ctx, in);

        if (tokenroute_stream_finish(&resp->stream, 0) != 0) {
            return NGX_ERROR;
        }

        in = NULL;

    } else if (resp->strip) {
        rc = ngx_http_tokenroute_rewrite(r, ctx, in);
        in = NULL;

    } else {
        rc = NGX_OK;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (!resp->translate) {
        /* a partial event would swallow ours: end it first */

        if (tokenroute_sse_pending(&resp->sse)
            && ngx_http_tokenroute_emit(resp, "\n\n", 2) != 0)
        {
            return NGX_ERROR;
        }

        if (ctx->shape == NGX_HTTP_TOKENROUTE_ANTHROPIC) {
            rc = ngx_http_tokenroute_emit(resp, (char *) anthropic_error,
                                          sizeof(anthropic_error) - 1);

        } else {
            rc = ngx_http_tokenroute_emit(resp, (char *) openai_error,
                                          sizeof(openai_error) - 1);
        }

        if (rc != 0) {
            return NGX_ERROR;
        }
    }

    /* the input (if passed through) first, then what was emitted */

    ours = resp->out;

    resp->out = NULL;
    resp->last_out = &resp->out;

    for (cl = ours; cl; cl = cl->next) {
        if (cl->next == NULL) {
            b = cl->buf;
            b->flush = 1;
        }
    }

    ll = &in;

    while (*ll) {
        ll = &(*ll)->next;
    }

    *ll = ours;

    if (in == NULL) {
        return NGX_OK;
    }

    rc = ngx_http_next_body_filter(r, in);

    /* only our own links: the input's belong to the upstream module */

    ngx_chain_update_chains(r->pool, &resp->free, &resp->busy, &ours,
                            (ngx_buf_tag_t) &ngx_http_tokenroute_module);

    return rc;
}
