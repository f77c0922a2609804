
/*
 * Copyright (C) tokenroute authors
 *
 * Azure OpenAI providers (type=azure): their parameters, the checks at
 * load, and the URI of each attempt.
 */


#ifndef _NGX_HTTP_TOKENROUTE_PROVIDER_AZURE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_PROVIDER_AZURE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/* prov->type_conf of a type=azure provider */
typedef struct {
    ngx_str_t                        api_version;  /* "": none */
    unsigned                         v1:1;         /* the v1 API */
} ngx_http_tokenroute_azure_conf_t;


/* NGX_OK: arg was a type=azure parameter; NGX_DECLINED: not one */
ngx_int_t ngx_http_tokenroute_azure_param(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p, ngx_str_t *arg);

/* after the url is parsed: the API's form, what would answer 404 */
ngx_int_t ngx_http_tokenroute_azure_init(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p);

/* the attempt's URI for the deployment (the model's upstream_model) */
ngx_int_t ngx_http_tokenroute_azure_uri(ngx_http_request_t *r,
    ngx_http_tokenroute_provider_t *p, ngx_str_t *deployment,
    ngx_str_t *endpoint, ngx_str_t *uri);


#endif /* _NGX_HTTP_TOKENROUTE_PROVIDER_AZURE_H_INCLUDED_ */
