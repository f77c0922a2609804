
/*
 * Copyright (C) tokenroute authors
 *
 * What a request can cost at most (ngx_http_tokenroute_reserve.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_RESERVE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_RESERVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


int64_t ngx_http_tokenroute_reserve(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_ctx_t *ctx, int64_t *tokens);
int64_t ngx_http_tokenroute_max_output(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_model_t *m);
int64_t ngx_http_tokenroute_output_cap(ngx_http_tokenroute_main_conf_t *trmcf,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_model_t *m);
int64_t ngx_http_tokenroute_input_bound(
    ngx_http_tokenroute_main_conf_t *trmcf, ngx_http_tokenroute_ctx_t *ctx);
void ngx_http_tokenroute_prices(ngx_http_tokenroute_model_t *m,
    tokenroute_prices_t *p);


#endif /* _NGX_HTTP_TOKENROUTE_RESERVE_H_INCLUDED_ */
