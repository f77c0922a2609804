
/*
 * Copyright (C) tokenroute authors
 *
 * Cooldowns the fleet shares, through Redis.  A cooldown this nginx
 * starts (ngx_http_tokenroute_cooldown.c) rides on the next admission
 * batch any of its workers sends (one more argument of the EVALSHA it
 * sends anyway), or, when none goes within NGX_HTTP_TOKENROUTE_FLEET_SOON
 * ms, on a call of the admission script with no request, from a timer
 * of the worker that started it.  Every admission passes the version of
 * the fleet's cooldowns this nginx last saw; the script answers the
 * cooldowns only when the version moved on (src/lua/admission.lua), and
 * they go into the shared memory, the local cache, where a later
 * deadline wins.  Entries for models this nginx does not have are
 * ignored.  When Redis cannot be reached the cooldowns work locally as
 * they did, and what was not published is sent once Redis answers.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_cooldown.h"
#include "ngx_http_tokenroute_cooldown_fleet.h"
#include "ngx_http_tokenroute_models.h"
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_request.h"


/* how long a new cooldown waits for an admission to carry it (ms) */
#define NGX_HTTP_TOKENROUTE_FLEET_SOON   100

/* and again when Redis could not take it (ms) */
#define NGX_HTTP_TOKENROUTE_FLEET_RETRY  1000

#define NGX_HTTP_TOKENROUTE_FLEET_ARG                                        \
    (2 * NGX_INT64_LEN + 1                                                   \
     + NGX_HTTP_TOKENROUTE_COOLDOWN_PUB_MAX                                  \
       * (TOKENROUTE_MODEL_MAX_LEN + NGX_INT64_LEN + NGX_INT_T_LEN + 3))


static void ngx_http_tokenroute_fleet_later(ngx_msec_t ms);
static void ngx_http_tokenroute_fleet_handler(ngx_event_t *ev);
static void ngx_http_tokenroute_fleet_send(ngx_uint_t always);
static void ngx_http_tokenroute_fleet_done(void *data, redisReply *reply);
static ngx_int_t ngx_http_tokenroute_fleet_number(redisReply *e,
    uint64_t *n);
static void ngx_http_tokenroute_fleet_complain(time_t *last,
    const char *text);


/* the argument of the call being sent: hiredis copies it at once */
static u_char  ngx_http_tokenroute_fleet_buf[NGX_HTTP_TOKENROUTE_FLEET_ARG];

/* the admission script's SHA-1: the cooldowns alone go through it too */
static u_char                              *ngx_http_tokenroute_fleet_sha;

static ngx_event_t                          ngx_http_tokenroute_fleet_event;
static ngx_connection_t                     ngx_http_tokenroute_fleet_conn;

/* the timer's own call, one at a time */
static ngx_http_tokenroute_cooldown_pub_t   ngx_http_tokenroute_fleet_pub;
static ngx_uint_t                           ngx_http_tokenroute_fleet_busy;

/* when each problem was last logged (s), in this worker */
static time_t                               ngx_http_tokenroute_fleet_mal;
static time_t                               ngx_http_tokenroute_fleet_dmg;


void
ngx_http_tokenroute_fleet_init(u_char *admission_sha)
{
    ngx_http_tokenroute_fleet_sha = admission_sha;
}


/*
 * The admission's last argument: "now-ms seen[ model until status]...",
 * the cooldowns not yet published taken into pub.
 */

void
ngx_http_tokenroute_fleet_arg(ngx_http_tokenroute_cooldown_pub_t *pub,
    const char **arg, size_t *len)
{
    u_char                           *p;
    uint64_t                          now;
    ngx_uint_t                        i;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                ngx_http_tokenroute_module);

    now = ngx_http_tokenroute_now_ms();

    ngx_http_tokenroute_cooldown_take(pub, now);

    p = ngx_sprintf(ngx_http_tokenroute_fleet_buf, "%uL %uL", now,
                    ngx_http_tokenroute_cooldown_seen());

    m = trmcf->models.elts;

    for (i = 0; i < pub->n; i++) {
        if (pub->index[i] >= trmcf->models.nelts) {
            continue;
        }

        p = ngx_sprintf(p, " %V %uL %ui", &m[pub->index[i]].id,
                        pub->until[i], pub->status[i]);
    }

    *arg = (const char *) ngx_http_tokenroute_fleet_buf;
    *len = p - ngx_http_tokenroute_fleet_buf;
}


/*
 * What the admission answered about the cooldowns: an empty array (no
 * news), or the version and "model, until, status" triples.  e == NULL:
 * the call failed, what it published is pending again.
 */

void
ngx_http_tokenroute_fleet_reply(ngx_http_tokenroute_cooldown_pub_t *pub,
    redisReply *e)
{
    uint64_t                          version, until, status, now, max;
    ngx_uint_t                        i, bad;
    redisReply                       *id;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    if (e == NULL) {
        if (pub->n) {
            ngx_http_tokenroute_cooldown_untake(pub);
            ngx_http_tokenroute_fleet_later(NGX_HTTP_TOKENROUTE_FLEET_RETRY);
        }

        return;
    }

    if (e->elements == 0) {
        return;
    }

    if ((e->elements - 1) % 3 != 0
        || ngx_http_tokenroute_fleet_number(e->element[0], &version)
           != NGX_OK)
    {
        /* not echoed: the bytes are Redis's; asked again next time */
        ngx_http_tokenroute_fleet_complain(&ngx_http_tokenroute_fleet_mal,
                                           "tokenroute: admission gave "
                                           "malformed cooldowns");
        return;
    }

    trmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                ngx_http_tokenroute_module);

    now = ngx_http_tokenroute_now_ms();
    max = now + NGX_HTTP_TOKENROUTE_COOLDOWN_MAX * 1000;
    bad = 0;

    for (i = 1; i < e->elements; i += 3) {
        id = e->element[i];

        /* one damaged entry does not hide the others */

        if (id->type != REDIS_REPLY_STRING
            || ngx_http_tokenroute_fleet_number(e->element[i + 1], &until)
               != NGX_OK
            || ngx_http_tokenroute_fleet_number(e->element[i + 2], &status)
               != NGX_OK
            || status < 100 || status > 999)
        {
            bad++;
            continue;
        }

        /* a model of another configuration: not ours to cool */

        m = ngx_http_tokenroute_find_model(trmcf, (u_char *) id->str,
                                           id->len);

        if (m == NULL || until <= now) {
            continue;
        }

        /* a clock far ahead, or a hand in Redis: never beyond the cap */

        until = ngx_min(until, max);

        if (ngx_http_tokenroute_cooldown_learn(m, until, status)) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "tokenroute: model \"%V\" cools down for %uL ms "
                          "after status %uL, from the fleet", &m->id,
                          until - now, status);
        }
    }

    if (bad) {
        ngx_http_tokenroute_fleet_complain(&ngx_http_tokenroute_fleet_dmg,
                                           "tokenroute: admission gave "
                                           "damaged cooldowns, skipped");
    }

    ngx_http_tokenroute_cooldown_set_seen(version);
}


/* an error line at most once a second per problem, not once per batch */

static void
ngx_http_tokenroute_fleet_complain(time_t *last, const char *text)
{
    if (*last == ngx_time()) {
        return;
    }

    *last = ngx_time();

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "%s", text);
}


static ngx_int_t
ngx_http_tokenroute_fleet_number(redisReply *e, uint64_t *n)
{
    size_t   i;
    u_char   c;

    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 15) {
        return NGX_ERROR;
    }

    *n = 0;

    for (i = 0; i < e->len; i++) {
        c = e->str[i];

        if (c < '0' || c > '9') {
            return NGX_ERROR;
        }

        *n = *n * 10 + (c - '0');
    }

    return NGX_OK;
}


/*
 * A cooldown started here: published by the timer unless an admission
 * carries it first.
 */

void
ngx_http_tokenroute_fleet_soon(void)
{
    ngx_http_tokenroute_fleet_later(NGX_HTTP_TOKENROUTE_FLEET_SOON);
}


static void
ngx_http_tokenroute_fleet_later(ngx_msec_t ms)
{
    ngx_event_t  *ev;

    ev = &ngx_http_tokenroute_fleet_event;

    if (ev->timer_set || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ev->handler = ngx_http_tokenroute_fleet_handler;
    ev->log = ngx_cycle->log;

    /* the debug log reads data as a connection (its fd): none */
    ngx_http_tokenroute_fleet_conn.fd = (ngx_socket_t) -1;
    ev->data = &ngx_http_tokenroute_fleet_conn;

    /* nothing to wait for at exit: the fleet learns it from another */
    ev->cancelable = 1;

    ngx_add_timer(ev, ms);
}


static void
ngx_http_tokenroute_fleet_handler(ngx_event_t *ev)
{
    ngx_http_tokenroute_fleet_send(0);
}


/*
 * With leases (ngx_http_tokenroute_lease.c) admissions are rare: the
 * lease timer asks for the fleet's news at each of its ticks all the
 * same, a call with no request and nothing to publish but the version
 * seen.
 */

void
ngx_http_tokenroute_fleet_poll(void)
{
    if (!ngx_http_tokenroute_fleet_busy && ngx_http_tokenroute_redis_ready())
    {
        ngx_http_tokenroute_fleet_send(1);
    }
}


static void
ngx_http_tokenroute_fleet_send(ngx_uint_t always)
{
    u_char                              *p;
    ngx_http_tokenroute_cooldown_pub_t  *pub;
    const char                          *argv[6];
    size_t                               argvlen[6];
    u_char                               now[NGX_TIME_T_LEN];

    if (ngx_http_tokenroute_fleet_sha == NULL) {
        return;
    }

    if (ngx_http_tokenroute_fleet_busy) {
        ngx_http_tokenroute_fleet_later(NGX_HTTP_TOKENROUTE_FLEET_SOON);
        return;
    }

    pub = &ngx_http_tokenroute_fleet_pub;

    ngx_http_tokenroute_fleet_arg(pub, &argv[5], &argvlen[5]);

    if (pub->n == 0 && !always) {
        /* an admission took them meanwhile, or they are over */
        return;
    }

    /* the admission script with no request: the cooldowns alone */

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_tokenroute_fleet_sha;
    argvlen[1] = 40;
    argv[2] = "0";
    argvlen[2] = 1;

    p = ngx_http_tokenroute_write_int(now, ngx_time());
    argv[3] = (const char *) now;
    argvlen[3] = p - now;
    argv[4] = (const char *) now;
    argvlen[4] = p - now;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "tokenroute cooldown: %ui published alone", pub->n);

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_fleet_done,
                                          pub, 6, argv, argvlen)
        == NULL)
    {
        ngx_http_tokenroute_fleet_reply(pub, NULL);
        return;
    }

    ngx_http_tokenroute_fleet_busy = 1;
}


static void
ngx_http_tokenroute_fleet_done(void *data, redisReply *reply)
{
    ngx_http_tokenroute_cooldown_pub_t  *pub = data;

    ngx_http_tokenroute_fleet_busy = 0;

    if (reply == NULL
        || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 1
        || reply->element[0]->type != REDIS_REPLY_ARRAY)
    {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "tokenroute: cooldowns not published: %s",
                          reply->type == REDIS_REPLY_ERROR
                          ? reply->str : "unexpected reply");
        }

        ngx_http_tokenroute_fleet_reply(pub, NULL);
        return;
    }

    ngx_http_tokenroute_fleet_reply(pub, reply->element[0]);
}
