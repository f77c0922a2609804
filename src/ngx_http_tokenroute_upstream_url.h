
/*
 * Copyright (C) tokenroute authors
 *
 * A provider url's base-URL rules (ngx_http_tokenroute_upstream_url.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_UPSTREAM_URL_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_UPSTREAM_URL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_url_plain(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p);
ngx_int_t ngx_http_tokenroute_url_base(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p, ngx_str_t *origin, ngx_str_t *host);


#endif /* _NGX_HTTP_TOKENROUTE_UPSTREAM_URL_H_INCLUDED_ */
