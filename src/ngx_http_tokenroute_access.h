
/*
 * Copyright (C) tokenroute authors
 *
 * The access-phase handler (ngx_http_tokenroute_access.c): where a
 * request enters the gateway.
 */


#ifndef _NGX_HTTP_TOKENROUTE_ACCESS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_ACCESS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_access_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TOKENROUTE_ACCESS_H_INCLUDED_ */
