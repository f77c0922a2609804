
/*
 * Copyright (C) tokenroute authors
 *
 * A stand-in for ngx_http_tokenroute_lease.c until the leases are merged:
 * nothing is cached, so nothing is invalidated.  Delete this file (and
 * its line in config) when ngx_http_tokenroute_lease.c comes in.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tokenroute_lease.h"


void
ngx_http_tokenroute_lease_invalidate(u_char *key_hash)
{
    (void) key_hash;
}
