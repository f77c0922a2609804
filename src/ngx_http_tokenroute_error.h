
/*
 * Copyright (C) tokenroute authors
 *
 * JSON errors in the client's shape, tokenroute_error
 * (ngx_http_tokenroute_error.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_ERROR_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_ERROR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_send_error(ngx_http_request_t *r,
    ngx_uint_t shape, ngx_uint_t status, const char *code,
    const char *message);
ngx_uint_t ngx_http_tokenroute_shape_of(ngx_http_request_t *r);
ngx_int_t ngx_http_tokenroute_own_error(ngx_http_request_t *r);
void ngx_http_tokenroute_watch_body(ngx_http_request_t *r);
char *ngx_http_tokenroute_error_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tokenroute_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *data, size_t len);


#endif /* _NGX_HTTP_TOKENROUTE_ERROR_H_INCLUDED_ */
