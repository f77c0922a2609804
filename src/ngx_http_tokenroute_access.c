
/*
 * Copyright (C) tokenroute authors
 *
 * The access-phase handler: a small state machine over the request ctx.
 *
 *   start      classify the endpoint, take the key, start reading the body
 *   body       (async) the body is in memory; scan it once
 *   admission  (async) Redis answers the admission: the key's verdict,
 *              the models it may use, the reservation
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
#include "ngx_http_tokenroute_access.h"
#include "ngx_http_tokenroute_admission.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_error.h"
#include "ngx_http_tokenroute_fallback.h"
#include "ngx_http_tokenroute_key.h"
#include "ngx_http_tokenroute_lease.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_models.h"
#include "ngx_http_tokenroute_park.h"
#include "ngx_http_tokenroute_rate.h"
#include "ngx_http_tokenroute_request.h"
#include "ngx_http_tokenroute_route.h"
#include "ngx_http_tokenroute_vertex_token.h"
#include "tokenroute_key.h"
#include "tokenroute_money.h"


static ngx_int_t ngx_http_tokenroute_access_phase(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_access_start(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_access_step(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_access_decide(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static const char *ngx_http_tokenroute_period_adj(ngx_str_t *period);
static ngx_int_t ngx_http_tokenroute_reject(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *message);


ngx_int_t
ngx_http_tokenroute_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_tokenroute_ctx_t  *ctx;

    if (r->err_status == NGX_HTTP_UNAUTHORIZED && r == r->main) {
        /* an attempt failed: a token the provider refused is not kept */

        ctx = ngx_http_tokenroute_recover_ctx(r);

        if (ctx && ctx->decided && ctx->model
            && ctx->model->provider->type
               == NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX)
        {
            ngx_http_tokenroute_vertex_refused(r, ctx);
        }
    }

    rc = ngx_http_tokenroute_access_phase(r);

    if (rc != NGX_OK) {
        return rc;
    }

    /* an attempt whose provider needs a token made for it first */

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx && ctx->decided && ctx->model
        && ctx->model->provider->type == NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX)
    {
        return ngx_http_tokenroute_vertex_ready(r, ctx);
    }

    return rc;
}


static ngx_int_t
ngx_http_tokenroute_access_phase(ngx_http_request_t *r)
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

        if (r->err_status) {
            /* nginx's own error, before any attempt: not a new request */
            return ngx_http_tokenroute_own_error(r);
        }

        return ngx_http_tokenroute_access_start(r);
    }

    if (ctx->decided) {
        return NGX_OK;
    }

    if (ctx->waiting_body || ctx->waiting_admission) {
        return NGX_AGAIN;
    }

    return ngx_http_tokenroute_access_step(r, ctx);
}


static ngx_int_t
ngx_http_tokenroute_access_start(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    const char                 *msg;
    ngx_http_tokenroute_ctx_t  *ctx;

    ctx = ngx_http_tokenroute_new_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * All zero but the request scan's character arrays, which hold only
     * what the scan wrote (see tokenroute_request.h): clearing the whole
     * ctx cost more than the scan.  Nor the chain past its first entry
     * (512 bytes): nothing reads beyond nchain, but route.c takes
     * chain[0] as the model even when the chain is empty.
     */

    ngx_memzero(ctx, offsetof(ngx_http_tokenroute_ctx_t, chain));
    ctx->chain[0] = NULL;
    ngx_memzero(&ctx->nchain, offsetof(ngx_http_tokenroute_ctx_t, req)
                              - offsetof(ngx_http_tokenroute_ctx_t, nchain));
    ngx_memzero(&ctx->req.model_len,
                offsetof(tokenroute_request_t, models)
                - offsetof(tokenroute_request_t, model_len));
    ctx->req.model[0] = '\0';
    ctx->req.bad_field = NULL;

    ngx_http_set_ctx(r, ctx, ngx_http_tokenroute_module);

    ctx->t_start = ngx_http_tokenroute_usec();

    if (ngx_http_tokenroute_request_id(ctx->request_id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->endpoint = ngx_http_tokenroute_classify(r, ctx, 0);
    ctx->shape = ngx_http_tokenroute_shape_of(r);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute access: request %*s, endpoint %ui",
                   (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                   ctx->request_id, ctx->endpoint);

    /* first: a key in the URL is cut from the logs' copy of it */

    rc = ngx_http_tokenroute_key_misplaced(r, &msg);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request", msg);
    }

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_UNKNOWN) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "unknown_endpoint",
                                          "Unknown API endpoint");
    }

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODELS
        || ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODEL)
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

    if (rc == NGX_HTTP_BAD_REQUEST) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                   "invalid_request",
                   "Conflicting API keys: send one key, in one "
                   "Authorization or x-api-key header");
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                   "missing_api_key",
                   "Missing API key: send \"Authorization: Bearer "
                   TOKENROUTE_KEY_PREFIX "...\" or \"x-api-key: "
                   TOKENROUTE_KEY_PREFIX "...\"");
    }

    if (rc != NGX_OK) {
        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                   "invalid_api_key",
                   "Malformed API key: tokenroute keys look like "
                   TOKENROUTE_KEY_PREFIX "...");
    }

    /* never the key itself, nor its hash */

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute key: extracted");

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODELS
        || ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODEL)
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

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tokenroute body: reading");

        ngx_http_tokenroute_watch_body(r);
        return NGX_DONE;
    }

    /* the body was already read, the post handler ran inside the call */

    return ngx_http_tokenroute_access_step(r, ctx);
}


static ngx_int_t
ngx_http_tokenroute_access_step(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (!ctx->body_done) {
        return NGX_AGAIN;
    }

    if (!ctx->admission_sent) {
        ctx->admission_sent = 1;

        /*
         * A request that can be routed is admitted in one round trip:
         * key check and reservation.  Anything else only has its key
         * checked, by the same script (the key rules are its alone), so
         * that a bad key is reported before a bad body.
         */

        rc = ngx_http_tokenroute_prepare(r, ctx);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            rc = ngx_http_tokenroute_admission_start(r, ctx);

            /* admitted from a lease (lease.c): no Redis */
            if (rc == NGX_OK && ctx->admission_done) {
                return ngx_http_tokenroute_access_decide(r, ctx);
            }

        } else {
            /* the key's record fresh in the lease zone: no Redis */
            rc = ngx_http_tokenroute_lease_check_key(r, ctx);

            if (rc == NGX_OK) {
                return ngx_http_tokenroute_access_decide(r, ctx);
            }

            if (rc == NGX_DECLINED) {
                rc = ngx_http_tokenroute_admission_check_key(r, ctx);
            }
        }

        /* out of memory (the key store was not asked): ours, a 500 */

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_AGAIN) {
            return ngx_http_tokenroute_reject(r, ctx,
                       NGX_HTTP_SERVICE_UNAVAILABLE, "key_store_unavailable",
                       "The gateway cannot reach its key store; "
                       "retry shortly");
        }

        ctx->waiting_admission = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tokenroute access: waiting for Redis");

        /* notice a client that goes away while Redis answers */
        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_request_empty_handler;

        return NGX_DONE;
    }

    if (!ctx->admission_done) {
        return NGX_AGAIN;
    }

    return ngx_http_tokenroute_access_decide(r, ctx);
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

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODELS) {
        ngx_http_finalize_request(r, ngx_http_tokenroute_send_models(r, ctx));
        return NGX_DONE;
    }

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODEL) {
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
        /* an empty body is no JSON text, but README's table says so */

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                   ctx->req_status == TOKENROUTE_REQUEST_INVALID_JSON
                   && ctx->body.len ? "invalid_json" : "invalid_request",
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

    model = ngx_http_tokenroute_public(ctx->model)->id;

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_COUNT_TOKENS) {
        /* the chain's first model: the one asked for */

        if (ngx_http_tokenroute_key_allows(key, 0) != NGX_OK) {
            ctx->verdict = NGX_HTTP_TOKENROUTE_VERDICT_FORBIDDEN;

        } else {
            /* not admitted (nothing reserved), but an attempt all the same */
            ctx->attempts = 1;
            ctx->decided = 1;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "tokenroute access: count_tokens for \"%V\"",
                           &model);

            return NGX_OK;
        }
    }

    switch (ctx->verdict) {

    case NGX_HTTP_TOKENROUTE_VERDICT_OK:

        /* skip what cools down or what this key may not use */

        if (ngx_http_tokenroute_choose(r, ctx, 0) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->attempts = 1;
        ctx->decided = 1;
        ctx->t_decided = ngx_http_tokenroute_usec();

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tokenroute access: admitted, attempt 1, reserved %L",
                       ctx->reserve);

        return NGX_OK;

    case NGX_HTTP_TOKENROUTE_VERDICT_FORBIDDEN:
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "This API key may not use the model \"%V\"", &model);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_FORBIDDEN,
                                          "model_not_allowed", (char *) msg);

    case NGX_HTTP_TOKENROUTE_VERDICT_CREDIT:
        tokenroute_money_format_usd(ctx->available, (char *) left,
                                    sizeof(left));
        tokenroute_money_format_usd(ctx->reserve, (char *) cost,
                                    sizeof(cost));

        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "Insufficient credit in account \"%V\": %s USD "
                         "available, this request may cost up to %s USD",
                         &key->account, left, cost);
        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx,
                                          NGX_HTTP_TOKENROUTE_PAYMENT_REQUIRED,
                                          "insufficient_credit",
                                          (char *) msg);

    case NGX_HTTP_TOKENROUTE_VERDICT_LIMIT:
        tokenroute_money_format_usd(ctx->available, (char *) left,
                                    sizeof(left));
        tokenroute_money_format_usd(ctx->reserve, (char *) cost,
                                    sizeof(cost));

        if (ctx->key.period.len) {
            p = ngx_snprintf(msg, sizeof(msg) - 1,
                             "This API key's %s spend limit is reached (a "
                             "budget that starts again each UTC %V): %s "
                             "USD left of it this %V, this request may "
                             "cost up to %s USD",
                             ngx_http_tokenroute_period_adj(&ctx->key.period),
                             &ctx->key.period, left, &ctx->key.period, cost);

        } else {
            p = ngx_snprintf(msg, sizeof(msg) - 1,
                             "This API key's spend limit is reached: %s USD "
                             "left of its limit, this request may cost up "
                             "to %s USD", left, cost);
        }

        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx,
                                          NGX_HTTP_TOKENROUTE_PAYMENT_REQUIRED,
                                          "key_limit_reached", (char *) msg);

    case NGX_HTTP_TOKENROUTE_VERDICT_RATE:
        if (ngx_http_tokenroute_rate_refusal(r, ctx, msg, sizeof(msg))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_tokenroute_reject(r, ctx, NGX_HTTP_TOO_MANY_REQUESTS,
                                          "rate_limit_exceeded", (char *) msg);

    case NGX_HTTP_TOKENROUTE_VERDICT_TENANT:
        tokenroute_money_format_usd(ctx->available, (char *) left,
                                    sizeof(left));
        tokenroute_money_format_usd(ctx->reserve, (char *) cost,
                                    sizeof(cost));

        if (ctx->key.period.len == sizeof("missing") - 1
            && ngx_strncmp(ctx->key.period.data, "missing", 7) == 0)
        {
            p = ngx_snprintf(msg, sizeof(msg) - 1,
                             "This API key's tenant \"%V\" does not exist "
                             "in account \"%V\": the key can spend nothing",
                             &key->tenant, &key->account);

        } else if (ctx->key.period.len) {
            p = ngx_snprintf(msg, sizeof(msg) - 1,
                             "The %s spend limit of tenant \"%V\" is "
                             "reached (a budget that starts again each UTC "
                             "%V): %s USD left of it this %V, this request "
                             "may cost up to %s USD",
                             ngx_http_tokenroute_period_adj(&ctx->key.period),
                             &key->tenant, &ctx->key.period, left,
                             &ctx->key.period, cost);

        } else {
            p = ngx_snprintf(msg, sizeof(msg) - 1,
                             "The spend limit of tenant \"%V\" is reached: "
                             "%s USD left of its limit, this request may "
                             "cost up to %s USD", &key->tenant, left, cost);
        }

        *p = '\0';

        return ngx_http_tokenroute_reject(r, ctx,
                                          NGX_HTTP_TOKENROUTE_PAYMENT_REQUIRED,
                                          "tenant_limit_reached",
                                          (char *) msg);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* a budget period's adjective, for a 402's message */

static const char *
ngx_http_tokenroute_period_adj(ngx_str_t *period)
{
    switch (period->len ? period->data[0] : '\0') {

    case 'd':
        return "daily";

    case 'w':
        return "weekly";

    case 'm':
        return "monthly";

    default:
        return "period";
    }
}


/*
 * Rejections end the request here: NGX_DONE tells the phase engine so.
 * The gateway's own refusals (key, money, permission, key store) are
 * logged here too, at tokenroute_reject_log_level, as limit_req does:
 * who was refused by the key's id, never by the key or its hash.
 */

static ngx_int_t
ngx_http_tokenroute_reject(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *message)
{
    u_char                          *p, *last;
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    const char                      *sep;
    ngx_http_tokenroute_loc_conf_t  *trlcf;
    u_char                           reason[32];
    u_char                           who[TOKENROUTE_MODEL_MAX_LEN + 512];

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tokenroute_module);

    if ((status == NGX_HTTP_UNAUTHORIZED
         || status == NGX_HTTP_TOKENROUTE_PAYMENT_REQUIRED
         || status == NGX_HTTP_FORBIDDEN
         || status == NGX_HTTP_TOO_MANY_REQUESTS
         || status == NGX_HTTP_SERVICE_UNAVAILABLE)
        && code != NULL
        && r->connection->log->log_level >= trlcf->reject_log_level)
    {
        /* the client's code, spelled for a log: "insufficient credit" */

        for (i = 0; code[i] && i < sizeof(reason) - 1; i++) {
            reason[i] = (code[i] == '_') ? ' ' : code[i];
        }

        reason[i] = '\0';

        /* one code for both: the operator needs to tell them apart */

        if (ngx_strcmp(code, "invalid_api_key") == 0) {
            ngx_cpystrn(reason, (u_char *) (ctx->admission_done
                                            ? "unknown api key"
                                            : "malformed api key"),
                        sizeof(reason));
        }

        /* a key id and an account are 128 bytes at most, cut beyond */

        p = who;
        last = who + sizeof(who);
        sep = ", ";

        if (ctx->key.id.len) {
            p = ngx_slprintf(p, last, "%skey \"%V\"", sep, &ctx->key.id);
            sep = " ";
        }

        if (ctx->key.account.len) {
            p = ngx_slprintf(p, last, "%saccount \"%V\"", sep,
                             &ctx->key.account);
            sep = " ";
        }

        if (ctx->key.tenant.len) {
            p = ngx_slprintf(p, last, "%stenant \"%V\"", sep,
                             &ctx->key.tenant);
            sep = " ";
        }

        if (ctx->model) {
            p = ngx_slprintf(p, last, "%smodel \"%V\"", sep,
                             &ngx_http_tokenroute_public(ctx->model)->id);
        }

        ngx_log_error(trlcf->reject_log_level, r->connection->log, 0,
                      "tokenroute: %ui %s%*s", status, reason,
                      (size_t) (p - who), who);
    }

    ngx_http_tokenroute_metrics_reject(status, code);

    rc = ngx_http_tokenroute_send_error(r, ctx->shape, status, code, message);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}
