
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


/*
 * The entry of a key, under the zone's lock; with create, a new one in
 * place of the probed slot ranked first: an empty one, else the least
 * recently used of the keys Redis does not know, else of the entries
 * that hold no lease.  An entry holding a lease is never taken: a key
 * leaves the table only once its lease idled and went back, so that a
 * flood of unknown keys (each a new entry) cannot evict the leases of
 * real ones; a key finding only leases in its slots takes the exact path
 * (NULL).
 */

ngx_http_tokenroute_lease_entry_t *
ngx_http_tokenroute_lease_find(u_char *kh, ngx_uint_t create)
{
    ngx_uint_t                          i, h, n, rank, best;
    ngx_http_tokenroute_lease_sh_t     *sh;
    ngx_http_tokenroute_lease_entry_t  *e, *victim;

    sh = ngx_http_tokenroute_lease_conf->sh;
    n = sh->n;
    h = ngx_http_tokenroute_lease_slot(kh);
    victim = NULL;
    best = 3;

    for (i = 0; i < NGX_HTTP_TOKENROUTE_LEASE_PROBES; i++) {
        e = &sh->e[(h + i) % n];

        if (e->inuse
            && ngx_memcmp(e->kh, kh, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN) == 0)
        {
            return e;
        }

        /* 0: empty, 1: a key Redis does not know, 2: no lease, 3: leased */

        rank = !e->inuse ? 0 : (e->fetched && !e->found) ? 1
               : !e->have ? 2 : 3;

        if (rank < best
            || (rank == best && rank < 3 && rank > 0
                && (ngx_msec_int_t) (e->used - victim->used) < 0))
        {
            victim = e;
            best = rank;
        }
    }

    if (!create || victim == NULL) {
        return NULL;
    }

    ngx_memzero(victim, sizeof(ngx_http_tokenroute_lease_entry_t));

    if (ngx_http_tokenroute_request_id(victim->lease_id) != NGX_OK) {
        return NULL;
    }

    ngx_memcpy(victim->kh, kh, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);
    victim->inuse = 1;
    victim->used = ngx_current_msec;

    return victim;
}
