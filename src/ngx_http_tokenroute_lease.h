
/*
 * Copyright (C) tokenroute authors
 *
 * Key leases (issue 14): what other parts of the module call.
 */


#ifndef _NGX_HTTP_TOKENROUTE_LEASE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_LEASE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


void ngx_http_tokenroute_lease_invalidate(u_char *key_hash);
    /* key_hash: 64 hex chars; NULL: every entry (all stale) */


#endif /* _NGX_HTTP_TOKENROUTE_LEASE_H_INCLUDED_ */
