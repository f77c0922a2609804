
/*
 * Copyright (C) tokenroute authors
 *
 * The response filter's rewriting modes (translate, buffer): the
 * input is consumed and what the client gets is emitted into buffers of
 * our own, recycled once sent (ngx_http_tokenroute_output.c); a body held
 * whole is rewritten at its end (buffer mode's body filter, which calls
 * it, is in ngx_http_tokenroute_held.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_filter.h"
#include "ngx_http_tokenroute_output.h"


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

        if (tokenroute_stream_feed(&resp->u.s.stream, (char *) p, last - p)
            != 0)
        {
            return NGX_ERROR;
        }

        in->buf->pos = in->buf->last;
    }

    if (last_buf) {
        /* the usage reader never took an event without its blank line */
        resp->u.s.stream.tap = NULL;

        if (tokenroute_stream_finish(&resp->u.s.stream, resp->complete) != 0) {
            return NGX_ERROR;
        }
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
 * header held back is sent.  For a response that cannot be translated,
 * NGX_DECLINED: the caller, which holds the answer, fails the attempt.
 */

ngx_int_t
ngx_http_tokenroute_rewrite_held(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int                              client, rc, status;
    size_t                           len;
    u_char                          *out;
    ngx_http_tokenroute_model_t     *m;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;
    m = ngx_http_tokenroute_public(ctx->model);
    out = NULL;
    len = 0;

    client = (ctx->shape == TOKENROUTE_SHAPE_ANTHROPIC)
             ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;

    if (resp->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        rc = tokenroute_translate_error(resp->provider_shape, client,
                                        resp->status, resp->hold,
                                        resp->hold_len, &out, &len);

        /* a 529 is a 503 to OpenAI's clients */

        status = tokenroute_error_client_status(client, resp->status);

        if ((ngx_uint_t) status != resp->status) {
            r->headers_out.status = status;
            r->headers_out.status_line.len = 0;
        }

    } else {
        rc = tokenroute_translate_response(resp->provider_shape, client,
                                           resp->hold, resp->hold_len,
                                           (char *) m->id.data, m->id.len,
                                           &out, &len);

        if (rc == -1) {
            /*
             * Not a response of its shape: the attempt failed, as if the
             * provider had answered 502 (the next model, or an error the
             * client can parse rather than a body it cannot).
             */

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tokenroute: the response of model \"%V\" "
                          "cannot be translated", &ctx->model->id);

            return NGX_DECLINED;
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
