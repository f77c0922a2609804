
/*
 * Copyright (C) tokenroute authors
 *
 * The response filter's rewriting modes (translate, buffer): the
 * input is consumed and what the client gets is emitted into buffers of
 * our own, recycled once sent; a body held whole is rewritten at its end
 * (buffer mode's body filter is in ngx_http_tokenroute_held.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_filter.h"




/*
 * A stream translated to the client's shape (the only caller: same-shape
 * streams go through sse_gate.c, held answers through held.c): the input
 * is consumed, what the client gets is emitted into our own buffers, and
 * sent with the input's flush and last_buf flags.
 */

ngx_int_t
ngx_http_tokenroute_rewrite(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    u_char                          *p, *last;
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

        ngx_http_tokenroute_read(ctx, p, last - p);

        if (tokenroute_stream_feed(&resp->stream, (char *) p, last - p) != 0)
        {
            return NGX_ERROR;
        }

        in->buf->pos = in->buf->last;
    }

    if (last_buf
        && tokenroute_stream_finish(&resp->stream, resp->complete) != 0)
    {
        return NGX_ERROR;
    }

    if (resp->out == NULL) {
        /* nothing new: no empty flush buffer a read (see sse_gate.c) */
        if (!last_buf) {
            return NGX_OK;
        }

        cl = ngx_http_tokenroute_empty_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        b = cl->buf;
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

    rc = ngx_http_tokenroute_next_body(r, out);

    ngx_chain_update_chains(r->pool, &resp->free, &resp->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_tokenroute_module);

    return rc;
}


/*
 * The whole body is in: a provider error becomes an error in the
 * client's shape (and loses anything naming the provider); a JSON
 * response of the other shape is translated into resp->out, and the
 * header held back is sent.  A response that cannot be translated fails
 * the attempt: its status is returned.
 */

ngx_int_t
ngx_http_tokenroute_rewrite_held(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int                              client, rc, status;
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

        /* a 529 is a 503 to OpenAI's clients */

        status = tokenroute_error_client_status(client, resp->status);

        if ((ngx_uint_t) status != resp->status) {
            r->headers_out.status = status;
            r->headers_out.status_line.len = 0;
        }

    } else {
        rc = tokenroute_translate_response(resp->api, client, resp->hold,
                                           resp->hold_len,
                                           (char *) ctx->model->id.data,
                                           ctx->model->id.len, &out, &len);

        if (rc == -1) {
            /*
             * Not a response of its shape: the attempt failed, as if the
             * provider had answered 502 (the next model, or an error the
             * client can parse rather than a body it cannot).
             */

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tokenroute: the response of model \"%V\" "
                          "cannot be translated", &ctx->model->id);

            return ngx_http_tokenroute_answer_failed(r, ctx,
                                                     NGX_HTTP_BAD_GATEWAY);
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

    rc = ngx_http_tokenroute_next_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return NGX_ERROR;
    }

    return NGX_OK;
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


/* appends to the output chain, reusing buffers already sent */

int
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

    /* the last buffer out may be an input buffer passed on (sse_gate.c) */

    if (cl == NULL
        || cl->buf->tag != (ngx_buf_tag_t) &ngx_http_tokenroute_module
        || (size_t) (cl->buf->end - cl->buf->last) < len)
    {

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
