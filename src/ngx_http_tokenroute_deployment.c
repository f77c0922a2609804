
/*
 * Copyright (C) tokenroute authors
 *
 * One public model, several deployments (a provider and its upstream
 * model each, with a weight, a priority and prices of their own).  A
 * deployment is an entry of the model table with an id of its own
 * (MODEL@PROVIDER or name=), listed=off, so that everything keyed by a
 * model (cooldowns, the fleet's, metrics, prices, settlement) is keyed by
 * the deployment without knowing of it.  A request's chain holds
 * deployments: each model it names is expanded here, best priority
 * first, the deployment weighted round robin picks first among its
 * priority's (ngx_http_tokenroute_cooldown_pick()).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_conf.h"
#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_models.h"


#define NGX_HTTP_TOKENROUTE_PRICE_UNSET  (-2)


static ngx_int_t ngx_http_tokenroute_chain_push(
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m);


/*
 * tokenroute_deployment MODEL_ID provider=P [upstream_model=ID]
 *     [weight=N] [priority=N] [name=ID] [input_price=... and the others]
 */

char *
ngx_http_tokenroute_deployment_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t *trmcf = conf;

    u_char                           *p;
    ngx_int_t                         n;
    ngx_str_t                        *value, v, name;
    ngx_uint_t                        i, j, index;
    ngx_http_tokenroute_model_t      *m, *d, dep;
    ngx_http_tokenroute_provider_t  **provp;

    value = cf->args->elts;

    m = ngx_http_tokenroute_find_model(trmcf, value[1].data, value[1].len);

    if (m == NULL || m->deployment) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown model \"%V\" (declare it with "
                           "tokenroute_model before its deployments)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (m->provider) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "model \"%V\" has provider=: a model of "
                           "deployments names none", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* the table may move as it grows: the model is kept by index */
    index = m - (ngx_http_tokenroute_model_t *) trmcf->models.elts;

    ngx_memzero(&dep, sizeof(ngx_http_tokenroute_model_t));
    dep.upstream_model = m->upstream_model;
    dep.input_price = NGX_HTTP_TOKENROUTE_PRICE_UNSET;
    dep.output_price = NGX_HTTP_TOKENROUTE_PRICE_UNSET;
    dep.cached_input_price = NGX_HTTP_TOKENROUTE_PRICE_UNSET;
    dep.cache_write_price = NGX_HTTP_TOKENROUTE_PRICE_UNSET;
    dep.cache_write_1h_price = NGX_HTTP_TOKENROUTE_PRICE_UNSET;
    dep.max_output_tokens = m->max_output_tokens;
    dep.weight = 1;
    dep.priority = 1;
    dep.deployment = 1;
    dep.parent_index = index;

    ngx_str_null(&name);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_tokenroute_conf_arg(&value[i], "provider", &v)
            == NGX_OK)
        {
            provp = trmcf->providers.elts;

            for (j = 0; j < trmcf->providers.nelts; j++) {
                if (provp[j]->name.len == v.len
                    && ngx_strncmp(provp[j]->name.data, v.data, v.len) == 0)
                {
                    dep.provider = provp[j];
                    break;
                }
            }

            if (dep.provider == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown provider \"%V\" (declare it with "
                                   "tokenroute_provider before the models "
                                   "that use it)", &v);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "upstream_model", &v)
            == NGX_OK)
        {
            if (ngx_http_tokenroute_conf_valid_id(&v) != NGX_OK) {
                goto invalid;
            }

            dep.upstream_model = v;
            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "name", &v) == NGX_OK) {
            if (v.len > TOKENROUTE_MODEL_MAX_LEN
                || ngx_http_tokenroute_conf_valid_id(&v) != NGX_OK)
            {
                goto invalid;
            }

            name = v;
            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "weight", &v) == NGX_OK) {
            n = ngx_atoi(v.data, v.len);

            if (n < 1 || n > NGX_HTTP_TOKENROUTE_WEIGHT_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid weight \"%V\": expected 1 to %d",
                                   &v, NGX_HTTP_TOKENROUTE_WEIGHT_MAX);
                return NGX_CONF_ERROR;
            }

            dep.weight = n;
            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "priority", &v)
            == NGX_OK)
        {
            n = ngx_atoi(v.data, v.len);

            if (n < 1 || n > NGX_HTTP_TOKENROUTE_PRIORITY_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid priority \"%V\": expected 1 to "
                                   "%d", &v, NGX_HTTP_TOKENROUTE_PRIORITY_MAX);
                return NGX_CONF_ERROR;
            }

            dep.priority = n;
            continue;
        }

        switch (ngx_http_tokenroute_conf_price(cf, &value[i], &dep)) {
        case NGX_OK:
            continue;
        case NGX_ERROR:
            return NGX_CONF_ERROR;
        default:
            goto invalid;
        }
    }

    if (dep.provider == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "deployment of model \"%V\" needs provider=",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        name.len = value[1].len + 1 + dep.provider->name.len;

        if (name.len > TOKENROUTE_MODEL_MAX_LEN) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "deployment id \"%V@%V\" is longer than %d: "
                               "give it a name=", &value[1],
                               &dep.provider->name, TOKENROUTE_MODEL_MAX_LEN);
            return NGX_CONF_ERROR;
        }

        /* NUL-terminated as the configuration's own strings are */

        name.data = ngx_pnalloc(cf->pool, name.len + 1);
        if (name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        p = ngx_cpymem(name.data, value[1].data, value[1].len);
        *p++ = '@';
        p = ngx_cpymem(p, dep.provider->name.data, dep.provider->name.len);
        *p = '\0';
    }

    if (ngx_http_tokenroute_find_model(trmcf, name.data, name.len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate deployment \"%V\": a model or "
                           "deployment has that id already (give it a "
                           "name=)", &name);
        return NGX_CONF_ERROR;
    }

    dep.id = name;

    /* prices not given are the model's; cached input follows the input */

    m = (ngx_http_tokenroute_model_t *) trmcf->models.elts + index;

    if (dep.cached_input_price == NGX_HTTP_TOKENROUTE_PRICE_UNSET) {
        dep.cached_input_price =
            (dep.input_price != NGX_HTTP_TOKENROUTE_PRICE_UNSET)
            ? dep.input_price : m->cached_input_price;
    }

    if (dep.input_price == NGX_HTTP_TOKENROUTE_PRICE_UNSET) {
        dep.input_price = m->input_price;
    }

    if (dep.output_price == NGX_HTTP_TOKENROUTE_PRICE_UNSET) {
        dep.output_price = m->output_price;
    }

    if (dep.cache_write_price == NGX_HTTP_TOKENROUTE_PRICE_UNSET) {
        dep.cache_write_price = m->cache_write_price;
    }

    if (dep.cache_write_1h_price == NGX_HTTP_TOKENROUTE_PRICE_UNSET) {
        dep.cache_write_1h_price = m->cache_write_1h_price;
    }

    d = ngx_array_push(&trmcf->models);
    if (d == NULL) {
        return NGX_CONF_ERROR;
    }

    *d = dep;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * Once the http block is read (the table no longer moves): each model's
 * deployments, in priority order (configured order within one), and the
 * provider a model of deployments lists as its owner (its first's).
 */

ngx_int_t
ngx_http_tokenroute_resolve_deployments(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_uint_t                     i, j, k;
    ngx_http_tokenroute_model_t   *m, **dp, *t;

    m = trmcf->models.elts;

    for (i = 0; i < trmcf->models.nelts; i++) {

        if (!m[i].deployment) {
            continue;
        }

        m[i].parent = &m[m[i].parent_index];

        t = m[i].parent;

        if (t->deployments == NULL) {
            t->deployments = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_tokenroute_model_t *));
            if (t->deployments == NULL) {
                return NGX_ERROR;
            }
        }

        dp = ngx_array_push(t->deployments);
        if (dp == NULL) {
            return NGX_ERROR;
        }

        *dp = &m[i];
    }

    for (i = 0; i < trmcf->models.nelts; i++) {

        if (m[i].deployment || m[i].provider) {
            continue;
        }

        if (m[i].deployments == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "model \"%V\" needs provider= or "
                          "tokenroute_deployment", &m[i].id);
            return NGX_ERROR;
        }

        /* a stable insertion sort: a handful of deployments */

        dp = m[i].deployments->elts;

        for (j = 1; j < m[i].deployments->nelts; j++) {
            t = dp[j];

            for (k = j; k > 0 && dp[k - 1]->priority > t->priority; k--) {
                dp[k] = dp[k - 1];
            }

            dp[k] = t;
        }

        m[i].provider = dp[0]->provider;
    }

    return NGX_OK;
}


/*
 * Adds model m to the request's chain: itself, or its deployments, best
 * priority first; within a priority the one the weighted rotation picks
 * among those not cooling, then the others in configured order (the
 * fallbacks of the same priority).  Only the best priority of the model
 * asked (commit) takes a step of the rotation: a step stands for a
 * request served from that group; a fallback model's deployments, or a
 * priority reached only when the better one fails, are picked without
 * one, so that their rotation keeps their own requests' weights.
 */

ngx_int_t
ngx_http_tokenroute_chain_expand(ngx_http_tokenroute_ctx_t *ctx,
    ngx_http_tokenroute_model_t *m, ngx_uint_t commit)
{
    ngx_uint_t                     i, j, k, n, pick;
    ngx_http_tokenroute_model_t  **dp;

    if (m->deployments == NULL) {
        return ngx_http_tokenroute_chain_push(ctx, m);
    }

    dp = m->deployments->elts;
    n = m->deployments->nelts;

    for (i = 0; i < n; i = j) {

        for (j = i + 1; j < n && dp[j]->priority == dp[i]->priority; j++) {
            /* the end of this priority */
        }

        pick = (j - i > 1)
               ? ngx_http_tokenroute_cooldown_pick(&dp[i], j - i,
                                                   commit && i == 0)
               : 0;

        if (pick < j - i) {
            (void) ngx_http_tokenroute_chain_push(ctx, dp[i + pick]);
        }

        for (k = i; k < j; k++) {
            (void) ngx_http_tokenroute_chain_push(ctx, dp[k]);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_chain_push(ngx_http_tokenroute_ctx_t *ctx,
    ngx_http_tokenroute_model_t *m)
{
    ngx_uint_t  i;

    for (i = 0; i < ctx->nchain; i++) {
        if (ctx->chain[i] == m) {
            return NGX_DECLINED;
        }
    }

    if (ctx->nchain == NGX_HTTP_TOKENROUTE_CHAIN_SIZE) {
        return NGX_DECLINED;
    }

    ctx->chain[ctx->nchain++] = m;

    return NGX_OK;
}
