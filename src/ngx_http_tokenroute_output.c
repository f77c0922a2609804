
/*
 * Copyright (C) tokenroute authors
 *
 * The response filters' ground floor, under the filter, the held answer,
 * the SSE gate, the rewriting modes and the stream cut: the next filters
 * (every call to them goes through here), the chain of buffers of our
 * own that the client gets (emit), the bytes held back (hold), an empty
 * link for flags, and the usage read from the provider's bytes.  It
 * calls nothing above it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_output.h"


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* the next filters, saved before ours are installed: all calls pass here */

void
ngx_http_tokenroute_next_init(void)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_next_body_filter = ngx_http_top_body_filter;
}


ngx_int_t
ngx_http_tokenroute_next_header(ngx_http_request_t *r)
{
    return ngx_http_next_header_filter(r);
}


ngx_int_t
ngx_http_tokenroute_next_body(ngx_http_request_t *r, ngx_chain_t *in)
{
    return ngx_http_next_body_filter(r, in);
}


/*
 * Bytes held back, never more than resp->hold_max in all, however they
 * arrive: NGX_DECLINED past it.
 */

ngx_int_t
ngx_http_tokenroute_hold(ngx_http_tokenroute_response_t *resp, u_char *p,
    size_t len)
{
    u_char  *n;
    size_t   size;

    if (len > resp->hold_max - resp->hold_len) {
        return NGX_DECLINED;
    }

    if (resp->hold_len + len > resp->hold_size) {

        size = ngx_max(2 * resp->hold_size, resp->hold_len + len);
        size = ngx_max(size, 1024);
        size = ngx_min(size, resp->hold_max);

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


/* room for a body of known length, len <= resp->hold_max */

ngx_int_t
ngx_http_tokenroute_hold_reserve(ngx_http_tokenroute_response_t *resp,
    size_t len)
{
    if (resp->hold_size >= len) {
        return NGX_OK;
    }

    if (resp->hold) {
        /* only ever called before the first byte */
        return NGX_ERROR;
    }

    resp->hold = ngx_palloc(resp->request->pool, len);
    if (resp->hold == NULL) {
        return NGX_ERROR;
    }

    resp->hold_size = len;

    return NGX_OK;
}


/* appends to the response's output chain, reusing buffers already sent */

int
ngx_http_tokenroute_emit(void *data, const char *p, size_t len)
{
    ngx_http_tokenroute_response_t  *resp = data;

    return ngx_http_tokenroute_append(resp->request->pool, &resp->out,
                                      &resp->last_out, &resp->free,
                                      (ngx_buf_tag_t) &ngx_http_tokenroute_module,
                                      (u_char *) p, len);
}


/*
 * Appends bytes to an output chain of buffers tagged "tag", taking a
 * buffer from "free" (those already sent, ngx_chain_update_chains()) when
 * the last one is full or is not ours: the last link may be an input
 * buffer passed on (sse_gate.c).
 */

int
ngx_http_tokenroute_append(ngx_pool_t *pool, ngx_chain_t **out,
    ngx_chain_t ***last_out, ngx_chain_t **free, ngx_buf_tag_t tag,
    u_char *p, size_t len)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (len == 0) {
        return 0;
    }

    cl = (*last_out == out) ? NULL
         : (ngx_chain_t *) ((u_char *) *last_out
                            - offsetof(ngx_chain_t, next));

    if (cl == NULL
        || cl->buf->tag != tag
        || (size_t) (cl->buf->end - cl->buf->last) < len)
    {
        cl = ngx_chain_get_free_buf(pool, free);
        if (cl == NULL) {
            return -1;
        }

        b = cl->buf;
        size = ngx_max(len, 4096);

        if (b->start == NULL || (size_t) (b->end - b->start) < size) {
            b->start = ngx_palloc(pool, size);
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
        b->tag = tag;

        cl->next = NULL;
        **last_out = cl;
        *last_out = &cl->next;
    }

    cl->buf->last = ngx_cpymem(cl->buf->last, p, len);

    return 0;
}


/* a chain link with an empty buffer, for flags with nothing to carry */

ngx_chain_t *
ngx_http_tokenroute_empty_link(ngx_pool_t *pool)
{
    ngx_chain_t  *cl;

    cl = ngx_alloc_chain_link(pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = ngx_calloc_buf(pool);
    if (cl->buf == NULL) {
        return NULL;
    }

    cl->next = NULL;

    return cl;
}


/* usage, from the provider's bytes, whatever the client receives */

void
ngx_http_tokenroute_read(ngx_http_tokenroute_ctx_t *ctx, u_char *p,
    size_t len)
{
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    if (len == 0) {
        return;
    }

    resp->body_bytes += len;

    if (resp->failed || resp->tapped) {
        /* a translated stream's events come from its tap (filter.c) */
        return;
    }

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_SSE) {
        /* a line found by the splitter's hook holds for its piece only */
        ctx->usage.line = NULL;

        if (tokenroute_sse_feed(&resp->u.s.sse, (char *) p, len) != 0) {
            resp->failed = 1;
        }

    } else if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON) {
        if (tokenroute_usage_json_feed(&resp->u.json, (char *) p, len) != 0) {
            resp->failed = 1;
        }
    }
}
