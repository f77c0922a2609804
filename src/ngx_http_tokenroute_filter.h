
/*
 * Copyright (C) tokenroute authors
 *
 * The response filters' header: their entry point (filter_init, for the
 * module), and what ngx_http_tokenroute_filter.c calls below it, floor by
 * floor.  Calls go one way, down:
 *
 *   filter.c      the header and body filters
 *   stream_cut.c  a stream the provider ends early
 *   held.c        a non-stream answer held whole
 *   sse_gate.c    a stream in the client's shape
 *   rewrite.c     a stream translated, a held answer rewritten
 *   output.c      the next filters, the output chain, the bytes held back,
 *                 the usage read (ngx_http_tokenroute_output.h)
 *
 * A file calls only files listed below it.  (The one way up is a
 * callback: the SSE splitter that output.c feeds calls filter.c's event
 * handler, set when the stream's reading began.)
 */


#ifndef _NGX_HTTP_TOKENROUTE_FILTER_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_FILTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/* ngx_http_tokenroute_filter.c: registered at postconfiguration */
ngx_int_t ngx_http_tokenroute_filter_init(ngx_conf_t *cf);

/* ngx_http_tokenroute_stream_cut.c */
ngx_uint_t ngx_http_tokenroute_upstream_broken(ngx_http_request_t *r,
    ngx_http_tokenroute_response_t *resp, ngx_chain_t *in);
ngx_int_t ngx_http_tokenroute_stream_cut(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);

/* ngx_http_tokenroute_held.c */
ngx_int_t ngx_http_tokenroute_check_status(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_answer_failed(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t status);
ngx_int_t ngx_http_tokenroute_held_init(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_held_body(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);

/* ngx_http_tokenroute_sse_gate.c: the verdicts on an event */
#define NGX_HTTP_TOKENROUTE_EVENT_PASS  0
#define NGX_HTTP_TOKENROUTE_EVENT_DROP  1
#define NGX_HTTP_TOKENROUTE_EVENT_BAD   2

ngx_int_t ngx_http_tokenroute_sse_gate(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
int ngx_http_tokenroute_sse_gate_event(ngx_http_tokenroute_ctx_t *ctx,
    ngx_uint_t verdict);

/* ngx_http_tokenroute_rewrite.c */
ngx_int_t ngx_http_tokenroute_rewrite(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_chain_t *in);
ngx_int_t ngx_http_tokenroute_rewrite_held(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_FILTER_H_INCLUDED_ */
