
/*
 * Copyright (C) tokenroute authors
 *
 * Fallback: the next attempt along a request's chain of models (built by
 * ngx_http_tokenroute_route.c) after a provider failed before any byte
 * reached the client.
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
#include "ngx_http_tokenroute_billing.h"
#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_cooldown_fleet.h"
#include "ngx_http_tokenroute_error.h"
#include "ngx_http_tokenroute_fallback.h"
#include "ngx_http_tokenroute_key.h"
#include "ngx_http_tokenroute_route.h"


static void ngx_http_tokenroute_ctx_cleanup(void *data);
static time_t ngx_http_tokenroute_retry_after(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_fallback_on(
    ngx_http_tokenroute_main_conf_t *trmcf, ngx_uint_t status);


/*
 * The request's context: 2K, half a request pool block, so kept out of
 * the pool (which then needs a block less per request) on a per-worker
 * free list.  The pool's cleanup gives it back, after every use (the log
 * phase) and before the pool's memory is freed, and marks it: the
 * context is found again after an internal redirect, which clears the
 * module contexts.
 */

#define NGX_HTTP_TOKENROUTE_CTX_FREE_MAX  64

typedef struct ngx_http_tokenroute_ctx_free_s  ngx_http_tokenroute_ctx_free_t;

struct ngx_http_tokenroute_ctx_free_s {
    ngx_http_tokenroute_ctx_free_t  *next;
};

static ngx_http_tokenroute_ctx_free_t  *ngx_http_tokenroute_ctx_free;
static ngx_uint_t                        ngx_http_tokenroute_ctx_nfree;


ngx_http_tokenroute_ctx_t *
ngx_http_tokenroute_new_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_tokenroute_ctx_free_t  *f;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    f = ngx_http_tokenroute_ctx_free;

    if (f) {
        ngx_http_tokenroute_ctx_free = f->next;
        ngx_http_tokenroute_ctx_nfree--;

    } else {
        f = ngx_alloc(NGX_HTTP_TOKENROUTE_CTX_SIZE, r->connection->log);
        if (f == NULL) {
            return NULL;
        }
    }

    cln->handler = ngx_http_tokenroute_ctx_cleanup;
    cln->data = f;

    return (ngx_http_tokenroute_ctx_t *) f;
}


static void
ngx_http_tokenroute_ctx_cleanup(void *data)
{
    ngx_http_tokenroute_ctx_free_t  *f;

    f = data;

    if (ngx_http_tokenroute_ctx_nfree >= NGX_HTTP_TOKENROUTE_CTX_FREE_MAX) {
        ngx_free(f);
        return;
    }

    f->next = ngx_http_tokenroute_ctx_free;
    ngx_http_tokenroute_ctx_free = f;
    ngx_http_tokenroute_ctx_nfree++;
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

            ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "tokenroute choose: model \"%V\", %ui of %ui%s",
                           &m->id, i + 1, ctx->nchain,
                           pass ? ", all cooling" : "");

            return NGX_OK;
        }
    }

    ctx->model = model;
    ctx->translate = translate;
    ctx->upstream_body = body;
    ctx->upstream_uri = uri;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute choose: no model from %ui can take it", from);

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

    if (ngx_http_tokenroute_cooldown_failure(ctx->model, status, retry)) {
        /* the fleet hears of it: with the next admission, or the timer */
        ngx_http_tokenroute_fleet_soon();
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute fallback: attempt %ui on \"%V\" failed with "
                   "%ui, cooling %i, retry after %T", ctx->attempts,
                   &ctx->model->id, status,
                   ngx_http_tokenroute_cooling(ctx->model), retry);

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

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tokenroute fallback: next model \"%V\", attempt %ui",
                       &ctx->model->id, ctx->attempts);

        return NGX_OK;
    }

    /*
     * Nothing left to try: the client gets the failure, with the
     * provider's Retry-After; the provider's own text was intercepted.
     */

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute fallback: %s after %ui attempts, status %ui",
                   !ngx_http_tokenroute_fallback_on(trmcf, status)
                   ? "not a tokenroute_fallback_on status"
                   : ctx->attempts >= (ngx_uint_t) trmcf->max_attempts
                     ? "tokenroute_max_attempts reached" : "chain exhausted",
                   ctx->attempts, status);

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
