
/*
 * Copyright (C) tokenroute authors
 *
 * A stream the provider ends early: noticed in the body filter, and
 * ended for the client with an error event in its own shape.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_filter.h"
#include "ngx_http_tokenroute_output.h"


/*
 * The provider's connection ended a stream before its end: nginx then
 * closes the upstream connection and sends only a flush, no last buffer
 * (ngx_http_upstream_finalize_request()), and closes the client's
 * connection.  A normal end comes with last_buf.
 */

ngx_uint_t
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

ngx_int_t
ngx_http_tokenroute_stream_cut(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_int_t                        rc;
    ngx_chain_t                     *cl, *ours;
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

        /* the usage reader never took an event without its blank line */
        resp->u.s.stream.tap = NULL;

        if (tokenroute_stream_finish(&resp->u.s.stream, 0) != 0) {
            return NGX_ERROR;
        }

        in = NULL;

    } else {
        /* the events complete so far go first */
        rc = ngx_http_tokenroute_sse_gate(r, ctx, in);
        in = NULL;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (!resp->translate && !resp->stopped) {

        /*
         * An event held back never reaches the client; one too long to
         * hold, partly sent, would swallow ours: it is ended first.
         */

        resp->hold_len = 0;

        if ((resp->streamed || resp->failed)
            && ngx_http_tokenroute_emit(resp, "\n\n", 2) != 0)
        {
            return NGX_ERROR;
        }

        if (ctx->shape == TOKENROUTE_SHAPE_ANTHROPIC) {
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

    /* what was emitted, flushed */

    ours = resp->out;

    resp->out = NULL;
    resp->last_out = &resp->out;

    if (ours == NULL) {
        return NGX_OK;
    }

    for (cl = ours; cl->next; cl = cl->next) {
        /* void */
    }

    cl->buf->flush = 1;

    rc = ngx_http_tokenroute_next_body(r, ours);

    ngx_chain_update_chains(r->pool, &resp->free, &resp->busy, &ours,
                            (ngx_buf_tag_t) &ngx_http_tokenroute_module);

    return rc;
}
