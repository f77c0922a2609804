
/*
 * Copyright (C) tokenroute authors
 *
 * The tokenroute_redis (ngx_http_tokenroute_redis_conf.c), _provider and
 * _model directives (ngx_http_tokenroute_conf.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_CONF_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


char *ngx_http_tokenroute_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tokenroute_provider_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tokenroute_model_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tokenroute_check_upstreams(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
ngx_int_t ngx_http_tokenroute_conf_arg(ngx_str_t *arg, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_tokenroute_conf_valid_id(ngx_str_t *id);
ngx_int_t ngx_http_tokenroute_conf_price(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_tokenroute_model_t *m);
ngx_int_t ngx_http_tokenroute_conf_env(ngx_conf_t *cf, ngx_str_t *var,
    ngx_str_t *value);
ngx_int_t ngx_http_tokenroute_conf_header_safe(ngx_conf_t *cf,
    ngx_str_t *provider, const char *what, ngx_str_t *value);


#endif /* _NGX_HTTP_TOKENROUTE_CONF_H_INCLUDED_ */
