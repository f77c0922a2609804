
/*
 * Copyright (C) tokenroute authors
 *
 * The worker side of "tokenroute_resolve"
 * (ngx_http_tokenroute_upstream_dns.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_UPSTREAM_DNS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_UPSTREAM_DNS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_tokenroute_resolve_start(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_TOKENROUTE_UPSTREAM_DNS_H_INCLUDED_ */
