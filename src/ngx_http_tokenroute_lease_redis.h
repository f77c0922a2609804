
/*
 * Copyright (C) tokenroute authors
 *
 * Leases: the calls to src/lua/lease.lua
 * (ngx_http_tokenroute_lease_redis.c)
 */


#ifndef _NGX_HTTP_TOKENROUTE_LEASE_REDIS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_LEASE_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_lease_zone.h"

ngx_int_t ngx_http_tokenroute_lease_init(ngx_conf_t *cf, ngx_str_t *script);

/* under the zone's lock */
void ngx_http_tokenroute_lease_later(ngx_http_tokenroute_lease_entry_t *e,
    int64_t amount);
void ngx_http_tokenroute_lease_abandon(ngx_http_tokenroute_lease_entry_t *e);

void ngx_http_tokenroute_lease_later_cancel(void);
void ngx_http_tokenroute_lease_back(u_char *lease_id, int64_t amount,
    ngx_uint_t close);


#endif /* _NGX_HTTP_TOKENROUTE_LEASE_REDIS_H_INCLUDED_ */
