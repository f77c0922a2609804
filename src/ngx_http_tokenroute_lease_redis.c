
/*
 * Copyright (C) tokenroute authors
 *
 * Leases: the calls to src/lua/lease.lua.  A renewal ("get") reads the
 * key's record and tops its slice up; a give-back ("back") returns what
 * is left of a slice.  Renewals asked for while requests are admitted
 * go in the next turn of the event loop, after that turn's admissions.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_lease_redis.h"
#include "ngx_http_tokenroute_lease_zone.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_request.h"
#include "tokenroute_lease_math.h"
#include "tokenroute_lua.h"
#include "tokenroute_money.h"


typedef struct {
    u_char                 kh[NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];
    u_char                 lease_id[NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN];
    ngx_uint_t             have;
    int64_t                want;
    ngx_msec_t             sent;
} ngx_http_tokenroute_lease_call_t;


static void ngx_http_tokenroute_lease_renew(ngx_event_t *ev);
static void ngx_http_tokenroute_lease_refresh(
    ngx_http_tokenroute_lease_entry_t *e, int64_t amount);
static void ngx_http_tokenroute_lease_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_tokenroute_lease_copy(u_char *to, size_t size,
    uint16_t *len, redisReply *r);
static void ngx_http_tokenroute_lease_back_reply(void *data,
    redisReply *reply);


static u_char            ngx_http_tokenroute_lease_sha[41];

/* renewals asked for in this turn of the loop, sent in the next one */
static ngx_event_t       ngx_http_tokenroute_lease_renew_event;
static ngx_connection_t  ngx_http_tokenroute_lease_renew_conn;
static ngx_uint_t        ngx_http_tokenroute_lease_nlater;
static int64_t           ngx_http_tokenroute_lease_later_amount
                             [NGX_HTTP_TOKENROUTE_LEASE_LATER];
static u_char            ngx_http_tokenroute_lease_later_kh
                             [NGX_HTTP_TOKENROUTE_LEASE_LATER]
                             [NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];


ngx_int_t
ngx_http_tokenroute_lease_init(ngx_conf_t *cf, ngx_str_t *script)
{
    return ngx_http_tokenroute_script_init(cf, script, tokenroute_lua_lease,
                                           tokenroute_lua_lease_len,
                                           ngx_http_tokenroute_lease_sha);
}


/*
 * Under the lock: a renewal, sent in the next turn of the event loop,
 * after the admission batches of this one (ngx_posted_next_events): a
 * slice taken first would leave an exact admission of the same worker
 * less headroom than the key has.
 */

void
ngx_http_tokenroute_lease_later(ngx_http_tokenroute_lease_entry_t *e,
    int64_t amount)
{
    ngx_uint_t    n;
    ngx_event_t  *ev;

    n = ngx_http_tokenroute_lease_nlater;

    if (n == NGX_HTTP_TOKENROUTE_LEASE_LATER) {
        return;
    }

    ngx_memcpy(ngx_http_tokenroute_lease_later_kh[n], e->kh,
               NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);
    ngx_http_tokenroute_lease_later_amount[n] = amount;
    ngx_http_tokenroute_lease_nlater = n + 1;

    /* one asked for: no other worker asks meanwhile */
    e->busy = ngx_current_msec + NGX_HTTP_TOKENROUTE_LEASE_BUSY;

    ev = &ngx_http_tokenroute_lease_renew_event;

    if (!ev->posted) {
        ev->handler = ngx_http_tokenroute_lease_renew;
        ev->log = ngx_cycle->log;
        ngx_http_tokenroute_lease_renew_conn.fd = (ngx_socket_t) -1;
        ev->data = &ngx_http_tokenroute_lease_renew_conn;
        ngx_post_event(ev, &ngx_posted_next_events);
    }
}


static void
ngx_http_tokenroute_lease_renew(ngx_event_t *ev)
{
    ngx_uint_t                          i, n;
    ngx_http_tokenroute_lease_conf_t   *lc;
    ngx_http_tokenroute_lease_entry_t  *e;

    lc = ngx_http_tokenroute_lease_conf;
    n = ngx_http_tokenroute_lease_nlater;
    ngx_http_tokenroute_lease_nlater = 0;

    ngx_shmtx_lock(&lc->shpool->mutex);

    for (i = 0; i < n; i++) {
        e = ngx_http_tokenroute_lease_find(
                ngx_http_tokenroute_lease_later_kh[i], 0);

        if (e) {
            e->busy = 0;
            ngx_http_tokenroute_lease_refresh(e,
                ngx_http_tokenroute_lease_later_amount[i]);
        }
    }

    ngx_shmtx_unlock(&lc->shpool->mutex);
}


/* under the lock: asks Redis for the record and a slice */

static void
ngx_http_tokenroute_lease_refresh(ngx_http_tokenroute_lease_entry_t *e,
    int64_t amount)
{
    u_char                            *p;
    int64_t                            want;
    const char                        *argv[10];
    size_t                             argvlen[10];
    u_char                             now[NGX_TIME_T_LEN];
    u_char                             deadline[NGX_TIME_T_LEN];
    u_char                             w[NGX_INT64_LEN];
    ngx_http_tokenroute_main_conf_t   *trmcf;
    ngx_http_tokenroute_lease_call_t  *call;

    if (!ngx_http_tokenroute_redis_ready()) {
        return;
    }

    trmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                ngx_http_tokenroute_module);

    call = ngx_alloc(sizeof(ngx_http_tokenroute_lease_call_t),
                     ngx_cycle->log);
    if (call == NULL) {
        return;
    }

    ngx_memcpy(call->kh, e->kh, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);
    ngx_memcpy(call->lease_id, e->lease_id,
               NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);
    call->have = e->have;
    call->want = 0;
    call->sent = ngx_current_msec;

    /* a slice of this many requests like this one, topped up */

    want = tokenroute_lease_want(amount,
                                 ngx_http_tokenroute_lease_conf->slice,
                                 TOKENROUTE_MONEY_MAX);
    e->want = ngx_max(e->want, want);
    want = tokenroute_lease_topup(e->want, e->available);

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_tokenroute_lease_sha;
    argvlen[1] = 40;
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = "get";
    argvlen[3] = 3;

    p = ngx_http_tokenroute_write_int(now, ngx_time());
    argv[4] = (const char *) now;
    argvlen[4] = p - now;

    /*
     * The sweep releases the lease at its deadline with the requests
     * admitted from it still in flight: each of those is admitted within
     * ttl/2 of this renewal and, as a request's own reservation, must
     * stay reserved for tokenroute_reservation_ttl
     */

    p = ngx_http_tokenroute_write_int(deadline, ngx_time()
                                 + ngx_http_tokenroute_lease_conf->ttl / 1000
                                 + trmcf->reservation_ttl);
    argv[5] = (const char *) deadline;
    argvlen[5] = p - deadline;

    argv[6] = (const char *) call->kh;
    argvlen[6] = NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN;
    argv[7] = (const char *) call->lease_id;
    argvlen[7] = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

    call->want = want;

    p = ngx_http_tokenroute_write_int(w, want);
    argv[8] = (const char *) w;
    argvlen[8] = p - w;

    argv[9] = call->have ? "1" : "0";
    argvlen[9] = 1;

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_lease_reply,
                                          call, 10, argv, argvlen)
        == NULL)
    {
        ngx_free(call);
        return;
    }

    e->busy = ngx_current_msec + NGX_HTTP_TOKENROUTE_LEASE_BUSY;

    ngx_http_tokenroute_metrics_lease(NGX_HTTP_TOKENROUTE_LEASE_M_RENEW);
}


/*
 * {status, key id, account, tenant, models, expires_at, exact, grant,
 * lease}: src/lua/lease.lua
 */

static void
ngx_http_tokenroute_lease_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_lease_call_t  *call = data;

    int64_t                             grant;
    ngx_uint_t                          i, ok;
    redisReply                        **el;
    ngx_http_tokenroute_lease_conf_t   *lc;
    ngx_http_tokenroute_lease_entry_t  *e;

    lc = ngx_http_tokenroute_lease_conf;

    ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 9;

    for (i = 0; ok && i < 9; i++) {
        ok = reply->element[i]->type == REDIS_REPLY_STRING;
    }

    if (reply && !ok) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: lease failed: %s",
                      reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");
    }

    el = ok ? reply->element : NULL;
    grant = 0;

    if (ok) {
        grant = ngx_atoof((u_char *) el[7]->str, el[7]->len);

        if (grant == NGX_ERROR) {
            grant = 0;
        }
    }

    ngx_shmtx_lock(&lc->shpool->mutex);

    e = ngx_http_tokenroute_lease_find(call->kh, 0);

    if (e == NULL
        || ngx_memcmp(e->lease_id, call->lease_id,
                      NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN) != 0)
    {
        /* the entry moved on meanwhile: what was granted goes back */
        ngx_shmtx_unlock(&lc->shpool->mutex);

        if (grant > 0) {
            ngx_http_tokenroute_lease_back(call->lease_id, grant, 1);
        }

        ngx_free(call);
        return;
    }

    e->busy = 0;

    if (!ok) {
        /* Redis may have granted: that lease is left to the sweep */
        if (reply == NULL && e->have) {
            ngx_http_tokenroute_lease_abandon(e);
        }

        ngx_shmtx_unlock(&lc->shpool->mutex);
        ngx_free(call);
        return;
    }

    e->fetched = ngx_current_msec;

    /*
     * A change pushed after the call went (or about then: each worker's
     * clock is its own cached one) is newer than this answer, which may
     * come after its message: the entry stays stale, read again
     */

    if ((ngx_msec_int_t) (e->invalidated - call->sent)
        < -NGX_HTTP_TOKENROUTE_LEASE_SKEW)
    {
        e->stale = 0;
    }
    e->found = !(el[0]->len == 7 && ngx_strncmp(el[0]->str, "unknown", 7)
                 == 0);
    e->revoked = (el[0]->len == 7
                  && ngx_strncmp(el[0]->str, "revoked", 7) == 0);
    e->expires_at = ngx_atotm((u_char *) el[5]->str, el[5]->len);

    if (e->expires_at == NGX_ERROR) {
        e->expires_at = 1;
    }

    e->exact = (el[6]->len == 1 && el[6]->str[0] == '1');

    /* a record too large to hold here: the exact path for this key */

    if (ngx_http_tokenroute_lease_copy(e->key_id, sizeof(e->key_id),
                                       &e->key_id_len, el[1]) != NGX_OK
        || ngx_http_tokenroute_lease_copy(e->account, sizeof(e->account),
                                          &e->account_len, el[2]) != NGX_OK
        || ngx_http_tokenroute_lease_copy(e->tenant, sizeof(e->tenant),
                                          &e->tenant_len, el[3]) != NGX_OK
        || ngx_http_tokenroute_lease_copy(e->models, sizeof(e->models),
                                          &e->models_len, el[4]) != NGX_OK)
    {
        e->exact = 1;
    }

    if (el[8]->len == 4 && ngx_strncmp(el[8]->str, "gone", 4) == 0) {
        /* swept: what this gateway thought it held is no more */
        e->have = 1;
        e->available = 0;
        ngx_http_tokenroute_lease_abandon(e);

    } else if (el[8]->len == 5 && ngx_strncmp(el[8]->str, "moved", 5) == 0)
    {
        /*
         * reserved on a tenant the key left: what is left of it goes
         * back there, and the next renewal takes a new lease
         */
        e->have = 1;
        ngx_http_tokenroute_lease_abandon(e);

    } else if (el[8]->len == 4 && ngx_strncmp(el[8]->str, "live", 4) == 0) {
        e->have = 1;
        ngx_http_tokenroute_lease_mark(lc->sh, e);
        e->renewed = e->fetched;
        e->available += grant;
        e->capped = (grant < call->want);

    } else {
        e->capped = 1;
    }

    /*
     * A key refused (revoked, expired, unknown) or exact in Redis admits
     * nothing from its lease, whose deadline the script no longer moves:
     * it goes back now, not when the key's requests stop
     */

    if (e->have
        && ((el[6]->len == 1 && el[6]->str[0] == '1')
            || el[0]->len != 2 || ngx_strncmp(el[0]->str, "ok", 2) != 0))
    {
        ngx_http_tokenroute_lease_abandon(e);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "tokenroute lease: \"%*s\" granted %L",
                   el[8]->len, el[8]->str, grant);

    ngx_shmtx_unlock(&lc->shpool->mutex);
    ngx_free(call);
}


static ngx_int_t
ngx_http_tokenroute_lease_copy(u_char *to, size_t size, uint16_t *len,
    redisReply *r)
{
    if (r->len > size) {
        *len = 0;
        return NGX_ERROR;
    }

    ngx_memcpy(to, r->str, r->len);
    *len = (uint16_t) r->len;

    return NGX_OK;
}


/*
 * Under the lock: what is left of the slice goes back, the lease is
 * closed once nothing is outstanding (requests in flight, aggregates not
 * flushed keep it: their settlement takes their cost off it, the sweep
 * the rest), and a new lease id is drawn.
 */

void
ngx_http_tokenroute_lease_abandon(ngx_http_tokenroute_lease_entry_t *e)
{
    if (e->have) {
        ngx_http_tokenroute_lease_back(e->lease_id, ngx_max(e->available, 0),
                                       1);
    }

    e->have = 0;
    e->available = 0;
    e->renewed = 0;

    if (ngx_http_tokenroute_request_id(e->lease_id) != NGX_OK) {
        e->inuse = 0;
    }
}


void
ngx_http_tokenroute_lease_back(u_char *lease_id, int64_t amount,
    ngx_uint_t close)
{
    u_char      *p;
    const char  *argv[7];
    size_t       argvlen[7];
    u_char       a[NGX_INT64_LEN];

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_tokenroute_lease_sha;
    argvlen[1] = 40;
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = "back";
    argvlen[3] = 4;
    argv[4] = (const char *) lease_id;
    argvlen[4] = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

    p = ngx_http_tokenroute_write_int(a, amount);
    argv[5] = (const char *) a;
    argvlen[5] = p - a;

    argv[6] = close ? "1" : "0";
    argvlen[6] = 1;

    /* not sent, or lost: the sweep releases the lease at its deadline */

    if (ngx_http_tokenroute_redis_command(
            ngx_http_tokenroute_lease_back_reply, NULL, 7, argv, argvlen)
        != NULL)
    {
        ngx_http_tokenroute_metrics_lease(NGX_HTTP_TOKENROUTE_LEASE_M_BACK);
    }
}


static void
ngx_http_tokenroute_lease_back_reply(void *data, redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: lease give-back failed: %s", reply->str);
    }
}


void
ngx_http_tokenroute_lease_later_cancel(void)
{
    if (ngx_http_tokenroute_lease_renew_event.posted) {
        ngx_delete_posted_event(&ngx_http_tokenroute_lease_renew_event);
    }

    ngx_http_tokenroute_lease_nlater = 0;
}
