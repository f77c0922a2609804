
/*
 * Copyright (C) tokenroute authors
 *
 * The settlement journal: settlements Redis could not take wait in a
 * shared memory zone, visible to every worker, and survive a reload (the
 * zone is kept).  Each worker tries to replay them every second while
 * Redis is connected (ngx_http_tokenroute_replay.c, which takes them out
 * with ngx_http_tokenroute_journal_take()); the settlement script is
 * idempotent per request id, so a settlement that did reach Redis before
 * its reply was lost is not charged twice.
 *
 * It also holds what must be sent later on purpose: a settlement Redis
 * rejected, tried again at the next replay, and a release to send once
 * more (not before its "not_before", until when the replay skips it).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_settlement.h"


typedef struct {
    ngx_queue_t                        queue;
    ngx_http_tokenroute_settlement_t   s;
} ngx_http_tokenroute_journal_node_t;


typedef struct {
    ngx_queue_t                        queue;
    ngx_uint_t                         count;
    ngx_uint_t                         dropped;
} ngx_http_tokenroute_journal_sh_t;


typedef struct {
    ngx_http_tokenroute_journal_sh_t  *sh;
    ngx_slab_pool_t                   *shpool;
} ngx_http_tokenroute_journal_t;


static ngx_int_t ngx_http_tokenroute_journal_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);


static ngx_http_tokenroute_journal_t  *ngx_http_tokenroute_journal;


ngx_int_t
ngx_http_tokenroute_journal_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_str_t                       name;
    ngx_shm_zone_t                 *zone;
    ngx_http_tokenroute_journal_t  *j;

    j = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_journal_t));
    if (j == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "tokenroute_journal");

    zone = ngx_shared_memory_add(cf, &name, trmcf->journal_size,
                                 &ngx_http_tokenroute_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_tokenroute_journal_init_zone;
    zone->data = j;

    trmcf->journal_zone = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_journal_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_tokenroute_journal_t  *oj = data;

    ngx_http_tokenroute_journal_t  *j;

    j = shm_zone->data;

    if (oj) {
        /* reload: the old zone, and the settlements in it, carry on */
        j->sh = oj->sh;
        j->shpool = oj->shpool;
        return NGX_OK;
    }

    j->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        j->sh = j->shpool->data;
        return NGX_OK;
    }

    j->sh = ngx_slab_alloc(j->shpool,
                           sizeof(ngx_http_tokenroute_journal_sh_t));
    if (j->sh == NULL) {
        return NGX_ERROR;
    }

    j->shpool->data = j->sh;

    ngx_queue_init(&j->sh->queue);
    j->sh->count = 0;
    j->sh->dropped = 0;

    j->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_journal_start(ngx_cycle_t *cycle,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_http_tokenroute_journal = trmcf->journal_zone->data;

    return NGX_OK;
}


void
ngx_http_tokenroute_journal_add(ngx_http_tokenroute_settlement_t *s)
{
    ngx_http_tokenroute_journal_t       *j;
    ngx_http_tokenroute_journal_node_t  *node;

    j = ngx_http_tokenroute_journal;

    if (j == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "tokenroute: settlement %*s lost: no journal",
                      (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                      s->request_id);
        return;
    }

    ngx_shmtx_lock(&j->shpool->mutex);

    node = ngx_slab_alloc_locked(j->shpool,
                                 sizeof(ngx_http_tokenroute_journal_node_t));

    if (node == NULL) {
        j->sh->dropped++;
        ngx_shmtx_unlock(&j->shpool->mutex);

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "tokenroute: settlement journal full, settlement %*s "
                      "(%L nano-USD) lost; raise tokenroute_journal_size",
                      (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                      s->request_id, s->cost);
        return;
    }

    node->s = *s;
    ngx_queue_insert_tail(&j->sh->queue, &node->queue);
    j->sh->count++;

    ngx_shmtx_unlock(&j->shpool->mutex);

    ngx_http_tokenroute_metrics_journaled();

    if (s->not_before) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "tokenroute: %s %*s journaled until Redis returns",
                  s->release ? "release of" : "settlement",
                  (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN, s->request_id);
}


/*
 * Takes up to max settlements due now out of the journal, into batch;
 * returns how many.
 */

ngx_uint_t
ngx_http_tokenroute_journal_take(ngx_http_tokenroute_settlement_t *batch,
    ngx_uint_t max)
{
    time_t                               now;
    ngx_uint_t                           n;
    ngx_queue_t                         *q, *next;
    ngx_http_tokenroute_journal_t       *j;
    ngx_http_tokenroute_journal_node_t  *node;

    j = ngx_http_tokenroute_journal;

    if (j == NULL) {
        return 0;
    }

    n = 0;
    now = ngx_time();

    ngx_shmtx_lock(&j->shpool->mutex);

    for (q = ngx_queue_head(&j->sh->queue);
         n < max && q != ngx_queue_sentinel(&j->sh->queue);
         q = next)
    {
        next = ngx_queue_next(q);

        node = ngx_queue_data(q, ngx_http_tokenroute_journal_node_t, queue);

        if (node->s.not_before > now) {
            continue;
        }

        ngx_queue_remove(q);
        j->sh->count--;

        batch[n] = node->s;
        batch[n++].not_before = 0;

        ngx_slab_free_locked(j->shpool, node);
    }

    ngx_shmtx_unlock(&j->shpool->mutex);

    return n;
}


/*
 * For tokenroute_metrics and tokenroute_health: full when neither a free
 * page nor a free slot of the entries' size is left, as the slab
 * allocator would find none.
 */

void
ngx_http_tokenroute_journal_stats(ngx_http_tokenroute_journal_stats_t *st)
{
    size_t                          size, s;
    ngx_uint_t                      shift, slot;
    ngx_slab_pool_t                *pool;
    ngx_http_tokenroute_journal_t  *j;

    ngx_memzero(st, sizeof(ngx_http_tokenroute_journal_stats_t));

    j = ngx_http_tokenroute_journal;

    if (j == NULL) {
        return;
    }

    pool = j->shpool;
    size = sizeof(ngx_http_tokenroute_journal_node_t);

    /* ngx_slab_alloc_locked()'s slot for the size */

    if (size > pool->min_size) {
        shift = 1;
        for (s = size - 1; s >>= 1; shift++) { /* void */ }
        slot = shift - pool->min_shift;

    } else {
        slot = 0;
    }

    ngx_shmtx_lock(&pool->mutex);

    st->entries = j->sh->count;
    st->lost = j->sh->dropped;
    st->full = (pool->pfree == 0
                && (size > ngx_pagesize / 2
                    || pool->stats[slot].used >= pool->stats[slot].total));

    ngx_shmtx_unlock(&pool->mutex);

    st->bytes = st->entries * size;
    st->capacity = pool->end - (u_char *) pool;
}
