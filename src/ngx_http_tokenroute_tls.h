
/*
 * Copyright (C) tokenroute authors
 *
 * Provider TLS checks (ngx_http_tokenroute_tls.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_TLS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_TLS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_tls_note(ngx_conf_t *cf);
ngx_int_t ngx_http_tokenroute_tls_check(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);


#endif /* _NGX_HTTP_TOKENROUTE_TLS_H_INCLUDED_ */
