
/*
 * Copyright (C) tokenroute authors
 */


#ifndef _NGX_HTTP_TOKENROUTE_MODULE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "tokenroute_request.h"


#define NGX_HTTP_TOKENROUTE_OPENAI      1
#define NGX_HTTP_TOKENROUTE_ANTHROPIC   2

/* endpoints, classified from the request URI */
#define NGX_HTTP_TOKENROUTE_API_UNKNOWN      0
#define NGX_HTTP_TOKENROUTE_API_CHAT         1
#define NGX_HTTP_TOKENROUTE_API_MESSAGES     2
#define NGX_HTTP_TOKENROUTE_API_MODELS       3

/* "sk-tr-" plus 43 base64url characters of 32 random bytes */
#define NGX_HTTP_TOKENROUTE_KEY_PREFIX       "sk-tr-"
#define NGX_HTTP_TOKENROUTE_KEY_MIN_LEN      (sizeof("sk-tr-") - 1 + 32)
#define NGX_HTTP_TOKENROUTE_KEY_MAX_LEN      256

#define NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN   64


typedef struct {
    ngx_str_t                        name;
    ngx_uint_t                       type;
    ngx_str_t                        url;
    ngx_str_t                        upstream;    /* "http://host:port" */
    ngx_str_t                        base_path;   /* "/v1", no trailing / */
    ngx_str_t                        host;        /* Host header, SNI */
    ngx_str_t                        authorization;
    ngx_str_t                        api_key;
    ngx_str_t                        upstream_name;
    u_char                          *file;
    ngx_uint_t                       line;
} ngx_http_tokenroute_provider_t;


typedef struct {
    ngx_str_t                        id;
    ngx_str_t                        upstream_model;
    ngx_http_tokenroute_provider_t  *provider;
    int64_t                          input_price;    /* nUSD per Mtok */
    int64_t                          output_price;
    int64_t                          cached_input_price;
} ngx_http_tokenroute_model_t;


typedef struct {
    ngx_str_t                        host;        /* IP address */
    in_port_t                        port;
    ngx_str_t                        unix_path;
    ngx_str_t                        password;
    ngx_int_t                        db;
    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       timeout;
    ngx_flag_t                       configured;
} ngx_http_tokenroute_redis_conf_t;


typedef struct {
    ngx_array_t                      providers;  /* provider_t * */
    ngx_array_t                      models;     /* model_t */
    ngx_http_tokenroute_redis_conf_t redis;
    ngx_str_t                        anthropic_version;
    time_t                           created;
    ngx_flag_t                       used;
} ngx_http_tokenroute_main_conf_t;


typedef struct {
    ngx_flag_t                       enable;
} ngx_http_tokenroute_loc_conf_t;


typedef struct ngx_http_tokenroute_redis_op_s  ngx_http_tokenroute_redis_op_t;


typedef struct {
    ngx_str_t                        id;
    ngx_str_t                        name;
    ngx_str_t                        account;
    ngx_str_t                        models;     /* comma list, "" = all */
    time_t                           expires_at;
    unsigned                         found:1;
    unsigned                         revoked:1;
} ngx_http_tokenroute_key_t;


typedef struct {
    ngx_uint_t                       api;
    ngx_uint_t                       shape;      /* error/response shape */

    ngx_str_t                        raw_key;
    u_char                           key_hash[NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];
    ngx_http_tokenroute_key_t        key;

    ngx_str_t                        body;
    tokenroute_request_t             req;

    ngx_http_tokenroute_model_t     *model;
    ngx_str_t                        upstream_body;
    ngx_str_t                        upstream_uri;

    ngx_http_tokenroute_redis_op_t  *op;

    ngx_int_t                        redis_status;

    unsigned                         body_done:1;
    unsigned                         waiting_body:1;
    unsigned                         lookup_started:1;
    unsigned                         lookup_done:1;
    unsigned                         waiting_lookup:1;
    unsigned                         decided:1;
} ngx_http_tokenroute_ctx_t;


/* ngx_http_tokenroute_conf.c */
char *ngx_http_tokenroute_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tokenroute_provider_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tokenroute_model_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tokenroute_check_upstreams(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);

/* ngx_http_tokenroute_access.c */
ngx_int_t ngx_http_tokenroute_access_handler(ngx_http_request_t *r);

/* ngx_http_tokenroute_key.c */
ngx_int_t ngx_http_tokenroute_key_extract(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_key_lookup(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
ngx_int_t ngx_http_tokenroute_key_allows_model(ngx_http_tokenroute_key_t *key,
    ngx_str_t *model);

/* ngx_http_tokenroute_models.c */
ngx_http_tokenroute_model_t *ngx_http_tokenroute_find_model(
    ngx_http_tokenroute_main_conf_t *trmcf, u_char *id, size_t len);
ngx_int_t ngx_http_tokenroute_send_models(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/* ngx_http_tokenroute_error.c */
ngx_int_t ngx_http_tokenroute_send_error(ngx_http_request_t *r,
    ngx_uint_t shape, ngx_uint_t status, const char *code,
    const char *message);
ngx_uint_t ngx_http_tokenroute_shape_of(ngx_http_request_t *r);
char *ngx_http_tokenroute_error_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tokenroute_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *data, size_t len);

/* ngx_http_tokenroute_variables.c */
ngx_int_t ngx_http_tokenroute_add_variables(ngx_conf_t *cf);

/* ngx_http_tokenroute_filter.c */
ngx_int_t ngx_http_tokenroute_filter_init(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_tokenroute_module;


#endif /* _NGX_HTTP_TOKENROUTE_MODULE_H_INCLUDED_ */
