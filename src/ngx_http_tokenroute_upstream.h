
/*
 * Copyright (C) tokenroute authors
 *
 * Provider upstreams resolved again at run time
 * (ngx_http_tokenroute_upstream.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_UPSTREAM_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_UPSTREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_http_tokenroute_resolve_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_tokenroute_resolve_implicit(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf);
ngx_int_t ngx_http_tokenroute_resolve_start(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_TOKENROUTE_UPSTREAM_H_INCLUDED_ */
