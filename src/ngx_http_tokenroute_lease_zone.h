
/*
 * Copyright (C) tokenroute authors
 *
 * Leases, their floor: the shared memory zone's table of keys, each with
 * its record and its slice (ngx_http_tokenroute_lease_zone.c), which the
 * other lease files read and write under the zone's lock.
 */


#ifndef _NGX_HTTP_TOKENROUTE_LEASE_ZONE_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_LEASE_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "tokenroute_lease_math.h"


#define NGX_HTTP_TOKENROUTE_LEASE_PROBES   8
#define NGX_HTTP_TOKENROUTE_LEASE_MODELS   256
#define NGX_HTTP_TOKENROUTE_LEASE_IDLE     5000    /* ms */
#define NGX_HTTP_TOKENROUTE_LEASE_BUSY     3000    /* a refresh, at most */
#define NGX_HTTP_TOKENROUTE_LEASE_RETRY    50      /* ms between refreshes */
#define NGX_HTTP_TOKENROUTE_LEASE_BUCKETS  64
#define NGX_HTTP_TOKENROUTE_LEASE_LATER    64      /* renewals queued */
#define NGX_HTTP_TOKENROUTE_LEASE_SKEW     100     /* ms, workers' clocks */


typedef struct {
    u_char                 kh[NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];
    u_char                 lease_id[NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN];
    u_char                 key_id[32];
    u_char                 account[128];
    u_char                 tenant[64];
    u_char                 models[NGX_HTTP_TOKENROUTE_LEASE_MODELS];
    uint16_t               key_id_len;
    uint16_t               account_len;
    uint16_t               tenant_len;
    uint16_t               models_len;
    int64_t                available;
    int64_t                want;
    time_t                 expires_at;
    ngx_msec_t             fetched;     /* the record read; 0: never */
    ngx_msec_t             renewed;     /* the lease confirmed */
    ngx_msec_t             used;
    ngx_msec_t             busy;        /* a refresh in flight until */
    ngx_msec_t             invalidated; /* stale since */
    unsigned               inuse:1;
    unsigned               found:1;
    unsigned               revoked:1;
    unsigned               exact:1;
    unsigned               stale:1;     /* invalidated */
    unsigned               have:1;      /* Redis holds the lease */
    unsigned               capped:1;    /* granted less than asked */
} ngx_http_tokenroute_lease_entry_t;


typedef struct {
    ngx_uint_t                          n;
    ngx_http_tokenroute_lease_entry_t   e[1];
} ngx_http_tokenroute_lease_sh_t;


typedef struct {
    ngx_shm_zone_t                     *zone;
    ngx_slab_pool_t                    *shpool;
    ngx_http_tokenroute_lease_sh_t     *sh;
    ngx_uint_t                          slice;
    ngx_msec_t                          max_age;
    ngx_msec_t                          flush;
    ngx_msec_t                          ttl;
} ngx_http_tokenroute_lease_conf_t;


/* this worker's: its cycle's, or NULL (leases off) */
extern ngx_http_tokenroute_lease_conf_t  *ngx_http_tokenroute_lease_conf;

/*
 * Under the zone's lock: a key's entry; with create, a new one (NULL:
 * every slot it may take holds a lease; it never replaces an entry
 * holding a lease)
 */
ngx_http_tokenroute_lease_entry_t *ngx_http_tokenroute_lease_find(u_char *kh,
    ngx_uint_t create);


/*
 * The entries this worker may find holding a lease, a bit each: those it
 * admitted from or renewed, and all of them at its start.  The idle
 * scan reads these, not the whole zone (tens of thousands of entries,
 * for the few that hold leases).  NULL: the whole zone.
 */
extern uint64_t  *ngx_http_tokenroute_lease_marks;

static ngx_inline void
ngx_http_tokenroute_lease_mark(ngx_http_tokenroute_lease_sh_t *sh,
    ngx_http_tokenroute_lease_entry_t *e)
{
    ngx_uint_t  i;

    if (ngx_http_tokenroute_lease_marks) {
        i = e - sh->e;
        ngx_http_tokenroute_lease_marks[i >> 6] |= (uint64_t) 1 << (i & 63);
    }
}


/* where a key's entry is looked for: its hash's first 8 hex digits */
#define ngx_http_tokenroute_lease_slot(kh)  tokenroute_lease_slot(kh)


#endif /* _NGX_HTTP_TOKENROUTE_LEASE_ZONE_H_INCLUDED_ */
