
/*
 * Copyright (C) tokenroute authors
 *
 * Routing a request to its provider: what can be known without Redis
 * (the body scanned, the model and its chain), the provider's URI, and
 * the body the provider gets, its model replaced or translated into the
 * provider's shape.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_models.h"
#include "ngx_http_tokenroute_provider_azure.h"
#include "ngx_http_tokenroute_provider_bedrock.h"
#include "ngx_http_tokenroute_provider_vertex.h"
#include "ngx_http_tokenroute_request.h"
#include "ngx_http_tokenroute_reserve.h"
#include "ngx_http_tokenroute_route.h"


static ngx_int_t ngx_http_tokenroute_translate(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_build_chain(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


/* the request scan's, read before anything can run in between */
static tokenroute_request_t  ngx_http_tokenroute_scan;


/*
 * Everything that can be known without Redis: the body, the model, the
 * route.  NGX_OK: ready for admission; NGX_DECLINED: the request will be
 * rejected once the key is checked.
 */

ngx_int_t
ngx_http_tokenroute_prepare(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    const char                       *error;
    ngx_int_t                         rc;
    ngx_uint_t                        i, status;
    tokenroute_request_t             *req;
    ngx_http_tokenroute_model_t      *asked;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODELS
        || ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODEL)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_tokenroute_body_collect(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute body: read, %uz bytes", ctx->body.len);

    if (ctx->body.len == 0) {
        ctx->req_status = TOKENROUTE_REQUEST_INVALID_JSON;
        return NGX_DECLINED;
    }

    /*
     * The scan writes the names of "models" too, which only the chain
     * built below reads: into a scratch copy, of which the context keeps
     * all but those (module.h)
     */

    req = &ngx_http_tokenroute_scan;
    ngx_memcpy(req, &ctx->req, offsetof(tokenroute_request_t, models));

    ctx->req_status = tokenroute_request_scan(ctx->body.data, ctx->body.len,
                                              req);

    ngx_memcpy(&ctx->req, req, offsetof(tokenroute_request_t, models));

    if (ctx->req_status == TOKENROUTE_REQUEST_NO_MEMORY) {
        return NGX_ERROR;
    }

    if (ctx->req_status != TOKENROUTE_REQUEST_OK) {
        return NGX_DECLINED;
    }

    /* a bound on every reservation and charge computed from it */

    if (ctx->req.max_tokens > TOKENROUTE_MAX_TOKENS_LIMIT) {
        ctx->req_status = TOKENROUTE_REQUEST_BIG_MAX_TOKENS;
        return NGX_DECLINED;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    ctx->model = ngx_http_tokenroute_find_listed_model(trmcf,
                     (u_char *) ctx->req.model, ctx->req.model_len);
    if (ctx->model == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_tokenroute_build_chain(r, ctx);

    /* the first deployment of the model asked for */
    ctx->model = ctx->chain[0];

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute request: model \"%V\", chain of %ui%s",
                   &ctx->model->id, ctx->nchain,
                   rc == NGX_OK ? "" : ", refused");

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ctx->route_status = NGX_HTTP_NOT_FOUND;
        }

        return rc;
    }

    /*
     * the weighted pick first, then its siblings: a deployment whose type
     * cannot take this request (count_tokens, embeddings, a translation
     * into its shape) leaves it to one that can; if none can, the error
     * is the first one's
     */

    asked = ngx_http_tokenroute_public(ctx->chain[0]);
    error = NULL;
    status = 0;

    for (i = 0; i < ctx->nchain; i++) {
        if (ngx_http_tokenroute_public(ctx->chain[i]) != asked) {
            break;
        }

        ctx->model = ctx->chain[i];
        ctx->translate = 0;
        ngx_str_null(&ctx->upstream_body);

        if (ngx_http_tokenroute_route(r, ctx) == NGX_OK) {
            break;
        }

        if (i == 0) {
            error = ctx->route_error;
            status = ctx->route_status;
        }
    }

    if (i == ctx->nchain
        || ngx_http_tokenroute_public(ctx->chain[i]) != asked)
    {
        ctx->model = ctx->chain[0];
        ctx->route_error = error;
        ctx->route_status = status;
        ngx_str_null(&ctx->upstream_body);

        return NGX_DECLINED;
    }

    /* counting tokens costs nothing: the key is checked, nothing reserved */

    return (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_COUNT_TOKENS)
           ? NGX_DECLINED : NGX_OK;
}


/* publishes the upstream, URI and rewritten body for the proxy */

ngx_int_t
ngx_http_tokenroute_route(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                          *p;
    size_t                           size;
    ngx_int_t                        rc;
    ngx_str_t                        endpoint;
    ngx_uint_t                       type;
    tokenroute_rewrite_t             rw;
    ngx_http_tokenroute_model_t     *m;
    ngx_http_tokenroute_provider_t  *prov;

    m = ctx->model;
    prov = m->provider;
    type = prov->type;

    /* a signature or a token is made for each attempt, by its type */
    ngx_str_null(&ctx->upstream_authorization);
    ngx_str_null(&ctx->upstream_amz_date);

    /* made below for this provider, or not at all (variables.c) */
    ngx_str_null(&ctx->upstream_url);

    switch (ctx->endpoint) {

    case NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT:
    case NGX_HTTP_TOKENROUTE_ENDPOINT_MESSAGES:
        if (prov->shape == TOKENROUTE_SHAPE_OPENAI) {
            ngx_str_set(&endpoint, "/chat/completions");

        } else {
            ngx_str_set(&endpoint, "/messages");
        }

        ctx->translate = (prov->shape != ctx->shape);

        break;

    case NGX_HTTP_TOKENROUTE_ENDPOINT_COUNT_TOKENS:
        if (type == NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK) {
            ctx->route_error = "Token counting is not available for models "
                               "served by Bedrock (type=bedrock) providers";
            return NGX_DECLINED;
        }

        if (type != NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC) {
            ctx->route_error = "Token counting is available for models of "
                               "Anthropic-type providers only";
            return NGX_DECLINED;
        }

        ngx_str_set(&endpoint, "/messages/count_tokens");
        break;

    default: /* NGX_HTTP_TOKENROUTE_ENDPOINT_EMBEDDINGS */
        if (type != NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI
            && type != NGX_HTTP_TOKENROUTE_PROVIDER_AZURE)
        {
            ctx->route_error = "Embeddings are available for models of "
                               "OpenAI-type providers only";
            return NGX_DECLINED;
        }

        ngx_str_set(&endpoint, "/embeddings");
        break;
    }

    switch (type) {

    case NGX_HTTP_TOKENROUTE_PROVIDER_AZURE:
        if (ngx_http_tokenroute_azure_uri(r, prov, &m->upstream_model,
                                          &endpoint, &ctx->upstream_uri)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    default:
        /* the URI after the upstream: $tokenroute_upstream_url, no copy */

        ctx->upstream_url.len = prov->upstream.len + prov->base_path.len
                                + endpoint.len;
        ctx->upstream_url.data = ngx_pnalloc(r->pool, ctx->upstream_url.len);
        if (ctx->upstream_url.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(ctx->upstream_url.data, prov->upstream.data,
                       prov->upstream.len);

        ctx->upstream_uri.data = p;
        ctx->upstream_uri.len = prov->base_path.len + endpoint.len;

        p = ngx_cpymem(p, prov->base_path.data, prov->base_path.len);
        ngx_memcpy(p, endpoint.data, endpoint.len);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute route: model \"%V\", provider \"%V\", "
                   "uri \"%V\", translate %ui", &m->id, &prov->name,
                   &ctx->upstream_uri, (ngx_uint_t) ctx->translate);

    if (ctx->translate) {
        rc = ngx_http_tokenroute_translate(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }

        goto done;
    }

    rw.model = (const char *) m->upstream_model.data;
    rw.model_len = m->upstream_model.len;

    /* the provider's own usage report is what a stream is charged from */
    rw.include_usage = (ctx->req.stream
                        && ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT);
    rw.drop_models = 1;

    size = tokenroute_request_rewrite_size(ctx->body.len, &ctx->req, &rw);

    /*
     * a large allocation of its own: once a stream's answer starts, the
     * body is in the upstream's request buffer and this copy is freed
     * (filter.c), not kept in the pool for the stream's whole life
     */

    ctx->upstream_body.data = ngx_pmemalign(r->pool, size, NGX_ALIGNMENT);
    if (ctx->upstream_body.data == NULL) {
        return NGX_ERROR;
    }

    ctx->upstream_body.len = tokenroute_request_rewrite(ctx->body.data,
                                                        ctx->body.len,
                                                        &ctx->req, &rw,
                                                        ctx->upstream_body.data);

done:

    /* what differs by type: the URI, body and credential of an attempt */

    switch (type) {

    case NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK:
        return ngx_http_tokenroute_bedrock_route(r, ctx);

    case NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX:
        return ngx_http_tokenroute_vertex_route(r, ctx);

    default:
        return NGX_OK;
    }
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

    from = (ctx->shape == TOKENROUTE_SHAPE_ANTHROPIC)
           ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;
    to = (from == TOKENROUTE_SHAPE_ANTHROPIC)
         ? TOKENROUTE_SHAPE_OPENAI : TOKENROUTE_SHAPE_ANTHROPIC;

    opts.model = (const char *) ctx->model->upstream_model.data;
    opts.model_len = ctx->model->upstream_model.len;
    opts.default_max_tokens = ngx_http_tokenroute_max_output(trmcf,
                                                             ctx->model);

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

    if (rc == -3) {
        /* invalid UTF-8, which the skim leaves to the provider to find */
        ctx->req_status = TOKENROUTE_REQUEST_INVALID_JSON;
        return NGX_DECLINED;
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
 * The chain: the requested model first, then the request's "models" or
 * else the model's configured fallbacks.  NGX_DECLINED names an unknown
 * model in ctx->route_error.
 */

static ngx_int_t
ngx_http_tokenroute_build_chain(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                           *msg;
    ngx_int_t                         i;
    ngx_http_tokenroute_model_t      *m, **fp;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    ctx->nchain = 0;

    /* each model expanded into its deployments; the asked one's rotates */
    (void) ngx_http_tokenroute_chain_expand(ctx, ctx->model, 1);

    if (ctx->req.nmodels == 0) {
        if (ctx->model->chain) {
            fp = ctx->model->chain->elts;

            for (i = 0; i < (ngx_int_t) ctx->model->chain->nelts; i++) {
                (void) ngx_http_tokenroute_chain_expand(ctx, fp[i], 0);
            }
        }

        return NGX_OK;
    }

    for (i = 0; i < ctx->req.nmodels; i++) {
        m = ngx_http_tokenroute_find_listed_model(trmcf,
                (u_char *) ngx_http_tokenroute_scan.models[i],
                ngx_strlen(ngx_http_tokenroute_scan.models[i]));
        if (m == NULL) {
            msg = ngx_pnalloc(r->pool, TOKENROUTE_MODEL_MAX_LEN + 64);
            if (msg == NULL) {
                return NGX_ERROR;
            }

            *ngx_snprintf(msg, TOKENROUTE_MODEL_MAX_LEN + 63,
                          "The model \"%s\" in \"models\" does not exist",
                          ngx_http_tokenroute_scan.models[i]) = '\0';

            ctx->route_error = (char *) msg;
            return NGX_DECLINED;
        }

        (void) ngx_http_tokenroute_chain_expand(ctx, m, 0);
    }

    return NGX_OK;
}

