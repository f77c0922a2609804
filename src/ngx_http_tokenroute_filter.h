
/*
 * Copyright (C) tokenroute authors
 *
 * The response filters' internal header: what the filters, their
 * rewriting modes and a stream cut short share.
 */


#ifndef _NGX_HTTP_TOKENROUTE_FILTER_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_FILTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/* ngx_http_tokenroute_rewrite.c */
ngx_int_t ngx_http_tokenroute_rewrite(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
ngx_int_t ngx_http_tokenroute_rewrite_held(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/* ngx_http_tokenroute_output.c */
void ngx_http_tokenroute_next_init(void);
ngx_int_t ngx_http_tokenroute_next_header(ngx_http_request_t *r);
ngx_int_t ngx_http_tokenroute_next_body(ngx_http_request_t *r,
    ngx_chain_t *in);
ngx_int_t ngx_http_tokenroute_hold(ngx_http_tokenroute_response_t *resp,
    u_char *p, size_t len);
ngx_int_t ngx_http_tokenroute_hold_reserve(
    ngx_http_tokenroute_response_t *resp, size_t len);
int ngx_http_tokenroute_emit(void *data, const char *p, size_t len);
ngx_chain_t *ngx_http_tokenroute_empty_link(ngx_pool_t *pool);
void ngx_http_tokenroute_read(ngx_http_tokenroute_ctx_t *ctx, u_char *p,
    size_t len);

/* ngx_http_tokenroute_held.c */
ngx_int_t ngx_http_tokenroute_check_status(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_answer_failed(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t status);
ngx_int_t ngx_http_tokenroute_held_init(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_held_body(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);

ngx_int_t ngx_http_tokenroute_hold(ngx_http_tokenroute_response_t *resp,
    u_char *p, size_t len);

/* ngx_http_tokenroute_sse_gate.c: the verdicts on an event */
#define NGX_HTTP_TOKENROUTE_EVENT_PASS  0
#define NGX_HTTP_TOKENROUTE_EVENT_DROP  1
#define NGX_HTTP_TOKENROUTE_EVENT_BAD   2

ngx_int_t ngx_http_tokenroute_sse_gate(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
int ngx_http_tokenroute_sse_gate_event(ngx_http_tokenroute_ctx_t *ctx,
    ngx_uint_t verdict);

/* ngx_http_tokenroute_stream_cut.c */
ngx_uint_t ngx_http_tokenroute_upstream_broken(ngx_http_request_t *r,
    ngx_http_tokenroute_response_t *resp, ngx_chain_t *in);
ngx_int_t ngx_http_tokenroute_stream_cut(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);


#endif /* _NGX_HTTP_TOKENROUTE_FILTER_H_INCLUDED_ */
