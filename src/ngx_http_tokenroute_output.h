
/*
 * Copyright (C) tokenroute authors
 *
 * The response filters' ground floor (ngx_http_tokenroute_output.c): the
 * next filters, the output chain, the bytes held back and the usage read.
 * The filter files above include it; it includes none of theirs.
 */


#ifndef _NGX_HTTP_TOKENROUTE_OUTPUT_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_OUTPUT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


void ngx_http_tokenroute_next_init(void);
ngx_int_t ngx_http_tokenroute_next_header(ngx_http_request_t *r);
ngx_int_t ngx_http_tokenroute_next_body(ngx_http_request_t *r,
    ngx_chain_t *in);
ngx_int_t ngx_http_tokenroute_hold(ngx_http_tokenroute_response_t *resp,
    u_char *p, size_t len);
ngx_int_t ngx_http_tokenroute_hold_reserve(
    ngx_http_tokenroute_response_t *resp, size_t len);
int ngx_http_tokenroute_emit(void *data, const char *p, size_t len);
int ngx_http_tokenroute_append(ngx_pool_t *pool, ngx_chain_t **out,
    ngx_chain_t ***last_out, ngx_chain_t **free, ngx_buf_tag_t tag,
    u_char *p, size_t len);
ngx_chain_t *ngx_http_tokenroute_empty_link(ngx_pool_t *pool);
void ngx_http_tokenroute_read(ngx_http_tokenroute_ctx_t *ctx, u_char *p,
    size_t len);


#endif /* _NGX_HTTP_TOKENROUTE_OUTPUT_H_INCLUDED_ */
