
/*
 * Copyright (C) tokenroute authors
 *
 * Admission, batched: the key check and the reservation of every request
 * that asks in the same turn of the event loop go to Redis in one
 * EVALSHA at the end of that turn.  The script admits them one after
 * the other, atomically, exactly as separate calls would (a reservation
 * counts against the next request of the same key or account), reads
 * each key and account once, and writes one increment per key and
 * account.  Nothing waits for a timer: a lone request is sent at the end
 * of its own turn.
 *
 * A request that goes away while its admission is queued leaves its slot
 * empty, closed up when the batch is sent.  One that goes away while its
 * admission is in Redis leaves its slot empty too: when the reply says
 * it was admitted, its reservation is released at once.  When no reply
 * comes (timeout, connection lost after sending), the requests get 503
 * and their reservations, which Redis may have made, are released as
 * soon as Redis answers again.  The batch keeps the request ids for
 * that, the requests being gone.
 *
 * The requests that reserve nothing (GET /v1/models, count_tokens, and
 * those refused once their key is known) go in the same batches: the
 * script checks their key only.  So the key rules are the script's
 * alone, src/lua/admission.lua, and every request gets its verdict the
 * same way, in its one round trip to Redis.
 *
 * Every batch also carries the cooldowns the fleet shares: those started
 * here and not yet published, and the version of the fleet's this nginx
 * has; the reply's last element is the fleet's when they changed
 * (ngx_http_tokenroute_cooldown_fleet.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_admission.h"
#include "ngx_http_tokenroute_cooldown_fleet.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_lease.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_models.h"
#include "ngx_http_tokenroute_park.h"
#include "ngx_http_tokenroute_rate.h"
#include "ngx_http_tokenroute_reserve.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_settle.h"
#include "tokenroute_money.h"
#include "tokenroute_lua.h"


/* 2^53 - 1: amounts the scripts take, exact in their doubles */
#define NGX_HTTP_TOKENROUTE_EXACT  9007199254740991LL

#define NGX_HTTP_TOKENROUTE_BATCH_SIZE   32
#define NGX_HTTP_TOKENROUTE_BATCH_FIELDS  5

/* the last argument: the cooldowns */
#define NGX_HTTP_TOKENROUTE_BATCH_ARGC                                       \
    (6 + NGX_HTTP_TOKENROUTE_BATCH_SIZE * NGX_HTTP_TOKENROUTE_BATCH_FIELDS)

/* batches kept for reuse */
#define NGX_HTTP_TOKENROUTE_BATCH_FREE    64


typedef struct ngx_http_tokenroute_batch_s
    ngx_http_tokenroute_batch_t;

struct ngx_http_tokenroute_batch_s {
    ngx_http_tokenroute_batch_t  *next;   /* to send, or free */
    ngx_http_request_t           *reqs[NGX_HTTP_TOKENROUTE_BATCH_SIZE];
    ngx_uint_t                    n;
    ngx_uint_t                    sent;
    u_char                        check[NGX_HTTP_TOKENROUTE_BATCH_SIZE];
    u_char                        rids[NGX_HTTP_TOKENROUTE_BATCH_SIZE]
                                  [NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN];
    ngx_http_tokenroute_cooldown_pub_t  pub;   /* the cooldowns it carries */
};


static ngx_int_t ngx_http_tokenroute_admission_queue(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_admission_add(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t check);
static void ngx_http_tokenroute_admission_flush(ngx_event_t *ev);
static ngx_int_t ngx_http_tokenroute_admission_models(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_str_t *models);
static void ngx_http_tokenroute_admission_send(
    ngx_http_tokenroute_batch_t *b);
static void ngx_http_tokenroute_admission_reply(void *data, redisReply *reply);
static void ngx_http_tokenroute_admission_parse(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, redisReply *e, ngx_uint_t check);
static ngx_int_t ngx_http_tokenroute_admission_field(ngx_http_request_t *r,
    ngx_str_t *to, u_char *from, u_char *last);
static void ngx_http_tokenroute_admission_cleanup(void *data);
static void ngx_http_tokenroute_admission_free(
    ngx_http_tokenroute_batch_t *b);


static u_char  ngx_http_tokenroute_admission_sha[41];

/* the batch being filled, and the full ones waiting for the flush */
static ngx_http_tokenroute_batch_t  *ngx_http_tokenroute_batch_current;
static ngx_http_tokenroute_batch_t  *ngx_http_tokenroute_batch_full;

static ngx_http_tokenroute_batch_t  *ngx_http_tokenroute_batch_freelist;
static ngx_uint_t                    ngx_http_tokenroute_batch_nfree;

static ngx_event_t                   ngx_http_tokenroute_batch_event;


/* the script: src/lua/admission.lua, embedded at build time */

ngx_int_t
ngx_http_tokenroute_admission_init(ngx_conf_t *cf, ngx_str_t *script)
{
    /* the cooldowns alone are sent through the same script */
    ngx_http_tokenroute_fleet_init(ngx_http_tokenroute_admission_sha);

    return ngx_http_tokenroute_script_init(cf, script,
                                           tokenroute_lua_admission,
                                           tokenroute_lua_admission_len,
                                           ngx_http_tokenroute_admission_sha);
}


/* queues the request's admission; NGX_AGAIN: the reply resumes it */

static ngx_int_t
ngx_http_tokenroute_admission_queue(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    return ngx_http_tokenroute_admission_add(r, ctx, 0);
}


/* queues the check of the key of a request that reserves nothing */

ngx_int_t
ngx_http_tokenroute_admission_check_key(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    return ngx_http_tokenroute_admission_add(r, ctx, 1);
}


static ngx_int_t
ngx_http_tokenroute_admission_add(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t check)
{
    ngx_event_t                  *ev;
    ngx_pool_cleanup_t           *cln;
    ngx_http_tokenroute_batch_t  *b;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    b = ngx_http_tokenroute_batch_current;

    if (b && b->n == NGX_HTTP_TOKENROUTE_BATCH_SIZE) {
        b->next = ngx_http_tokenroute_batch_full;
        ngx_http_tokenroute_batch_full = b;
        b = NULL;

        /* the flush sends it from the full list, and only from there */
        ngx_http_tokenroute_batch_current = NULL;
    }

    if (b == NULL) {
        b = ngx_http_tokenroute_batch_freelist;

        if (b) {
            ngx_http_tokenroute_batch_freelist = b->next;
            ngx_http_tokenroute_batch_nfree--;

        } else {
            b = ngx_alloc(sizeof(ngx_http_tokenroute_batch_t),
                          r->connection->log);
            if (b == NULL) {
                return NGX_ERROR;
            }
        }

        b->next = NULL;
        b->n = 0;
        b->sent = 0;

        ngx_http_tokenroute_batch_current = b;
    }

    ctx->admission_batch = b;
    ctx->admission_slot = b->n;
    b->check[b->n] = (u_char) check;
    b->reqs[b->n++] = r;

    cln->handler = ngx_http_tokenroute_admission_cleanup;
    cln->data = ctx;

    ctx->t_sent = ngx_http_tokenroute_usec();

    ev = &ngx_http_tokenroute_batch_event;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute admission: queued, %s %L, slot %ui",
                   check ? "the key check alone, reserve" : "reserve",
                   ctx->reserve, ctx->admission_slot);

    if (!ev->posted) {
        ev->handler = ngx_http_tokenroute_admission_flush;
        ev->log = ngx_cycle->log;
        ngx_post_event(ev, &ngx_posted_events);
    }

    return NGX_AGAIN;
}


/* the request is freed: its slot is left empty */

static void
ngx_http_tokenroute_admission_cleanup(void *data)
{
    ngx_http_tokenroute_ctx_t  *ctx = data;

    ngx_http_tokenroute_batch_t  *b;

    b = ctx->admission_batch;

    if (b) {
        b->reqs[ctx->admission_slot] = NULL;
        ctx->admission_batch = NULL;
    }
}


static void
ngx_http_tokenroute_admission_flush(ngx_event_t *ev)
{
    ngx_http_tokenroute_batch_t  *b;

    while (ngx_http_tokenroute_batch_full) {
        b = ngx_http_tokenroute_batch_full;
        ngx_http_tokenroute_batch_full = b->next;
        ngx_http_tokenroute_admission_send(b);
    }

    b = ngx_http_tokenroute_batch_current;

    if (b) {
        ngx_http_tokenroute_batch_current = NULL;
        ngx_http_tokenroute_admission_send(b);
    }
}


static void
ngx_http_tokenroute_admission_send(ngx_http_tokenroute_batch_t *b)
{
    u_char                           *p;
    ngx_str_t                         models;
    ngx_uint_t                        i, n;
    ngx_http_request_t               *r;
    ngx_http_tokenroute_ctx_t        *ctx;
    ngx_http_tokenroute_main_conf_t  *trmcf;
    const char                      **arg;
    size_t                           *len;
    u_char                            now[NGX_TIME_T_LEN];
    u_char                            deadline[NGX_TIME_T_LEN];
    u_char                            amount[NGX_HTTP_TOKENROUTE_BATCH_SIZE]
                                            [NGX_INT64_LEN];
    u_char                            tokens[NGX_HTTP_TOKENROUTE_BATCH_SIZE]
                                            [NGX_INT64_LEN];
    const char                       *argv[NGX_HTTP_TOKENROUTE_BATCH_ARGC];
    size_t                            argvlen[NGX_HTTP_TOKENROUTE_BATCH_ARGC];

    /* the slots of requests gone meanwhile are closed up */

    b->pub.n = 0;
    n = 0;

    for (i = 0; i < b->n; i++) {
        r = b->reqs[i];

        if (r == NULL) {
            continue;
        }

        ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);
        ctx->admission_slot = n;
        ngx_memcpy(b->rids[n], ctx->request_id,
                   NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN);
        b->check[n] = b->check[i];
        b->reqs[n++] = r;
    }

    b->n = n;

    if (n == 0) {
        ngx_http_tokenroute_admission_free(b);
        return;
    }

    trmcf = ngx_http_get_module_main_conf(b->reqs[0],
                                          ngx_http_tokenroute_module);

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_tokenroute_admission_sha;
    argvlen[1] = 40;
    argv[2] = "0";
    argvlen[2] = 1;

    p = ngx_http_tokenroute_write_int(now, ngx_time());
    argv[3] = (const char *) now;
    argvlen[3] = p - now;

    p = ngx_http_tokenroute_write_int(deadline,
                                      ngx_time() + trmcf->reservation_ttl);
    argv[4] = (const char *) deadline;
    argvlen[4] = p - deadline;

    for (i = 0; i < n; i++) {
        ctx = ngx_http_get_module_ctx(b->reqs[i], ngx_http_tokenroute_module);

        arg = &argv[5 + i * NGX_HTTP_TOKENROUTE_BATCH_FIELDS];
        len = &argvlen[5 + i * NGX_HTTP_TOKENROUTE_BATCH_FIELDS];

        if (ngx_http_tokenroute_admission_models(b->reqs[i], ctx, &models)
            != NGX_OK)
        {
            /* not sent: nothing was reserved, the requests get 503 */
            ngx_http_tokenroute_admission_reply(b, NULL);
            return;
        }

        arg[0] = (const char *) ctx->key_hash;
        len[0] = NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN;
        arg[1] = (const char *) models.data;
        len[1] = models.len;
        arg[2] = (const char *) ctx->request_id;
        len[2] = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, b->reqs[i]->connection->log, 0,
                       "tokenroute admission: sent in a batch of %ui", n);

        if (b->check[i]) {
            arg[3] = "-";
            len[3] = 1;
            arg[4] = "-";
            len[4] = 1;
            continue;
        }

        /* no account holds 2^53 nano-USD (9 million USD): a 402 */
        p = ngx_http_tokenroute_write_int(amount[i],
                                          ngx_min(ctx->reserve,
                                                  NGX_HTTP_TOKENROUTE_EXACT));
        arg[3] = (const char *) amount[i];
        len[3] = p - amount[i];

        /* what the request counts against a tpm limit */
        p = ngx_http_tokenroute_write_int(tokens[i],
                                          ngx_min(ctx->tokens,
                                                  NGX_HTTP_TOKENROUTE_EXACT));
        arg[4] = (const char *) tokens[i];
        len[4] = p - tokens[i];
    }

    ngx_http_tokenroute_metrics_batch(n);

    n = 5 + n * NGX_HTTP_TOKENROUTE_BATCH_FIELDS;

    ngx_http_tokenroute_fleet_arg(&b->pub, &argv[n], &argvlen[n]);
    n++;

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_admission_reply,
                                          b, n, argv, argvlen)
        == NULL)
    {
        /* connection lost since the requests were queued: 503 */
        ngx_http_tokenroute_admission_reply(b, NULL);
        return;
    }

    b->sent = 1;
}


/*
 * The models the script is asked about (ngx_http_tokenroute_asked_t),
 * separated by spaces (no model id holds one).  The answer is read by
 * ngx_http_tokenroute_key_allows().
 */

static ngx_int_t
ngx_http_tokenroute_admission_models(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_str_t *models)
{
    u_char                       *p;
    size_t                        len;
    ngx_str_t                    *id;
    ngx_uint_t                    i;
    ngx_http_tokenroute_asked_t   a;

    ngx_http_tokenroute_asked(r, ctx, &a);

    if (a.n == 0) {
        ngx_str_set(models, "");
        return NGX_OK;
    }

    if (a.n == 1) {
        *models = *ngx_http_tokenroute_asked_id(&a, 0);
        return NGX_OK;
    }

    len = 0;

    for (i = 0; i < a.n; i++) {
        len += ngx_http_tokenroute_asked_id(&a, i)->len + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    models->data = p;

    for (i = 0; i < a.n; i++) {
        id = ngx_http_tokenroute_asked_id(&a, i);

        if (i) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, id->data, id->len);
    }

    models->len = p - models->data;

    return NGX_OK;
}


static void
ngx_http_tokenroute_admission_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_batch_t  *b = data;

    ngx_uint_t                  i, ok, lost;
    redisReply                 *e;
    ngx_http_request_t         *r;
    ngx_http_tokenroute_ctx_t  *ctx;

    /*
     * Sent, and no answer (timeout, connection lost): Redis may have made
     * the reservations, or may still make them.  An error reply means the
     * script wrote nothing.
     */

    /* a verdict per request, then the fleet's cooldowns (an array) */

    ok = reply
         && reply->type == REDIS_REPLY_ARRAY
         && reply->elements == b->n + 1
         && reply->element[b->n]->type == REDIS_REPLY_ARRAY;

    lost = b->sent
           && (reply == NULL
               || (reply->type != REDIS_REPLY_ERROR && !ok));

    if (reply && !ok) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: admission failed: %s",
                      reply->type == REDIS_REPLY_ERROR ? reply->str
                                                       : "unexpected reply");
        reply = NULL;
    }

    /* before the requests choose their models */

    ngx_http_tokenroute_fleet_reply(&b->pub,
                                    reply ? reply->element[b->n] : NULL);

    /*
     * Each request is resumed in turn; one that finishes then frees only
     * itself, and its slot is emptied before it runs.
     */

    for (i = 0; i < b->n; i++) {
        r = b->reqs[i];

        if (r == NULL) {
            /* gone while in Redis: no one will use what it was given */

            e = reply ? reply->element[i] : NULL;

            if (e && !b->check[i] && e->type == REDIS_REPLY_STRING
                && e->len >= 2
                && ngx_strncmp(e->str, "ok", 2) == 0
                && (e->len == 2 || e->str[2] == '\n'))
            {
                ngx_http_tokenroute_release(b->rids[i], 0);
            }

            continue;
        }

        b->reqs[i] = NULL;

        ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);
        ctx->admission_batch = NULL;
        ctx->redis_status = NGX_ERROR;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tokenroute admission: %s",
                       reply ? "answered" : "no answer");

        if (reply) {
            e = reply->element[i];

            if (e->type == REDIS_REPLY_STRING) {
                ngx_http_tokenroute_admission_parse(r, ctx, e, b->check[i]);

            } else {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "tokenroute: admission answered a request "
                              "with no string");
            }
        }

        ngx_http_tokenroute_resume(r, ctx);
    }

    if (lost) {
        for (i = 0; i < b->n; i++) {
            /* a key check reserved nothing */
            if (!b->check[i]) {
                ngx_http_tokenroute_release(b->rids[i], 1);
            }
        }
    }

    ngx_http_tokenroute_admission_free(b);
}


/*
 * "status\nkey id\naccount\navailable\nmay use\ntenant", trailing fields
 * optional: the script's verdict, the only one (src/lua/admission.lua);
 * for a 402 the 5th field is the period of the limit that ran short.
 * A status the script does not give to this kind of request (a Redis
 * broken or hostile) leaves redis_status NGX_ERROR: a 503, as for an
 * error; "ok" to a key check would settle a request that reserved nothing.
 */

static void
ngx_http_tokenroute_admission_parse(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, redisReply *e, ngx_uint_t check)
{
    u_char     *p, *last, *f[6], *end[6];
    ngx_int_t   n;
    ngx_uint_t  i, nf;

    p = (u_char *) e->str;
    last = p + e->len;

    for (nf = 0; nf < 6; nf++) {
        f[nf] = p;

        if (nf < 5) {
            p = ngx_strlchr(p, last, '\n');
            end[nf] = p ? p : last;

        } else {
            end[nf] = last;
        }

        if (p == NULL || nf == 5) {
            nf++;
            break;
        }

        p++;
    }

#define ngx_http_tokenroute_status_is(s)                                     \
    ((size_t) (end[0] - f[0]) == sizeof(s) - 1                               \
     && ngx_strncmp(f[0], s, sizeof(s) - 1) == 0)

    if (ngx_http_tokenroute_status_is("bad")) {
        /* the script refused what it was given: 503, as for an error */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: admission refused its arguments");
        return;
    }

    if (!ngx_http_tokenroute_status_is("unknown")
        && !ngx_http_tokenroute_status_is("revoked")
        && !ngx_http_tokenroute_status_is("expired")
        && (check ? !ngx_http_tokenroute_status_is("key")
                  : !ngx_http_tokenroute_status_is("ok")
                    && !ngx_http_tokenroute_status_is("forbidden")
                    && !ngx_http_tokenroute_status_is("credit")
                    && !ngx_http_tokenroute_status_is("limit")
                    && !ngx_http_tokenroute_status_is("rate")
                    && !ngx_http_tokenroute_status_is("tenant")))
    {
        /* not echoed: the bytes are Redis's, the log line is ours */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: admission gave a %s a status it "
                      "does not give one", check ? "key check"
                                                 : "reservation");
        return;
    }

    if (nf > 1
        && ngx_http_tokenroute_admission_field(r, &ctx->key.id, f[1],
                                               end[1])
           != NGX_OK)
    {
        return;
    }

    if (nf > 2
        && ngx_http_tokenroute_admission_field(r, &ctx->key.account, f[2],
                                               end[2])
           != NGX_OK)
    {
        return;
    }

    /* the 6th field is the tenant, but in a rate verdict */

    if (nf > 5
        && !ngx_http_tokenroute_status_is("rate")
        && ngx_http_tokenroute_admission_field(r, &ctx->key.tenant, f[5],
                                               end[5])
           != NGX_OK)
    {
        return;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute admission: \"%*s\", key \"%V\" account "
                   "\"%V\" tenant \"%V\"",
                   (size_t) (end[0] - f[0]), f[0], &ctx->key.id,
                   &ctx->key.account, &ctx->key.tenant);

    ctx->redis_status = NGX_OK;

    ctx->key.found = !ngx_http_tokenroute_status_is("unknown");
    ctx->key.revoked = ngx_http_tokenroute_status_is("revoked");
    ctx->key.expired = ngx_http_tokenroute_status_is("expired");

    if (ngx_http_tokenroute_status_is("ok")
        || ngx_http_tokenroute_status_is("key"))
    {
        /* which of the models asked about the key may use */

        if (nf > 4 && end[4] > f[4]
            && ngx_http_tokenroute_admission_field(r, &ctx->key.allowed,
                                                   f[4], end[4])
               != NGX_OK)
        {
            ctx->redis_status = NGX_ERROR;
        }

        if (f[0][0] == 'o') {
            ctx->verdict = NGX_HTTP_TOKENROUTE_VERDICT_OK;
        }

    } else if (ngx_http_tokenroute_status_is("forbidden")) {
        ctx->verdict = NGX_HTTP_TOKENROUTE_VERDICT_FORBIDDEN;

    } else if (ngx_http_tokenroute_status_is("rate")) {
        ctx->verdict = NGX_HTTP_TOKENROUTE_VERDICT_RATE;

        /* "rate\nkey id\naccount\nretry after\nwhich\nwhose\nlimit" */

        if (nf < 5
            || ngx_http_tokenroute_rate_parse(&ctx->rate, f[3], last)
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tokenroute: admission gave a malformed rate "
                          "verdict");
            ctx->redis_status = NGX_ERROR;
        }

    } else if (ngx_http_tokenroute_status_is("credit")
               || ngx_http_tokenroute_status_is("limit")
               || ngx_http_tokenroute_status_is("tenant"))
    {
        ctx->verdict = (f[0][0] == 'c') ? NGX_HTTP_TOKENROUTE_VERDICT_CREDIT
                       : (f[0][0] == 'l') ? NGX_HTTP_TOKENROUTE_VERDICT_LIMIT
                                          : NGX_HTTP_TOKENROUTE_VERDICT_TENANT;

        if (nf > 3) {
            i = end[3] - f[3];

            if (i && f[3][0] == '-') {
                ctx->available = 0;

            } else {
                n = ngx_atoof(f[3], i);
                ctx->available = (n == NGX_ERROR) ? 0 : n;
            }
        }

        /* the period of the limit: "" lifetime, day, week, month */

        if (nf > 4
            && ngx_http_tokenroute_admission_field(r, &ctx->key.period,
                                                   f[4], end[4])
               != NGX_OK)
        {
            ctx->redis_status = NGX_ERROR;
        }
    }

#undef ngx_http_tokenroute_status_is
}


static ngx_int_t
ngx_http_tokenroute_admission_field(ngx_http_request_t *r, ngx_str_t *to,
    u_char *from, u_char *last)
{
    to->len = last - from;
    to->data = ngx_pnalloc(r->pool, to->len);

    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, from, to->len);

    return NGX_OK;
}


static void
ngx_http_tokenroute_admission_free(ngx_http_tokenroute_batch_t *b)
{
    if (ngx_http_tokenroute_batch_nfree >= NGX_HTTP_TOKENROUTE_BATCH_FREE) {
        ngx_free(b);
        return;
    }

    b->next = ngx_http_tokenroute_batch_freelist;
    ngx_http_tokenroute_batch_freelist = b;
    ngx_http_tokenroute_batch_nfree++;
}


/* the request's admission: its reservation (reserve.c), then the queue */

ngx_int_t
ngx_http_tokenroute_admission_start(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    ctx->reserve = ngx_http_tokenroute_reserve(trmcf, ctx, &ctx->tokens);

    /* from this gateway's lease of the key, when it can: no Redis */

    if (trmcf->lease) {
        switch (ngx_http_tokenroute_lease_admit(r, ctx)) {
        case NGX_OK:
            return NGX_OK;
        case NGX_ERROR:
            return NGX_ERROR;
        default:
            break;
        }
    }

    return ngx_http_tokenroute_admission_queue(r, ctx);
}
