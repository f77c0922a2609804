
/*
 * Copyright (C) tokenroute authors
 *
 * The key purge (ngx_http_tokenroute_purge.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_PURGE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_PURGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


char *ngx_http_tokenroute_key_retention(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tokenroute_purge_init(ngx_conf_t *cf, ngx_str_t *script,
    ngx_http_tokenroute_main_conf_t *trmcf);
void ngx_http_tokenroute_purge(void);


#endif /* _NGX_HTTP_TOKENROUTE_PURGE_H_INCLUDED_ */
