
/*
 * Copyright (C) tokenroute authors
 *
 * The access-phase handler: a small state machine over the request ctx.
 *
 *   start      classify the endpoint, take the key, start reading the body
 *   body       (async) the body is in memory; scan it once
 *   lookup     (async) the key record arrives from Redis
 *   decide     reject with a JSON error in the client's shape, answer
 *              GET /v1/models, or publish the route for the proxy
 *
 * While parked, the handler returns NGX_DONE and the completion resumes
 * the phase engine, which re-enters here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


static ngx_int_t ngx_http_tokenroute_access_start(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_access_step(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_access_decide(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_route(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static void ngx_http_tokenroute_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_body_collect(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_reject(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *message);
static ngx_uint_t ngx_http_tokenroute_classify(ngx_http_request_t *r);


ngx_int_t
ngx_http_tokenroute_access_handler(ngx_http_request_t *r)
{
    ngx_http_tokenroute_ctx_t       *ctx;
    ngx_http_tokenroute_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tokenroute_module);

    if (!trlcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL) {
        return ngx_http_tokenroute_access_start(r);
    }

    if (ctx->decided) {
        return NGX_OK;
    }

    if (ctx->waiting_body || ctx->waiting_lookup) {
        return NGX_AGAIN;
    }

    return ngx_http_tokenroute_access_step(r, ctx);
}


static ngx_int_t
ngx_http_tokenroute_access_start(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_tokenroute_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tokenroute_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_tokenroute_module);

    ctx->api = ngx_http_tokenroute_classify(r);
    ctx->shape = ngx_http_tokenroute_shape_of(r);

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_UNKNOWN) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "unknown_endpoint",
                                          "Unknown API endpoint");
    }

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_MODELS) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                              "method_not_allowed",
                                              "Use GET on this endpoint");
        }

    } else if (r->method != NGX_HTTP_POST) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                          "method_not_allowed",
                                          "Use POST on this endpoint");
    }

    rc = ngx_http_tokenroute_key_extract(r, ctx);

    if (rc == NGX_DECLINED) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                   "missing_api_key",
                   "Missing API key: send \"Authorization: Bearer sk-tr-...\" "
                   "or \"x-api-key: sk-tr-...\"");
    }

    if (rc != NGX_OK) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                   "invalid_api_key",
                   "Malformed API key: tokenroute keys look like sk-tr-...");
    }

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_MODELS) {
        ctx->body_done = 1;
        return ngx_http_tokenroute_access_step(r, ctx);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_tokenroute_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_http_tokenroute_reject(r, ctx, rc, NULL, NULL);
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_AGAIN) {
        ctx->waiting_body = 1;
        return NGX_DONE;
    }

    /* the body was already read, the post handler ran inside the call */

    return ngx_http_tokenroute_access_step(r, ctx);
}


static void
ngx_http_tokenroute_body_handler(ngx_http_request_t *r)
{
    ngx_http_tokenroute_ctx_t  *ctx;

    /* balance the reference ngx_http_read_client_request_body() took */
    r->main->count--;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);
    if (ctx == NULL) {
        return;
    }

    ctx->body_done = 1;

    if (ctx->waiting_body) {
        ctx->waiting_body = 0;

        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }
}


static ngx_int_t
ngx_http_tokenroute_access_step(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    if (!ctx->body_done) {
        return NGX_AGAIN;
    }

    if (!ctx->lookup_started) {
        ctx->lookup_started = 1;

        if (ngx_http_tokenroute_key_lookup(r, ctx) != NGX_AGAIN) {
            return ngx_http_tokenroute_reject(r, ctx,
                       NGX_HTTP_SERVICE_UNAVAILABLE, "key_store_unavailable",
                       "The gateway cannot reach its key store; "
                       "retry shortly");
        }

        ctx->waiting_lookup = 1;

        /* notice a client that goes away while Redis answers */
        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_request_empty_handler;

        return NGX_DONE;
    }

    if (!ctx->lookup_done) {
        return NGX_AGAIN;
    }

    return ngx_http_tokenroute_access_decide(r, ctx);
}


static ngx_int_t
ngx_http_tokenroute_access_decide(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                           *p;
    ngx_str_t                         model;
    ngx_http_tokenroute_key_t        *key;
    tokenroute_request_status_e       st;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    u_char                            msg[TOKENROUTE_MODEL_MAX_LEN + 128];

    key = &ctx->key;

    if (ctx->redis_status != NGX_OK) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "key_store_unavailable",
                   "The gateway cannot reach its key store; retry shortly");
    }

    if (!key->found) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                          "invalid_api_key",
                                          "Invalid API key");
    }

    if (key->revoked) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                          "revoked_api_key",
                                          "This API key has been revoked");
    }

    if (key->expires_at && ngx_time() >= key->expires_at) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                          "expired_api_key",
                                          "This API key has expired");
    }

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_MODELS) {
        ngx_http_finalize_request(r, ngx_http_tokenroute_send_models(r, ctx));
        return NGX_DONE;
    }

    if (ngx_http_tokenroute_body_collect(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->body.len == 0) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request",
                                          "The request body is empty");
    }

    st = tokenroute_request_scan(ctx->body.data, ctx->body.len, &ctx->req);

    if (st == TOKENROUTE_REQUEST_BAD_FIELD) {
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "Invalid type for \"%s\"", ctx->req.bad_field);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request", (char *) msg);
    }

    if (st == TOKENROUTE_REQUEST_NO_MEMORY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st != TOKENROUTE_REQUEST_OK) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                   st == TOKENROUTE_REQUEST_INVALID_JSON
                   ? "invalid_json" : "invalid_request",
                   tokenroute_request_strerror(st));
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    ctx->model = ngx_http_tokenroute_find_model(trmcf,
                                                (u_char *) ctx->req.model,
                                                ctx->req.model_len);

    if (ctx->model == NULL) {
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "The model \"%s\" does not exist", ctx->req.model);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "model_not_found", (char *) msg);
    }

    model = ctx->model->id;

    if (ngx_http_tokenroute_key_allows_model(key, &model) != NGX_OK) {
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "This API key may not use the model \"%V\"", &model);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_FORBIDDEN,
                                          "model_not_allowed", (char *) msg);
    }

    return ngx_http_tokenroute_route(r, ctx);
}


/* publishes the upstream, URI and rewritten body for the proxy */

static ngx_int_t
ngx_http_tokenroute_route(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                          *p;
    size_t                           size;
    ngx_str_t                        endpoint;
    ngx_uint_t                       type;
    tokenroute_rewrite_t             rw;
    ngx_http_tokenroute_model_t     *m;
    ngx_http_tokenroute_provider_t  *prov;

    m = ctx->model;
    prov = m->provider;

    type = (ctx->api == NGX_HTTP_TOKENROUTE_API_CHAT)
           ? NGX_HTTP_TOKENROUTE_OPENAI : NGX_HTTP_TOKENROUTE_ANTHROPIC;

    if (prov->type != type) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                   "unsupported_route",
                   prov->type == NGX_HTTP_TOKENROUTE_ANTHROPIC
                   ? "This model is served by an Anthropic-type provider: "
                     "call it on /v1/messages"
                   : "This model is served by an OpenAI-type provider: "
                     "call it on /v1/chat/completions");
    }

    if (type == NGX_HTTP_TOKENROUTE_OPENAI) {
        ngx_str_set(&endpoint, "/chat/completions");

    } else {
        ngx_str_set(&endpoint, "/messages");
    }

    ctx->upstream_uri.len = prov->base_path.len + endpoint.len;
    ctx->upstream_uri.data = ngx_pnalloc(r->pool, ctx->upstream_uri.len);
    if (ctx->upstream_uri.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(ctx->upstream_uri.data, prov->base_path.data,
                   prov->base_path.len);
    ngx_memcpy(p, endpoint.data, endpoint.len);

    rw.model = (const char *) m->upstream_model.data;
    rw.model_len = m->upstream_model.len;

    /* the provider's own usage report is what a stream is charged from */
    rw.include_usage = (ctx->req.stream && type == NGX_HTTP_TOKENROUTE_OPENAI);

    size = tokenroute_request_rewrite_size(ctx->body.len, &ctx->req, &rw);

    ctx->upstream_body.data = ngx_pnalloc(r->pool, size);
    if (ctx->upstream_body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->upstream_body.len = tokenroute_request_rewrite(ctx->body.data,
                                                        ctx->body.len,
                                                        &ctx->req, &rw,
                                                        ctx->upstream_body.data);

    ctx->decided = 1;

    return NGX_OK;
}


/* the body as one contiguous buffer, wherever nginx put it */

static ngx_int_t
ngx_http_tokenroute_body_collect(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ngx_str_null(&ctx->body);
        return NGX_OK;
    }

    cl = r->request_body->bufs;
    b = cl->buf;

    if (cl->next == NULL && !b->in_file) {
        ctx->body.data = b->pos;
        ctx->body.len = b->last - b->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->body.data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    ctx->body.len = p - ctx->body.data;

    return NGX_OK;
}


/* rejections end the request here: NGX_DONE tells the phase engine so */

static ngx_int_t
ngx_http_tokenroute_reject(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *message)
{
    ngx_int_t  rc;

    rc = ngx_http_tokenroute_send_error(r, ctx->shape, status, code, message);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_uint_t
ngx_http_tokenroute_classify(ngx_http_request_t *r)
{
    u_char  *p, *last;

    last = r->uri.data + r->uri.len;

    /* tolerate a trailing slash, as the SDKs' base URL joining may add */
    while (last > r->uri.data && last[-1] == '/') {
        last--;
    }

    p = ngx_strlchr(r->uri.data + 1, last, '/');

    /* a single version segment: /v1/... */

    if (p == NULL) {
        return NGX_HTTP_TOKENROUTE_API_UNKNOWN;
    }

    switch (last - p) {

    case sizeof("/chat/completions") - 1:
        if (ngx_strncmp(p, "/chat/completions",
                        sizeof("/chat/completions") - 1) == 0)
        {
            return NGX_HTTP_TOKENROUTE_API_CHAT;
        }

        break;

    case sizeof("/messages") - 1:
        if (ngx_strncmp(p, "/messages", sizeof("/messages") - 1) == 0) {
            return NGX_HTTP_TOKENROUTE_API_MESSAGES;
        }

        break;

    case sizeof("/models") - 1:
        if (ngx_strncmp(p, "/models", sizeof("/models") - 1) == 0) {
            return NGX_HTTP_TOKENROUTE_API_MODELS;
        }

        break;
    }

    return NGX_HTTP_TOKENROUTE_API_UNKNOWN;
}
