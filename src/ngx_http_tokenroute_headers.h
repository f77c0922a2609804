
/*
 * Copyright (C) tokenroute authors
 *
 * The response headers a client sees: the provider's scrubbed to a
 * short list (ngx_http_tokenroute_headers.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_HEADERS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_HEADERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_headers_scrub(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_HEADERS_H_INCLUDED_ */
