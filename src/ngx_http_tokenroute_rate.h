
/*
 * Copyright (C) tokenroute authors
 *
 * A rate limit's refusal: its verdict, its message, its headers
 * (ngx_http_tokenroute_rate.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_RATE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_RATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_rate_parse(ngx_http_tokenroute_rate_t *rate,
    u_char *p, u_char *last);
ngx_int_t ngx_http_tokenroute_rate_refusal(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, u_char *msg, size_t len);


#endif /* _NGX_HTTP_TOKENROUTE_RATE_H_INCLUDED_ */
