
/*
 * Copyright (C) tokenroute authors
 *
 * Leases: a leased request's settlement.  What it reserved less what it
 * cost goes back to the slice at once; its usage joins this worker's
 * aggregate of its lease, key, model and hour, which the lease timer
 * flushes through settlement (ngx_http_tokenroute_settle.c) as one
 * record with a flush id of its own, charged once by src/lua/settle.lua.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_lease_redis.h"
#include "ngx_http_tokenroute_lease_settle.h"
#include "ngx_http_tokenroute_lease_zone.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_request.h"
#include "ngx_http_tokenroute_settle.h"


/* aggregate records kept for reuse, at most */
#define NGX_HTTP_TOKENROUTE_LEASE_FREE  64


/* this worker's aggregates, by the key hash's first digits */
static ngx_http_tokenroute_settlement_t
    *ngx_http_tokenroute_lease_aggs[NGX_HTTP_TOKENROUTE_LEASE_BUCKETS];

/*
 * and the records of those flushed: a busy key starts an aggregate at
 * every flush, with no malloc() once the worker runs
 */
static ngx_http_tokenroute_settlement_t  *ngx_http_tokenroute_lease_free;
static ngx_uint_t                         ngx_http_tokenroute_lease_nfree;


/*
 * A leased request is settled: what it reserved less what it cost goes
 * back to the slice (when the lease is still the entry's), and its usage
 * joins this worker's aggregate.
 */

void
ngx_http_tokenroute_lease_settle(ngx_http_tokenroute_ctx_t *ctx,
    ngx_http_tokenroute_settlement_t *s)
{
    int64_t                             back;
    ngx_uint_t                          b;
    ngx_http_tokenroute_lease_conf_t   *lc;
    ngx_http_tokenroute_lease_entry_t  *e;
    ngx_http_tokenroute_settlement_t   *a;

    lc = ngx_http_tokenroute_lease_conf;

    /* cost <= reserve always (billing.c clamps): never below 0 */
    back = tokenroute_lease_unspent(ctx->reserve, s->cost);

    ngx_shmtx_lock(&lc->shpool->mutex);

    /*
     * The entry that lent, unless it went to another key since: a key
     * has one entry at most, at a place its hash fixes, so it is the one
     * ngx_http_tokenroute_lease_find() would return.
     */

    e = ctx->lease_entry;

    if (e == NULL || !e->inuse
        || ngx_memcmp(e->kh, ctx->key_hash, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN)
           != 0)
    {
        e = ngx_http_tokenroute_lease_find(ctx->key_hash, 0);
    }

    if (e && e->have
        && ngx_memcmp(e->lease_id, ctx->lease_id,
                      NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN) == 0)
    {
        e->available += back;
        back = 0;
    }

    ngx_shmtx_unlock(&lc->shpool->mutex);

    if (back > 0) {
        /*
         * the lease was given back while the request ran: what it did not
         * cost goes back to Redis, not to the sweep (its deadline covers
         * the requests in flight: far off)
         */
        ngx_http_tokenroute_lease_back(ctx->lease_id, back, 1);
    }

    b = ngx_http_tokenroute_lease_slot(s->key_hash)
        % NGX_HTTP_TOKENROUTE_LEASE_BUCKETS;

    for (a = ngx_http_tokenroute_lease_aggs[b]; a; a = a->next) {
        if (a->time / 3600 == s->time / 3600
            && a->key_id_len == s->key_id_len
            && a->account_len == s->account_len
            && a->tenant_len == s->tenant_len
            && a->model_len == s->model_len
            && ngx_memcmp(a->lease_id, ctx->lease_id,
                          NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN) == 0
            && ngx_memcmp(a->key_hash, s->key_hash,
                          NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN) == 0
            && ngx_memcmp(a->model, s->model, s->model_len) == 0
            && ngx_memcmp(a->key_id, s->key_id, s->key_id_len) == 0
            && ngx_memcmp(a->account, s->account, s->account_len) == 0
            && ngx_memcmp(a->tenant, s->tenant, s->tenant_len) == 0)
        {
            break;
        }
    }

    if (a == NULL) {
        a = ngx_http_tokenroute_lease_free;

        if (a) {
            ngx_http_tokenroute_lease_free = a->next;
            ngx_http_tokenroute_lease_nfree--;

        } else {
            a = ngx_alloc(sizeof(ngx_http_tokenroute_settlement_t),
                          ngx_cycle->log);
        }

        if (a == NULL) {
            /* alone, not aggregated: charged once all the same */
            s->count = 1;
            ngx_memcpy(s->lease_id, ctx->lease_id,
                       NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);
            s->failed = s->failed ? 1 : 0;
            ngx_http_tokenroute_settle(s);
            return;
        }

        *a = *s;
        a->count = 0;
        a->cost = 0;
        a->input = 0;
        a->output = 0;
        a->cached = 0;
        a->estimated = 0;
        a->unbilled = 0;
        a->clamped = 0;
        a->failed = 0;
        ngx_memcpy(a->lease_id, ctx->lease_id,
                   NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);

        a->next = ngx_http_tokenroute_lease_aggs[b];
        ngx_http_tokenroute_lease_aggs[b] = a;
    }

    a->count++;
    a->cost += s->cost;
    a->input += s->input;
    a->output += s->output;
    a->cached += s->cached;
    a->estimated += s->estimated ? 1 : 0;
    a->unbilled += s->unbilled;
    a->clamped += s->clamped ? 1 : 0;
    a->failed += s->failed ? 1 : 0;

    /*
     * An exiting worker's lease timer ticked its last: a request ending
     * after it is flushed at once, not left to the journal at exit
     * (gone with the zone when nginx stops)
     */

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_tokenroute_lease_flush(0);
    }
}


/* the aggregates, each a settlement with a flush id of its own */

void
ngx_http_tokenroute_lease_flush(ngx_uint_t journal)
{
    ngx_uint_t                         b;
    ngx_http_tokenroute_settlement_t  *a, *next;

    for (b = 0; b < NGX_HTTP_TOKENROUTE_LEASE_BUCKETS; b++) {
        a = ngx_http_tokenroute_lease_aggs[b];
        ngx_http_tokenroute_lease_aggs[b] = NULL;

        for ( /* void */ ; a; a = next) {
            next = a->next;
            a->next = NULL;

            /* unique across the fleet, as request ids are */
            (void) ngx_http_tokenroute_request_id(a->request_id);

            ngx_http_tokenroute_metrics_lease(
                NGX_HTTP_TOKENROUTE_LEASE_M_FLUSH);

            if (journal) {
                ngx_http_tokenroute_journal_add(a);

            } else {
                ngx_http_tokenroute_settle(a);
            }

            if (ngx_http_tokenroute_lease_nfree
                >= NGX_HTTP_TOKENROUTE_LEASE_FREE)
            {
                ngx_free(a);
                continue;
            }

            a->next = ngx_http_tokenroute_lease_free;
            ngx_http_tokenroute_lease_free = a;
            ngx_http_tokenroute_lease_nfree++;
        }
    }
}
