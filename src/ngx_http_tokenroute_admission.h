
/*
 * Copyright (C) tokenroute authors
 *
 * A request's admission by Redis: its key's verdict, and its reservation
 * (ngx_http_tokenroute_admission.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_ADMISSION_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_ADMISSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_admission_init(ngx_conf_t *cf, ngx_str_t *script);
ngx_int_t ngx_http_tokenroute_admission_start(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_admission_check_key(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_ADMISSION_H_INCLUDED_ */
