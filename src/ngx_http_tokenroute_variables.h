
/*
 * Copyright (C) tokenroute authors
 *
 * The $tokenroute_* variables (ngx_http_tokenroute_variables.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_VARIABLES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_add_variables(ngx_conf_t *cf);

/* the client's anthropic-beta headers joined with commas (or empty) */
ngx_int_t ngx_http_tokenroute_anthropic_beta(ngx_http_request_t *r,
    ngx_str_t *value);


#endif /* _NGX_HTTP_TOKENROUTE_VARIABLES_H_INCLUDED_ */
