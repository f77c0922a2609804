
/*
 * Copyright (C) tokenroute authors
 *
 * The model table, the models a key check asks about, and GET /v1/models
 * (ngx_http_tokenroute_models.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_MODELS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_MODELS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_deployment.h"


/*
 * The models a key check asks about, the script (admission.lua) or the
 * lease zone's record (lease.c) alike: the catalog for GET /v1/models,
 * the model of GET /v1/models/{id} (none if it is not listed), else the
 * chain, the model asked for first.  The answer about them, one "1" or
 * "0" each in the same order, is ctx->key.allowed.
 */
typedef struct {
    ngx_http_tokenroute_model_t   *catalog;   /* or NULL: chain[] */
    ngx_http_tokenroute_model_t  **chain;
    ngx_http_tokenroute_model_t   *one;
    ngx_uint_t                     n;
} ngx_http_tokenroute_asked_t;


ngx_http_tokenroute_model_t *ngx_http_tokenroute_find_listed_model(
    ngx_http_tokenroute_main_conf_t *trmcf, u_char *id, size_t len);
ngx_http_tokenroute_model_t *ngx_http_tokenroute_find_model(
    ngx_http_tokenroute_main_conf_t *trmcf, u_char *id, size_t len);
ngx_int_t ngx_http_tokenroute_send_models(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_send_model(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
void ngx_http_tokenroute_asked(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_asked_t *a);


/* the i-th model asked about: a key may use the public one, any deployment */

static ngx_inline ngx_str_t *
ngx_http_tokenroute_asked_id(ngx_http_tokenroute_asked_t *a, ngx_uint_t i)
{
    return a->catalog ? &a->catalog[i].id
                      : &ngx_http_tokenroute_public(a->chain[i])->id;
}


#endif /* _NGX_HTTP_TOKENROUTE_MODELS_H_INCLUDED_ */
