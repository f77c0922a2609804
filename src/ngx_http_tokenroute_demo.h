
/*
 * Copyright (C) tokenroute authors
 *
 * The demo provider's internals, shared by ngx_http_tokenroute_demo.c
 * (the directive and the request), ngx_http_tokenroute_demo_answer.c (the
 * answers in both shapes) and ngx_http_tokenroute_demo_stream.c (the
 * timer that paces a stream).
 */


#ifndef _NGX_HTTP_TOKENROUTE_DEMO_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_DEMO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/* the stream's events, in order; the Anthropic shape uses them all */
#define NGX_HTTP_TOKENROUTE_DEMO_HEAD         0  /* role / message_start */
#define NGX_HTTP_TOKENROUTE_DEMO_BLOCK_START  1  /* content_block_start */
#define NGX_HTTP_TOKENROUTE_DEMO_WORDS        2
#define NGX_HTTP_TOKENROUTE_DEMO_FINISH       3  /* finish / block_stop */
#define NGX_HTTP_TOKENROUTE_DEMO_USAGE        4  /* usage / message_delta */
#define NGX_HTTP_TOKENROUTE_DEMO_END          5  /* [DONE] / message_stop */


typedef struct {
    ngx_http_request_t  *request;
    ngx_event_t          timer;

    ngx_uint_t           endpoint;
    ngx_uint_t           state;

    ngx_str_t            id;
    ngx_str_t            model;          /* JSON-escaped */
    time_t               created;

    ngx_str_t            text;           /* the words answered */
    u_char              *word;           /* the next word to stream */
    const char          *stop_reason;

    ngx_uint_t           prompt_tokens;
    ngx_uint_t           completion_tokens;

    unsigned             include_usage:1;
} ngx_http_tokenroute_demo_ctx_t;


/* ngx_http_tokenroute_demo.c */
char *ngx_http_tokenroute_demo_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_tokenroute_demo_answer.c */
void ngx_http_tokenroute_demo_text(ngx_http_tokenroute_demo_ctx_t *ctx,
    int64_t max_tokens);
ngx_int_t ngx_http_tokenroute_demo_complete(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);
ngx_buf_t *ngx_http_tokenroute_demo_openai_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);
ngx_buf_t *ngx_http_tokenroute_demo_anthropic_event(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);

/* ngx_http_tokenroute_demo_stream.c */
ngx_int_t ngx_http_tokenroute_demo_stream(ngx_http_request_t *r,
    ngx_http_tokenroute_demo_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_DEMO_H_INCLUDED_ */
