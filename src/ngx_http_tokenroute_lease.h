
/*
 * Copyright (C) tokenroute authors
 *
 * Leases (ngx_http_tokenroute_lease.c): admission from a slice of a
 * key's headroom held in shared memory, and settlement aggregated per
 * key, model and hour, with no Redis command per request.
 */


#ifndef _NGX_HTTP_TOKENROUTE_LEASE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_LEASE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


/* key_hash: 64 hex chars; NULL: every entry (all stale) */
void ngx_http_tokenroute_lease_invalidate(u_char *key_hash);

char *ngx_http_tokenroute_lease_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_tokenroute_lease_start(ngx_cycle_t *cycle);
void ngx_http_tokenroute_lease_shutdown(void);

/* a key check from the key's fresh record: NGX_OK; NGX_DECLINED: Redis */
ngx_int_t ngx_http_tokenroute_lease_check_key(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);

/* the entries holding a lease now; NGX_DECLINED: leases off */
ngx_int_t ngx_http_tokenroute_lease_held(ngx_uint_t *held);

/* NGX_OK: admitted (or refused) from the lease; NGX_DECLINED: exact path */
ngx_int_t ngx_http_tokenroute_lease_admit(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);


#endif /* _NGX_HTTP_TOKENROUTE_LEASE_H_INCLUDED_ */
