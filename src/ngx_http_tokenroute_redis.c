
/*
 * Copyright (C) tokenroute authors
 *
 * The per-worker Redis connection: connect (AUTH, SELECT, and with
 * sentinels a ROLE check), reconnect with exponential backoff, and
 * commands bounded by an nginx timer.  Where to connect is found anew for
 * every connection (ngx_http_tokenroute_redis_sentinel.c): a host name
 * looked up again, or the master the sentinels name.
 *
 * A command's record outlives the request that issued it (the reply may
 * arrive after the client went away), so it is not in the request pool:
 * records are kept on a per-worker free list (ngx_alloc() only when it
 * is empty) and returned to it in the hiredis callback, which hiredis
 * guarantees to call exactly once, with a NULL reply if the connection
 * is torn down.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <openssl/evp.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_redis.h"


#define NGX_HTTP_TOKENROUTE_REDIS_BACKOFF_MIN   100
#define NGX_HTTP_TOKENROUTE_REDIS_BACKOFF_MAX   2000

/* with sentinels: a failover is a few seconds, a question to them cheap */
#define NGX_HTTP_TOKENROUTE_REDIS_SENTINEL_BACKOFF_MAX  500

/* how often a worker asks the sentinels whether its master is still it */
#define NGX_HTTP_TOKENROUTE_REDIS_SENTINEL_CHECK        1000

/* records kept for reuse after a burst, at most */
#define NGX_HTTP_TOKENROUTE_REDIS_FREE_MAX      1024


typedef enum {
    ngx_http_tokenroute_redis_st_idle = 0,
    ngx_http_tokenroute_redis_st_connecting,
    ngx_http_tokenroute_redis_st_ready
} ngx_http_tokenroute_redis_state_e;


typedef struct {
    ngx_http_tokenroute_redis_conf_t   *conf;
    redisAsyncContext                  *ac;
    ngx_http_tokenroute_redis_state_e   state;
    ngx_msec_t                          backoff;
    ngx_event_t                         reconnect;
    ngx_event_t                         connect_timer;
    ngx_event_t                         check;       /* sentinels: master? */
    ngx_log_t                          *log;
    ngx_http_tokenroute_redis_finder_t  finder;
    ngx_str_t                           host;        /* connected to */
    in_port_t                           port;
    u_char                              buf[NGX_SOCKADDR_STRLEN + 1];
    unsigned                            exiting:1;
} ngx_http_tokenroute_redis_client_t;


static void ngx_http_tokenroute_redis_connect(
    ngx_http_tokenroute_redis_client_t *rc);
static void ngx_http_tokenroute_redis_found(void *data, ngx_str_t *host,
    in_port_t port);
static void ngx_http_tokenroute_redis_role_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_tokenroute_redis_check_handler(ngx_event_t *ev);
static void ngx_http_tokenroute_redis_check_found(void *data,
    ngx_str_t *host, in_port_t port);
static void ngx_http_tokenroute_redis_schedule(
    ngx_http_tokenroute_redis_client_t *rc);
static void ngx_http_tokenroute_redis_reset(
    ngx_http_tokenroute_redis_client_t *rc, const char *why);
static void ngx_http_tokenroute_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_tokenroute_redis_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_tokenroute_redis_setup_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_tokenroute_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_tokenroute_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_tokenroute_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_tokenroute_redis_op_timeout(ngx_event_t *ev);
static void ngx_http_tokenroute_redis_op_free(
    ngx_http_tokenroute_redis_op_t *op);
static ngx_int_t ngx_http_tokenroute_redis_readonly(redisReply *reply);
static void ngx_http_tokenroute_redis_drop(redisAsyncContext *ac,
    const char *why);


/* one client per worker process: created in init_process */
static ngx_http_tokenroute_redis_client_t  *ngx_http_tokenroute_redis;

static ngx_http_tokenroute_redis_op_t      *ngx_http_tokenroute_free_ops;
static ngx_uint_t                           ngx_http_tokenroute_nfree_ops;


ngx_int_t
ngx_http_tokenroute_redis_init(ngx_cycle_t *cycle,
    ngx_http_tokenroute_redis_conf_t *conf)
{
    ngx_http_tokenroute_redis_client_t  *rc;

    /* hiredis writes to a socket Redis may have closed */
    signal(SIGPIPE, SIG_IGN);

    rc = ngx_pcalloc(cycle->pool, sizeof(ngx_http_tokenroute_redis_client_t));
    if (rc == NULL) {
        return NGX_ERROR;
    }

    rc->conf = conf;
    rc->log = cycle->log;
    rc->backoff = NGX_HTTP_TOKENROUTE_REDIS_BACKOFF_MIN;

    rc->reconnect.handler = ngx_http_tokenroute_redis_reconnect_handler;
    rc->reconnect.data = rc;
    rc->reconnect.log = cycle->log;
    rc->reconnect.cancelable = 1;

    rc->connect_timer.handler = ngx_http_tokenroute_redis_connect_timeout;
    rc->connect_timer.data = rc;
    rc->connect_timer.log = cycle->log;
    rc->connect_timer.cancelable = 1;

    rc->check.handler = ngx_http_tokenroute_redis_check_handler;
    rc->check.data = rc;
    rc->check.log = cycle->log;
    rc->check.cancelable = 1;

    rc->host.data = rc->buf;

    ngx_http_tokenroute_redis_finder_init(&rc->finder, conf, cycle->log);

    ngx_http_tokenroute_redis = rc;

    ngx_http_tokenroute_redis_connect(rc);

    return NGX_OK;
}


void
ngx_http_tokenroute_redis_shutdown(void)
{
    redisAsyncContext                   *ac;
    ngx_http_tokenroute_redis_client_t  *rc;

    rc = ngx_http_tokenroute_redis;
    if (rc == NULL) {
        return;
    }

    rc->exiting = 1;

    if (rc->reconnect.timer_set) {
        ngx_del_timer(&rc->reconnect);
    }

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    if (rc->check.timer_set) {
        ngx_del_timer(&rc->check);
    }

    ngx_http_tokenroute_redis_find_cancel(&rc->finder);

    ac = rc->ac;
    rc->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_http_tokenroute_redis = NULL;
}


static void
ngx_http_tokenroute_redis_connect(ngx_http_tokenroute_redis_client_t *rc)
{
    if (rc->conf->unix_path.len) {
        ngx_http_tokenroute_redis_found(rc, NULL, 0);
        return;
    }

    /* connecting: commands fail fast until the address is found */
    rc->state = ngx_http_tokenroute_redis_st_connecting;

    ngx_http_tokenroute_redis_find(&rc->finder,
                                   ngx_http_tokenroute_redis_found, rc);
}


/* host: NULL for the unix socket, or when no address was found */

static void
ngx_http_tokenroute_redis_found(void *data, ngx_str_t *host, in_port_t port)
{
    ngx_http_tokenroute_redis_client_t *rc = data;

    char                              db[NGX_INT_T_LEN + 1];
    ngx_uint_t                        i;
    redisAsyncContext                *ac;
    ngx_http_tokenroute_redis_conf_t *conf;

    conf = rc->conf;

    if (rc->exiting || rc->ac) {
        return;
    }

    if (conf->unix_path.len) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rc->log, 0,
                       "tokenroute redis: connecting to unix:%V",
                       &conf->unix_path);

        ac = redisAsyncConnectUnix((char *) conf->unix_path.data);

    } else if (host == NULL) {
        ngx_http_tokenroute_redis_schedule(rc);
        return;

    } else {
        rc->host.len = host->len;
        *ngx_cpymem(rc->host.data, host->data, host->len) = '\0';
        rc->port = port;

        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rc->log, 0,
                       "tokenroute redis: connecting to %V:%d",
                       &rc->host, (int) port);

        ac = redisAsyncConnect((char *) rc->host.data, port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                      "tokenroute: cannot allocate a Redis context");
        ngx_http_tokenroute_redis_schedule(rc);
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                      "tokenroute: Redis connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        ngx_http_tokenroute_redis_schedule(rc);
        return;
    }

    if (ngx_http_tokenroute_redis_attach(ac, rc->log) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                      "tokenroute: no free connection for Redis");
        redisAsyncFree(ac);
        ngx_http_tokenroute_redis_schedule(rc);
        return;
    }

    ac->data = rc;
    rc->ac = ac;
    rc->state = ngx_http_tokenroute_redis_st_connecting;

    redisAsyncSetConnectCallback(ac, ngx_http_tokenroute_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac,
                                    ngx_http_tokenroute_redis_on_disconnect);

    /* queued now, sent first once the socket connects */

    if (conf->password.len) {
        if ((conf->user.len
             ? redisAsyncCommand(ac, ngx_http_tokenroute_redis_setup_reply,
                                 "AUTH", "AUTH %b %b", conf->user.data,
                                 conf->user.len, conf->password.data,
                                 conf->password.len)
             : redisAsyncCommand(ac, ngx_http_tokenroute_redis_setup_reply,
                                 "AUTH", "AUTH %b", conf->password.data,
                                 conf->password.len))
            != REDIS_OK)
        {
            ngx_http_tokenroute_redis_reset(rc, "AUTH could not be queued");
            return;
        }
    }

    /* what a sentinel names may have been demoted since: not used then */

    if (conf->sentinels
        && redisAsyncCommand(ac, ngx_http_tokenroute_redis_role_reply, NULL,
                             "ROLE")
           != REDIS_OK)
    {
        ngx_http_tokenroute_redis_reset(rc, "ROLE could not be queued");
        return;
    }

    if (conf->db) {
        ngx_sprintf((u_char *) db, "%i%Z", conf->db);

        if (redisAsyncCommand(ac, ngx_http_tokenroute_redis_setup_reply,
                              "SELECT", "SELECT %s", db)
            != REDIS_OK)
        {
            ngx_http_tokenroute_redis_reset(rc, "SELECT could not be queued");
            return;
        }
    }

    /* EVALSHA needs the scripts on this server: load them first */

    for (i = 0; i < conf->nscripts; i++) {
        if (redisAsyncCommand(ac, ngx_http_tokenroute_redis_setup_reply,
                              "SCRIPT LOAD", "SCRIPT LOAD %b",
                              conf->scripts[i].data, conf->scripts[i].len)
            != REDIS_OK)
        {
            ngx_http_tokenroute_redis_reset(rc, "a script could not be "
                                            "queued");
            return;
        }
    }

    ngx_add_timer(&rc->connect_timer, conf->connect_timeout);
}


ngx_int_t
ngx_http_tokenroute_redis_ready(void)
{
    ngx_http_tokenroute_redis_client_t  *rc;

    rc = ngx_http_tokenroute_redis;

    return rc && rc->ac && rc->state == ngx_http_tokenroute_redis_st_ready;
}


ngx_int_t
ngx_http_tokenroute_redis_current(ngx_str_t *host, in_port_t *port)
{
    ngx_http_tokenroute_redis_client_t  *rc;

    if (!ngx_http_tokenroute_redis_ready()) {
        return NGX_DECLINED;
    }

    rc = ngx_http_tokenroute_redis;

    if (rc->conf->unix_path.len) {
        ngx_str_null(host);
        *port = 0;
        return NGX_OK;
    }

    *host = rc->host;
    *port = rc->port;

    return NGX_OK;
}


static void
ngx_http_tokenroute_redis_schedule(ngx_http_tokenroute_redis_client_t *rc)
{
    ngx_msec_t  max;

    rc->state = ngx_http_tokenroute_redis_st_idle;

    if (rc->check.timer_set) {
        ngx_del_timer(&rc->check);
    }

    ngx_http_tokenroute_metrics_redis_up(0);

    if (rc->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rc->log, 0,
                   "tokenroute redis: reconnect in %M ms", rc->backoff);

    if (!rc->reconnect.timer_set) {
        ngx_add_timer(&rc->reconnect, rc->backoff);
    }

    max = rc->conf->sentinels ? NGX_HTTP_TOKENROUTE_REDIS_SENTINEL_BACKOFF_MAX
                              : NGX_HTTP_TOKENROUTE_REDIS_BACKOFF_MAX;

    rc->backoff = ngx_min(rc->backoff * 2, max);
}


/*
 * Drops the connection from outside hiredis callbacks: pending commands
 * are called back with a NULL reply by redisAsyncFree().
 */

static void
ngx_http_tokenroute_redis_reset(ngx_http_tokenroute_redis_client_t *rc,
    const char *why)
{
    redisAsyncContext  *ac;

    ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                  "tokenroute: dropping the Redis connection: %s", why);

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    ac = rc->ac;
    rc->ac = NULL;

    ngx_http_tokenroute_redis_schedule(rc);

    if (ac) {
        redisAsyncFree(ac);
    }
}


static void
ngx_http_tokenroute_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_tokenroute_redis_client_t  *rc = ac->data;

    if (rc == NULL || rc->ac != ac) {
        return;
    }

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                      "tokenroute: Redis connect failed: %s", ac->errstr);
        rc->ac = NULL;
        ngx_http_tokenroute_redis_schedule(rc);
        return;
    }

    if (rc->conf->unix_path.len) {
        ngx_log_error(NGX_LOG_INFO, rc->log, 0,
                      "tokenroute: connected to Redis");

    } else {
        ngx_log_error(NGX_LOG_INFO, rc->log, 0,
                      "tokenroute: connected to Redis at %V:%d", &rc->host,
                      (int) rc->port);
    }

    rc->state = ngx_http_tokenroute_redis_st_ready;
    rc->backoff = NGX_HTTP_TOKENROUTE_REDIS_BACKOFF_MIN;

    ngx_http_tokenroute_metrics_redis_up(1);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rc->log, 0,
                   "tokenroute redis: ready, fd %d", ac->c.fd);
}


static void
ngx_http_tokenroute_redis_on_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_tokenroute_redis_client_t  *rc = ac->data;

    if (rc == NULL || rc->ac != ac) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                  "tokenroute: lost the Redis connection: %s",
                  ac->errstr[0] ? ac->errstr : "closed");

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    /* hiredis frees the context after this callback */
    rc->ac = NULL;

    ngx_http_tokenroute_redis_schedule(rc);
}


static void
ngx_http_tokenroute_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                          *reply = r;
    ngx_http_tokenroute_redis_client_t  *rc = ac->data;

    if (reply == NULL || rc == NULL || rc->ac != ac) {
        return;
    }

    /* "OK", or a script's SHA1: never what AUTH sent */

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rc->log, 0,
                   "tokenroute redis: %s answered %s", (char *) privdata,
                   reply->type == REDIS_REPLY_STRING
                   || reply->type == REDIS_REPLY_STATUS
                   ? reply->str : "(error)");

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                      "tokenroute: Redis %s failed: %s", (char *) privdata,
                      reply->str);

        /* commands behind it would run unauthenticated or in db 0 */
        rc->ac = NULL;
        ngx_http_tokenroute_redis_schedule(rc);
        redisAsyncFree(ac);
    }
}


static void
ngx_http_tokenroute_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_tokenroute_redis_client_t  *rc = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rc->log, 0,
                   "tokenroute redis: reconnecting");

    if (rc->ac == NULL) {
        ngx_http_tokenroute_redis_connect(rc);
    }
}


static void
ngx_http_tokenroute_redis_role_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                          *reply = r;
    redisReply                          *role;
    ngx_http_tokenroute_redis_client_t  *rc = ac->data;

    if (reply == NULL || rc == NULL || rc->ac != ac) {
        return;
    }

    role = (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
           ? reply->element[0] : NULL;

    if (role && role->type == REDIS_REPLY_STRING && role->len == 6
        && ngx_strncmp(role->str, "master", 6) == 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, rc->log, 0,
                      "tokenroute: Redis master \"%V\" is %V:%d",
                      &rc->conf->master, &rc->host, (int) rc->port);

        if (!rc->check.timer_set) {
            ngx_add_timer(&rc->check,
                          NGX_HTTP_TOKENROUTE_REDIS_SENTINEL_CHECK);
        }

        return;
    }

    ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                  "tokenroute: %V:%d, named by the sentinels as master "
                  "\"%V\", is not a master (%s)", &rc->host, (int) rc->port,
                  &rc->conf->master,
                  role && role->type == REDIS_REPLY_STRING ? role->str
                  : reply->type == REDIS_REPLY_ERROR ? reply->str
                  : "unexpected ROLE reply");

    /* the sentinel that named it may be stale: the next one first */
    ngx_http_tokenroute_redis_find_distrust(&rc->finder);

    /* the commands queued behind it fail, and are journaled or retried */
    rc->ac = NULL;
    ngx_http_tokenroute_redis_schedule(rc);
    redisAsyncFree(ac);
}


/* with sentinels: is the master still the one they name? */

static void
ngx_http_tokenroute_redis_check_handler(ngx_event_t *ev)
{
    ngx_http_tokenroute_redis_client_t  *rc = ev->data;

    if (rc->exiting || rc->ac == NULL
        || rc->state != ngx_http_tokenroute_redis_st_ready)
    {
        return;
    }

    if (!rc->finder.busy) {
        ngx_http_tokenroute_redis_find(&rc->finder,
                                       ngx_http_tokenroute_redis_check_found,
                                       rc);
    }

    if (rc->ac && !rc->check.timer_set) {
        ngx_add_timer(&rc->check, NGX_HTTP_TOKENROUTE_REDIS_SENTINEL_CHECK);
    }
}


static void
ngx_http_tokenroute_redis_check_found(void *data, ngx_str_t *host,
    in_port_t port)
{
    ngx_http_tokenroute_redis_client_t *rc = data;

    /* no sentinel answered: the connection still works, keep it */

    if (host == NULL || rc->ac == NULL) {
        return;
    }

    if (port == rc->port && host->len == rc->host.len
        && ngx_strncmp(host->data, rc->host.data, host->len) == 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, rc->log, 0,
                  "tokenroute: the sentinels name %V:%d as master \"%V\" "
                  "now, not %V:%d", host, (int) port, &rc->conf->master,
                  &rc->host, (int) rc->port);

    ngx_http_tokenroute_redis_reset(rc, "the master moved");
}


static void
ngx_http_tokenroute_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_tokenroute_redis_client_t  *rc = ev->data;

    ngx_http_tokenroute_redis_reset(rc, "connect timed out");
}


ngx_http_tokenroute_redis_op_t *
ngx_http_tokenroute_redis_command(ngx_http_tokenroute_redis_handler_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    u_char                              *p, *cmd;
    size_t                               len;
    ngx_int_t                            i;
    ngx_http_tokenroute_redis_op_t      *op;
    ngx_http_tokenroute_redis_client_t  *rc;
    u_char                               buf[2048];

    rc = ngx_http_tokenroute_redis;

    /* fail fast while reconnecting: the caller answers 503 at once */

    if (rc == NULL || rc->ac == NULL) {
        return NULL;
    }

    op = ngx_http_tokenroute_free_ops;

    if (op) {
        ngx_http_tokenroute_free_ops = op->next;
        ngx_http_tokenroute_nfree_ops--;

    } else {
        op = ngx_alloc(sizeof(ngx_http_tokenroute_redis_op_t), rc->log);
        if (op == NULL) {
            return NULL;
        }
    }

    ngx_memzero(op, sizeof(ngx_http_tokenroute_redis_op_t));

    op->handler = handler;
    op->data = data;
    op->timer.handler = ngx_http_tokenroute_redis_op_timeout;
    op->timer.data = op;
    op->timer.log = rc->log;

    /*
     * RESP is written here: hiredis's own formatting (sds, printf-like)
     * costs more than the rest of the command's path.
     */

    len = sizeof("*\r\n") - 1 + NGX_INT_T_LEN;

    for (i = 0; i < argc; i++) {
        len += sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + argvlen[i];
    }

    cmd = (len <= sizeof(buf)) ? buf : ngx_alloc(len, rc->log);
    if (cmd == NULL) {
        ngx_http_tokenroute_redis_op_free(op);
        return NULL;
    }

    *cmd = '*';
    p = ngx_http_tokenroute_write_int(cmd + 1, argc);
    *p++ = '\r';
    *p++ = '\n';

    for (i = 0; i < argc; i++) {
        *p++ = '$';
        p = ngx_http_tokenroute_write_int(p, argvlen[i]);
        *p++ = '\r';
        *p++ = '\n';
        p = ngx_cpymem(p, argv[i], argvlen[i]);
        *p++ = '\r';
        *p++ = '\n';
    }

    i = redisAsyncFormattedCommand(rc->ac, ngx_http_tokenroute_redis_reply,
                                   op, (char *) cmd, p - cmd);

    if (cmd != buf) {
        ngx_free(cmd);
    }

    if (i != REDIS_OK) {
        ngx_http_tokenroute_redis_op_free(op);
        return NULL;
    }

    op->sent = ngx_current_msec;

    /* the command only: its arguments hold key hashes */

    ngx_log_debug4(NGX_LOG_DEBUG_EVENT, rc->log, 0,
                   "tokenroute redis: %*s sent, %d arguments, op %p",
                   argvlen[0], argv[0], argc, op);

    ngx_add_timer(&op->timer, rc->conf->timeout);

    return op;
}


/*
 * Decimal digits of n: what ngx_sprintf("%L") writes, for the few
 * numbers of every command, at a tenth of its cost.
 */

u_char *
ngx_http_tokenroute_write_int(u_char *p, int64_t n)
{
    u_char    *q;
    uint64_t   u;
    u_char     digits[NGX_INT64_LEN];

    /* most are RESP lengths of a digit or two */

    if (n >= 0 && n < 100) {
        if (n >= 10) {
            *p++ = (u_char) ('0' + n / 10);
        }

        *p++ = (u_char) ('0' + n % 10);

        return p;
    }

    if (n < 0) {
        *p++ = '-';
        u = (uint64_t) 0 - (uint64_t) n;

    } else {
        u = (uint64_t) n;
    }

    q = digits + sizeof(digits);

    do {
        *--q = (u_char) ('0' + u % 10);
        u /= 10;
    } while (u);

    while (q < digits + sizeof(digits)) {
        *p++ = *q++;
    }

    return p;
}


static void
ngx_http_tokenroute_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_tokenroute_redis_op_t  *op = privdata;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, op->timer.log, 0,
                   "tokenroute redis: op %p answered, type %d, in %M ms", op,
                   r ? ((redisReply *) r)->type : -1,
                   ngx_current_msec - op->sent);

    ngx_http_tokenroute_metrics_redis_reply(op->sent, r);

    if (!op->done) {
        op->done = 1;
        op->handler(op->data, r);
    }

    ngx_http_tokenroute_redis_op_free(op);

    /*
     * A master demoted to a replica answers writes with READONLY (a
     * script's write, with "-READONLY" within): find the master again.
     */

    if (r && ((redisReply *) r)->type == REDIS_REPLY_ERROR
        && ngx_http_tokenroute_redis_readonly(r))
    {
        ngx_http_tokenroute_redis_drop(ac, "the server is read-only now");
    }
}


static ngx_int_t
ngx_http_tokenroute_redis_readonly(redisReply *reply)
{
    return ngx_strncmp(reply->str, "READONLY", 8) == 0
           || ngx_strstr(reply->str, "-READONLY") != NULL;
}


/* drops the connection from within one of its hiredis callbacks */

static void
ngx_http_tokenroute_redis_drop(redisAsyncContext *ac, const char *why)
{
    ngx_http_tokenroute_redis_client_t  *rc;

    rc = ngx_http_tokenroute_redis;

    if (rc == NULL || rc->ac != ac) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rc->log, 0,
                  "tokenroute: dropping the Redis connection to %V:%d: %s",
                  &rc->host, (int) rc->port, why);

    /* no master any more: whoever named it is not asked first again */
    ngx_http_tokenroute_redis_find_distrust(&rc->finder);

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    /* hiredis frees it once the callback returns */
    rc->ac = NULL;
    ngx_http_tokenroute_redis_schedule(rc);
    redisAsyncFree(ac);
}


static void
ngx_http_tokenroute_redis_op_free(ngx_http_tokenroute_redis_op_t *op)
{
    if (ngx_http_tokenroute_nfree_ops >= NGX_HTTP_TOKENROUTE_REDIS_FREE_MAX) {
        ngx_free(op);
        return;
    }

    op->next = ngx_http_tokenroute_free_ops;
    ngx_http_tokenroute_free_ops = op;
    ngx_http_tokenroute_nfree_ops++;
}


/*
 * A command that outlived the timeout means Redis is stuck or the link
 * is black-holed: answer the caller now, then drop the connection so the
 * commands queued behind it fail fast and a new connection is made.
 */

static void
ngx_http_tokenroute_redis_op_timeout(ngx_event_t *ev)
{
    ngx_http_tokenroute_redis_op_t      *op = ev->data;
    ngx_http_tokenroute_redis_client_t  *rc;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ev->log, 0,
                   "tokenroute redis: op %p timed out after %M ms", op,
                   ngx_current_msec - op->sent);

    rc = ngx_http_tokenroute_redis;

    if (!op->done) {
        op->done = 1;
        op->handler(op->data, NULL);
    }

    /* op is freed by the NULL-reply callback during the reset */

    if (rc && rc->ac) {
        ngx_http_tokenroute_redis_reset(rc, "command timed out");
    }
}


/*
 * An embedded script (a .lua file of src/lua, tokenroute_lua.h), as the
 * client loads it at connect, and the hex SHA-1 EVALSHA names it by.
 */

ngx_int_t
ngx_http_tokenroute_script_init(ngx_conf_t *cf, ngx_str_t *script,
    const char *text, size_t len, u_char *hex)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  n;

    script->len = len;
    script->data = (u_char *) text;

    if (EVP_Digest(text, len, md, &n, EVP_sha1(), NULL) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "SHA-1 failed");
        return NGX_ERROR;
    }

    *ngx_hex_dump(hex, md, n) = '\0';

    return NGX_OK;
}
