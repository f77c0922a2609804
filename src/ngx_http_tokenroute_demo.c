
/*
 * Copyright (C) tokenroute authors
 *
 * The built-in demo provider, "tokenroute_demo_provider": a content
 * handler that answers POST .../chat/completions like OpenAI and
 * POST .../messages like Anthropic, streaming included, so that a gateway
 * can be tried offline.  It needs neither Redis nor "tokenroute on".
 *
 * This file: the directive, the content handler, reading and checking the
 * request, and the dispatch to a complete answer
 * (ngx_http_tokenroute_demo_answer.c) or a stream
 * (ngx_http_tokenroute_demo_stream.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_parse.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_demo.h"
#include "ngx_http_tokenroute_error.h"
#include "ngx_http_tokenroute_request.h"


/* finds the top-level "stream_options": {"include_usage": true} */

typedef struct {
    ngx_uint_t           depth;
    unsigned             options_key:1;
    unsigned             in_options:1;
    unsigned             include_key:1;
    unsigned             include_usage:1;
} ngx_http_tokenroute_demo_scan_t;


static ngx_int_t ngx_http_tokenroute_demo_handler(ngx_http_request_t *r);
static void ngx_http_tokenroute_demo_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_demo_respond(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_demo_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_tokenroute_demo_bad_request(ngx_http_request_t *r,
    ngx_uint_t shape, tokenroute_request_status_e st,
    tokenroute_request_t *req);
static ngx_uint_t ngx_http_tokenroute_demo_classify(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_demo_include_usage(u_char *body,
    size_t len, ngx_uint_t *include_usage);

static int ngx_http_tokenroute_demo_json_null(void *ctx);
static int ngx_http_tokenroute_demo_json_boolean(void *ctx, int value);
static int ngx_http_tokenroute_demo_json_number(void *ctx, const char *s,
    size_t len);
static int ngx_http_tokenroute_demo_json_string(void *ctx,
    const unsigned char *s, size_t len);
static int ngx_http_tokenroute_demo_json_start_map(void *ctx);
static int ngx_http_tokenroute_demo_json_map_key(void *ctx,
    const unsigned char *key, size_t len);
static int ngx_http_tokenroute_demo_json_end_map(void *ctx);
static int ngx_http_tokenroute_demo_json_start_array(void *ctx);
static int ngx_http_tokenroute_demo_json_end_array(void *ctx);


static const yajl_callbacks  ngx_http_tokenroute_demo_json_callbacks = {
    ngx_http_tokenroute_demo_json_null,
    ngx_http_tokenroute_demo_json_boolean,
    NULL,
    NULL,
    ngx_http_tokenroute_demo_json_number,
    ngx_http_tokenroute_demo_json_string,
    ngx_http_tokenroute_demo_json_start_map,
    ngx_http_tokenroute_demo_json_map_key,
    ngx_http_tokenroute_demo_json_end_map,
    ngx_http_tokenroute_demo_json_start_array,
    ngx_http_tokenroute_demo_json_end_array
};


char *
ngx_http_tokenroute_demo_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_tokenroute_demo_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tokenroute_demo_handler(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_uint_t        endpoint, shape;
    ngx_table_elt_t  *h;

    endpoint = ngx_http_tokenroute_demo_classify(r);

    if (endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_UNKNOWN) {
        return ngx_http_tokenroute_send_error(r,
                                              ngx_http_tokenroute_shape_of(r),
                                              NGX_HTTP_NOT_FOUND,
                                              "unknown_endpoint",
                                              "Unknown API endpoint");
    }

    shape = (endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT)
            ? TOKENROUTE_SHAPE_OPENAI : TOKENROUTE_SHAPE_ANTHROPIC;

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_tokenroute_send_error(r, shape, NGX_HTTP_NOT_ALLOWED,
                                              "method_not_allowed",
                                              "Use POST on this endpoint");
    }

    rc = ngx_http_read_client_request_body(r,
                                       ngx_http_tokenroute_demo_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_http_tokenroute_send_error(r, shape, rc, NULL, NULL);
    }

    /*
     * ngx_http_read_client_request_body() took a reference for the body
     * handler, which answers and finalizes (maybe it already has)
     */

    return NGX_DONE;
}


static void
ngx_http_tokenroute_demo_body_handler(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_tokenroute_demo_respond(r));
}


static ngx_int_t
ngx_http_tokenroute_demo_respond(ngx_http_request_t *r)
{
    u_char                          *p;
    size_t                           len;
    ngx_str_t                        body;
    ngx_uint_t                       endpoint, shape, include_usage;
    tokenroute_request_t             req;
    tokenroute_request_status_e      st;
    ngx_http_tokenroute_demo_ctx_t  *ctx;

    endpoint = ngx_http_tokenroute_demo_classify(r);

    shape = (endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT)
            ? TOKENROUTE_SHAPE_OPENAI : TOKENROUTE_SHAPE_ANTHROPIC;

    switch (ngx_http_tokenroute_demo_body(r, &body)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return ngx_http_tokenroute_send_error(r, shape,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                   "The demo provider reads request bodies in memory only: "
                   "raise client_body_buffer_size");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = tokenroute_request_scan(body.data, body.len, &req);

    if (st == TOKENROUTE_REQUEST_NO_MEMORY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st != TOKENROUTE_REQUEST_OK) {
        return ngx_http_tokenroute_demo_bad_request(r, shape, st, &req);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tokenroute_demo_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->state = NGX_HTTP_TOKENROUTE_DEMO_HEAD;
     *     ctx->include_usage = 0;
     *
     * the ctx is not published with ngx_http_set_ctx(): the module's slot
     * holds the gateway's ngx_http_tokenroute_ctx_t, which its header
     * filter reads on every request of this nginx
     */

    ctx->request = r;
    ctx->endpoint = endpoint;
    ctx->created = ngx_time();

    ctx->id.data = ngx_pnalloc(r->pool, sizeof("chatcmpl-demo") - 1 + 16);
    if (ctx->id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(ctx->id.data, "%s%08xD%08xD",
                    endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT
                    ? "chatcmpl-demo" : "msg_demo",
                    (uint32_t) ngx_random(), (uint32_t) ngx_random());
    ctx->id.len = p - ctx->id.data;

    len = req.model_len + ngx_escape_json(NULL, (u_char *) req.model,
                                          req.model_len);

    ctx->model.data = ngx_pnalloc(r->pool, len);
    if (ctx->model.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->model.len = len;
    (void) ngx_escape_json(ctx->model.data, (u_char *) req.model,
                           req.model_len);

    /* about four bytes a token, as the providers' rule of thumb has it */
    ctx->prompt_tokens = ngx_max(body.len / 4, 1);

    ngx_http_tokenroute_demo_text(ctx, req.max_tokens);

    if (!req.stream) {
        return ngx_http_tokenroute_demo_complete(r, ctx);
    }

    if (endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT) {
        if (ngx_http_tokenroute_demo_include_usage(body.data, body.len,
                                                   &include_usage)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->include_usage = include_usage;
    }

    return ngx_http_tokenroute_demo_stream(r, ctx);
}


/*
 * The body as one contiguous piece of memory.  NGX_DECLINED: some of it
 * went to a temporary file.
 */

static ngx_int_t
ngx_http_tokenroute_demo_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len, size;
    ngx_buf_t    *b;
    ngx_uint_t    n;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    len = 0;
    n = 0;
    b = NULL;

    /* a chunked body ends with an empty buffer, its pos may be NULL */

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return NGX_DECLINED;
        }

        size = cl->buf->last - cl->buf->pos;

        if (size) {
            b = cl->buf;
            len += size;
            n++;
        }
    }

    if (n < 2) {
        if (b != NULL) {
            body->data = b->pos;
            body->len = len;
        }

        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size = cl->buf->last - cl->buf->pos;

        if (size) {
            p = ngx_cpymem(p, cl->buf->pos, size);
        }
    }

    body->len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_demo_bad_request(ngx_http_request_t *r, ngx_uint_t shape,
    tokenroute_request_status_e st, tokenroute_request_t *req)
{
    u_char  *p;

    u_char   msg[64];

    if (st == TOKENROUTE_REQUEST_BAD_FIELD) {
        p = ngx_snprintf(msg, sizeof(msg) - 1, "Invalid type for \"%s\"",
                         req->bad_field);
        *p = '\0';

        return ngx_http_tokenroute_send_error(r, shape, NGX_HTTP_BAD_REQUEST,
                                              "invalid_request",
                                              (char *) msg);
    }

    return ngx_http_tokenroute_send_error(r, shape, NGX_HTTP_BAD_REQUEST,
                                          st == TOKENROUTE_REQUEST_INVALID_JSON
                                          ? "invalid_json"
                                          : "invalid_request",
                                          tokenroute_request_strerror(st));
}


/*
 * The gateway's endpoint table, matched as a provider sees its endpoint:
 * at the end of the URI, after whatever path its base URL has.  Only the
 * two endpoints that generate are answered, the others are unknown here.
 */

static ngx_uint_t
ngx_http_tokenroute_demo_classify(ngx_http_request_t *r)
{
    ngx_uint_t  endpoint;

    endpoint = ngx_http_tokenroute_classify(r, NULL, 1);

    if (endpoint != NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT
        && endpoint != NGX_HTTP_TOKENROUTE_ENDPOINT_MESSAGES)
    {
        return NGX_HTTP_TOKENROUTE_ENDPOINT_UNKNOWN;
    }

    return endpoint;
}


/*
 * A second pass over a body tokenroute_request_scan() has accepted, for
 * what only OpenAI streams need.  The handle lives within this call.
 */

static ngx_int_t
ngx_http_tokenroute_demo_include_usage(u_char *body, size_t len,
    ngx_uint_t *include_usage)
{
    yajl_handle                      h;
    ngx_http_tokenroute_demo_scan_t  s;

    ngx_memzero(&s, sizeof(ngx_http_tokenroute_demo_scan_t));

    h = yajl_alloc(&ngx_http_tokenroute_demo_json_callbacks, NULL, &s);
    if (h == NULL) {
        return NGX_ERROR;
    }

    if (yajl_parse(h, body, len) == yajl_status_ok) {
        (void) yajl_complete_parse(h);
    }

    yajl_free(h);

    *include_usage = s.include_usage;

    return NGX_OK;
}


static int
ngx_http_tokenroute_demo_json_null(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    s->options_key = 0;
    s->include_key = 0;

    return 1;
}


static int
ngx_http_tokenroute_demo_json_boolean(void *ctx, int value)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    /* the last of duplicate keys wins, as in most JSON parsers */

    if (s->include_key) {
        s->include_usage = value ? 1 : 0;
    }

    s->options_key = 0;
    s->include_key = 0;

    return 1;
}


static int
ngx_http_tokenroute_demo_json_number(void *ctx, const char *str, size_t len)
{
    return ngx_http_tokenroute_demo_json_null(ctx);
}


static int
ngx_http_tokenroute_demo_json_string(void *ctx, const unsigned char *str,
    size_t len)
{
    return ngx_http_tokenroute_demo_json_null(ctx);
}


static int
ngx_http_tokenroute_demo_json_start_map(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    if (s->depth == 1 && s->options_key) {
        s->in_options = 1;
    }

    s->depth++;
    s->options_key = 0;
    s->include_key = 0;

    return 1;
}


static int
ngx_http_tokenroute_demo_json_map_key(void *ctx, const unsigned char *key,
    size_t len)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    s->options_key = (s->depth == 1
                      && len == sizeof("stream_options") - 1
                      && ngx_strncmp(key, "stream_options", len) == 0);

    s->include_key = (s->depth == 2 && s->in_options
                      && len == sizeof("include_usage") - 1
                      && ngx_strncmp(key, "include_usage", len) == 0);

    return 1;
}


static int
ngx_http_tokenroute_demo_json_end_map(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    s->depth--;

    if (s->depth == 1) {
        s->in_options = 0;
    }

    return 1;
}


static int
ngx_http_tokenroute_demo_json_start_array(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    /* arrays only nest values that are never looked at */

    s->depth++;
    s->options_key = 0;
    s->include_key = 0;

    return 1;
}


static int
ngx_http_tokenroute_demo_json_end_array(void *ctx)
{
    ngx_http_tokenroute_demo_scan_t  *s = ctx;

    s->depth--;

    return 1;
}
