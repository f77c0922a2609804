
/*
 * Copyright (C) tokenroute authors
 *
 * The admin API, "tokenroute_admin" (ngx_http_tokenroute_admin.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_ADMIN_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_ADMIN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_http_tokenroute_admin_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


#endif /* _NGX_HTTP_TOKENROUTE_ADMIN_H_INCLUDED_ */
