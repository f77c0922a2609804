
/*
 * Copyright (C) tokenroute authors
 *
 * The client's request: its body, its endpoint, its id
 * (ngx_http_tokenroute_request.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_REQUEST_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_REQUEST_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


void ngx_http_tokenroute_body_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_tokenroute_body_collect(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_request_id(u_char *id);
ngx_uint_t ngx_http_tokenroute_classify(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t suffix);


#endif /* _NGX_HTTP_TOKENROUTE_REQUEST_H_INCLUDED_ */
