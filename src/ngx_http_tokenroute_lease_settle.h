
/*
 * Copyright (C) tokenroute authors
 *
 * Leases: leased requests settled, aggregated and flushed
 * (ngx_http_tokenroute_lease_settle.c)
 */


#ifndef _NGX_HTTP_TOKENROUTE_LEASE_SETTLE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_LEASE_SETTLE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_settlement.h"

/* a leased request's settlement: give-back, then the aggregate */
void ngx_http_tokenroute_lease_settle(ngx_http_tokenroute_ctx_t *ctx,
    ngx_http_tokenroute_settlement_t *s);

/* the aggregates settled, or journaled (at exit) */
void ngx_http_tokenroute_lease_flush(ngx_uint_t journal);


#endif /* _NGX_HTTP_TOKENROUTE_LEASE_SETTLE_H_INCLUDED_ */
