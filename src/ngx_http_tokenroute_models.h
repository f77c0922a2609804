
/*
 * Copyright (C) tokenroute authors
 *
 * The model table and GET /v1/models
 * (ngx_http_tokenroute_models.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_MODELS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_MODELS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_http_tokenroute_model_t *ngx_http_tokenroute_find_listed_model(
    ngx_http_tokenroute_main_conf_t *trmcf, u_char *id, size_t len);
ngx_http_tokenroute_model_t *ngx_http_tokenroute_find_model(
    ngx_http_tokenroute_main_conf_t *trmcf, u_char *id, size_t len);
ngx_int_t ngx_http_tokenroute_send_models(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_send_model(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_MODELS_H_INCLUDED_ */
