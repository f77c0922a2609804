
/*
 * Copyright (C) tokenroute authors
 *
 * Routing a request to its provider: the model's chain, the URI, the
 * body (ngx_http_tokenroute_route.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_ROUTE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_ROUTE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_prepare(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_route(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_ROUTE_H_INCLUDED_ */
