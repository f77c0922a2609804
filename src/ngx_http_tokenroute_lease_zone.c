
/*
 * Copyright (C) tokenroute authors
 *
 * Leases, their floor: the table of keys in the shared memory zone of
 * tokenroute_lease, open addressing from the key hash's first digits,
 * the least recently used of a few probed slots replaced.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_lease_zone.h"
#include "ngx_http_tokenroute_request.h"


/* this worker's: its cycle's, or NULL (leases off) */
ngx_http_tokenroute_lease_conf_t  *ngx_http_tokenroute_lease_conf;


/* the first 8 hex digits of a key hash: where its entry is looked for */

ngx_uint_t
ngx_http_tokenroute_lease_slot(u_char *kh)
{
    ngx_uint_t  i, h;

    h = 0;

    for (i = 0; i < 8; i++) {
        h = h * 16 + (ngx_uint_t) ngx_hextoi(&kh[i], 1);
    }

    return h;
}


/*
 * The entry of a key, under the zone's lock; with create, a new one in
 * an empty slot or in place of the least recently used of the probed,
 * copied to *old for the caller to give its lease back.
 */

ngx_http_tokenroute_lease_entry_t *
ngx_http_tokenroute_lease_find(u_char *kh, ngx_uint_t create,
    ngx_http_tokenroute_lease_entry_t *old)
{
    ngx_uint_t                          i, h, n;
    ngx_http_tokenroute_lease_sh_t     *sh;
    ngx_http_tokenroute_lease_entry_t  *e, *lru;

    sh = ngx_http_tokenroute_lease_conf->sh;
    n = sh->n;
    h = ngx_http_tokenroute_lease_slot(kh);
    lru = NULL;

    for (i = 0; i < NGX_HTTP_TOKENROUTE_LEASE_PROBES; i++) {
        e = &sh->e[(h + i) % n];

        if (e->inuse
            && ngx_memcmp(e->kh, kh, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN) == 0)
        {
            return e;
        }

        if (lru == NULL || !e->inuse
            || (lru->inuse && (ngx_msec_int_t) (e->used - lru->used) < 0))
        {
            lru = e;
        }
    }

    if (!create) {
        return NULL;
    }

    *old = *lru;

    ngx_memzero(lru, sizeof(ngx_http_tokenroute_lease_entry_t));

    if (ngx_http_tokenroute_request_id(lru->lease_id) != NGX_OK) {
        return NULL;
    }

    ngx_memcpy(lru->kh, kh, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);
    lru->inuse = 1;
    lru->used = ngx_current_msec;

    return lru;
}
