
/*
 * Copyright (C) tokenroute authors
 *
 * The reservation sweep (ngx_http_tokenroute_sweep.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_SWEEP_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_SWEEP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_sweep_init(ngx_conf_t *cf, ngx_str_t *script);
void ngx_http_tokenroute_sweep(void);


#endif /* _NGX_HTTP_TOKENROUTE_SWEEP_H_INCLUDED_ */
