
/*
 * Copyright (C) tokenroute authors
 *
 * A non-stream answer held whole (buffer mode): the header filter holds
 * the header, the body is copied in as it arrives, and only a complete,
 * well-formed answer reaches the client: a same-shape JSON body unchanged
 * (with its Content-Length), a body of the other shape translated, a
 * provider's error rewritten.
 *
 * Anything else (a body that is not JSON, cut short, stalled, in broken
 * chunked encoding, over tokenroute_max_response_size, or an answer with
 * no valid HTTP status) fails the attempt before any byte reached the
 * client.  The filter then returns 502 (504 for a read timeout) to the
 * code that finalizes the upstream: nginx's ngx_http_upstream_finalize_
 * request() hands what the body filter returns for its last or flush
 * buffer to ngx_http_finalize_request(), and the header was never sent,
 * so error_page brings the request to @tokenroute_fallback, as for a
 * provider error status: the next model of the chain, or the error in
 * the client's shape.
 *
 * Two of those failures never reach the body filter as such, so the
 * upstream's own callbacks are wrapped while a body is held: its
 * finalize_request (to tell a read timeout from other failures) and its
 * non-buffered input filter (an invalid chunk would end the request with
 * NGX_ERROR, the client getting no response at all; it becomes an
 * upstream error, which nginx finalizes as a 502).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_fallback.h"
#include "ngx_http_tokenroute_filter.h"
#include "ngx_http_tokenroute_output.h"


static ngx_http_tokenroute_response_t *ngx_http_tokenroute_held_resp(
    ngx_http_request_t *r);
static void ngx_http_tokenroute_upstream_finalize(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_tokenroute_input_filter_init(void *data);
static ngx_int_t ngx_http_tokenroute_input_filter(void *data,
    ssize_t bytes);
static ngx_int_t ngx_http_tokenroute_send_held(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


/*
 * The header filter's check of a provider's answer, before anything of
 * it is used: its status must be one HTTP has.  nginx's proxy takes an
 * answer without a valid status line for HTTP/0.9 (status 0, and the
 * client's request marked HTTP/0.9, which sends a body with no status
 * line nor headers), and relays any three digits.
 */

ngx_int_t
ngx_http_tokenroute_check_status(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_uint_t            status;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    /* only the live answer of an attempt: not an error page made after */

    if (u == NULL || u->cleanup == NULL) {
        return NGX_OK;
    }

    status = u->headers_in.status_n;

    if (status >= 100 && status <= 599) {
        return NGX_OK;
    }

    r->http_version = r->http_major * 1000 + r->http_minor;

    if (status == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: model \"%V\" answered without an HTTP "
                      "status line", &ctx->model->id);

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: model \"%V\" answered with the invalid "
                      "HTTP status %ui", &ctx->model->id, status);
    }

    return ngx_http_tokenroute_answer_failed(r, ctx, NGX_HTTP_BAD_GATEWAY);
}


/*
 * A held answer fails before any byte of it reached the client: the
 * provider's headers go, the client is charged nothing, and the status
 * is returned for nginx to finalize the request with.
 */

ngx_int_t
ngx_http_tokenroute_answer_failed(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t status)
{
    ngx_http_headers_out_t  *h;

    if (ctx->resp) {
        /*
         * A provider's 2xx keeps its status: the client is not charged
         * for an answer it never got, but what the provider produced is
         * counted as unbilled (ngx_http_tokenroute_usage_finalize()).
         */

        if (ctx->resp->status >= NGX_HTTP_SPECIAL_RESPONSE
            || ctx->resp->status < NGX_HTTP_OK)
        {
            ctx->resp->status = status;
        }

        ctx->resp->complete = 0;

        /* what the body filter gets after (an error page) is not it */
        ctx->resp->attempt_failed = 1;
    }

    ctx->upstream_status = status;

    h = &r->headers_out;

    ngx_memzero(h, sizeof(ngx_http_headers_out_t));

    if (ngx_list_init(&h->headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&h->trailers, r->pool, 4, sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    h->content_length_n = -1;
    h->last_modified_time = -1;

    return status;
}


/* the response_init part of buffer mode: the limit, the upstream's hooks */

ngx_int_t
ngx_http_tokenroute_held_init(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    off_t                             len;
    ngx_http_upstream_t              *u;
    ngx_http_tokenroute_response_t   *resp;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    resp = ctx->resp;
    resp->hold_max = trmcf->max_response_size;

    len = r->headers_out.content_length_n;

    if (len > (off_t) resp->hold_max) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: the response of model \"%V\" is larger "
                      "than %uz bytes (Content-Length: %O)",
                      &ctx->model->id, resp->hold_max, len);

        return NGX_DECLINED;
    }

    /* one allocation for a body of known length */

    if (len > 0 && ngx_http_tokenroute_hold_reserve(resp, len) != NGX_OK) {
        return NGX_ERROR;
    }

    u = r->upstream;

    if (u == NULL || u->cleanup == NULL) {
        return NGX_OK;
    }

    resp->upstream_finalize = u->finalize_request;
    u->finalize_request = ngx_http_tokenroute_upstream_finalize;

    if (!u->buffering && u->input_filter_init) {
        resp->input_filter_init = u->input_filter_init;
        u->input_filter_init = ngx_http_tokenroute_input_filter_init;
    }

    return NGX_OK;
}


/*
 * The wrappers find the response through the request's ctx: the proxy
 * module passes the request as the input filter's data.
 */

static ngx_http_tokenroute_response_t *
ngx_http_tokenroute_held_resp(ngx_http_request_t *r)
{
    ngx_http_tokenroute_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL) {
        ctx = ngx_http_tokenroute_recover_ctx(r);
    }

    return ctx ? ctx->resp : NULL;
}


static void
ngx_http_tokenroute_upstream_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_tokenroute_response_t  *resp;

    resp = ngx_http_tokenroute_held_resp(r);

    if (resp == NULL || resp->upstream_finalize == NULL) {
        return;
    }

    resp->upstream_rc = rc;
    resp->upstream_finalize(r, rc);
}


static ngx_int_t
ngx_http_tokenroute_input_filter_init(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_int_t                        rc;
    ngx_http_upstream_t             *u;
    ngx_http_tokenroute_response_t  *resp;

    resp = ngx_http_tokenroute_held_resp(r);

    if (resp == NULL || resp->input_filter_init == NULL) {
        return NGX_ERROR;
    }

    rc = resp->input_filter_init(data);

    u = r->upstream;

    if (rc == NGX_OK && u->input_filter) {
        /* the proxy module chooses its input filter here */
        resp->input_filter = u->input_filter;
        u->input_filter = ngx_http_tokenroute_input_filter;
    }

    return rc;
}


static ngx_int_t
ngx_http_tokenroute_input_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    ngx_int_t                        rc;
    ngx_http_tokenroute_response_t  *resp;

    resp = ngx_http_tokenroute_held_resp(r);

    if (resp == NULL || resp->input_filter == NULL) {
        return NGX_ERROR;
    }

    rc = resp->input_filter(data, bytes);

    if (rc == NGX_ERROR) {
        /* nginx finalizes an upstream error as a 502, after the body */
        r->upstream->error = 1;
        return NGX_OK;
    }

    return rc;
}


/*
 * Buffer mode's body filter: the input is copied and consumed (with
 * proxy_buffering off the upstream reuses its buffer only then), read for
 * usage, and the answer is decided at its end.
 */

ngx_int_t
ngx_http_tokenroute_held_body(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    size_t                           len;
    ngx_int_t                        rc;
    ngx_uint_t                       last_buf, status;
    ngx_chain_t                     *cl;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;
    last_buf = 0;

    for (cl = in; cl; cl = cl->next) {
        last_buf |= cl->buf->last_buf;

        if (!ngx_buf_in_memory(cl->buf)) {
            continue;
        }

        len = cl->buf->last - cl->buf->pos;

        if (len && !resp->too_large) {
            rc = ngx_http_tokenroute_hold(resp, cl->buf->pos, len);

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_DECLINED) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "tokenroute: the response of model \"%V\" is "
                              "larger than %uz bytes",
                              &ctx->model->id, resp->hold_max);

                resp->too_large = 1;

                /* nginx stops reading it and finalizes it as a 502 */
                if (r->upstream) {
                    r->upstream->error = 1;
                }

            } else {
                ngx_http_tokenroute_read(ctx, cl->buf->pos, len);
            }
        }

        cl->buf->pos = cl->buf->last;
    }

    if (!last_buf) {
        if (r->upstream == NULL || r->upstream->peer.connection != NULL) {
            return NGX_OK;
        }

        /*
         * Only a flush after the provider's connection was closed: the
         * upstream failed (ngx_http_tokenroute_upstream_broken()).
         */

        status = (resp->upstream_rc == NGX_HTTP_GATEWAY_TIME_OUT)
                 ? NGX_HTTP_GATEWAY_TIME_OUT : NGX_HTTP_BAD_GATEWAY;

        if (!resp->too_large) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tokenroute: the response of model \"%V\" ended "
                          "after %O bytes with %ui (cut short or stalled)",
                          &ctx->model->id, resp->body_bytes, status);
        }

        return ngx_http_tokenroute_answer_failed(r, ctx, status);
    }

    if (resp->too_large) {
        return ngx_http_tokenroute_answer_failed(r, ctx,
                                                 NGX_HTTP_BAD_GATEWAY);
    }

    if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON && !resp->failed) {
        resp->complete = (tokenroute_usage_json_finish(&resp->u.json) == 0);

        /*
         * A good answer its API's template did not read: the next ones
         * are likely laid out as it is (tokenroute_skim_body.c).  The
         * held copy is every byte the skimmer read.
         */

        if (resp->complete
            && resp->status >= NGX_HTTP_OK && resp->status < 300
            && tokenroute_skim_body_new(&resp->u.json.skim))
        {
            tokenroute_skim_body_learn(resp->u.json.shape, (char *) resp->hold,
                                       resp->hold_len);
        }
    }

    if (resp->verify) {
        if (!resp->complete) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tokenroute: the response of model \"%V\" is not "
                          "valid JSON", &ctx->model->id);

            return ngx_http_tokenroute_answer_failed(r, ctx,
                                                     NGX_HTTP_BAD_GATEWAY);
        }

        /* only a well-formed answer says the model is well */
        ngx_http_tokenroute_cooldown_success(ctx->model);

        return ngx_http_tokenroute_send_held(r, ctx);
    }

    rc = ngx_http_tokenroute_rewrite_held(r, ctx);

    if (rc == NGX_DECLINED) {
        /* cannot be translated: the attempt failed */
        return ngx_http_tokenroute_answer_failed(r, ctx,
                                                 NGX_HTTP_BAD_GATEWAY);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (resp->status < NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_tokenroute_cooldown_success(ctx->model);
    }

    /* what was emitted, ending the response */

    if (resp->out == NULL) {
        cl = ngx_http_tokenroute_empty_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        resp->out = cl;
    }

    for (cl = resp->out; cl->next; cl = cl->next) {
        /* void */
    }

    cl->buf->last_buf = 1;
    cl->buf->last_in_chain = 1;

    cl = resp->out;
    resp->out = NULL;
    resp->last_out = &resp->out;

    return ngx_http_tokenroute_next_body(r, cl);
}


/* a same-shape JSON body, complete and valid: passed as it came */

static ngx_int_t
ngx_http_tokenroute_send_held(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    r->headers_out.content_length_n = resp->hold_len;

    rc = ngx_http_tokenroute_next_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return NGX_ERROR;
    }

    cl = ngx_http_tokenroute_empty_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    /* the held copy itself: no second one */

    b = cl->buf;

    b->pos = resp->hold;
    b->last = resp->hold + resp->hold_len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    return ngx_http_tokenroute_next_body(r, cl);
}
