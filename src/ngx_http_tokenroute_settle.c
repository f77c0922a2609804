
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
 * Expired reservations (nginx killed before settling) are released by a
 * sweep every second, off the admission path.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_billing.h"


/* settlements per EVALSHA; ARGV per group of them, and per settlement */
#define NGX_HTTP_TOKENROUTE_SETTLE_BATCH   32
#define NGX_HTTP_TOKENROUTE_GROUP_FIELDS   7
#define NGX_HTTP_TOKENROUTE_SETTLE_FIELDS  8

#define NGX_HTTP_TOKENROUTE_SETTLE_ARGC                                      \
    (3 + NGX_HTTP_TOKENROUTE_SETTLE_BATCH                                    \
         * (NGX_HTTP_TOKENROUTE_GROUP_FIELDS                                 \
            + NGX_HTTP_TOKENROUTE_SETTLE_FIELDS))

/* settlement records kept for reuse */
#define NGX_HTTP_TOKENROUTE_SETTLE_FREE    1024


typedef struct {
    ngx_http_tokenroute_settlement_t  *items[NGX_HTTP_TOKENROUTE_SETTLE_BATCH];
    ngx_uint_t                         n;

    /* ARGV storage: each group's count, day and hour; the numbers */
    u_char        count[NGX_HTTP_TOKENROUTE_SETTLE_BATCH][NGX_INT_T_LEN];
    u_char        day[NGX_HTTP_TOKENROUTE_SETTLE_BATCH][sizeof("YYYYMMDD")];
    u_char        hour[NGX_HTTP_TOKENROUTE_SETTLE_BATCH][sizeof("YYYYMMDDHH")];
    u_char        num[NGX_HTTP_TOKENROUTE_SETTLE_BATCH][7][NGX_INT64_LEN];
    const char   *argv[NGX_HTTP_TOKENROUTE_SETTLE_ARGC];
    size_t        argvlen[NGX_HTTP_TOKENROUTE_SETTLE_ARGC];
} ngx_http_tokenroute_batch_t;


static void ngx_http_tokenroute_settle_flush(ngx_event_t *ev);
static void ngx_http_tokenroute_settle_reply(void *data, redisReply *reply);
static int ngx_http_tokenroute_settle_args(ngx_http_tokenroute_batch_t *b);
static void ngx_http_tokenroute_sweep_reply(void *data, redisReply *reply);
static void ngx_http_tokenroute_settlement_free(
    ngx_http_tokenroute_settlement_t *s);


/*
 * ARGV: groups of settlements of the same account, key, model and hour:
 * account, key hash, key id, model, day, hour, count; then count times
 * request id, cost, input, output, cached, estimated, unbilled, clamped.
 * Returns how many were charged (a replay is not).
 *
 * Idempotency costs no marker per request: a request's reservation is
 * settled once, and deleted then; one released by the sweep because its
 * settlement was late leaves a "swept" marker for that settlement.
 *
 * Sums are Lua numbers (doubles), exact below 2^53, and are written as
 * integers with %.0f: Lua's own number-to-string would use an exponent.
 */

static ngx_str_t  ngx_http_tokenroute_settle_lua = ngx_string(
"local rl, a = {}, 1\n"
"while a <= #ARGV do\n"
"  local n = tonumber(ARGV[a + 6])\n"
"  a = a + 7\n"
"  for j = 1, n do rl[#rl + 1] = ARGV[a] a = a + 8 end\n"
"end\n"
"if #rl == 0 then return 0 end\n"
"local v = redis.call('HMGET', 'tr:rsvd', unpack(rl))\n"
"local names = {'req', 'cost', 'in', 'out', 'cached', 'est', 'unbilled',\n"
"  'clamped'}\n"
"local seen, live, adds, ttl = {}, {}, {}, {}\n"
"local charged, i = 0, 0\n"
"local function add(k, f, x)\n"
"  if x == 0 then return end\n"
"  local h = adds[k]\n"
"  if not h then h = {} adds[k] = h end\n"
"  h[f] = (h[f] or 0) + x\n"
"end\n"
"a = 1\n"
"while a <= #ARGV do\n"
"  local acct, kh, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 6])\n"
"  local p = acct .. '|' .. ARGV[a + 2] .. '|' .. ARGV[a + 3] .. '|'\n"
"  local d, h = 'tr:u:d:' .. ARGV[a + 4], 'tr:u:h:' .. ARGV[a + 5]\n"
"  local u, rel = {0, 0, 0, 0, 0, 0, 0, 0}, 0\n"
"  a = a + 7\n"
"  for j = 1, n do\n"
"    i = i + 1\n"
"    local rid, amt = ARGV[a], nil\n"
"    if not seen[rid] then\n"
"      seen[rid] = true\n"
"      if v[i] then\n"
"        amt = tonumber(string.match(v[i], '^%S+ (%d+)')) or 0\n"
"        live[#live + 1] = rid\n"
"      elseif redis.call('DEL', 'tr:swept:' .. rid) == 1 then\n"
"        amt = 0\n"
"      end\n"
"    end\n"
"    if amt then\n"
"      charged = charged + 1\n"
"      rel = rel + amt\n"
"      u[1] = u[1] + 1\n"
"      for f = 2, 8 do u[f] = u[f] + tonumber(ARGV[a + f - 1]) end\n"
"    end\n"
"    a = a + 8\n"
"  end\n"
"  if u[1] > 0 then\n"
"    local k, ak = 'tr:key:' .. kh, 'tr:acct:' .. acct\n"
"    add(k, 'reserved', -rel)\n"
"    add(k, 'spent', u[2])\n"
"    add(ak, 'reserved', -rel)\n"
"    add(ak, 'credit', -u[2])\n"
"    add(ak, 'spent', u[2])\n"
"    for f = 1, 8 do\n"
"      add(d, p .. names[f], u[f])\n"
"      add(h, p .. names[f], u[f])\n"
"    end\n"
"    ttl[d] = 34560000\n"
"    ttl[h] = 691200\n"
"  end\n"
"end\n"
"for k, fields in pairs(adds) do\n"
"  for f, x in pairs(fields) do\n"
"    if x ~= 0 then\n"
"      redis.call('HINCRBY', k, f, string.format('%.0f', x))\n"
"    end\n"
"  end\n"
"end\n"
"for b, secs in pairs(ttl) do\n"
"  if redis.call('TTL', b) == -1 then redis.call('EXPIRE', b, secs) end\n"
"end\n"
"if #live > 0 then\n"
"  redis.call('HDEL', 'tr:rsvd', unpack(live))\n"
"  redis.call('ZREM', 'tr:rsv', unpack(live))\n"
"end\n"
"return charged\n");


/*
 * ARGV: now.  Releases reservations past their deadline, whose requests
 * will never settle (their nginx was killed), or settle late and find
 * the "swept" marker.  Returns how many.
 */

static ngx_str_t  ngx_http_tokenroute_sweep_lua = ngx_string(
"local stale = redis.call('ZRANGEBYSCORE', 'tr:rsv', '-inf', ARGV[1],\n"
"                         'LIMIT', 0, 64)\n"
"if #stale == 0 then return 0 end\n"
"local v = redis.call('HMGET', 'tr:rsvd', unpack(stale))\n"
"for i, rid in ipairs(stale) do\n"
"  if v[i] then\n"
"    local kh, amt, acct = string.match(v[i], '^(%S+) (%d+) (.*)$')\n"
"    if amt and amt ~= '0' then\n"
"      redis.call('HINCRBY', 'tr:key:' .. kh, 'reserved', '-' .. amt)\n"
"      redis.call('HINCRBY', 'tr:acct:' .. acct, 'reserved', '-' .. amt)\n"
"    end\n"
"    redis.call('SET', 'tr:swept:' .. rid, '1', 'EX', 604800)\n"
"  end\n"
"end\n"
"redis.call('HDEL', 'tr:rsvd', unpack(stale))\n"
"redis.call('ZREM', 'tr:rsv', unpack(stale))\n"
"return #stale\n");


static u_char  ngx_http_tokenroute_settle_sha[41];
static u_char  ngx_http_tokenroute_sweep_sha[41];

static ngx_http_tokenroute_settlement_t   *ngx_http_tokenroute_pending;
static ngx_http_tokenroute_settlement_t  **ngx_http_tokenroute_pending_last
    = &ngx_http_tokenroute_pending;

static ngx_http_tokenroute_settlement_t  *ngx_http_tokenroute_free_settlements;
static ngx_uint_t                         ngx_http_tokenroute_nfree_settlements;

/* one batch in flight at a time: what comes meanwhile waits for it */
static ngx_http_tokenroute_batch_t         ngx_http_tokenroute_batch;
static ngx_uint_t                          ngx_http_tokenroute_batch_busy;

static ngx_event_t                         ngx_http_tokenroute_flush_event;
static ngx_uint_t                          ngx_http_tokenroute_sweeping;


ngx_int_t
ngx_http_tokenroute_settle_init(ngx_conf_t *cf, ngx_str_t *scripts)
{
    if (ngx_http_tokenroute_script_sha1(cf, &ngx_http_tokenroute_settle_lua,
                                        ngx_http_tokenroute_settle_sha)
        != NGX_OK
        || ngx_http_tokenroute_script_sha1(cf, &ngx_http_tokenroute_sweep_lua,
                                           ngx_http_tokenroute_sweep_sha)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    scripts[0] = ngx_http_tokenroute_settle_lua;
    scripts[1] = ngx_http_tokenroute_sweep_lua;

    return NGX_OK;
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

    *ngx_http_tokenroute_pending_last = copy;
    ngx_http_tokenroute_pending_last = &copy->next;

    ev = &ngx_http_tokenroute_flush_event;

    if (!ngx_http_tokenroute_batch_busy && !ev->posted) {
        ev->handler = ngx_http_tokenroute_settle_flush;
        ev->log = ngx_cycle->log;
        ngx_post_event(ev, &ngx_posted_events);
    }
}


static void
ngx_http_tokenroute_settle_flush(ngx_event_t *ev)
{
    int                                argc;
    ngx_http_tokenroute_batch_t       *b;
    ngx_http_tokenroute_settlement_t  *s;

    b = &ngx_http_tokenroute_batch;

    while (ngx_http_tokenroute_pending && !ngx_http_tokenroute_batch_busy) {

        b->n = 0;

        while (b->n < NGX_HTTP_TOKENROUTE_SETTLE_BATCH
               && ngx_http_tokenroute_pending)
        {
            s = ngx_http_tokenroute_pending;
            ngx_http_tokenroute_pending = s->next;
            b->items[b->n++] = s;
        }

        if (ngx_http_tokenroute_pending == NULL) {
            ngx_http_tokenroute_pending_last = &ngx_http_tokenroute_pending;
        }

        argc = ngx_http_tokenroute_settle_args(b);

        ngx_http_tokenroute_batch_busy = 1;

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
 * The batch's ARGV, its settlements grouped by account, key, model and
 * hour: the script then builds each usage field's name once a group.
 * Returns argc.
 */

static int
ngx_http_tokenroute_settle_args(ngx_http_tokenroute_batch_t *b)
{
    u_char                            *p;
    size_t                            *len, *count_len;
    ngx_tm_t                           tm;
    ngx_uint_t                         i, j, k, g, n, ngroups;
    const char                       **arg, **count;
    ngx_http_tokenroute_settlement_t  *s, *t;
    int64_t                            values[7];
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

    arg = &b->argv[3];
    len = &b->argvlen[3];

    ngx_memzero(grouped, b->n);
    ngroups = 0;
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
        arg[1] = (const char *) s->key_hash;
        len[1] = NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN;
        arg[2] = (const char *) s->key_id;
        len[2] = s->key_id_len;
        arg[3] = (const char *) s->model;
        len[3] = s->model_len;
        arg[4] = (const char *) b->day[g];
        len[4] = sizeof("YYYYMMDD") - 1;
        arg[5] = (const char *) b->hour[g];
        len[5] = sizeof("YYYYMMDDHH") - 1;

        count = &arg[6];
        count_len = &len[6];

        arg += NGX_HTTP_TOKENROUTE_GROUP_FIELDS;
        len += NGX_HTTP_TOKENROUTE_GROUP_FIELDS;

        n = 0;

        for (j = i; j < b->n; j++) {
            t = b->items[j];

            if (grouped[j]
                || t->time / 3600 != s->time / 3600
                || t->account_len != s->account_len
                || t->key_id_len != s->key_id_len
                || t->model_len != s->model_len
                || ngx_memcmp(t->key_hash, s->key_hash,
                              NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN) != 0
                || ngx_memcmp(t->account, s->account, s->account_len) != 0
                || ngx_memcmp(t->key_id, s->key_id, s->key_id_len) != 0
                || ngx_memcmp(t->model, s->model, s->model_len) != 0)
            {
                continue;
            }

            grouped[j] = 1;
            n++;

            arg[0] = (const char *) t->request_id;
            len[0] = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

            values[0] = t->cost;
            values[1] = t->input;
            values[2] = t->output;
            values[3] = t->cached;
            values[4] = t->estimated;
            values[5] = t->unbilled;
            values[6] = t->clamped;

            for (g = 0; g < 7; g++) {
                p = ngx_http_tokenroute_write_int(b->num[k][g], values[g]);
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
    ngx_http_tokenroute_batch_t  *b = data;

    ngx_uint_t  i;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {

        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "tokenroute: settlement of %ui requests failed: %s",
                          b->n, reply->str);
        }

        for (i = 0; i < b->n; i++) {
            ngx_http_tokenroute_journal_add(b->items[i]);
        }
    }

    for (i = 0; i < b->n; i++) {
        ngx_http_tokenroute_settlement_free(b->items[i]);
    }

    b->n = 0;
    ngx_http_tokenroute_batch_busy = 0;

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


/* called every second: one sweep at a time per worker */

void
ngx_http_tokenroute_sweep(void)
{
    u_char      *p;
    const char  *argv[4];
    size_t       argvlen[4];
    u_char       now[NGX_TIME_T_LEN];

    if (ngx_http_tokenroute_sweeping) {
        return;
    }

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_tokenroute_sweep_sha;
    argvlen[1] = 40;
    argv[2] = "0";
    argvlen[2] = 1;

    p = ngx_sprintf(now, "%T", ngx_time());
    argv[3] = (const char *) now;
    argvlen[3] = p - now;

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_sweep_reply,
                                          NULL, 4, argv, argvlen)
        != NULL)
    {
        ngx_http_tokenroute_sweeping = 1;
    }
}


static void
ngx_http_tokenroute_sweep_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_sweeping = 0;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: reservation sweep failed: %s", reply->str);

    } else if (reply && reply->type == REDIS_REPLY_INTEGER
               && reply->integer > 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "tokenroute: released %L expired reservations",
                      (int64_t) reply->integer);
    }
}
