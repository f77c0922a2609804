
/*
 * Copyright (C) tokenroute authors
 *
 * A request parked on Redis (ngx_http_tokenroute_park.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_PARK_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_PARK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


void ngx_http_tokenroute_resume(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
uint64_t ngx_http_tokenroute_usec(void);


#endif /* _NGX_HTTP_TOKENROUTE_PARK_H_INCLUDED_ */
