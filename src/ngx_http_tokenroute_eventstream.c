
/*
 * Copyright (C) tokenroute authors
 *
 * The body filter's first stage for a Bedrock stream: the upstream's
 * buffers, in AWS's event-stream framing, are fed to the decoder
 * (src/tokenroute_eventstream.c) and consumed; the SSE text it gives, one
 * complete Anthropic event at a time, is written into buffers of our own
 * (a free list: reused once the client has them, not a pool allocation
 * per chunk), which the SSE paths (sse_gate.c, rewrite.c, stream_cut.c)
 * then take as if the provider had sent them.
 *
 * A frame that is malformed (a CRC, a length, a chunk that is not an
 * Anthropic event) or a body that ends inside a frame becomes an event
 * whose data is not JSON, so the client's stream ends as for any such
 * event: with an error event (provider_stream_invalid), nothing after.
 * A connection cut is seen by stream_cut.c from the flags, which go on.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_eventstream.h"
#include "ngx_http_tokenroute_output.h"

#include "tokenroute_eventstream.h"


/* a Bedrock chunk is one event: far below AWS's own 16 MB */
#define NGX_HTTP_TOKENROUTE_ES_MAX_MESSAGE  (1024 * 1024)


typedef struct {
    tokenroute_eventstream_t         es;
    ngx_http_request_t              *request;

    ngx_chain_t                     *out;
    ngx_chain_t                    **last_out;
    ngx_chain_t                     *free;
    ngx_chain_t                     *busy;

    unsigned                         nomem:1;
    unsigned                         told:1;    /* the bad event is out */
} ngx_http_tokenroute_es_t;


static int ngx_http_tokenroute_es_emit(void *data, const char *text,
    size_t len);
static ngx_int_t ngx_http_tokenroute_es_malformed(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_es_t *es);
static void ngx_http_tokenroute_es_cleanup(void *data);


/* the tag of our buffers: not the response's, whose emit appends to its */
static ngx_uint_t  ngx_http_tokenroute_es_tag;


ngx_uint_t
ngx_http_tokenroute_eventstream_header(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_str_t  *type;

    static ngx_str_t  es_type =
        ngx_string("application/vnd.amazon.eventstream");

    if (ctx->model->provider->type != NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK
        || r->headers_out.status != NGX_HTTP_OK)
    {
        return 0;
    }

    type = &r->headers_out.content_type;

    if (type->len < es_type.len
        || ngx_strncasecmp(type->data, es_type.data, es_type.len) != 0)
    {
        return 0;
    }

    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    /* the SSE text is of another length than the frames: none of theirs */
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);

    return 1;
}


ngx_int_t
ngx_http_tokenroute_eventstream_start(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_tokenroute_es_t  *es;

    es = ngx_pcalloc(r->pool, sizeof(ngx_http_tokenroute_es_t));
    if (es == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    if (tokenroute_eventstream_init(&es->es,
                                    NGX_HTTP_TOKENROUTE_ES_MAX_MESSAGE,
                                    ngx_http_tokenroute_es_emit, es)
        != 0)
    {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tokenroute_es_cleanup;
    cln->data = es;

    es->request = r;
    es->last_out = &es->out;

    ctx->resp->es = es;

    return NGX_OK;
}


static void
ngx_http_tokenroute_es_cleanup(void *data)
{
    ngx_http_tokenroute_es_t  *es = data;

    tokenroute_eventstream_free(&es->es);
}


ngx_int_t
ngx_http_tokenroute_eventstream_decode(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out)
{
    ngx_int_t                  rc;
    ngx_uint_t                 flush, last_buf;
    ngx_chain_t               *cl;
    ngx_http_tokenroute_es_t  *es;

    es = ctx->resp->es;

    flush = 0;
    last_buf = 0;
    rc = 0;

    for (cl = in; cl; cl = cl->next) {

        flush |= cl->buf->flush;
        last_buf |= cl->buf->last_buf;

        if (!ngx_buf_in_memory(cl->buf)) {
            continue;
        }

        if (rc == 0 && !es->told) {
            rc = tokenroute_eventstream_feed(&es->es, cl->buf->pos,
                                             cl->buf->last - cl->buf->pos);
        }

        cl->buf->pos = cl->buf->last;
    }

    if (es->nomem) {
        return NGX_ERROR;
    }

    if (rc == 0 && last_buf && !es->told) {
        rc = tokenroute_eventstream_finish(&es->es);
    }

    if (rc != 0 && !es->told) {
        if (ngx_http_tokenroute_es_malformed(r, ctx, es) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (es->out == NULL) {
        if (!flush && !last_buf) {
            *out = NULL;
            return NGX_OK;
        }

        /* the flags alone, on an empty buffer of ours */

        cl = ngx_chain_get_free_buf(r->pool, &es->free);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        /* special, not in memory: an empty one would be "zero size" */
        cl->buf->pos = cl->buf->start;
        cl->buf->last = cl->buf->start;
        cl->buf->temporary = 0;
        cl->buf->tag = (ngx_buf_tag_t) &ngx_http_tokenroute_es_tag;
        cl->next = NULL;

        es->out = cl;

    } else {
        for (cl = es->out; cl->next; cl = cl->next) {
            /* void */
        }
    }

    cl->buf->flush = flush;
    cl->buf->last_buf = last_buf;
    cl->buf->last_in_chain = 1;

    *out = es->out;

    es->out = NULL;
    es->last_out = &es->out;

    return NGX_OK;
}


void
ngx_http_tokenroute_eventstream_recycle(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *out)
{
    ngx_http_tokenroute_es_t  *es;

    es = ctx->resp->es;

    ngx_chain_update_chains(r->pool, &es->free, &es->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_tokenroute_es_tag);
}


/* one SSE text from the decoder, appended to our output */

static int
ngx_http_tokenroute_es_emit(void *data, const char *text, size_t len)
{
    ngx_http_tokenroute_es_t  *es = data;

    if (ngx_http_tokenroute_append(es->request->pool, &es->out,
                                   &es->last_out, &es->free,
                                   (ngx_buf_tag_t) &ngx_http_tokenroute_es_tag,
                                   (u_char *) text, len)
        != 0)
    {
        es->nomem = 1;
        return -1;
    }

    return 0;
}


/*
 * The stream is malformed: said in the log with the decoder's reason,
 * and, to the SSE path, as an event whose data is not JSON.
 */

static ngx_int_t
ngx_http_tokenroute_es_malformed(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_es_t *es)
{
    const char  *error;

    static char  bad[] = "event: error\ndata: malformed event stream\n\n";

    error = es->es.error ? es->es.error : "malformed";

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "tokenroute: the event stream of model \"%V\" is "
                  "malformed (%s) after %uL messages",
                  &ctx->model->id, error, es->es.messages);

    es->told = 1;

    if (ngx_http_tokenroute_es_emit(es, bad, sizeof(bad) - 1) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
