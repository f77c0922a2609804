
/*
 * Copyright (C) tokenroute authors
 *
 * The worker's subscriber to key changes (README "Invalidation"): a
 * second hiredis async connection on nginx's event loop (our adapter),
 * SUBSCRIBE tr:inval, and for each message the key's hash given to
 * ngx_http_tokenroute_lease_invalidate() ("*": NULL, every key).  It
 * goes where the worker's Redis connection is (host, port, the master
 * the sentinels named, the address the resolver found), and moves when
 * that connection moves.  Messages lost while it was down are not known:
 * every (re)subscription invalidates every key.
 *
 *     state        the timer (one event)       when it fires
 *     idle         backoff, or 100 ms while    connect, once the worker's
 *                  the worker's connection     connection is up
 *                  is down
 *     subscribing  connect_timeout             drop: idle
 *     subscribed   every second                that connection moved, or
 *                                              the heartbeat unanswered
 *                                              past timeout: drop; every
 *                                              5th: the heartbeat
 *
 * The heartbeat is SUBSCRIBE again: Redis confirms it like the first,
 * and it is all a subscribed connection may send besides (P)SUBSCRIBE,
 * (P)UNSUBSCRIBE, PING and QUIT, of which hiredis 0.14 matches no reply
 * to a PING.  A connection black-holed is found within seconds.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_inval.h"
#include "ngx_http_tokenroute_lease.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_key.h"


#define NGX_HTTP_TOKENROUTE_INVAL_WAIT         100
#define NGX_HTTP_TOKENROUTE_INVAL_BACKOFF_MAX  2000
#define NGX_HTTP_TOKENROUTE_INVAL_TICK         1000
#define NGX_HTTP_TOKENROUTE_INVAL_BEAT         5      /* ticks */


typedef enum {
    ngx_http_tokenroute_inval_st_idle = 0,
    ngx_http_tokenroute_inval_st_subscribing,
    ngx_http_tokenroute_inval_st_subscribed
} ngx_http_tokenroute_inval_state_e;


typedef struct {
    ngx_http_tokenroute_redis_conf_t   *conf;
    redisAsyncContext                  *ac;
    ngx_log_t                          *log;
    ngx_event_t                         timer;
    ngx_http_tokenroute_inval_state_e   state;
    ngx_msec_t                          backoff;
    ngx_msec_t                          beat;        /* sent at */
    ngx_uint_t                          ticks;
    ngx_str_t                           host;        /* connected to */
    in_port_t                           port;
    u_char                              buf[NGX_SOCKADDR_STRLEN + 1];
    unsigned                            beating:1;   /* unanswered */
    unsigned                            exiting:1;
} ngx_http_tokenroute_inval_t;


static void ngx_http_tokenroute_inval_connect(ngx_http_tokenroute_inval_t *iv);
static void ngx_http_tokenroute_inval_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_tokenroute_inval_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_tokenroute_inval_auth(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_tokenroute_inval_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_tokenroute_inval_message(ngx_http_tokenroute_inval_t *iv,
    redisReply *payload);
static void ngx_http_tokenroute_inval_subscribed(
    ngx_http_tokenroute_inval_t *iv);
static void ngx_http_tokenroute_inval_timer(ngx_event_t *ev);
static void ngx_http_tokenroute_inval_tick(ngx_http_tokenroute_inval_t *iv);
static void ngx_http_tokenroute_inval_drop(ngx_http_tokenroute_inval_t *iv,
    const char *why);
static void ngx_http_tokenroute_inval_schedule(
    ngx_http_tokenroute_inval_t *iv, ngx_msec_t wait);


/* one subscriber per worker process: created in init_process */
static ngx_http_tokenroute_inval_t  *ngx_http_tokenroute_inval;


char *
ngx_http_tokenroute_inval_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t *trmcf = conf;

    ngx_str_t  *value;

    if (trmcf->invalidation_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        trmcf->invalidation = 1;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        trmcf->invalidation = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"on\" or \"off\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    trmcf->invalidation_set = 1;

    return NGX_CONF_OK;
}


void
ngx_http_tokenroute_inval_enable(ngx_conf_t *cf)
{
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tokenroute_module);

    if (!trmcf->invalidation_set) {
        trmcf->invalidation = 1;
    }
}


ngx_int_t
ngx_http_tokenroute_inval_init(ngx_cycle_t *cycle,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_http_tokenroute_inval_t  *iv;

    if (!trmcf->invalidation) {
        return NGX_OK;
    }

    iv = ngx_pcalloc(cycle->pool, sizeof(ngx_http_tokenroute_inval_t));
    if (iv == NULL) {
        return NGX_ERROR;
    }

    iv->conf = &trmcf->redis;
    iv->log = cycle->log;
    iv->backoff = NGX_HTTP_TOKENROUTE_INVAL_WAIT;
    iv->host.data = iv->buf;

    iv->timer.handler = ngx_http_tokenroute_inval_timer;
    iv->timer.data = iv;
    iv->timer.log = cycle->log;
    iv->timer.cancelable = 1;

    ngx_http_tokenroute_inval = iv;

    /* the worker's own connection is being made: follow it soon */
    ngx_add_timer(&iv->timer, NGX_HTTP_TOKENROUTE_INVAL_WAIT);

    return NGX_OK;
}


void
ngx_http_tokenroute_inval_shutdown(void)
{
    redisAsyncContext            *ac;
    ngx_http_tokenroute_inval_t  *iv;

    iv = ngx_http_tokenroute_inval;
    if (iv == NULL) {
        return;
    }

    iv->exiting = 1;

    if (iv->timer.timer_set) {
        ngx_del_timer(&iv->timer);
    }

    ac = iv->ac;
    iv->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_http_tokenroute_inval = NULL;
}


static void
ngx_http_tokenroute_inval_connect(ngx_http_tokenroute_inval_t *iv)
{
    in_port_t                          port;
    ngx_str_t                          host;
    redisAsyncContext                 *ac;
    ngx_http_tokenroute_redis_conf_t  *conf;

    conf = iv->conf;

    /* where the worker's connection is: it knows the master */

    if (ngx_http_tokenroute_redis_current(&host, &port) != NGX_OK) {
        ngx_http_tokenroute_inval_schedule(iv, NGX_HTTP_TOKENROUTE_INVAL_WAIT);
        return;
    }

    if (host.len == 0) {
        iv->host.len = 0;
        iv->port = 0;
        ac = redisAsyncConnectUnix((char *) conf->unix_path.data);

    } else {
        iv->host.len = ngx_min(host.len, NGX_SOCKADDR_STRLEN);
        *ngx_cpymem(iv->buf, host.data, iv->host.len) = '\0';
        iv->port = port;
        ac = redisAsyncConnect((char *) iv->buf, port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, iv->log, 0,
                      "tokenroute: cannot allocate a Redis context for "
                      "the invalidation subscriber");
        ngx_http_tokenroute_inval_schedule(iv, 0);
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, iv->log, 0,
                      "tokenroute: the invalidation subscriber cannot "
                      "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        ngx_http_tokenroute_inval_schedule(iv, 0);
        return;
    }

    if (ngx_http_tokenroute_redis_attach(ac, iv->log) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, iv->log, 0,
                      "tokenroute: no free connection for the invalidation "
                      "subscriber");
        redisAsyncFree(ac);
        ngx_http_tokenroute_inval_schedule(iv, 0);
        return;
    }

    ac->data = iv;
    iv->ac = ac;
    iv->beating = 0;
    iv->state = ngx_http_tokenroute_inval_st_subscribing;

    redisAsyncSetConnectCallback(ac, ngx_http_tokenroute_inval_on_connect);
    redisAsyncSetDisconnectCallback(ac,
                                    ngx_http_tokenroute_inval_on_disconnect);

    /* queued now, sent once the socket connects; channels know no db */

    if (conf->password.len
        && (conf->user.len
            ? redisAsyncCommand(ac, ngx_http_tokenroute_inval_auth, NULL,
                                "AUTH %b %b", conf->user.data,
                                conf->user.len, conf->password.data,
                                conf->password.len)
            : redisAsyncCommand(ac, ngx_http_tokenroute_inval_auth, NULL,
                                "AUTH %b", conf->password.data,
                                conf->password.len))
           != REDIS_OK)
    {
        ngx_http_tokenroute_inval_drop(iv, "AUTH could not be queued");
        return;
    }

    if (redisAsyncCommand(ac, ngx_http_tokenroute_inval_reply, NULL,
                          "SUBSCRIBE %s", NGX_HTTP_TOKENROUTE_INVAL_CHANNEL)
        != REDIS_OK)
    {
        ngx_http_tokenroute_inval_drop(iv, "SUBSCRIBE could not be queued");
        return;
    }

    ngx_add_timer(&iv->timer, conf->connect_timeout);
}


static void
ngx_http_tokenroute_inval_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_tokenroute_inval_t  *iv = ac->data;

    if (iv == NULL || iv->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        ngx_log_error(NGX_LOG_ERR, iv->log, 0,
                      "tokenroute: the invalidation subscriber cannot "
                      "connect: %s", ac->errstr);
        iv->ac = NULL;
        ngx_http_tokenroute_inval_schedule(iv, 0);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, iv->log, 0,
                   "tokenroute inval: connected, fd %d", ac->c.fd);
}


static void
ngx_http_tokenroute_inval_on_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_tokenroute_inval_t  *iv = ac->data;

    if (iv == NULL || iv->ac != ac) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, iv->log, 0,
                  "tokenroute: the invalidation subscriber lost its Redis "
                  "connection: %s", ac->errstr[0] ? ac->errstr : "closed");

    /* hiredis frees the context after this callback */
    iv->ac = NULL;
    ngx_http_tokenroute_inval_schedule(iv, 0);
}


static void
ngx_http_tokenroute_inval_auth(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                   *reply = r;
    ngx_http_tokenroute_inval_t  *iv = ac->data;

    if (reply == NULL || iv == NULL || iv->ac != ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, iv->log, 0,
                      "tokenroute: the invalidation subscriber's AUTH "
                      "failed: %s", reply->str);
        ngx_http_tokenroute_inval_drop(iv, "AUTH failed");
    }
}


/*
 * Every reply of the channel: the confirmations of SUBSCRIBE (the first
 * and the heartbeats) and the messages.  NULL when the connection goes.
 */

static void
ngx_http_tokenroute_inval_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                   *reply = r;
    redisReply                   *kind;
    ngx_http_tokenroute_inval_t  *iv = ac->data;

    if (reply == NULL || iv == NULL || iv->ac != ac) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ERR, iv->log, 0,
                      "tokenroute: the invalidation subscriber got an "
                      "unexpected reply%s%s",
                      reply->type == REDIS_REPLY_ERROR ? ": " : "",
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        ngx_http_tokenroute_inval_drop(iv, "unexpected reply");
        return;
    }

    kind = reply->element[0];

    if (kind->len == sizeof("message") - 1
        && ngx_strncmp(kind->str, "message", kind->len) == 0)
    {
        ngx_http_tokenroute_inval_message(iv, reply->element[2]);
        return;
    }

    if (kind->len == sizeof("subscribe") - 1
        && ngx_strncmp(kind->str, "subscribe", kind->len) == 0)
    {
        if (iv->state == ngx_http_tokenroute_inval_st_subscribed) {
            iv->beating = 0;
            return;
        }

        ngx_http_tokenroute_inval_subscribed(iv);
    }
}


static void
ngx_http_tokenroute_inval_message(ngx_http_tokenroute_inval_t *iv,
    redisReply *payload)
{
    u_char  kh[TOKENROUTE_KEY_HASH_LEN + 1];

    if (payload->type == REDIS_REPLY_STRING && payload->len == 1
        && payload->str[0] == '*')
    {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, iv->log, 0,
                       "tokenroute inval: every key");

        ngx_http_tokenroute_lease_invalidate(NULL);
        ngx_http_tokenroute_metrics_inval(NGX_HTTP_TOKENROUTE_INVAL_ALL);
        return;
    }

    if (payload->type == REDIS_REPLY_STRING
        && tokenroute_key_hash_valid((u_char *) payload->str, payload->len)
           == 0)
    {
        *ngx_cpymem(kh, payload->str, TOKENROUTE_KEY_HASH_LEN) = '\0';

        /* its first digits only: no key hash in a trace (debug_trace.t) */
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, iv->log, 0,
                       "tokenroute inval: key %*s...", (size_t) 8, kh);

        ngx_http_tokenroute_lease_invalidate(kh);
        ngx_http_tokenroute_metrics_inval(NGX_HTTP_TOKENROUTE_INVAL_KEY);
        return;
    }

    /* anyone who may PUBLISH may send this: its length, never its text */

    ngx_log_error(NGX_LOG_INFO, iv->log, 0,
                  "tokenroute: ignored a message of %uz bytes on \""
                  NGX_HTTP_TOKENROUTE_INVAL_CHANNEL "\": neither a key "
                  "hash nor \"*\"",
                  payload->type == REDIS_REPLY_STRING ? payload->len : 0);

    ngx_http_tokenroute_metrics_inval(NGX_HTTP_TOKENROUTE_INVAL_IGNORED);
}


/* what changed while no one listened is unknown: every key is stale */

static void
ngx_http_tokenroute_inval_subscribed(ngx_http_tokenroute_inval_t *iv)
{
    if (iv->timer.timer_set) {
        ngx_del_timer(&iv->timer);
    }

    iv->state = ngx_http_tokenroute_inval_st_subscribed;
    iv->backoff = NGX_HTTP_TOKENROUTE_INVAL_WAIT;
    iv->ticks = 0;
    iv->beating = 0;

    if (iv->host.len) {
        ngx_log_error(NGX_LOG_INFO, iv->log, 0,
                      "tokenroute: subscribed to \""
                      NGX_HTTP_TOKENROUTE_INVAL_CHANNEL "\" at %V:%d",
                      &iv->host, (int) iv->port);

    } else {
        ngx_log_error(NGX_LOG_INFO, iv->log, 0,
                      "tokenroute: subscribed to \""
                      NGX_HTTP_TOKENROUTE_INVAL_CHANNEL "\"");
    }

    ngx_http_tokenroute_metrics_inval_subscribed(1);

    ngx_http_tokenroute_lease_invalidate(NULL);
    ngx_http_tokenroute_metrics_inval(NGX_HTTP_TOKENROUTE_INVAL_ALL);

    ngx_add_timer(&iv->timer, NGX_HTTP_TOKENROUTE_INVAL_TICK);
}


static void
ngx_http_tokenroute_inval_timer(ngx_event_t *ev)
{
    ngx_http_tokenroute_inval_t  *iv = ev->data;

    if (iv->exiting) {
        return;
    }

    switch (iv->state) {

    case ngx_http_tokenroute_inval_st_idle:
        if (iv->ac == NULL) {
            ngx_http_tokenroute_inval_connect(iv);
        }

        return;

    case ngx_http_tokenroute_inval_st_subscribing:
        ngx_http_tokenroute_inval_drop(iv, "no subscription within "
                                       "connect_timeout");
        return;

    default: /* subscribed */
        ngx_http_tokenroute_inval_tick(iv);
    }
}


static void
ngx_http_tokenroute_inval_tick(ngx_http_tokenroute_inval_t *iv)
{
    in_port_t  port;
    ngx_str_t  host;

    /* the worker's connection moved (a failover, a new address) */

    if (ngx_http_tokenroute_redis_current(&host, &port) == NGX_OK
        && (host.len != iv->host.len || port != iv->port
            || (host.len
                && ngx_strncmp(host.data, iv->host.data, host.len) != 0)))
    {
        ngx_log_error(NGX_LOG_NOTICE, iv->log, 0,
                      "tokenroute: the invalidation subscriber follows the "
                      "Redis connection to %V:%d", &host, (int) port);

        ngx_http_tokenroute_inval_drop(iv, NULL);
        return;
    }

    if (iv->beating && ngx_current_msec - iv->beat >= iv->conf->timeout) {
        ngx_http_tokenroute_inval_drop(iv, "no answer to the heartbeat");
        return;
    }

    if (!iv->beating && ++iv->ticks % NGX_HTTP_TOKENROUTE_INVAL_BEAT == 0) {
        if (redisAsyncCommand(iv->ac, ngx_http_tokenroute_inval_reply, NULL,
                              "SUBSCRIBE %s",
                              NGX_HTTP_TOKENROUTE_INVAL_CHANNEL)
            != REDIS_OK)
        {
            ngx_http_tokenroute_inval_drop(iv, "the heartbeat could not be "
                                           "queued");
            return;
        }

        iv->beating = 1;
        iv->beat = ngx_current_msec;
    }

    ngx_add_timer(&iv->timer, NGX_HTTP_TOKENROUTE_INVAL_TICK);
}


/*
 * Drops the connection, from a timer or from within one of its hiredis
 * callbacks (hiredis then frees it once the callback returns); why: NULL
 * when the move was logged already.
 */

static void
ngx_http_tokenroute_inval_drop(ngx_http_tokenroute_inval_t *iv,
    const char *why)
{
    redisAsyncContext  *ac;

    if (why) {
        ngx_log_error(NGX_LOG_ERR, iv->log, 0,
                      "tokenroute: dropping the invalidation subscriber's "
                      "connection: %s", why);
    }

    ac = iv->ac;
    iv->ac = NULL;

    /* a move: at once, to the new address */
    ngx_http_tokenroute_inval_schedule(iv, why ? 0
                                           : NGX_HTTP_TOKENROUTE_INVAL_WAIT);

    if (ac) {
        redisAsyncFree(ac);
    }
}


/* wait: that long; 0: the backoff, which doubles */

static void
ngx_http_tokenroute_inval_schedule(ngx_http_tokenroute_inval_t *iv,
    ngx_msec_t wait)
{
    if (iv->state == ngx_http_tokenroute_inval_st_subscribed) {
        ngx_http_tokenroute_metrics_inval_subscribed(0);
    }

    iv->state = ngx_http_tokenroute_inval_st_idle;

    if (iv->timer.timer_set) {
        ngx_del_timer(&iv->timer);
    }

    if (iv->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (wait == 0) {
        wait = iv->backoff;
        iv->backoff = ngx_min(iv->backoff * 2,
                              NGX_HTTP_TOKENROUTE_INVAL_BACKOFF_MAX);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, iv->log, 0,
                   "tokenroute inval: subscribe in %M ms", wait);

    ngx_add_timer(&iv->timer, wait);
}
