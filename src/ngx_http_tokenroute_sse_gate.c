
/*
 * Copyright (C) tokenroute authors
 *
 * A stream in the client's own shape (pass and strip modes): each event
 * reaches the client only once it is complete and its data is JSON (or
 * OpenAI's [DONE]).  The splitter that reads usage judges the events; a
 * buffer's complete events are passed on in the buffer itself, narrowed
 * to them, and only the bytes of an event not yet complete are copied
 * and held, in a buffer of our own that goes out as it is once the event
 * is complete (resp->held).  The usage chunk the gateway asked for is
 * removed (strip), and an event whose data is not JSON ends the client's
 * stream with an error event of its protocol: nothing after it is passed
 * on.
 *
 * An event that grows past NGX_HTTP_TOKENROUTE_SSE_HOLD_MAX is not held:
 * it is passed on as it arrives, unjudged, like one too long to be read
 * for usage.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_filter.h"
#include "ngx_http_tokenroute_output.h"


/* the bytes of an event in progress held back, at most */
#define NGX_HTTP_TOKENROUTE_SSE_HOLD_MAX  (64 * 1024)


/* the input buffer being read, while the splitter reads it */
struct ngx_http_tokenroute_gate_s {
    ngx_buf_t                       *buf;
    u_char                          *last;

    /* passed on in the buffer itself */
    u_char                          *zstart;
    u_char                          *zend;

    /* where the event in progress starts */
    u_char                          *mark;

    /* the last part before a dropped event, out in a buffer of its own */
    ngx_chain_t                     *shadow;

    unsigned                         linked:1;   /* zstart..zend is out */
    unsigned                         error:1;
};


static ngx_int_t ngx_http_tokenroute_gate_buf(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_buf_t *b);
static int ngx_http_tokenroute_gate_event(ngx_http_tokenroute_ctx_t *ctx,
    ngx_uint_t verdict, u_char *end) __attribute__((noinline));
static ngx_int_t ngx_http_tokenroute_gate_link(
    ngx_http_tokenroute_response_t *resp, ngx_http_tokenroute_gate_t *g);
static ngx_int_t ngx_http_tokenroute_gate_shadow(
    ngx_http_tokenroute_response_t *resp, ngx_http_tokenroute_gate_t *g);
static ngx_int_t ngx_http_tokenroute_gate_hold(
    ngx_http_tokenroute_response_t *resp, u_char *p, size_t len);
static ngx_int_t ngx_http_tokenroute_gate_release(
    ngx_http_tokenroute_response_t *resp);


ngx_int_t
ngx_http_tokenroute_sse_gate(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_int_t                        rc;
    ngx_uint_t                       flush, last_buf;
    ngx_chain_t                     *cl, *out;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    flush = 0;
    last_buf = 0;

    for ( /* void */ ; in; in = in->next) {

        flush |= in->buf->flush;
        last_buf |= in->buf->last_buf;

        if (!ngx_buf_in_memory(in->buf) || in->buf->pos == in->buf->last) {
            /* a special buffer: its flags go on the last one sent */
            continue;
        }

        if (ngx_http_tokenroute_gate_buf(r, ctx, in->buf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (last_buf && resp->hold_len && !resp->stopped) {
        /* a stream that ends mid-event: pass what there is */
        if (ngx_http_tokenroute_gate_release(resp) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /*
     * Nothing new for the client: no empty buffer to carry a flush (what
     * was sent before went with its own), or a provider trickling bytes
     * would grow the pool by a buffer a read for the whole stream.
     */

    if (resp->out == NULL && !last_buf) {
        return NGX_OK;
    }

    /* the flags: on the last buffer if it is ours, else on one of their own */

    cl = (resp->out == NULL) ? NULL
         : (ngx_chain_t *) ((u_char *) resp->last_out
                            - offsetof(ngx_chain_t, next));

    if (cl && cl->buf->tag != (ngx_buf_tag_t) &ngx_http_tokenroute_module) {

        if (!last_buf && (!flush || cl->buf->flush)) {
            goto send;
        }

        cl = NULL;
    }

    if (cl == NULL) {
        cl = ngx_http_tokenroute_empty_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        *resp->last_out = cl;
        resp->last_out = &cl->next;
    }

    cl->buf->flush = flush;
    cl->buf->last_buf = last_buf;
    cl->buf->last_in_chain = 1;

send:

    out = resp->out;
    resp->out = NULL;
    resp->last_out = &resp->out;

    rc = ngx_http_tokenroute_next_body(r, out);

    /* our buffers are recycled; the links to the input's are freed */

    ngx_chain_update_chains(r->pool, &resp->free, &resp->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_tokenroute_module);

    return rc;
}


/*
 * One input buffer: read by the splitter, whose handler calls
 * ngx_http_tokenroute_sse_gate_event() at each event's end.  What is
 * passed on of it is in the buffer itself, narrowed; the rest is marked
 * as sent, for its owner to reuse.
 */

static ngx_int_t
ngx_http_tokenroute_gate_buf(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_buf_t *b)
{
    u_char                          *last;
    ngx_http_tokenroute_gate_t       g;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;
    last = b->last;

    if (resp->stopped) {
        /* counted, not passed on */
        ngx_http_tokenroute_read(ctx, b->pos, last - b->pos);
        b->pos = last;
        return NGX_OK;
    }

    g.buf = b;
    g.last = last;
    g.zstart = b->pos;
    g.zend = b->pos;
    g.mark = b->pos;
    g.shadow = NULL;
    g.linked = 0;
    g.error = 0;

    if (resp->lf_due) {
        /*
         * The last buffer ended with the CR of an event's closing CR LF:
         * its LF goes with it, passed on or dropped (a client may not
         * take a CR LF then a CR as the end of the event).
         */

        resp->lf_due = 0;

        if (*b->pos == '\n') {
            g.mark++;
            g.zend++;

            if (resp->lf_drop) {
                g.zstart++;
            }
        }
    }

    if (resp->failed) {
        /* not read any more (out of memory): passed on as it is */
        g.zend = last;
        goto done;
    }

    resp->gate = &g;

    ngx_http_tokenroute_read(ctx, b->pos, last - b->pos);

    resp->gate = NULL;

    if (g.error) {
        return NGX_ERROR;
    }

    if (resp->stopped || g.mark == last) {
        goto done;
    }

    /* the start of an event: held, unless it is too long to hold */

    if (!resp->failed
        && tokenroute_sse_pending(&resp->u.s.sse)
           <= NGX_HTTP_TOKENROUTE_SSE_HOLD_MAX)
    {
        if (ngx_http_tokenroute_gate_hold(resp, g.mark, last - g.mark)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        goto done;
    }

    resp->streamed = !resp->failed;

    if (ngx_http_tokenroute_gate_release(resp) != NGX_OK) {
        return NGX_ERROR;
    }

    g.zend = last;

done:

    if (!g.linked && g.zstart != g.zend) {
        return ngx_http_tokenroute_gate_link(resp, &g);
    }

    if (!g.linked && g.shadow) {
        /*
         * Nothing passed on after a dropped event: the part before it
         * goes out in this buffer itself, so that its memory is not
         * reused before it is sent.
         */

        b->pos = g.shadow->buf->pos;
        b->last = g.shadow->buf->last;
        g.shadow->buf = b;

        return NGX_OK;
    }

    if (!g.linked) {
        b->pos = last;
    }

    return NGX_OK;
}


/*
 * An event ended, at tokenroute_sse_event_end(): verdict says whether it
 * is passed on, dropped or malformed.  Returns 0, or -1 to stop the
 * splitter (g->error tells an error from the end of the stream).
 */

int
ngx_http_tokenroute_sse_gate_event(ngx_http_tokenroute_ctx_t *ctx,
    ngx_uint_t verdict)
{
    u_char                          *end;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    end = (u_char *) tokenroute_sse_event_end(&resp->u.s.sse);

    /*
     * Most events: passed on, nothing held before them, not ending with
     * a CR: what ngx_http_tokenroute_gate_event() does with them, without
     * its frame.
     */

    if (verdict == NGX_HTTP_TOKENROUTE_EVENT_PASS && !resp->streamed
        && resp->hold_len == 0 && end[-1] != '\r')
    {
        resp->gate->zend = end;
        resp->gate->mark = end;
        return 0;
    }

    return ngx_http_tokenroute_gate_event(ctx, verdict, end);
}


static int
ngx_http_tokenroute_gate_event(ngx_http_tokenroute_ctx_t *ctx,
    ngx_uint_t verdict, u_char *end)
{
    ngx_http_tokenroute_gate_t      *g;
    ngx_http_tokenroute_response_t  *resp;

    static u_char  openai_error[] =
        "data: {\"error\":{\"message\":\"The provider sent a malformed "
        "stream event\",\"type\":\"server_error\",\"param\":null,"
        "\"code\":\"provider_stream_invalid\"}}\n\n";

    static u_char  anthropic_error[] =
        "event: error\ndata: {\"type\":\"error\",\"error\":"
        "{\"type\":\"api_error\",\"message\":\"The provider sent a "
        "malformed stream event\"}}\n\n";

    resp = ctx->resp;
    g = resp->gate;

    if (resp->streamed) {
        /* its first bytes are on their way: it can only follow them */
        resp->streamed = 0;
        verdict = NGX_HTTP_TOKENROUTE_EVENT_PASS;
    }

    /* a CR LF that ends the event goes with it, in this buffer or next */

    if (end[-1] == '\r') {
        if (end < g->last) {
            if (*end == '\n') {
                end++;
            }

        } else {
            resp->lf_due = 1;
            resp->lf_drop = (verdict == NGX_HTTP_TOKENROUTE_EVENT_DROP);
        }
    }

    switch (verdict) {

    case NGX_HTTP_TOKENROUTE_EVENT_PASS:

        /* the first event to end in the buffer: its start was held */

        if (ngx_http_tokenroute_gate_release(resp) != NGX_OK) {
            goto failed;
        }

        g->zend = end;

        break;

    case NGX_HTTP_TOKENROUTE_EVENT_DROP:

        resp->hold_len = 0;

        /*
         * Nothing is copied: what precedes goes out in a buffer pointing
         * into this one, and this one carries what follows, sent last.
         */

        if (g->zstart != g->zend
            && ngx_http_tokenroute_gate_shadow(resp, g) != NGX_OK)
        {
            goto failed;
        }

        g->zstart = end;
        g->zend = end;
        break;

    default: /* NGX_HTTP_TOKENROUTE_EVENT_BAD */

        ngx_log_error(NGX_LOG_ERR, resp->request->connection->log, 0,
                      "tokenroute: the stream of model \"%V\" has an event "
                      "that is not JSON: ended with an error event",
                      &ctx->model->id);

        resp->hold_len = 0;
        resp->stopped = 1;

        /* the stream is over for the client: not cut short again */
        resp->cut = 1;

        if (!g->linked && g->zstart != g->zend
            && ngx_http_tokenroute_gate_link(resp, g) != NGX_OK)
        {
            goto failed;
        }

        if (ctx->shape == TOKENROUTE_SHAPE_ANTHROPIC) {
            if (ngx_http_tokenroute_emit(resp, (char *) anthropic_error,
                                         sizeof(anthropic_error) - 1)
                != 0)
            {
                goto failed;
            }

        } else if (ngx_http_tokenroute_emit(resp, (char *) openai_error,
                                            sizeof(openai_error) - 1)
                   != 0)
        {
            goto failed;
        }

        return -1;
    }

    g->mark = end;

    return 0;

failed:

    g->error = 1;

    return -1;
}


/* the part of the input buffer passed on as it is, after what is out */

static ngx_int_t
ngx_http_tokenroute_gate_link(ngx_http_tokenroute_response_t *resp,
    ngx_http_tokenroute_gate_t *g)
{
    ngx_chain_t  *cl;

    cl = ngx_alloc_chain_link(resp->request->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    /*
     * The buffer stays its owner's: it is reused only once all of it is
     * sent.  The bytes cut off its end were copied, or are not sent.
     */

    g->buf->pos = g->zstart;
    g->buf->last = g->zend;
    g->linked = 1;

    cl->buf = g->buf;
    cl->next = NULL;

    *resp->last_out = cl;
    resp->last_out = &cl->next;

    return NGX_OK;
}


/*
 * The start of an event, held: in a buffer of ours (one sent before,
 * recycled), which is passed on as it is once the event is complete.
 * hold_len says how much of it is held: 0 drops it.
 */

static ngx_int_t
ngx_http_tokenroute_gate_hold(ngx_http_tokenroute_response_t *resp,
    u_char *p, size_t len)
{
    u_char       *n;
    size_t        size, need;
    ngx_buf_t    *b;
    ngx_pool_t   *pool;
    ngx_chain_t  *cl;

    pool = resp->request->pool;

    if (len > resp->hold_max - resp->hold_len) {
        return NGX_ERROR;
    }

    cl = resp->held;

    if (cl == NULL) {
        cl = ngx_chain_get_free_buf(pool, &resp->free);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->next = NULL;
        resp->held = cl;
        resp->hold_len = 0;
    }

    b = cl->buf;

    if (resp->hold_len == 0) {
        b->pos = b->start;
    }

    need = resp->hold_len + len;

    if (b->start == NULL || (size_t) (b->end - b->pos) < need) {

        size = ngx_max(need, 2 * (size_t) (b->end - b->start));
        size = ngx_max(size, 1024);

        n = ngx_palloc(pool, size);
        if (n == NULL) {
            return NGX_ERROR;
        }

        if (resp->hold_len) {
            ngx_memcpy(n, b->pos, resp->hold_len);
        }

        if (b->start) {
            /* a large one is freed; the pool's own stay */
            ngx_pfree(pool, b->start);
        }

        b->start = n;
        b->end = n + size;
        b->pos = n;
    }

    b->last = ngx_cpymem(b->pos + resp->hold_len, p, len);

    b->temporary = 1;
    b->flush = 0;
    b->last_buf = 0;
    b->last_in_chain = 0;
    b->tag = (ngx_buf_tag_t) &ngx_http_tokenroute_module;

    resp->hold_len = need;

    return NGX_OK;
}


/*
 * zstart..zend, before a dropped event, in a buffer of its own (memory,
 * not ours: its link is freed once sent) that points into the input
 * buffer; the input buffer goes out after it, so it is reused only once
 * both are sent.
 */

static ngx_int_t
ngx_http_tokenroute_gate_shadow(ngx_http_tokenroute_response_t *resp,
    ngx_http_tokenroute_gate_t *g)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_alloc_chain_link(resp->request->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = ngx_calloc_buf(resp->request->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = g->zstart;
    b->last = g->zend;
    b->memory = 1;

    cl->buf = b;
    cl->next = NULL;

    *resp->last_out = cl;
    resp->last_out = &cl->next;

    g->shadow = cl;

    return NGX_OK;
}


/* the held start of an event, passed on in its buffer */

static ngx_int_t
ngx_http_tokenroute_gate_release(ngx_http_tokenroute_response_t *resp)
{
    ngx_chain_t  *cl;

    if (resp->hold_len == 0) {
        return NGX_OK;
    }

    cl = resp->held;

    cl->buf->last = cl->buf->pos + resp->hold_len;
    cl->next = NULL;

    *resp->last_out = cl;
    resp->last_out = &cl->next;

    resp->held = NULL;
    resp->hold_len = 0;

    return NGX_OK;
}
