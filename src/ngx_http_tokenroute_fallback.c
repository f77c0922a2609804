
/*
 * Copyright (C) tokenroute authors
 *
 * Fallback: a request's chain of models (the request's own "models", or
 * the model's configured fallback=), and the next attempt after a
 * provider failed before any byte reached the client.
 *
 * nginx's proxy reports the failure through proxy_intercept_errors and
 * error_page into the @tokenroute_fallback location.  That internal
 * redirect wipes every module's ctx, so the ctx is also kept as the data
 * of a request pool cleanup and found there again (the realip module's
 * idiom).  Each attempt is proxied by nginx again with the body rewritten
 * for the next model and its provider's shape.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


static void ngx_http_tokenroute_ctx_cleanup(void *data);
static ngx_int_t ngx_http_tokenroute_chain_add(
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m);
static time_t ngx_http_tokenroute_retry_after(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_fallback_on(
    ngx_http_tokenroute_main_conf_t *trmcf, ngx_uint_t status);


ngx_int_t
ngx_http_tokenroute_keep_ctx(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tokenroute_ctx_cleanup;
    cln->data = ctx;

    return NGX_OK;
}


static void
ngx_http_tokenroute_ctx_cleanup(void *data)
{
    /* only a marker: the ctx lives in the request pool */
}


ngx_http_tokenroute_ctx_t *
ngx_http_tokenroute_recover_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_tokenroute_ctx_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


/*
 * The chain: the requested model first, then the request's "models" or
 * else the model's configured fallbacks.  NGX_DECLINED names an unknown
 * model in ctx->route_error.
 */

ngx_int_t
ngx_http_tokenroute_build_chain(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                           *msg;
    ngx_int_t                         i;
    ngx_http_tokenroute_model_t      *m, **fp;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    ctx->nchain = 0;

    (void) ngx_http_tokenroute_chain_add(ctx, ctx->model);

    if (ctx->req.nmodels == 0) {
        if (ctx->model->chain) {
            fp = ctx->model->chain->elts;

            for (i = 0; i < (ngx_int_t) ctx->model->chain->nelts; i++) {
                (void) ngx_http_tokenroute_chain_add(ctx, fp[i]);
            }
        }

        return NGX_OK;
    }

    for (i = 0; i < ctx->req.nmodels; i++) {
        m = ngx_http_tokenroute_find_model(trmcf,
                                           (u_char *) ctx->req.models[i],
                                           ngx_strlen(ctx->req.models[i]));
        if (m == NULL) {
            msg = ngx_pnalloc(r->pool, TOKENROUTE_MODEL_MAX_LEN + 64);
            if (msg == NULL) {
                return NGX_ERROR;
            }

            *ngx_snprintf(msg, TOKENROUTE_MODEL_MAX_LEN + 63,
                          "The model \"%s\" in \"models\" does not exist",
                          ctx->req.models[i]) = '\0';

            ctx->route_error = (char *) msg;
            return NGX_DECLINED;
        }

        (void) ngx_http_tokenroute_chain_add(ctx, m);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_chain_add(ngx_http_tokenroute_ctx_t *ctx,
    ngx_http_tokenroute_model_t *m)
{
    ngx_uint_t  i;

    for (i = 0; i < ctx->nchain; i++) {
        if (ctx->chain[i] == m) {
            return NGX_DECLINED;
        }
    }

    if (ctx->nchain == TOKENROUTE_CHAIN_MAX + 1) {
        return NGX_DECLINED;
    }

    ctx->chain[ctx->nchain++] = m;

    return NGX_OK;
}


/*
 * Routes the request to the first model of the chain from position
 * "from" that the key may use and that is not cooling down; if all of
 * those cool, to the first the key may use, cooling or not.  When none
 * can take the request, the route stays that of the model tried last,
 * which the error then names.
 */

ngx_int_t
ngx_http_tokenroute_choose(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t from)
{
    ngx_str_t                     body, uri;
    ngx_uint_t                    i, pass, translate;
    ngx_http_tokenroute_model_t  *m, *model;

    model = ctx->model;
    translate = ctx->translate;
    body = ctx->upstream_body;
    uri = ctx->upstream_uri;

    for (pass = 0; pass < 2; pass++) {

        for (i = from; i < ctx->nchain; i++) {
            m = ctx->chain[i];

            if (ngx_http_tokenroute_key_allows(&ctx->key, i) != NGX_OK) {
                continue;
            }

            if (pass == 0 && ngx_http_tokenroute_cooling(m)) {
                continue;
            }

            if (m != ctx->model || ctx->upstream_body.data == NULL) {
                ctx->model = m;
                ctx->translate = 0;
                ngx_str_null(&ctx->upstream_body);

                if (ngx_http_tokenroute_route(r, ctx) != NGX_OK) {
                    /* this provider cannot take the request: the next */
                    continue;
                }
            }

            ctx->chain_pos = i;

            return NGX_OK;
        }
    }

    ctx->model = model;
    ctx->translate = translate;
    ctx->upstream_body = body;
    ctx->upstream_uri = uri;

    return NGX_DECLINED;
}


/*
 * Re-entry in @tokenroute_fallback: the attempt failed with r->err_status
 * before anything reached the client.  Either route the next attempt or
 * answer the failure in the client's shape.
 */

ngx_int_t
ngx_http_tokenroute_fallback(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                           *p;
    time_t                            retry;
    ngx_uint_t                        status;
    ngx_table_elt_t                  *h;
    ngx_http_tokenroute_model_t      *failed;
    ngx_http_tokenroute_main_conf_t  *trmcf;
    u_char                            msg[TOKENROUTE_MODEL_MAX_LEN + 128];

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    ngx_http_set_ctx(r, ctx, ngx_http_tokenroute_module);

    status = r->err_status ? r->err_status : NGX_HTTP_BAD_GATEWAY;
    retry = (status == 429) ? ngx_http_tokenroute_retry_after(r) : 0;

    ngx_http_tokenroute_cooldown_failure(ctx->model, status, retry);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "tokenroute: model \"%V\" failed with %ui on attempt %ui",
                  &ctx->model->id, status, ctx->attempts);

    failed = ctx->model;

    if (ngx_http_tokenroute_fallback_on(trmcf, status)
        && ctx->attempts < (ngx_uint_t) trmcf->max_attempts
        && ngx_http_tokenroute_choose(r, ctx, ctx->chain_pos + 1) == NGX_OK)
    {
        /* what a failed 2xx answer cost the gateway, before it goes */
        ngx_http_tokenroute_attempt_unbilled(r, ctx, failed);

        /* the next attempt starts from a clean slate */

        r->err_status = 0;

        if (r->headers_out.www_authenticate) {
            r->headers_out.www_authenticate->hash = 0;
            r->headers_out.www_authenticate = NULL;
        }

        ctx->resp = NULL;
        ctx->upstream_status = 0;
        ctx->attempts++;

        /*
         * A held answer that failed was read for usage: none of it may
         * add to what the next model reports (a field that model never
         * sends, such as Anthropic's cache writes, would stay).
         */

        ngx_memzero(&ctx->usage, sizeof(tokenroute_usage_t));

        return NGX_OK;
    }

    /*
     * Nothing left to try: the client gets the failure, with the
     * provider's Retry-After; the provider's own text was intercepted.
     */

    ctx->decided = 0;

    if (status == NGX_HTTP_UNAUTHORIZED || status == NGX_HTTP_FORBIDDEN) {
        /* the gateway's provider key, not the client's: not a 401 to it */

        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "The provider of model \"%V\" refused the "
                         "gateway's credentials (status %ui)",
                         &ctx->model->id, status);
        *p = '\0';

        r->err_status = NGX_HTTP_BAD_GATEWAY;

        ngx_http_finalize_request(r,
            ngx_http_tokenroute_send_error(r, ctx->shape,
                                           NGX_HTTP_BAD_GATEWAY,
                                           "provider_auth_failed",
                                           (char *) msg));
        return NGX_DONE;
    }

    if (retry) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.len = ngx_sprintf(h->value.data, "%T", retry)
                       - h->value.data;
    }

    p = ngx_snprintf(msg, sizeof(msg) - 1,
                     "The provider of model \"%V\" failed (status %ui) "
                     "after %ui attempt%s",
                     &ctx->model->id, status, ctx->attempts,
                     ctx->attempts == 1 ? "" : "s");
    *p = '\0';

    ngx_http_finalize_request(r,
        ngx_http_tokenroute_send_error(r, ctx->shape, status,
                                       "provider_failed", (char *) msg));

    return NGX_DONE;
}


/* Retry-After of the failed attempt, in seconds (delta form only) */

static time_t
ngx_http_tokenroute_retry_after(ngx_http_request_t *r)
{
    ngx_int_t         n;
    ngx_table_elt_t  *h;

    static ngx_str_t  name = ngx_string("Retry-After");

    if (r->upstream == NULL) {
        return 0;
    }

    h = ngx_http_tokenroute_header_in(&r->upstream->headers_in.headers,
                                      &name);
    if (h == NULL) {
        return 0;
    }

    n = ngx_atotm(h->value.data, h->value.len);

    return (n == NGX_ERROR) ? 0 : n;
}


static ngx_int_t
ngx_http_tokenroute_fallback_on(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_uint_t status)
{
    ngx_uint_t   i, *code;

    code = trmcf->fallback_on->elts;

    for (i = 0; i < trmcf->fallback_on->nelts; i++) {
        if (code[i] == status) {
            return 1;
        }
    }

    return 0;
}
