
/*
 * Copyright (C) tokenroute authors
 *
 * The tokenroute_metrics and tokenroute_health content handlers, and the
 * log-phase handler that counts each request.  The metrics are rendered
 * by ngx_http_tokenroute_metrics_prom.c; health is a small JSON object
 * from this worker's Redis state and the journal's fill, with no Redis
 * round trip of its own.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_fallback.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_metrics_out.h"
#include "ngx_http_tokenroute_metrics_prom.h"
#include "ngx_http_tokenroute_redis.h"


/* Redis answered within this long: see README, tokenroute_health */
#define NGX_HTTP_TOKENROUTE_REDIS_FRESH  5000

static ngx_int_t ngx_http_tokenroute_metrics_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_health_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_send_text(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_chain_t *out);


ngx_int_t
ngx_http_tokenroute_metrics_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_tokenroute_metrics_zone(cf, trmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* after settlement's handler, which finalizes the usage counted */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_tokenroute_metrics_log;

    return NGX_OK;
}


/* every request of a tokenroute location, whatever path it took */

static ngx_int_t
ngx_http_tokenroute_metrics_log(ngx_http_request_t *r)
{
    ngx_http_tokenroute_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL) {
        /* an error_page elsewhere wiped it */
        ctx = ngx_http_tokenroute_recover_ctx(r);

        if (ctx == NULL) {
            return NGX_OK;
        }
    }

    ngx_http_tokenroute_metrics_request(r, ctx);

    return NGX_OK;
}


char *
ngx_http_tokenroute_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tokenroute_metrics_handler;

    return NGX_CONF_OK;
}


char *
ngx_http_tokenroute_health_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tokenroute_health_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tokenroute_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       type;
    ngx_chain_t                    *out;
    ngx_http_tokenroute_metrics_t  *m;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    out = NULL;
    m = ngx_http_tokenroute_metrics_get();

    if (m && ngx_http_tokenroute_metrics_prom(r, m, &out) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&type, "text/plain; version=0.0.4");

    return ngx_http_tokenroute_send_text(r, NGX_HTTP_OK, &type, out);
}


/*
 * Health: "ok" when this worker's Redis connection is up and answered
 * lately and the journal has room for one more settlement.  Sent as a
 * response of its own (a 503 must not go to an error_page).
 */

static ngx_int_t
ngx_http_tokenroute_health_handler(ngx_http_request_t *r)
{
    u_char                               *d;
    ngx_buf_t                            *b;
    ngx_int_t                             rc;
    ngx_str_t                             type;
    ngx_uint_t                            up, ok;
    ngx_chain_t                           out;
    ngx_http_tokenroute_journal_stats_t   js;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    up = ngx_http_tokenroute_redis_ready()
         && ngx_current_msec - ngx_http_tokenroute_metrics_redis_answered()
            <= NGX_HTTP_TOKENROUTE_REDIS_FRESH;
    ngx_http_tokenroute_journal_stats(&js);

    ok = up && !js.full;

    b = ngx_create_temp_buf(r->pool, 256);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    d = ngx_slprintf(b->last, b->end,
                     "{\"status\":\"%s\",\"redis\":\"%s\","
                     "\"journal\":{\"entries\":%ui,\"bytes\":%uz,"
                     "\"capacity\":%uz,\"full\":%s}}\n",
                     ok ? "ok" : "fail", up ? "up" : "down", js.entries,
                     js.bytes, js.capacity, js.full ? "true" : "false");
    b->last = d;

    out.buf = b;
    out.next = NULL;

    ngx_str_set(&type, "application/json");

    return ngx_http_tokenroute_send_text(r, ok ? NGX_HTTP_OK
                                               : NGX_HTTP_SERVICE_UNAVAILABLE,
                                         &type, &out);
}


static ngx_int_t
ngx_http_tokenroute_send_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_chain_t *out)
{
    off_t             len;
    ngx_int_t         rc;
    ngx_chain_t      *cl;
    ngx_table_elt_t  *h;

    len = 0;

    for (cl = out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
        cl->buf->last_buf = (cl->next == NULL);
        cl->buf->last_in_chain = (cl->next == NULL);
    }

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = len;

    /* a check every second: nothing to cache on the way */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (out == NULL) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    return ngx_http_output_filter(r, out);
}
