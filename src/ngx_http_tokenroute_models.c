
/*
 * Copyright (C) tokenroute authors
 *
 * The configured model table: lookup by public id, and GET /v1/models in
 * OpenAI's list shape, limited to the models the key may use.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_error.h"
#include "ngx_http_tokenroute_key.h"
#include "ngx_http_tokenroute_models.h"


#define NGX_HTTP_TOKENROUTE_MODEL_ENTRY                                       \
    "{\"id\":\"\",\"object\":\"model\",\"created\":,\"owned_by\":\"\"},"


ngx_http_tokenroute_model_t *
ngx_http_tokenroute_find_model(ngx_http_tokenroute_main_conf_t *trmcf,
    u_char *id, size_t len)
{
    ngx_uint_t                    i;
    ngx_http_tokenroute_model_t  *m;

    m = trmcf->models.elts;

    for (i = 0; i < trmcf->models.nelts; i++) {
        if (m[i].id.len == len && ngx_strncmp(m[i].id.data, id, len) == 0) {
            return &m[i];
        }
    }

    return NULL;
}


/*
 * A model a client may name: listed=off keeps a model to the chains it
 * is a fallback of, and a client naming it gets the answer an unknown
 * model gets.
 */

ngx_http_tokenroute_model_t *
ngx_http_tokenroute_find_listed_model(ngx_http_tokenroute_main_conf_t *trmcf,
    u_char *id, size_t len)
{
    ngx_http_tokenroute_model_t  *m;

    m = ngx_http_tokenroute_find_model(trmcf, id, len);

    return (m != NULL && m->listed) ? m : NULL;
}


/* see ngx_http_tokenroute_asked_t */

void
ngx_http_tokenroute_asked(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_asked_t *a)
{
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    a->catalog = NULL;
    a->chain = ctx->chain;
    a->n = ctx->nchain;

    if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODELS) {
        a->catalog = trmcf->models.elts;
        a->n = trmcf->models.nelts;

    } else if (ctx->endpoint == NGX_HTTP_TOKENROUTE_ENDPOINT_MODEL) {
        a->one = ngx_http_tokenroute_find_listed_model(trmcf,
                                                       ctx->model_path.data,
                                                       ctx->model_path.len);
        a->chain = &a->one;
        a->n = (a->one != NULL);
    }
}


ngx_int_t
ngx_http_tokenroute_send_models(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                           *p, *body;
    size_t                            len;
    ngx_uint_t                        i;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);
    m = trmcf->models.elts;

    len = sizeof("{\"object\":\"list\",\"data\":[]}") - 1;

    for (i = 0; i < trmcf->models.nelts; i++) {
        len += sizeof(NGX_HTTP_TOKENROUTE_MODEL_ENTRY) - 1 + m[i].id.len
               + NGX_TIME_T_LEN + m[i].provider->name.len;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"object\":\"list\",\"data\":[",
                   sizeof("{\"object\":\"list\",\"data\":[") - 1);

    for (i = 0; i < trmcf->models.nelts; i++) {
        /* the admission script was asked about the catalog, in order */

        if (!m[i].listed
            || ngx_http_tokenroute_key_allows(&ctx->key, i) != NGX_OK)
        {
            continue;
        }

        /* ids and provider names were checked for JSON-safe bytes */

        p = ngx_sprintf(p, "{\"id\":\"%V\",\"object\":\"model\","
                        "\"created\":%T,\"owned_by\":\"%V\"},",
                        &m[i].id, trmcf->created, &m[i].provider->name);
    }

    if (p[-1] == ',') {
        p--;
    }

    p = ngx_cpymem(p, "]}", 2);

    return ngx_http_tokenroute_send_json(r, NGX_HTTP_OK, body, p - body);
}


/* GET /v1/models/{id}: one model, if this key may use it */

ngx_int_t
ngx_http_tokenroute_send_model(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                           *p, *body;
    size_t                            len;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    m = ngx_http_tokenroute_find_listed_model(trmcf, ctx->model_path.data,
                                              ctx->model_path.len);

    if (m == NULL
        || ngx_http_tokenroute_key_allows(&ctx->key, 0) != NGX_OK)
    {
        /* the same answer either way: a key cannot probe the model table */
        return ngx_http_tokenroute_send_error(r, ctx->shape,
                                              NGX_HTTP_NOT_FOUND,
                                              "model_not_found",
                                              "The model does not exist or "
                                              "this key may not use it");
    }

    len = sizeof(NGX_HTTP_TOKENROUTE_MODEL_ENTRY) - 1 + m->id.len
          + NGX_TIME_T_LEN + m->provider->name.len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"id\":\"%V\",\"object\":\"model\","
                    "\"created\":%T,\"owned_by\":\"%V\"}",
                    &m->id, trmcf->created, &m->provider->name);

    return ngx_http_tokenroute_send_json(r, NGX_HTTP_OK, body, p - body);
}
