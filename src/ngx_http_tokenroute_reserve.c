
/*
 * Copyright (C) tokenroute authors
 *
 * What a request can cost at most: the amount its admission reserves, and
 * the bounds its charge is clamped to (the same ones, so a charge never
 * exceeds its reservation).  Configuration and the request's scan only:
 * no Redis, no request state of its own.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_reserve.h"
#include "tokenroute_money.h"


/*
 * The reservation: an upper bound of what the request can cost.  Input:
 * no tokenizer yields more tokens than bytes (bytes_per_token 1), priced
 * at the dearest rate an input token can be charged at: the input or the
 * cache read price, and where Anthropic's cache writes can happen, the
 * 5-minute (1.25x) and the 1-hour (2x) write prices, or the configured
 * ones.  Output:
 * the request's output cap on that model.  The charge is clamped to the
 * same bounds (ngx_http_tokenroute_usage_finalize()), so it never exceeds
 * the reservation.  max_tokens is at most TOKENROUTE_MAX_TOKENS_LIMIT
 * (ngx_http_tokenroute_prepare()) and amounts saturate at
 * TOKENROUTE_MONEY_MAX: no product or sum here overflows.
 *
 * *tokens: what the request counts against a tpm limit at its admission,
 * the same bounds, the input bound plus the largest output cap of the
 * chain; the settlement replaces them by the actual ones
 * (src/lua/settle.lua).
 */

int64_t
ngx_http_tokenroute_reserve(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_ctx_t *ctx, int64_t *tokens)
{
    int64_t                       input, price, reserve, cost, cap, output;
    ngx_uint_t                    i;
    tokenroute_prices_t           p;
    ngx_http_tokenroute_model_t  *m;

    input = ngx_http_tokenroute_input_bound(trmcf, ctx);

    /* any model of the chain may serve: reserve for the dearest */

    reserve = 0;
    output = 0;

    for (i = 0; i < ctx->nchain; i++) {
        m = ctx->chain[i];
        cap = ngx_http_tokenroute_output_cap(trmcf, ctx, m);
        output = ngx_max(output, cap);

        ngx_http_tokenroute_prices(m, &p);

        price = tokenroute_usage_input_price_max(&p,
                    m->provider->shape == TOKENROUTE_SHAPE_ANTHROPIC);

        cost = tokenroute_money_add(tokenroute_money_cost(input, price),
                                    tokenroute_money_cost(cap,
                                                          m->output_price));

        reserve = ngx_max(reserve, cost);
    }

    *tokens = input + output;

    return reserve;
}


/* a model's prices, as tokenroute_usage_cost() takes them */

void
ngx_http_tokenroute_prices(ngx_http_tokenroute_model_t *m,
    tokenroute_prices_t *p)
{
    p->input = m->input_price;
    p->cached = m->cached_input_price;
    p->cache_write = m->cache_write_price;
    p->cache_write_1h = m->cache_write_1h_price;
    p->output = m->output_price;
}


/* tokenroute_model max_output_tokens=, or tokenroute_default_max_tokens */

int64_t
ngx_http_tokenroute_max_output(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_model_t *m)
{
    return m->max_output_tokens ? m->max_output_tokens
                                : trmcf->default_max_tokens;
}


/*
 * The most output a request served by m can be charged for: its
 * max_tokens, but not above a max_output_tokens configured for m (the
 * provider would refuse or clamp it), or that model's maximum when it
 * names none.
 */

int64_t
ngx_http_tokenroute_output_cap(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m)
{
    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_EMBEDDINGS) {
        return 0;
    }

    if (ctx->req.max_tokens <= 0) {
        return ngx_http_tokenroute_max_output(trmcf, m);
    }

    if (m->max_output_tokens && ctx->req.max_tokens > m->max_output_tokens) {
        return m->max_output_tokens;
    }

    return ctx->req.max_tokens;
}


/* the most input a request can be charged for: its body's bytes / N */

int64_t
ngx_http_tokenroute_input_bound(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_ctx_t *ctx)
{
    return (int64_t) ((ctx->body.len + trmcf->bytes_per_token - 1)
                      / trmcf->bytes_per_token);
}
