
/*
 * Copyright (C) tokenroute authors
 *
 * Money in the log phase: what the request cost, within the bounds of
 * what it reserved at admission (ngx_http_tokenroute_admission.c), handed to
 * settlement (ngx_http_tokenroute_settle.c).
 *
 * Redis's Lua numbers are doubles: amounts are exact below 2^53 nano-USD
 * (9 million USD) per account.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_admission.h"
#include "ngx_http_tokenroute_billing.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_lease_redis.h"
#include "ngx_http_tokenroute_lease_settle.h"
#include "ngx_http_tokenroute_purge.h"
#include "ngx_http_tokenroute_reserve.h"
#include "ngx_http_tokenroute_settle.h"
#include "ngx_http_tokenroute_settlement.h"
#include "tokenroute_money.h"


static ngx_int_t ngx_http_tokenroute_log_handler(ngx_http_request_t *r);
static int64_t ngx_http_tokenroute_attempt_cost(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m);
static void ngx_http_tokenroute_usage_finalize(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


static ngx_str_t  ngx_http_tokenroute_scripts[5];


ngx_int_t
ngx_http_tokenroute_billing_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_tokenroute_admission_init(cf, &ngx_http_tokenroute_scripts[0])
        != NGX_OK
        || ngx_http_tokenroute_settle_init(cf, &ngx_http_tokenroute_scripts[1])
           != NGX_OK
        || ngx_http_tokenroute_purge_init(cf, &ngx_http_tokenroute_scripts[3],
                                          trmcf)
           != NGX_OK
        || ngx_http_tokenroute_lease_init(cf, &ngx_http_tokenroute_scripts[4])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    trmcf->redis.scripts = ngx_http_tokenroute_scripts;
    trmcf->redis.nscripts = 5;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    /*
     * Log handlers run in the order they were added, and the access log's
     * was added first: settle first, so that $tokenroute_cost and friends
     * are final when the access log line is written.
     */

    h = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    ngx_memmove(&h[1], &h[0],
                (cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts - 1)
                * sizeof(ngx_http_handler_pt));

    h[0] = ngx_http_tokenroute_log_handler;

    return ngx_http_tokenroute_journal_init(cf, trmcf);
}


/*
 * Log phase: the response is over (or the client is gone).  Settle what
 * was reserved with what the provider reported.  Nothing here may keep a
 * reference to r: the request is freed right after.
 */

static ngx_int_t
ngx_http_tokenroute_log_handler(ngx_http_request_t *r)
{
    ngx_http_tokenroute_ctx_t         *ctx;
    ngx_http_tokenroute_model_t       *model;
    ngx_http_tokenroute_settlement_t   s;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (ctx == NULL || ctx->verdict != NGX_HTTP_TOKENROUTE_VERDICT_OK
        || ctx->settled)
    {
        return NGX_OK;
    }

    ctx->settled = 1;

    ngx_http_tokenroute_usage_finalize(r, ctx);

    ngx_memzero(&s, sizeof(ngx_http_tokenroute_settlement_t));

    ngx_memcpy(s.request_id, ctx->request_id,
               NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);
    ngx_memcpy(s.key_hash, ctx->key_hash, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);

    s.key_id_len = ngx_min(ctx->key.id.len, sizeof(s.key_id));
    ngx_memcpy(s.key_id, ctx->key.id.data, s.key_id_len);

    s.account_len = ngx_min(ctx->key.account.len, sizeof(s.account));
    ngx_memcpy(s.account, ctx->key.account.data, s.account_len);

    /* most keys have no tenant: no data to copy from */
    s.tenant_len = ngx_min(ctx->key.tenant.len, sizeof(s.tenant));

    if (s.tenant_len) {
        ngx_memcpy(s.tenant, ctx->key.tenant.data, s.tenant_len);
    }

    /*
     * A request no model answered is counted under the model the client
     * asked for (the chain's first), not the one tried last
     */

    model = (ctx->failed && ctx->nchain)
            ? ngx_http_tokenroute_public(ctx->chain[0]) : ctx->model;

    s.model_len = ngx_min(model->id.len, sizeof(s.model));
    ngx_memcpy(s.model, model->id.data, s.model_len);

    s.cost = ctx->cost;
    s.input = tokenroute_usage_input(&ctx->usage);
    s.output = ctx->usage.output_tokens;
    s.cached = ctx->usage.cached_tokens;
    s.estimated = ctx->estimated;
    s.unbilled = ctx->unbilled;
    s.clamped = ctx->clamped;
    s.failed = ctx->failed;
    ngx_log_debug6(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute settle: cost %L, input %L, output %L, "
                   "cached %L, estimated %L, unbilled %L", s.cost, s.input,
                   s.output, s.cached, s.estimated, s.unbilled);

    s.time = ngx_time();

    if (ctx->leased) {
        ngx_http_tokenroute_lease_settle(ctx, &s);
        return NGX_OK;
    }

    ngx_http_tokenroute_settle(&s);

    return NGX_OK;
}


/*
 * What the request is charged: the provider's own report where there is
 * one.  A stream cut short (client gone, provider failure) is charged for
 * what was produced: the larger of the reported and the estimated output,
 * marked as estimated.  Every count is clamped to the reservation's
 * bounds.  An error status costs nothing; so does an answer the client
 * never got whole (a JSON body cut off or not JSON, a 200 that became
 * the gateway's 502), whose cost, what the provider probably billed, is
 * kept apart as unbilled, with that of earlier attempts that failed the
 * same way (ngx_http_tokenroute_attempt_unbilled()).
 */

static void
ngx_http_tokenroute_usage_finalize(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int64_t                          cost;
    ngx_uint_t                       whole;
    ngx_http_tokenroute_response_t  *resp;

    if (ctx->usage_done) {
        return;
    }

    ctx->usage_done = 1;

    resp = ctx->resp;

    if (resp == NULL || resp->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* no provider response, or an error status: nothing produced */
        ngx_memzero(&ctx->usage, sizeof(tokenroute_usage_t));
        ctx->cost = 0;
        ctx->unbilled = ctx->unbilled_before;
        ctx->failed = 1;
        return;
    }

    /* a stream's client got what was produced, as it came */

    whole = (r->headers_out.status < NGX_HTTP_SPECIAL_RESPONSE
             && (resp->mode != NGX_HTTP_TOKENROUTE_RESP_JSON
                 || (resp->complete && !resp->failed)));

    cost = ngx_http_tokenroute_attempt_cost(r, ctx, ctx->model);

    if (whole) {

        /*
         * Each part of the cost is rounded up on its own, the reservation
         * once: within the token bounds the parts may still add up to a
         * few nano-USD more than was reserved
         */

        if (cost > ctx->reserve) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "tokenroute: request %*s, model \"%V\": cost %L "
                          "clamped to %L, its reservation",
                          (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                          ctx->request_id, &ctx->model->id, cost,
                          ctx->reserve);

            cost = ctx->reserve;
            ctx->clamped = 1;
        }

        ctx->cost = cost;
        ctx->unbilled = ctx->unbilled_before;

    } else {
        ctx->cost = 0;
        ctx->unbilled = tokenroute_money_add(ctx->unbilled_before, cost);
        ctx->failed = 1;
    }
}


/*
 * An attempt fails and the next model takes over: a provider's 2xx whose
 * body failed (not JSON, cut short, untranslatable) was probably billed
 * to the gateway all the same; it is counted as unbilled before the next
 * attempt's usage replaces it.  m is the model that failed.
 */

void
ngx_http_tokenroute_attempt_unbilled(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m)
{
    int64_t                          cost;
    ngx_http_tokenroute_response_t  *resp;

    resp = ctx->resp;

    if (resp == NULL || resp->status < NGX_HTTP_OK
        || resp->status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        return;
    }

    cost = ngx_http_tokenroute_attempt_cost(r, ctx, m);

    ctx->unbilled_before = tokenroute_money_add(ctx->unbilled_before, cost);

    /* the flags speak of the attempt that serves */
    ctx->estimated = 0;
    ctx->clamped = 0;
}


/*
 * What the current attempt produced, on model m: the usage reported,
 * estimated where missing, clamped to the reservation's bounds; its cost.
 */

static int64_t
ngx_http_tokenroute_attempt_cost(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m)
{
    int64_t                           estimate, input, output;
    int64_t                           max_input, max_output;
    tokenroute_usage_t               *u;
    tokenroute_prices_t               p;
    ngx_http_tokenroute_response_t   *resp;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    u = &ctx->usage;
    resp = ctx->resp;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_EMBEDDINGS) {
        /* embeddings produce no tokens, and report only input */
        u->output_tokens = 0;

    } else if (!resp->complete || !u->seen_output) {
        estimate = tokenroute_usage_estimate_output(u);

        if (resp->mode == NGX_HTTP_TOKENROUTE_RESP_JSON && !u->seen_output) {
            estimate = (resp->body_bytes + 3) / 4;
        }

        if (estimate > u->output_tokens || !u->seen_output) {
            u->output_tokens = ngx_max(estimate, u->output_tokens);
            ctx->estimated = 1;
        }
    }

    if (!u->seen_input) {
        u->input_tokens = (ctx->body.len + 3) / 4;
        ctx->estimated = 1;
    }

    max_input = ngx_http_tokenroute_input_bound(trmcf, ctx);
    max_output = ngx_http_tokenroute_output_cap(trmcf, ctx, m);

    input = tokenroute_usage_input(u);
    output = u->output_tokens;

    if (tokenroute_usage_clamp(u, max_input, max_output)) {
        ctx->clamped = 1;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tokenroute: request %*s, model \"%V\": %s input "
                      "tokens %L clamped to %L, output tokens %L clamped "
                      "to %L, the bounds of its reservation",
                      (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                      ctx->request_id, &m->id,
                      ctx->estimated ? "estimated" : "reported",
                      input, tokenroute_usage_input(u), output,
                      u->output_tokens);
    }

    ngx_http_tokenroute_prices(m, &p);

    return tokenroute_money_bound(tokenroute_usage_cost(u, &p));
}
