
/*
 * Copyright (C) tokenroute authors
 *
 * Settlement: release each request's reservation, charge what it cost
 * and count its usage, idempotently per request id.  Settlements are
 * batched: the ones made while a batch is in flight (or in the same turn
 * of the event loop) go to Redis together in one EVALSHA, which adds up
 * the increments of the same key, account and usage bucket, so that a
 * busy worker pays for one script call and a few HINCRBYs per batch
 * rather than per request.  An idle worker still sends each settlement
 * at once.  A batch Redis does not confirm is journaled settlement by
 * settlement, and replayed.
 *
 * A batch Redis rejects (an error reply about its contents, not a lost
 * connection) wrote nothing, since the script checks everything before
 * its first write: it is sent again in halves, down to single
 * settlements, so that the good ones land; a single settlement rejected
 * NGX_HTTP_TOKENROUTE_SETTLE_TRIES times, tried again at the journal's
 * replays, is moved to the dead letters (ngx_http_tokenroute_dead.c).
 *
 * Releases (a reservation given back, nothing charged) take the same
 * path: see ngx_http_tokenroute_release().
 *
 * Expired reservations (nginx killed before settling) are released by a
 * sweep (ngx_http_tokenroute_sweep.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_dead.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_settle.h"
#include "ngx_http_tokenroute_settlement.h"
#include "ngx_http_tokenroute_sweep.h"
#include "tokenroute_lua.h"


/* settlements per EVALSHA; ARGV per group of them, and per settlement */
#define NGX_HTTP_TOKENROUTE_SETTLE_BATCH   32
#define NGX_HTTP_TOKENROUTE_GROUP_FIELDS   8
#define NGX_HTTP_TOKENROUTE_SETTLE_FIELDS  9

/* a settlement's numbers: its fields but the request id */
#define NGX_HTTP_TOKENROUTE_SETTLE_NUMS    8

#define NGX_HTTP_TOKENROUTE_SETTLE_ARGC                                      \
    (4 + NGX_HTTP_TOKENROUTE_SETTLE_BATCH                                    \
         * (NGX_HTTP_TOKENROUTE_GROUP_FIELDS                                 \
            + NGX_HTTP_TOKENROUTE_SETTLE_FIELDS))

/* settlement records kept for reuse */
#define NGX_HTTP_TOKENROUTE_SETTLE_FREE    1024

/* a release of a timed-out admission is sent again this much later */
#define NGX_HTTP_TOKENROUTE_RELEASE_AGAIN  2


typedef struct {
    ngx_http_tokenroute_settlement_t  *items[NGX_HTTP_TOKENROUTE_SETTLE_BATCH];
    ngx_uint_t                         n;

    /* ARGV storage: releases; each group's count, day and hour; numbers */
    u_char        nrel[NGX_INT_T_LEN];
    u_char        count[NGX_HTTP_TOKENROUTE_SETTLE_BATCH][NGX_INT_T_LEN];
    u_char        day[NGX_HTTP_TOKENROUTE_SETTLE_BATCH][sizeof("YYYYMMDD")];
    u_char        hour[NGX_HTTP_TOKENROUTE_SETTLE_BATCH][sizeof("YYYYMMDDHH")];
    u_char        num[NGX_HTTP_TOKENROUTE_SETTLE_BATCH]
                     [NGX_HTTP_TOKENROUTE_SETTLE_NUMS][NGX_INT64_LEN];

    /* an aggregate's "flush id:lease id:count" (lease.c) */
    u_char        rid[NGX_HTTP_TOKENROUTE_SETTLE_BATCH]
                     [2 * NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN + NGX_INT_T_LEN
                      + 2];
    const char   *argv[NGX_HTTP_TOKENROUTE_SETTLE_ARGC];
    size_t        argvlen[NGX_HTTP_TOKENROUTE_SETTLE_ARGC];
} ngx_http_tokenroute_settle_batch_t;


static void ngx_http_tokenroute_settle_flush(ngx_event_t *ev);
static void ngx_http_tokenroute_settle_reply(void *data, redisReply *reply);
static int ngx_http_tokenroute_settle_args(
    ngx_http_tokenroute_settle_batch_t *b);
static void ngx_http_tokenroute_settle_rejected(
    ngx_http_tokenroute_settle_batch_t *b, redisReply *reply);


static void ngx_http_tokenroute_settlement_free(
    ngx_http_tokenroute_settlement_t *s);


static u_char  ngx_http_tokenroute_settle_sha[41];

static ngx_http_tokenroute_settlement_t   *ngx_http_tokenroute_pending;
static ngx_http_tokenroute_settlement_t  **ngx_http_tokenroute_pending_last
    = &ngx_http_tokenroute_pending;

static ngx_http_tokenroute_settlement_t  *ngx_http_tokenroute_free_settlements;
static ngx_uint_t                         ngx_http_tokenroute_nfree_settlements;

/* one batch in flight at a time: what comes meanwhile waits for it */
static ngx_http_tokenroute_settle_batch_t  ngx_http_tokenroute_settle_batch;
static ngx_uint_t                          ngx_http_tokenroute_settle_busy;

static ngx_event_t                         ngx_http_tokenroute_flush_event;


/* the script: src/lua/settle.lua, embedded at build time */

ngx_int_t
ngx_http_tokenroute_settle_init(ngx_conf_t *cf, ngx_str_t *scripts)
{
    if (ngx_http_tokenroute_script_init(cf, scripts, tokenroute_lua_settle,
                                        tokenroute_lua_settle_len,
                                        ngx_http_tokenroute_settle_sha)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_tokenroute_sweep_init(cf, &scripts[1]);
}


/* queues one settlement; it is sent at the end of this turn of the loop */

void
ngx_http_tokenroute_settle(ngx_http_tokenroute_settlement_t *s)
{
    ngx_event_t                       *ev;
    ngx_http_tokenroute_settlement_t  *copy;

    copy = ngx_http_tokenroute_free_settlements;

    if (copy) {
        ngx_http_tokenroute_free_settlements = copy->next;
        ngx_http_tokenroute_nfree_settlements--;

    } else {
        copy = ngx_alloc(sizeof(ngx_http_tokenroute_settlement_t),
                         ngx_cycle->log);
        if (copy == NULL) {
            ngx_http_tokenroute_journal_add(s);
            return;
        }
    }

    *copy = *s;
    copy->next = NULL;

    if (copy->tries >= NGX_HTTP_TOKENROUTE_SETTLE_TRIES) {
        /* from the journal: its dead letter could not be written */
        ngx_http_tokenroute_dead(copy);
        return;
    }

    *ngx_http_tokenroute_pending_last = copy;
    ngx_http_tokenroute_pending_last = &copy->next;

    ev = &ngx_http_tokenroute_flush_event;

    if (!ngx_http_tokenroute_settle_busy && !ev->posted) {
        ev->handler = ngx_http_tokenroute_settle_flush;
        ev->log = ngx_cycle->log;
        ngx_post_event(ev, &ngx_posted_events);
    }
}


/*
 * A release tells Redis to give back the reservation of a request that
 * will not run: its admission reply came after the timeout (the client
 * got 503), or its client went away while the admission was in Redis.
 *
 * again: the admission timed out, and may still run in Redis after the
 * release.  It normally cannot: Redis executes the commands it had read
 * or buffered on the connection nginx dropped (the admission among
 * them) as soon as it answers again, before it accepts and reads the
 * new connection the release goes on.  But another worker may replay
 * the release from the journal on a connection Redis happens to read
 * first, and an admission may be held up on its way (a proxy, a
 * retransmission): it would reserve after the release and keep the
 * money until tokenroute_reservation_ttl.  So such a release is
 * sent once more NGX_HTTP_TOKENROUTE_RELEASE_AGAIN seconds after the
 * first one succeeded: one more script call per timed-out request, only
 * after a stall, rather than a tombstone every admission would have to
 * look up.
 */

void
ngx_http_tokenroute_release(u_char *request_id, ngx_uint_t again)
{
    ngx_http_tokenroute_settlement_t  s;

    ngx_memzero(&s, sizeof(ngx_http_tokenroute_settlement_t));

    ngx_memcpy(s.request_id, request_id, NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);
    s.release = 1;
    s.again = again;
    s.time = ngx_time();

    ngx_http_tokenroute_settle(&s);
}


static void
ngx_http_tokenroute_settle_flush(ngx_event_t *ev)
{
    int                                  argc;
    ngx_uint_t                           max;
    ngx_http_tokenroute_settle_batch_t  *b;
    ngx_http_tokenroute_settlement_t    *s;

    b = &ngx_http_tokenroute_settle_batch;

    while (ngx_http_tokenroute_pending && !ngx_http_tokenroute_settle_busy) {

        b->n = 0;
        max = NGX_HTTP_TOKENROUTE_SETTLE_BATCH;

        /* a settlement of a rejected batch goes in a smaller one */

        while (ngx_http_tokenroute_pending) {
            s = ngx_http_tokenroute_pending;

            if (s->batch_max && s->batch_max < max) {
                if (b->n >= s->batch_max) {
                    break;
                }

                max = s->batch_max;
            }

            if (b->n >= max) {
                break;
            }

            ngx_http_tokenroute_pending = s->next;
            b->items[b->n++] = s;
        }

        if (ngx_http_tokenroute_pending == NULL) {
            ngx_http_tokenroute_pending_last = &ngx_http_tokenroute_pending;
        }

        argc = ngx_http_tokenroute_settle_args(b);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "tokenroute settle: batch of %ui sent", b->n);

        ngx_http_tokenroute_settle_busy = 1;

        if (ngx_http_tokenroute_redis_command(
                ngx_http_tokenroute_settle_reply, b, argc, b->argv,
                b->argvlen)
            == NULL)
        {
            /* not connected: the journal replays them */
            ngx_http_tokenroute_settle_reply(b, NULL);
        }
    }
}


/*
 * The batch's ARGV, its settlements grouped by account, tenant, key,
 * model and hour: the script then builds each usage field's name once a group.
 * Returns argc.
 */

static int
ngx_http_tokenroute_settle_args(ngx_http_tokenroute_settle_batch_t *b)
{
    u_char                            *p;
    size_t                            *len, *count_len;
    ngx_tm_t                           tm;
    ngx_uint_t                         i, j, k, g, n, ngroups;
    const char                       **arg, **count;
    ngx_http_tokenroute_settlement_t  *s, *t;
    int64_t                            nums[NGX_HTTP_TOKENROUTE_SETTLE_NUMS];
    u_char                             grouped[NGX_HTTP_TOKENROUTE_SETTLE_BATCH];

    static time_t                      hour_of_buckets = -1;
    static u_char                      day[sizeof("YYYYMMDD")];
    static u_char                      hour[sizeof("YYYYMMDDHH")];

    b->argv[0] = "EVALSHA";
    b->argvlen[0] = 7;
    b->argv[1] = (const char *) ngx_http_tokenroute_settle_sha;
    b->argvlen[1] = 40;
    b->argv[2] = "0";
    b->argvlen[2] = 1;

    arg = &b->argv[4];
    len = &b->argvlen[4];

    ngx_memzero(grouped, b->n);
    ngroups = 0;
    k = 0;

    /* the releases: their request ids */

    for (i = 0; i < b->n; i++) {
        if (b->items[i]->release) {
            grouped[i] = 1;
            *arg++ = (const char *) b->items[i]->request_id;
            *len++ = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;
            k++;
        }
    }

    p = ngx_http_tokenroute_write_int(b->nrel, k);
    b->argv[3] = (const char *) b->nrel;
    b->argvlen[3] = p - b->nrel;

    k = 0;

    for (i = 0; i < b->n; i++) {

        if (grouped[i]) {
            continue;
        }

        s = b->items[i];
        g = ngroups++;

        /* the usage buckets of this hour, formatted once an hour */

        if (s->time / 3600 != hour_of_buckets) {
            hour_of_buckets = s->time / 3600;

            ngx_gmtime(s->time, &tm);

            ngx_sprintf(day, "%4d%02d%02d", tm.ngx_tm_year, tm.ngx_tm_mon,
                        tm.ngx_tm_mday);
            ngx_sprintf(hour, "%4d%02d%02d%02d", tm.ngx_tm_year,
                        tm.ngx_tm_mon, tm.ngx_tm_mday, tm.ngx_tm_hour);
        }

        ngx_memcpy(b->day[g], day, sizeof(day));
        ngx_memcpy(b->hour[g], hour, sizeof(hour));

        arg[0] = (const char *) s->account;
        len[0] = s->account_len;
        arg[1] = (const char *) s->tenant;
        len[1] = s->tenant_len;
        arg[2] = (const char *) s->key_hash;
        len[2] = NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN;
        arg[3] = (const char *) s->key_id;
        len[3] = s->key_id_len;
        arg[4] = (const char *) s->model;
        len[4] = s->model_len;
        arg[5] = (const char *) b->day[g];
        len[5] = sizeof("YYYYMMDD") - 1;
        arg[6] = (const char *) b->hour[g];
        len[6] = sizeof("YYYYMMDDHH") - 1;

        count = &arg[7];
        count_len = &len[7];

        arg += NGX_HTTP_TOKENROUTE_GROUP_FIELDS;
        len += NGX_HTTP_TOKENROUTE_GROUP_FIELDS;

        n = 0;

        for (j = i; j < b->n; j++) {
            t = b->items[j];

            if (grouped[j]
                || t->time / 3600 != s->time / 3600
                || t->account_len != s->account_len
                || t->tenant_len != s->tenant_len
                || t->key_id_len != s->key_id_len
                || t->model_len != s->model_len
                || ngx_memcmp(t->key_hash, s->key_hash,
                              NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN) != 0
                || ngx_memcmp(t->account, s->account, s->account_len) != 0
                || ngx_memcmp(t->tenant, s->tenant, s->tenant_len) != 0
                || ngx_memcmp(t->key_id, s->key_id, s->key_id_len) != 0
                || ngx_memcmp(t->model, s->model, s->model_len) != 0)
            {
                continue;
            }

            grouped[j] = 1;
            n++;

            arg[0] = (const char *) t->request_id;
            len[0] = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

            if (t->count) {
                p = ngx_sprintf(b->rid[k], "%*s:%*s:%ui",
                                (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                                t->request_id,
                                (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                                t->lease_id, t->count);
                arg[0] = (const char *) b->rid[k];
                len[0] = p - b->rid[k];
            }

            nums[0] = t->cost;
            nums[1] = t->input;
            nums[2] = t->output;
            nums[3] = t->cached;
            nums[4] = t->estimated;
            nums[5] = t->unbilled;
            nums[6] = t->clamped;
            /* an aggregate's: how many of its requests failed */
            nums[7] = t->count ? t->failed : (t->failed ? 1 : 0);

            for (g = 0; g < NGX_HTTP_TOKENROUTE_SETTLE_NUMS; g++) {
                p = ngx_http_tokenroute_write_int(b->num[k][g], nums[g]);
                arg[1 + g] = (const char *) b->num[k][g];
                len[1 + g] = p - b->num[k][g];
            }

            k++;
            arg += NGX_HTTP_TOKENROUTE_SETTLE_FIELDS;
            len += NGX_HTTP_TOKENROUTE_SETTLE_FIELDS;
        }

        g = ngroups - 1;
        p = ngx_http_tokenroute_write_int(b->count[g], n);
        *count = (const char *) b->count[g];
        *count_len = p - b->count[g];
    }

    return arg - b->argv;
}


static void
ngx_http_tokenroute_settle_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_settle_batch_t  *b = data;

    ngx_uint_t                         i;
    ngx_http_tokenroute_settlement_t  *s;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "tokenroute settle: batch of %ui answered, type %d",
                   b->n, reply ? reply->type : -1);

    if (reply && reply->type == REDIS_REPLY_INTEGER) {

        for (i = 0; i < b->n; i++) {
            s = b->items[i];

            if (s->release && s->again) {
                s->again--;
                s->not_before = ngx_time() + NGX_HTTP_TOKENROUTE_RELEASE_AGAIN;
                ngx_http_tokenroute_journal_add(s);
            }

            ngx_http_tokenroute_settlement_free(s);
        }

    } else if (reply && reply->type == REDIS_REPLY_ERROR
               && !ngx_http_tokenroute_redis_unable(reply))
    {
        ngx_http_tokenroute_settle_rejected(b, reply);

    } else {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "tokenroute: settlement of %ui requests failed: %s",
                          b->n, reply->type == REDIS_REPLY_ERROR
                                ? reply->str : "unexpected reply");
        }

        for (i = 0; i < b->n; i++) {
            ngx_http_tokenroute_journal_add(b->items[i]);
            ngx_http_tokenroute_settlement_free(b->items[i]);
        }
    }

    b->n = 0;
    ngx_http_tokenroute_settle_busy = 0;

    /* what came in meanwhile goes now, unless a flush loop is running */

    if (ngx_http_tokenroute_pending
        && !ngx_http_tokenroute_flush_event.posted)
    {
        ngx_http_tokenroute_flush_event.handler =
                                           ngx_http_tokenroute_settle_flush;
        ngx_http_tokenroute_flush_event.log = ngx_cycle->log;
        ngx_post_event(&ngx_http_tokenroute_flush_event, &ngx_posted_events);
    }
}


/*
 * Redis refused the batch for what is in it, and wrote nothing: a batch
 * goes back to the head of the queue, to be sent again in halves; a
 * single settlement is retried through the journal (replayed once a
 * second: a key fixed meanwhile lets it through), then moved to the dead
 * letters.
 * It keeps going alone, so that it holds up no other batch.
 */

static void
ngx_http_tokenroute_settle_rejected(ngx_http_tokenroute_settle_batch_t *b,
    redisReply *reply)
{
    ngx_uint_t                         i, max;
    ngx_http_tokenroute_settlement_t  *s;

    if (b->n > 1) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: Redis rejected a batch of %ui "
                      "settlements, sending it again in halves: %s",
                      b->n, reply->str);

        max = (b->n + 1) / 2;

        for (i = b->n; i-- > 0; /* void */) {
            s = b->items[i];
            s->batch_max = max;

            s->next = ngx_http_tokenroute_pending;

            if (ngx_http_tokenroute_pending == NULL) {
                ngx_http_tokenroute_pending_last = &s->next;
            }

            ngx_http_tokenroute_pending = s;
        }

        return;
    }

    s = b->items[0];

    s->tries++;
    s->batch_max = 1;
    s->error_len = ngx_min(reply->len, sizeof(s->error));
    ngx_memcpy(s->error, reply->str, s->error_len);

    if (s->tries >= NGX_HTTP_TOKENROUTE_SETTLE_TRIES) {
        ngx_http_tokenroute_dead(s);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "tokenroute: Redis rejected %s %*s (try %ui of %d): %s",
                  s->release ? "the release of" : "settlement",
                  (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN, s->request_id,
                  s->tries, NGX_HTTP_TOKENROUTE_SETTLE_TRIES, reply->str);

    ngx_http_tokenroute_journal_add(s);
    ngx_http_tokenroute_settlement_free(s);
}


/* settlements in flight are not in a request pool: recycle them */

static void
ngx_http_tokenroute_settlement_free(ngx_http_tokenroute_settlement_t *s)
{
    if (ngx_http_tokenroute_nfree_settlements
        >= NGX_HTTP_TOKENROUTE_SETTLE_FREE)
    {
        ngx_free(s);
        return;
    }

    s->next = ngx_http_tokenroute_free_settlements;
    ngx_http_tokenroute_free_settlements = s;
    ngx_http_tokenroute_nfree_settlements++;
}


/* the worker is exiting: what was not sent waits in the journal */

void
ngx_http_tokenroute_settle_shutdown(void)
{
    ngx_http_tokenroute_settlement_t  *s;

    if (ngx_http_tokenroute_flush_event.posted) {
        ngx_delete_posted_event(&ngx_http_tokenroute_flush_event);
    }

    while (ngx_http_tokenroute_pending) {
        s = ngx_http_tokenroute_pending;
        ngx_http_tokenroute_pending = s->next;

        ngx_http_tokenroute_journal_add(s);
        ngx_free(s);
    }

    ngx_http_tokenroute_pending_last = &ngx_http_tokenroute_pending;

    while (ngx_http_tokenroute_free_settlements) {
        s = ngx_http_tokenroute_free_settlements;
        ngx_http_tokenroute_free_settlements = s->next;
        ngx_free(s);
    }

    ngx_http_tokenroute_nfree_settlements = 0;
}
