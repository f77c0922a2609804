
/*
 * Copyright (C) tokenroute authors
 *
 * An admin API request's state and its parameters
 * (ngx_http_tokenroute_admin_params.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_ADMIN_PARAMS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_ADMIN_PARAMS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_admin_call.h"
#include "tokenroute_admin.h"
#include "tokenroute_secret.h"


/* a request body the control plane takes, at most */
#define NGX_HTTP_TOKENROUTE_ADMIN_BODY_MAX  (64 * 1024)

#define NGX_HTTP_TOKENROUTE_ACTOR           "admin-key:"

/* a body's members: as many as the command's 80 arguments can carry */
#define NGX_HTTP_TOKENROUTE_ADMIN_MEMBERS   38


typedef struct {
    tokenroute_admin_match_t               match;
    ngx_http_tokenroute_admin_script_t    *script;
    ngx_array_t                           *args;     /* ngx_str_t */
    ngx_array_t                           *report;   /* its parameters */
    u_char                                 hash[65];
    tokenroute_secret_t                    secret;

    /* a refusal found while collecting the parameters (NGX_ABORT) */
    ngx_uint_t                             status;
    const char                            *code;
    u_char                                *message;
} ngx_http_tokenroute_admin_ctx_t;


ngx_int_t ngx_http_tokenroute_admin_read(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, ngx_str_t *body);
ngx_int_t ngx_http_tokenroute_admin_members(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, ngx_str_t *body);
ngx_int_t ngx_http_tokenroute_admin_query(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_admin_segment(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, tokenroute_admin_segment_t *seg);
ngx_int_t ngx_http_tokenroute_admin_arg(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, const void *p, size_t len);

/* keeps the error to answer; returns NGX_ABORT */
ngx_int_t ngx_http_tokenroute_admin_fail(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, ngx_uint_t status,
    const char *code, const char *fmt, ...);


#endif /* _NGX_HTTP_TOKENROUTE_ADMIN_PARAMS_H_INCLUDED_ */
