
/*
 * Copyright (C) tokenroute authors
 *
 * The client's key: extraction and hashing, the models it may use
 * (ngx_http_tokenroute_key.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_KEY_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_KEY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_key_extract(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_key_misplaced(ngx_http_request_t *r,
    const char **message);
ngx_int_t ngx_http_tokenroute_key_allows(ngx_http_tokenroute_key_t *key,
    ngx_uint_t i);
ngx_table_elt_t *ngx_http_tokenroute_header_in(ngx_list_t *headers,
    ngx_str_t *name);


#endif /* _NGX_HTTP_TOKENROUTE_KEY_H_INCLUDED_ */
