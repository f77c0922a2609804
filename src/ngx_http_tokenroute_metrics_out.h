
/*
 * Copyright (C) tokenroute authors
 *
 * tokenroute_metrics and tokenroute_health, and the log-phase handler
 * that counts each request (ngx_http_tokenroute_metrics_out.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_METRICS_OUT_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_METRICS_OUT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_metrics_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
char *ngx_http_tokenroute_metrics_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tokenroute_health_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


#endif /* _NGX_HTTP_TOKENROUTE_METRICS_OUT_H_INCLUDED_ */
