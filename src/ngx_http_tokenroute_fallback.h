
/*
 * Copyright (C) tokenroute authors
 *
 * The next attempt after a provider failed, and the ctx kept
 * across error_page (ngx_http_tokenroute_fallback.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_FALLBACK_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_FALLBACK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_http_tokenroute_ctx_t *ngx_http_tokenroute_new_ctx(ngx_http_request_t *r);
ngx_http_tokenroute_ctx_t *ngx_http_tokenroute_recover_ctx(
    ngx_http_request_t *r);
ngx_int_t ngx_http_tokenroute_choose(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t from);
ngx_int_t ngx_http_tokenroute_fallback(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_FALLBACK_H_INCLUDED_ */
