
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
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_money.h"

#include <openssl/rand.h>


static ngx_int_t ngx_http_tokenroute_access_start(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_access_step(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_access_decide(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static void ngx_http_tokenroute_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_body_collect(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_reject(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *message);
static ngx_int_t ngx_http_tokenroute_request_id(u_char *id);
static ngx_int_t ngx_http_tokenroute_prepare(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static void ngx_http_tokenroute_op_cleanup(void *data);
static ngx_int_t ngx_http_tokenroute_translate(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


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
        /* an attempt failed and error_page brought the request here */

        ctx = ngx_http_tokenroute_recover_ctx(r);

        if (ctx && ctx->decided) {
            return ngx_http_tokenroute_fallback(r, ctx);
        }

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

    ctx = ngx_palloc(r->pool, sizeof(ngx_http_tokenroute_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * All zero but the request scan's character arrays, which hold only
     * what the scan wrote (see tokenroute_request.h): clearing the whole
     * ctx cost more than the scan.
     */

    ngx_memzero(ctx, offsetof(ngx_http_tokenroute_ctx_t, req));
    ngx_memzero(&ctx->req.model_len,
                offsetof(tokenroute_request_t, models)
                - offsetof(tokenroute_request_t, model_len));
    ctx->req.model[0] = '\0';
    ctx->req.bad_field = NULL;

    ngx_http_set_ctx(r, ctx, ngx_http_tokenroute_module);

    ctx->t_start = ngx_http_tokenroute_usec();

    if (ngx_http_tokenroute_keep_ctx(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_tokenroute_request_id(ctx->request_id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->api = ngx_http_tokenroute_classify(r, ctx, 0);
    ctx->shape = ngx_http_tokenroute_shape_of(r);

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_UNKNOWN) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "unknown_endpoint",
                                          "Unknown API endpoint");
    }

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_MODELS
        || ctx->api == NGX_HTTP_TOKENROUTE_API_MODEL)
    {
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

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_MODELS
        || ctx->api == NGX_HTTP_TOKENROUTE_API_MODEL)
    {
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
    ngx_int_t  rc;

    if (!ctx->body_done) {
        return NGX_AGAIN;
    }

    if (!ctx->lookup_started) {
        ctx->lookup_started = 1;

        /*
         * A request that can be routed is admitted in one round trip:
         * key check and reservation.  Anything else only has its key
         * checked, so that a bad key is reported before a bad body.
         */

        rc = ngx_http_tokenroute_prepare(r, ctx);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            rc = ngx_http_tokenroute_admit(r, ctx);

        } else {
            rc = ngx_http_tokenroute_key_lookup(r, ctx);
        }

        if (rc != NGX_AGAIN) {
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


/*
 * Everything that can be known without Redis: the body, the model, the
 * route.  NGX_OK: ready for admission; NGX_DECLINED: the request will be
 * rejected once the key is checked.
 */

static ngx_int_t
ngx_http_tokenroute_prepare(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_MODELS
        || ctx->api == NGX_HTTP_TOKENROUTE_API_MODEL)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_tokenroute_body_collect(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->body.len == 0) {
        ctx->req_status = TOKENROUTE_REQUEST_INVALID_JSON;
        return NGX_DECLINED;
    }

    ctx->req_status = tokenroute_request_scan(ctx->body.data, ctx->body.len,
                                              &ctx->req);

    if (ctx->req_status == TOKENROUTE_REQUEST_NO_MEMORY) {
        return NGX_ERROR;
    }

    if (ctx->req_status != TOKENROUTE_REQUEST_OK) {
        return NGX_DECLINED;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    ctx->model = ngx_http_tokenroute_find_model(trmcf,
                                                (u_char *) ctx->req.model,
                                                ctx->req.model_len);
    if (ctx->model == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_tokenroute_build_chain(r, ctx);

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ctx->route_status = NGX_HTTP_NOT_FOUND;
        }

        return rc;
    }

    if (ngx_http_tokenroute_route(r, ctx) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* counting tokens costs nothing: the key is checked, nothing reserved */

    return (ctx->api == NGX_HTTP_TOKENROUTE_API_COUNT_TOKENS) ? NGX_DECLINED
                                                              : NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_access_decide(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                      *p;
    ngx_str_t                    model;
    ngx_http_tokenroute_key_t   *key;
    u_char                       left[TOKENROUTE_MONEY_BUF_LEN];
    u_char                       cost[TOKENROUTE_MONEY_BUF_LEN];
    u_char                       msg[TOKENROUTE_MODEL_MAX_LEN + 160];

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

    if (key->expired) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                          "expired_api_key",
                                          "This API key has expired");
    }

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_MODELS) {
        ngx_http_finalize_request(r, ngx_http_tokenroute_send_models(r, ctx));
        return NGX_DONE;
    }

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_MODEL) {
        ngx_http_finalize_request(r, ngx_http_tokenroute_send_model(r, ctx));
        return NGX_DONE;
    }

    if (ctx->req_status == TOKENROUTE_REQUEST_BAD_FIELD) {
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "Invalid type for \"%s\"", ctx->req.bad_field);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request", (char *) msg);
    }

    if (ctx->req_status != TOKENROUTE_REQUEST_OK) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                   ctx->req_status == TOKENROUTE_REQUEST_INVALID_JSON
                   ? "invalid_json" : "invalid_request",
                   ctx->body.len ? tokenroute_request_strerror(ctx->req_status)
                                 : "The request body is empty");
    }

    if (ctx->model == NULL) {
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "The model \"%s\" does not exist", ctx->req.model);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "model_not_found", (char *) msg);
    }

    if (ctx->route_status == NGX_HTTP_NOT_FOUND) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "model_not_found",
                                          ctx->route_error);
    }

    if (ctx->upstream_body.data == NULL) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                                          ctx->route_status
                                          ? "unsupported_field"
                                          : "unsupported_route",
                                          ctx->route_error);
    }

    model = ctx->model->id;

    if (ctx->api == NGX_HTTP_TOKENROUTE_API_COUNT_TOKENS) {
        if (ngx_http_tokenroute_key_allows_model(key, &model) != NGX_OK) {
            ctx->admit = NGX_HTTP_TOKENROUTE_ADMIT_FORBIDDEN;

        } else {
            ctx->decided = 1;
            return NGX_OK;
        }
    }

    switch (ctx->admit) {

    case NGX_HTTP_TOKENROUTE_ADMIT_OK:

        /* skip what cools down or what this key may not use */

        if (ngx_http_tokenroute_choose(r, ctx, 0) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->attempts = 1;
        ctx->decided = 1;
        ctx->t_decided = ngx_http_tokenroute_usec();
        return NGX_OK;

    case NGX_HTTP_TOKENROUTE_ADMIT_FORBIDDEN:
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "This API key may not use the model \"%V\"", &model);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_FORBIDDEN,
                                          "model_not_allowed", (char *) msg);

    case NGX_HTTP_TOKENROUTE_ADMIT_CREDIT:
        tokenroute_money_format_usd(ctx->available, (char *) left,
                                    sizeof(left));
        tokenroute_money_format_usd(ctx->reserve, (char *) cost,
                                    sizeof(cost));

        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "Insufficient credit in account \"%V\": %s USD "
                         "available, this request may cost up to %s USD",
                         &key->account, left, cost);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_TOKENROUTE_PAYMENT_REQUIRED,
                                          "insufficient_credit",
                                          (char *) msg);

    case NGX_HTTP_TOKENROUTE_ADMIT_LIMIT:
        tokenroute_money_format_usd(ctx->available, (char *) left,
                                    sizeof(left));
        tokenroute_money_format_usd(ctx->reserve, (char *) cost,
                                    sizeof(cost));

        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "This API key's spend limit is reached: %s USD "
                         "left of its limit, this request may cost up to "
                         "%s USD", left, cost);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_TOKENROUTE_PAYMENT_REQUIRED,
                                          "key_limit_reached", (char *) msg);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* publishes the upstream, URI and rewritten body for the proxy */

ngx_int_t
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
    type = prov->type;

    switch (ctx->api) {

    case NGX_HTTP_TOKENROUTE_API_CHAT:
    case NGX_HTTP_TOKENROUTE_API_MESSAGES:
        if (type == NGX_HTTP_TOKENROUTE_OPENAI) {
            ngx_str_set(&endpoint, "/chat/completions");

        } else {
            ngx_str_set(&endpoint, "/messages");
        }

        ctx->translate = (type != ctx->shape);

        break;

    case NGX_HTTP_TOKENROUTE_API_COUNT_TOKENS:
        if (type != NGX_HTTP_TOKENROUTE_ANTHROPIC) {
            ctx->route_error = "Token counting is available for models of "
                               "Anthropic-type providers only";
            return NGX_DECLINED;
        }

        ngx_str_set(&endpoint, "/messages/count_tokens");
        break;

    default: /* NGX_HTTP_TOKENROUTE_API_EMBEDDINGS */
        if (type != NGX_HTTP_TOKENROUTE_OPENAI) {
            ctx->route_error = "Embeddings are available for models of "
                               "OpenAI-type providers only";
            return NGX_DECLINED;
        }

        ngx_str_set(&endpoint, "/embeddings");
        break;
    }

    ctx->upstream_uri.len = prov->base_path.len + endpoint.len;
    ctx->upstream_uri.data = ngx_pnalloc(r->pool, ctx->upstream_uri.len);
    if (ctx->upstream_uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->upstream_uri.data, prov->base_path.data,
                   prov->base_path.len);
    ngx_memcpy(p, endpoint.data, endpoint.len);

    if (ctx->translate) {
        return ngx_http_tokenroute_translate(r, ctx);
    }

    rw.model = (const char *) m->upstream_model.data;
    rw.model_len = m->upstream_model.len;

    /* the provider's own usage report is what a stream is charged from */
    rw.include_usage = (ctx->req.stream
                        && ctx->api == NGX_HTTP_TOKENROUTE_API_CHAT);
    rw.drop_models = 1;

    size = tokenroute_request_rewrite_size(ctx->body.len, &ctx->req, &rw);

    ctx->upstream_body.data = ngx_pnalloc(r->pool, size);
    if (ctx->upstream_body.data == NULL) {
        return NGX_ERROR;
    }

    ctx->upstream_body.len = tokenroute_request_rewrite(ctx->body.data,
                                                        ctx->body.len,
                                                        &ctx->req, &rw,
                                                        ctx->upstream_body.data);

    return NGX_OK;
}


/*
 * The request body in the provider's shape.  A body that cannot be
 * translated is rejected with the translator's message, which names the
 * field.
 */

static ngx_int_t
ngx_http_tokenroute_translate(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int                               rc, from, to;
    size_t                            len;
    u_char                           *out, *msg;
    ngx_pool_cleanup_t               *cln;
    tokenroute_translate_opts_t       opts;
    ngx_http_tokenroute_main_conf_t  *trmcf;
    char                              err[256];

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    from = (ctx->shape == NGX_HTTP_TOKENROUTE_ANTHROPIC)
           ? TOKENROUTE_API_ANTHROPIC : TOKENROUTE_API_OPENAI;
    to = (from == TOKENROUTE_API_ANTHROPIC)
         ? TOKENROUTE_API_OPENAI : TOKENROUTE_API_ANTHROPIC;

    opts.model = (const char *) ctx->model->upstream_model.data;
    opts.model_len = ctx->model->upstream_model.len;
    opts.default_max_tokens = trmcf->default_max_tokens;

    /* the provider's own usage report is what a stream is charged from */
    opts.include_usage = ctx->req.stream;

    err[0] = '\0';
    out = NULL;

    rc = tokenroute_translate_request(from, to, ctx->body.data,
                                      ctx->body.len, &opts, &out, &len,
                                      err, sizeof(err));

    if (rc == -2) {
        return NGX_ERROR;
    }

    if (rc != 0) {
        len = ngx_strlen(err);

        msg = ngx_pnalloc(r->pool, len + 1);
        if (msg == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(msg, err, len + 1);

        ctx->route_error = (char *) msg;
        ctx->route_status = NGX_HTTP_BAD_REQUEST;

        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        free(out);
        return NGX_ERROR;
    }

    cln->handler = free;
    cln->data = out;

    ctx->upstream_body.data = out;
    ctx->upstream_body.len = len;

    return NGX_OK;
}


/*
 * Request ids settle requests idempotently across a fleet, so they must
 * not repeat: 8 random bytes drawn once per worker, then a counter.  A
 * draw per request would cost more than the rest of the id's uses.
 */

static ngx_int_t
ngx_http_tokenroute_request_id(u_char *id)
{
    u_char           *p;
    uint32_t          n;
    ngx_uint_t        i;
    u_char            rnd[8];

    static uint32_t   counter;
    static u_char     prefix[16];
    static ngx_uint_t drawn;

    if (!drawn) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            return NGX_ERROR;
        }

        ngx_hex_dump(prefix, rnd, sizeof(rnd));
        drawn = 1;
    }

    p = ngx_cpymem(id, prefix, sizeof(prefix));

    n = counter++;

    /* "%08xD", without ngx_sprintf's cost on every request */

    for (i = 8; i-- > 0; n >>= 4) {
        p[i] = "0123456789abcdef"[n & 0xf];
    }

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


typedef struct {
    ngx_str_t     path;
    ngx_uint_t    api;
} ngx_http_tokenroute_endpoint_t;


static ngx_http_tokenroute_endpoint_t  ngx_http_tokenroute_endpoints[] = {
    { ngx_string("/chat/completions"), NGX_HTTP_TOKENROUTE_API_CHAT },
    { ngx_string("/messages"), NGX_HTTP_TOKENROUTE_API_MESSAGES },
    { ngx_string("/messages/count_tokens"),
      NGX_HTTP_TOKENROUTE_API_COUNT_TOKENS },
    { ngx_string("/embeddings"), NGX_HTTP_TOKENROUTE_API_EMBEDDINGS },
    { ngx_string("/models"), NGX_HTTP_TOKENROUTE_API_MODELS },
    { ngx_null_string, 0 }
};


/*
 * The endpoint is what follows the version segment: /v1/chat/completions.
 * With "suffix", it is what the URI ends with, after any path, as a
 * provider behind a base URL sees it (the demo provider): no trailing
 * slash, no /models/{id}, and ctx is not used, it may be NULL.
 */

ngx_uint_t
ngx_http_tokenroute_classify(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t suffix)
{
    u_char                          *p, *last;
    size_t                           len;
    ngx_http_tokenroute_endpoint_t  *e;

    last = r->uri.data + r->uri.len;

    if (suffix) {
        for (e = ngx_http_tokenroute_endpoints; e->path.len; e++) {
            if (r->uri.len >= e->path.len
                && ngx_strncmp(last - e->path.len, e->path.data,
                               e->path.len)
                   == 0)
            {
                return e->api;
            }
        }

        return NGX_HTTP_TOKENROUTE_API_UNKNOWN;
    }

    /* tolerate a trailing slash, as the SDKs' base URL joining may add */
    while (last > r->uri.data && last[-1] == '/') {
        last--;
    }

    p = ngx_strlchr(r->uri.data + 1, last, '/');

    if (p == NULL) {
        return NGX_HTTP_TOKENROUTE_API_UNKNOWN;
    }

    len = last - p;

    for (e = ngx_http_tokenroute_endpoints; e->path.len; e++) {
        if (e->path.len == len && ngx_strncmp(p, e->path.data, len) == 0) {
            return e->api;
        }
    }

    /* /v1/models/{id}, where ids have slashes: anthropic/claude-... */

    if (len > sizeof("/models/") - 1
        && ngx_strncmp(p, "/models/", sizeof("/models/") - 1) == 0)
    {
        ctx->model_path.data = p + sizeof("/models/") - 1;
        ctx->model_path.len = last - ctx->model_path.data;

        return NGX_HTTP_TOKENROUTE_API_MODEL;
    }

    return NGX_HTTP_TOKENROUTE_API_UNKNOWN;
}


/*
 * A Redis reply arrived for the request: resume the phase engine as if
 * the connection's own event had fired (lua-nginx-module's sequence).
 */

void
ngx_http_tokenroute_resume(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_connection_t  *c;

    ctx->op = NULL;
    ctx->lookup_done = 1;
    ctx->t_redis += ngx_http_tokenroute_usec() - ctx->t_sent;

    if (!ctx->waiting_lookup) {
        return;
    }

    ctx->waiting_lookup = 0;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_tokenroute_ctx_command(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx,
    ngx_http_tokenroute_redis_handler_pt handler, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ctx->t_sent = ngx_http_tokenroute_usec();

    ctx->op = ngx_http_tokenroute_redis_command(handler, r, argc, argv,
                                                argvlen);
    if (ctx->op == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tokenroute_op_cleanup;
    cln->data = ctx;

    return NGX_AGAIN;
}


/* the request is freed before Redis answered: the reply must not touch it */

static void
ngx_http_tokenroute_op_cleanup(void *data)
{
    ngx_http_tokenroute_ctx_t  *ctx = data;

    if (ctx->op) {
        ngx_http_tokenroute_redis_cancel(ctx->op);
        ctx->op = NULL;
    }
}


/* nginx's cached time has millisecond resolution; overhead is smaller */

uint64_t
ngx_http_tokenroute_usec(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (uint64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}
