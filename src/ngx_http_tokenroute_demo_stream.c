
/*
 * Copyright (C) tokenroute authors
 *
 * The demo provider's streams: the response header, the timer that sends
 * the events, and the write handler for clients slower than the timer.
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

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_demo.h"


#define NGX_HTTP_TOKENROUTE_DEMO_DELAY        30


static void ngx_http_tokenroute_demo_timer_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_tokenroute_demo_send_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);
static void ngx_http_tokenroute_demo_writer(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_demo_watch_write(ngx_http_request_t *r);
static void ngx_http_tokenroute_demo_cleanup(void *data);


/*
 * Sends the header and the first event and arms the timer.  NGX_DONE:
 * the stream took its own reference on the request, and the timer
 * handler finalizes the request after the last event.
 */

ngx_int_t
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

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT) {
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
