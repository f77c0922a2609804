
/*
 * Copyright (C) tokenroute authors
 *
 * Leases: Redis off the per-request path for money.
 *
 * A gateway holds, per key, a lease: a slice of the key's, its tenant's
 * and its account's headroom reserved in Redis (src/lua/lease.lua), whose
 * outstanding amount counts as reserved there, so every cap stays hard.
 * The slice, and the key's record as the lease script read it, live in a
 * shared memory zone all workers use; a request of a key whose record is
 * fresh and whose slice covers its reservation is admitted from it, with
 * no Redis command (ngx_http_tokenroute_lease_admit()).  Anything else
 * takes the exact path, the admission script, unchanged, and kicks an
 * asynchronous refresh of the key's lease so that the next ones go fast.
 *
 * A leased request settles locally: what it reserved less what it cost
 * goes back to the slice at once, and its usage is added to an aggregate
 * of this worker per lease, key, model and hour, flushed every flush=
 * interval (and at exit) through the settlement pipeline as one
 * settlement record (settle.c; journaled when Redis cannot take it),
 * charged once per flush id by src/lua/settle.lua.
 *
 * A lease is abandoned (what is left of its slice given back, a new lease
 * id drawn) when it idles, when the worker exits, and when a reply about
 * it is lost; a lease no gateway renews is released by the sweep at its
 * deadline.  A gateway admits from a lease only while it renewed it
 * within ttl/2, so a gateway cut off from Redis stops well before the
 * sweep could release what it spends.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_cooldown_fleet.h"
#include "ngx_http_tokenroute_key.h"
#include "ngx_http_tokenroute_lease.h"
#include "ngx_http_tokenroute_lease_redis.h"
#include "ngx_http_tokenroute_lease_settle.h"
#include "ngx_http_tokenroute_lease_zone.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_models.h"


static ngx_int_t ngx_http_tokenroute_lease_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_tokenroute_lease_timer(ngx_event_t *ev);
static void ngx_http_tokenroute_lease_idle(
    ngx_http_tokenroute_lease_sh_t *sh, ngx_msec_t now);
static ngx_int_t ngx_http_tokenroute_lease_verdict(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_lease_entry_t *e,
    ngx_uint_t taken);
static u_char *ngx_http_tokenroute_lease_key(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_lease_entry_t *e,
    size_t extra);


uint64_t                *ngx_http_tokenroute_lease_marks;

static ngx_event_t       ngx_http_tokenroute_lease_event;
static ngx_connection_t  ngx_http_tokenroute_lease_conn;
static ngx_msec_t        ngx_http_tokenroute_lease_scanned;
static ngx_uint_t        ngx_http_tokenroute_lease_scans;


/* tokenroute_lease zone=NAME:SIZE [slice=N] [max_age=T] [flush=T] [ttl=T] */

char *
ngx_http_tokenroute_lease_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t  *trmcf = conf;

    u_char                            *p;
    ssize_t                            size;
    ngx_str_t                         *value, name, s;
    ngx_int_t                          n;
    ngx_uint_t                         i;
    ngx_msec_t                        *t;
    ngx_http_tokenroute_lease_conf_t  *lc;

    if (trmcf->lease) {
        return "is duplicate";
    }

    lc = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_lease_conf_t));
    if (lc == NULL) {
        return NGX_CONF_ERROR;
    }

    lc->slice = 64;
    lc->max_age = 1000;
    lc->flush = 200;
    lc->ttl = 60000;

    value = cf->args->elts;
    size = 0;
    ngx_str_null(&name);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = ngx_strlchr(name.data, value[i].data + value[i].len, ':');

            if (p == NULL || p == name.data) {
                goto invalid;
            }

            name.len = p - name.data;
            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "tokenroute_lease zone \"%V\" is too small",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "slice=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n < 1 || n > 1000000) {
                goto invalid;
            }

            lc->slice = n;
            continue;
        }

        t = NULL;
        s = value[i];

        if (ngx_strncmp(s.data, "max_age=", 8) == 0) {
            t = &lc->max_age;
            s.data += 8;
            s.len -= 8;

        } else if (ngx_strncmp(s.data, "flush=", 6) == 0) {
            t = &lc->flush;
            s.data += 6;
            s.len -= 6;

        } else if (ngx_strncmp(s.data, "ttl=", 4) == 0) {
            t = &lc->ttl;
            s.data += 4;
            s.len -= 4;
        }

        if (t == NULL) {
            goto invalid;
        }

        n = ngx_parse_time(&s, 0);

        if (n == NGX_ERROR || n < 10) {
            goto invalid;
        }

        *t = (ngx_msec_t) n;
    }

    if (name.len == 0) {
        return "needs zone=NAME:SIZE";
    }

    if (lc->ttl < 4 * lc->max_age || lc->ttl < 2000) {
        return "needs ttl= at least 2s and 4 times max_age=";
    }

    lc->zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_tokenroute_module);
    if (lc->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (lc->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    lc->zone->init = ngx_http_tokenroute_lease_init_zone;
    lc->zone->data = lc;

    trmcf->lease = lc;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_tokenroute_lease_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_tokenroute_lease_conf_t  *olc = data;

    size_t                             n, size;
    ngx_http_tokenroute_lease_conf_t  *lc;

    lc = zone->data;
    lc->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (olc) {
        lc->sh = olc->sh;
        return NGX_OK;
    }

    if (zone->shm.exists) {
        lc->sh = lc->shpool->data;
        return NGX_OK;
    }

    /*
     * One table, most of the zone: the slab pool keeps its own pages, so
     * smaller tables are tried until one fits (quietly)
     */

    lc->shpool->log_nomem = 0;
    size = sizeof(ngx_http_tokenroute_lease_entry_t);
    n = (zone->shm.size - 4 * ngx_pagesize) / size;

    do {
        lc->sh = ngx_slab_calloc(lc->shpool,
                                 sizeof(ngx_http_tokenroute_lease_sh_t)
                                 + n * size);
        if (lc->sh) {
            break;
        }

        n -= n / 8;

    } while (n > 16);

    if (lc->sh == NULL) {
        return NGX_ERROR;
    }

    lc->sh->n = n;
    lc->shpool->data = lc->sh;

    return NGX_OK;
}


/*
 * A worker's start: its cycle's leases, if on.  Set here only, so that a
 * worker never sees another cycle's zone (the master none: the API is a
 * no-op there).
 */

ngx_int_t
ngx_http_tokenroute_lease_start(ngx_cycle_t *cycle)
{
    ngx_uint_t                        words;
    ngx_event_t                      *ev;
    ngx_http_tokenroute_lease_sh_t   *sh;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_tokenroute_module);

    ngx_http_tokenroute_lease_conf = trmcf ? trmcf->lease : NULL;

    if (ngx_http_tokenroute_lease_conf == NULL) {
        return NGX_OK;
    }

    ngx_http_tokenroute_lease_marks = NULL;

    sh = ngx_http_tokenroute_lease_conf->sh;

    if (sh) {
        /* all marked: the leases of other workers and cycles found once */
        words = (sh->n + 63) / 64;
        ngx_http_tokenroute_lease_marks = ngx_alloc(words * sizeof(uint64_t),
                                                    cycle->log);

        if (ngx_http_tokenroute_lease_marks) {
            ngx_memset(ngx_http_tokenroute_lease_marks, 0xff,
                       words * sizeof(uint64_t));
        }
    }

    ev = &ngx_http_tokenroute_lease_event;

    ngx_http_tokenroute_lease_conn.fd = (ngx_socket_t) -1;

    ev->handler = ngx_http_tokenroute_lease_timer;
    ev->log = cycle->log;
    ev->data = &ngx_http_tokenroute_lease_conn;

    /* not cancelable: an exiting worker flushes and gives back first */
    ngx_add_timer(ev, ngx_http_tokenroute_lease_conf->flush);

    return NGX_OK;
}


/*
 * The fast path.  NGX_OK: the request has its verdict from the entry,
 * no Redis (admitted with ctx->leased, or refused by the key's rules,
 * exactly as admission.lua would); NGX_DECLINED: the exact path, the
 * entry refreshed meanwhile.
 */

ngx_int_t
ngx_http_tokenroute_lease_admit(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_int_t                           rc;
    ngx_uint_t                          fresh, taken;
    ngx_msec_t                          now, age;
    ngx_http_tokenroute_lease_conf_t   *lc;
    ngx_http_tokenroute_lease_entry_t  *e;

    lc = ngx_http_tokenroute_lease_conf;

    if (lc == NULL || lc->sh == NULL) {
        return NGX_DECLINED;
    }

    now = ngx_current_msec;
    rc = NGX_DECLINED;
    taken = 0;

    ngx_shmtx_lock(&lc->shpool->mutex);

    e = ngx_http_tokenroute_lease_find(ctx->key_hash, 1);

    /* find() replaces no entry holding a lease: nothing to give back */

    if (e == NULL) {
        ngx_shmtx_unlock(&lc->shpool->mutex);
        ngx_http_tokenroute_metrics_lease(NGX_HTTP_TOKENROUTE_LEASE_M_EXACT);
        return NGX_DECLINED;
    }

    e->used = now;
    age = now - e->fetched;

    ngx_http_tokenroute_lease_mark(lc->sh, e);

    fresh = e->fetched && !e->stale && age < lc->max_age;

    if (fresh) {
        if (!e->found || e->revoked
            || (e->expires_at > 0 && ngx_time() >= e->expires_at))
        {
            /* refused by the key's rules alone */
            rc = NGX_OK;

        } else if (!e->exact && e->have && e->available >= ctx->reserve
                   && (ngx_msec_int_t) (now - e->renewed)
                      < (ngx_msec_int_t) lc->ttl / 2)
        {
            /* the slice covers the request: taken from it */
            e->available -= ctx->reserve;
            taken = 1;
            rc = NGX_OK;
        }
    }

    if (rc == NGX_DECLINED && e->have && e->available > 0
        && e->available < ctx->reserve)
    {
        /*
         * The slice cannot cover it: what is left goes back first, on
         * this worker's connection, ahead of the exact path's admission,
         * which then sees the key's whole headroom (but what other
         * gateways lease); no renewal for a while, lest it take a slice
         * again before the admission runs.
         */

        ngx_http_tokenroute_lease_back(e->lease_id, e->available, 0);
        e->available = 0;
        e->busy = now + NGX_HTTP_TOKENROUTE_LEASE_RETRY;
    }

    /*
     * Ahead of need: at half the record's age, and when the slice runs
     * low; a slice Redis could not grant whole (little headroom) is asked
     * again only every NGX_HTTP_TOKENROUTE_LEASE_RETRY ms.  A slice used
     * up within a few of them is doubled (up to 1/8 of the headroom).
     */

    if (!e->busy || (ngx_msec_int_t) (now - e->busy) >= 0) {
        if (!e->fetched || e->stale || age >= lc->max_age / 2
            || (e->found && !e->exact && !e->revoked
                && e->available < e->want / 4
                && (!e->capped || age >= NGX_HTTP_TOKENROUTE_LEASE_RETRY))
            || (rc == NGX_DECLINED && age >= NGX_HTTP_TOKENROUTE_LEASE_RETRY))
        {
            if (e->fetched) {
                e->want = tokenroute_lease_grow(e->want, e->available,
                                        e->capped, age,
                                        4 * NGX_HTTP_TOKENROUTE_LEASE_RETRY);
            }

            ngx_http_tokenroute_lease_later(e, ctx->reserve);
        }
    }

    if (rc == NGX_OK) {
        /* the verdict read from the entry, still under the lock */
        rc = ngx_http_tokenroute_lease_verdict(r, ctx, e, taken);
    }

    ngx_shmtx_unlock(&lc->shpool->mutex);

    if (rc != NGX_ERROR) {
        ngx_http_tokenroute_metrics_lease(rc == NGX_OK
                                          ? NGX_HTTP_TOKENROUTE_LEASE_M_LEASE
                                          : NGX_HTTP_TOKENROUTE_LEASE_M_EXACT);
    }

    return rc;
}


/*
 * Under the lock: the verdict, as admission.c reads it from the script,
 * from the entry (no copy of it: only what the request keeps goes to its
 * pool).  A forbidden model gives back what was taken: nothing is
 * reserved for a 403.
 */

static ngx_int_t
ngx_http_tokenroute_lease_verdict(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_lease_entry_t *e,
    ngx_uint_t taken)
{
    u_char  *p;

    ctx->redis_status = NGX_OK;
    ctx->admission_done = 1;
    ctx->key.found = e->found;

    if (!e->found) {
        return NGX_OK;
    }

    p = ngx_http_tokenroute_lease_key(r, ctx, e,
                                      NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);
    if (p == NULL) {
        if (taken) {
            e->available += ctx->reserve;
        }

        return NGX_ERROR;
    }

    if (ctx->key.revoked || ctx->key.expired) {
        return NGX_OK;
    }

    /* the chain's first model, the one asked for */

    if (ngx_http_tokenroute_key_allows(&ctx->key, 0) != NGX_OK) {
        ctx->verdict = NGX_HTTP_TOKENROUTE_VERDICT_FORBIDDEN;

        if (taken) {
            e->available += ctx->reserve;
        }

        return NGX_OK;
    }

    ctx->lease_id = p;
    ngx_memcpy(p, e->lease_id, NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);

    ctx->lease_entry = e;
    ctx->leased = 1;
    ctx->verdict = NGX_HTTP_TOKENROUTE_VERDICT_OK;

    return NGX_OK;
}


/*
 * Under the lock: the key's fields the request keeps, revoked, expired,
 * and unless so, which of the models asked about (models.h) it may
 * use, as admission.lua answers; copied to the request's pool with room
 * for extra bytes after them: where that room starts, NULL if out of
 * memory.
 */

static u_char *
ngx_http_tokenroute_lease_key(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_lease_entry_t *e,
    size_t extra)
{
    u_char                       *p;
    ngx_str_t                    *id;
    ngx_uint_t                    i;
    ngx_http_tokenroute_asked_t   a;

    ngx_http_tokenroute_asked(r, ctx, &a);

    p = ngx_pnalloc(r->pool, e->key_id_len + e->account_len
                             + e->tenant_len + a.n + extra);
    if (p == NULL) {
        return NULL;
    }

    ctx->key.id.data = p;
    ctx->key.id.len = e->key_id_len;
    p = ngx_cpymem(p, e->key_id, e->key_id_len);

    ctx->key.account.data = p;
    ctx->key.account.len = e->account_len;
    p = ngx_cpymem(p, e->account, e->account_len);

    ctx->key.tenant.data = p;
    ctx->key.tenant.len = e->tenant_len;
    p = ngx_cpymem(p, e->tenant, e->tenant_len);

    if (e->revoked) {
        ctx->key.revoked = 1;
        return p;
    }

    if (e->expires_at > 0 && ngx_time() >= e->expires_at) {
        ctx->key.expired = 1;
        return p;
    }

    /* a "1" or "0" a model asked about, in their order */

    ctx->key.allowed.data = p;
    ctx->key.allowed.len = a.n;

    for (i = 0; i < a.n; i++) {
        id = ngx_http_tokenroute_asked_id(&a, i);
        p[i] = tokenroute_lease_model_allowed(e->models, e->models_len,
                                              id->data, id->len)
               ? '1' : '0';
    }

    return p + a.n;
}


/*
 * A request that only has its key checked (GET /v1/models, one model,
 * count_tokens, a body refused once the key is known): NGX_OK, its
 * verdict from the key's fresh record, as admission.lua's "key" answer
 * would be; NGX_DECLINED: the script.  Nothing is taken from the slice
 * and no entry is made for it.
 */

ngx_int_t
ngx_http_tokenroute_lease_check_key(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_int_t                           rc;
    ngx_http_tokenroute_lease_conf_t   *lc;
    ngx_http_tokenroute_lease_entry_t  *e;

    lc = ngx_http_tokenroute_lease_conf;

    if (lc == NULL || lc->sh == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&lc->shpool->mutex);

    e = ngx_http_tokenroute_lease_find(ctx->key_hash, 0);

    if (e && e->fetched && !e->stale
        && ngx_current_msec - e->fetched < lc->max_age)
    {
        e->used = ngx_current_msec;
        rc = NGX_OK;

        if (e->found && ngx_http_tokenroute_lease_key(r, ctx, e, 0) == NULL) {
            rc = NGX_ERROR;

        } else {
            ctx->redis_status = NGX_OK;
            ctx->admission_done = 1;
            ctx->key.found = e->found;
        }
    }

    ngx_shmtx_unlock(&lc->shpool->mutex);

    return rc;
}


/* the entries holding a lease now (metrics); NGX_DECLINED: leases off */

ngx_int_t
ngx_http_tokenroute_lease_held(ngx_uint_t *held)
{
    ngx_uint_t                         i, n;
    ngx_http_tokenroute_lease_conf_t  *lc;

    lc = ngx_http_tokenroute_lease_conf;

    if (lc == NULL || lc->sh == NULL) {
        return NGX_DECLINED;
    }

    n = 0;

    ngx_shmtx_lock(&lc->shpool->mutex);

    for (i = 0; i < lc->sh->n; i++) {
        n += (lc->sh->e[i].inuse && lc->sh->e[i].have);
    }

    ngx_shmtx_unlock(&lc->shpool->mutex);

    *held = n;

    return NGX_OK;
}


/* every entry, or one key's, read again before its next fast admission */

void
ngx_http_tokenroute_lease_invalidate(u_char *key_hash)
{
    ngx_uint_t                          i;
    ngx_http_tokenroute_lease_conf_t   *lc;
    ngx_http_tokenroute_lease_entry_t  *e;

    lc = ngx_http_tokenroute_lease_conf;

    if (lc == NULL || lc->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&lc->shpool->mutex);

    if (key_hash) {
        e = ngx_http_tokenroute_lease_find(key_hash, 0);

        if (e) {
            e->stale = 1;
            e->invalidated = ngx_current_msec;
        }

    } else {
        for (i = 0; i < lc->sh->n; i++) {
            lc->sh->e[i].stale = 1;
            lc->sh->e[i].invalidated = ngx_current_msec;
        }
    }

    ngx_shmtx_unlock(&lc->shpool->mutex);
}


static void
ngx_http_tokenroute_lease_timer(ngx_event_t *ev)
{
    ngx_uint_t                          i, exiting;
    ngx_msec_t                          now;
    ngx_http_tokenroute_lease_conf_t   *lc;
    ngx_http_tokenroute_lease_entry_t  *e;

    lc = ngx_http_tokenroute_lease_conf;
    now = ngx_current_msec;
    exiting = ngx_exiting || ngx_quit || ngx_terminate;

    ngx_http_tokenroute_lease_flush(0);

    /*
     * The fleet's cooldowns: admissions no longer bring them, a call
     * with no request does, every tick (one GET while nothing changed)
     */
    if (!exiting) {
        ngx_http_tokenroute_fleet_poll();
    }

    /* idle leases given back, once a second; all of them at exit */

    if (exiting || now - ngx_http_tokenroute_lease_scanned >= 1000) {
        ngx_http_tokenroute_lease_scanned = now;

        ngx_shmtx_lock(&lc->shpool->mutex);

        /*
         * the whole zone at exit, and every 16th time: a lease whose
         * worker died unmarked in the others is given back all the same
         */
        if (exiting || ngx_http_tokenroute_lease_marks == NULL
            || (++ngx_http_tokenroute_lease_scans & 15) == 0)
        {
            for (i = 0; i < lc->sh->n; i++) {
                e = &lc->sh->e[i];

                if (e->inuse && e->have
                    && (exiting
                        || now - e->used >= NGX_HTTP_TOKENROUTE_LEASE_IDLE))
                {
                    ngx_http_tokenroute_lease_abandon(e);
                }
            }

        } else {
            ngx_http_tokenroute_lease_idle(lc->sh, now);
        }

        ngx_shmtx_unlock(&lc->shpool->mutex);
    }

    if (!exiting) {
        ngx_add_timer(ev, lc->flush);
    }
}


/*
 * Under the lock: the marked entries' idle leases given back; a mark
 * stays while its entry holds a lease in use (a worker that renews or
 * admits from an entry marks it again)
 */

static void
ngx_http_tokenroute_lease_idle(ngx_http_tokenroute_lease_sh_t *sh,
    ngx_msec_t now)
{
    uint64_t                            bits;
    ngx_uint_t                          w, i, words;
    ngx_http_tokenroute_lease_entry_t  *e;

    words = (sh->n + 63) / 64;

    for (w = 0; w < words; w++) {
        bits = ngx_http_tokenroute_lease_marks[w];

        while (bits) {
            i = w * 64 + __builtin_ctzll(bits);
            bits &= bits - 1;

            if (i >= sh->n) {
                break;
            }

            e = &sh->e[i];

            if (e->inuse && e->have) {
                if (now - e->used < NGX_HTTP_TOKENROUTE_LEASE_IDLE) {
                    continue;
                }

                ngx_http_tokenroute_lease_abandon(e);
            }

            ngx_http_tokenroute_lease_marks[w] &=
                                             ~((uint64_t) 1 << (i & 63));
        }
    }
}


/* the worker exits: what was not flushed waits in the journal */

void
ngx_http_tokenroute_lease_shutdown(void)
{
    if (ngx_http_tokenroute_lease_conf == NULL) {
        return;
    }

    ngx_http_tokenroute_lease_flush(1);

    if (ngx_http_tokenroute_lease_event.timer_set) {
        ngx_del_timer(&ngx_http_tokenroute_lease_event);
    }

    ngx_http_tokenroute_lease_later_cancel();
}
