
/*
 * Copyright (C) tokenroute authors
 *
 * Response filters for requests the gateway routed.
 *
 * Header filter: says which model served the request and under which
 * request id, and decides how the body is read for usage: a JSON body
 * goes through yajl's incremental parser, a stream through the SSE
 * splitter, event by event.
 *
 * Body filter: feeds the parsers and passes the chain on unchanged, so
 * chunks reach the client as they arrive.  The one exception is an
 * OpenAI stream whose client did not ask for usage: the gateway asked
 * for it, so the usage-only event is removed, and that stream is re-
 * emitted event by event from the filter's own recycled buffers.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/* events longer than this are passed on but not read for usage */
#define NGX_HTTP_TOKENROUTE_SSE_MAX_DATA  (64 * 1024)


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
static ngx_int_t ngx_http_tokenroute_strip(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_tokenroute_hold(ngx_http_request_t *r,
    ngx_http_tokenroute_response_t *resp, u_char *p, size_t len);


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
    ngx_table_elt_t            *h;
    ngx_http_tokenroute_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL || !ctx->decided) {
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

    ctx->upstream_status = r->headers_out.status;

    /* a provider's error response costs nothing: nothing to read */

    if (r->headers_out.status >= NGX_HTTP_OK
        && r->headers_out.status < NGX_HTTP_SPECIAL_RESPONSE
        && !r->header_only)
    {
        if (ngx_http_tokenroute_response_init(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_tokenroute_response_init(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_str_t                       *type;
    ngx_pool_cleanup_t              *cln;
    ngx_http_tokenroute_response_t  *resp;

    resp = ngx_pcalloc(r->pool, sizeof(ngx_http_tokenroute_response_t));
    if (resp == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    resp->api = (ctx->model->provider->type == NGX_HTTP_TOKENROUTE_ANTHROPIC)
                ? TOKENROUTE_API_ANTHROPIC : TOKENROUTE_API_OPENAI;

    type = &r->headers_out.content_type;

    if (type->len >= sizeof("text/event-stream") - 1
        && ngx_strncasecmp(type->data, (u_char *) "text/event-stream",
                           sizeof("text/event-stream") - 1)
           == 0)
    {
        if (tokenroute_sse_init(&resp->sse, NGX_HTTP_TOKENROUTE_SSE_MAX_DATA,
                                ngx_http_tokenroute_sse_event, ctx)
            != 0)
        {
            return NGX_ERROR;
        }

        resp->mode = NGX_HTTP_TOKENROUTE_RESP_SSE;

        resp->strip = (resp->api == TOKENROUTE_API_OPENAI
                       && ctx->req.include_usage != 1);

        if (resp->strip) {
            ngx_http_clear_content_length(r);
        }

    } else {
        if (tokenroute_usage_json_init(&resp->json, resp->api, &ctx->usage)
            != 0)
        {
            return NGX_ERROR;
        }

        resp->mode = NGX_HTTP_TOKENROUTE_RESP_JSON;
    }

    cln->handler = ngx_http_tokenroute_response_cleanup;
    cln->data = resp;

    ctx->resp = resp;

    return NGX_OK;
}


static void
ngx_http_tokenroute_response_cleanup(void *data)
{
    ngx_http_tokenroute_response_t  *resp = data;

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE) {
        tokenroute_sse_free(&resp->sse);

    } else {
        tokenroute_usage_json_free(&resp->json);
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

    if (resp->strip && !resp->failed) {
        return ngx_http_tokenroute_strip(r, ctx, in);
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


static void
ngx_http_tokenroute_read(ngx_http_tokenroute_ctx_t *ctx, u_char *p,
    size_t len)
{
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    if (resp->failed || len == 0) {
        return;
    }

    resp->body_bytes += len;

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE) {
        if (tokenroute_sse_feed(&resp->sse, (char *) p, len) != 0) {
            resp->failed = 1;
        }

        return;
    }

    if (tokenroute_usage_json_feed(&resp->json, (char *) p, len) != 0) {
        resp->failed = 1;
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
 * Strip mode.  Each line is fed separately so that the splitter's pending
 * count tells where an event ends; an event's bytes are held until then
 * and emitted unless the event is the usage chunk.  The input buffers are
 * consumed, and what is emitted is copied into buffers of our own that
 * are recycled once sent.
 */

static ngx_int_t
ngx_http_tokenroute_strip(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    u_char                          *p, *q, *last;
    off_t                            size;
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_uint_t                       flush, last_buf;
    ngx_chain_t                     *cl, *out;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    size = resp->hold_len;
    flush = 0;
    last_buf = 0;

    for (cl = in; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
        flush |= cl->buf->flush;
        last_buf |= cl->buf->last_buf;
    }

    cl = ngx_chain_get_free_buf(r->pool, &resp->free);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;
    b->tag = (ngx_buf_tag_t) &ngx_http_tokenroute_module;

    if (b->start == NULL || b->end - b->start < size) {
        b->start = ngx_palloc(r->pool, ngx_max(size, 4096));
        if (b->start == NULL) {
            return NGX_ERROR;
        }

        b->end = b->start + ngx_max(size, 4096);
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;
    b->flush = 0;
    b->last_buf = 0;
    b->last_in_chain = 0;

    resp->out = b;

    for ( /* void */ ; in; in = in->next) {

        if (!ngx_buf_in_memory(in->buf)) {
            continue;
        }

        p = in->buf->pos;
        last = in->buf->last;

        while (p < last) {
            for (q = p; q < last && *q != '\n' && *q != '\r'; q++) {
                /* void */
            }

            if (q < last) {
                q++;
            }

            ngx_http_tokenroute_read(ctx, p, q - p);

            if (ngx_http_tokenroute_hold(r, resp, p, q - p) != NGX_OK) {
                return NGX_ERROR;
            }

            p = q;
        }

        in->buf->pos = in->buf->last;
    }

    /* a stream that ends mid-event: pass what there is */

    if (last_buf && resp->hold_len) {
        b->last = ngx_cpymem(b->last, resp->hold, resp->hold_len);
        resp->hold_len = 0;
    }

    if (b->last == b->pos) {
        b->temporary = 0;

        if (!flush && !last_buf) {
            /* nothing complete yet: keep the buffer for next time */
            cl->next = resp->free;
            resp->free = cl;
            return NGX_OK;
        }
    }

    b->flush = flush;
    b->last_buf = last_buf;
    b->last_in_chain = 1;
    cl->next = NULL;

    out = cl;

    rc = ngx_http_next_body_filter(r, out);

    ngx_chain_update_chains(r->pool, &resp->free, &resp->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_tokenroute_module);

    return rc;
}


/* keeps bytes until the event they belong to is complete */

static ngx_int_t
ngx_http_tokenroute_hold(ngx_http_request_t *r,
    ngx_http_tokenroute_response_t *resp, u_char *p, size_t len)
{
    u_char     *n;
    size_t      size;
    ngx_buf_t  *b;

    if (resp->hold_len + len > resp->hold_size) {
        size = ngx_max(2 * resp->hold_size, resp->hold_len + len);
        size = ngx_max(size, 1024);

        n = ngx_palloc(r->pool, size);
        if (n == NULL) {
            return NGX_ERROR;
        }

        if (resp->hold_len) {
            ngx_memcpy(n, resp->hold, resp->hold_len);
        }

        ngx_pfree(r->pool, resp->hold);

        resp->hold = n;
        resp->hold_size = size;
    }

    ngx_memcpy(resp->hold + resp->hold_len, p, len);
    resp->hold_len += len;

    if (tokenroute_sse_pending(&resp->sse) != 0) {
        return NGX_OK;
    }

    /* the event is complete */

    b = resp->out;

    if (!resp->drop_event) {
        b->last = ngx_cpymem(b->last, resp->hold, resp->hold_len);
    }

    resp->hold_len = 0;
    resp->drop_event = 0;

    return NGX_OK;
}
