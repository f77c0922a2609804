
/*
 * Copyright (C) tokenroute authors
 *
 * Claude on AWS Bedrock (tokenroute_provider ... type=bedrock): its
 * parameters and credentials, read by the master at load (and so again on
 * reload), and each attempt's URI, body and SigV4 signature.
 */


#ifndef _NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "tokenroute_sigv4.h"


typedef struct {
    ngx_str_t                        region;
    ngx_str_t                        credentials_file;
    ngx_str_t                        profile;

    /* NUL-terminated; empty with an API key (key_env=, key_file=) */
    ngx_str_t                        access_key;
    ngx_str_t                        secret_key;
    ngx_str_t                        session_token;

    /* each worker's x-amz-date of the second it was made for */
    time_t                           date_time;
    u_char                           date[TOKENROUTE_SIGV4_DATE_LEN];

    /* each worker's signing key for the day it was made for */
    u_char                           key_day[8];
    u_char                           signing_key[32];
    unsigned                         key_valid:1;

    /* the hashing state, made with the credentials, each worker's copy */
    tokenroute_sigv4_hash_t          hash;
    unsigned                         hash_ready:1;
} ngx_http_tokenroute_bedrock_conf_t;


/* NGX_OK: the parameter was the type's; NGX_DECLINED: not; NGX_ERROR */
ngx_int_t ngx_http_tokenroute_bedrock_param(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov, ngx_str_t *arg);

/* after the parameters: the region and the credentials (key: an API key) */
ngx_int_t ngx_http_tokenroute_bedrock_init(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov, ngx_str_t *key);

/* the URI and body (in prov->shape already) for Bedrock, then signed */
ngx_int_t ngx_http_tokenroute_bedrock_route(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK_H_INCLUDED_ */
