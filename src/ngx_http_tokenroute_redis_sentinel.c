
/*
 * Copyright (C) tokenroute authors
 *
 * Where a worker's Redis connection goes: the configured address, its
 * host name looked up again with nginx's resolver (the http block's
 * "resolver"), or the master the sentinels name (SENTINEL
 * get-master-addr-by-name, asked of each sentinel in turn).  Everything
 * runs on the event loop and every wait has a timer: the resolver's own,
 * and connect_timeout for each sentinel asked.  Without a resolver, a
 * name keeps the address it was resolved to at load; when a lookup fails,
 * the last address found is used.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_redis_url.h"


static void ngx_http_tokenroute_redis_find_next(
    ngx_http_tokenroute_redis_finder_t *f);
static void ngx_http_tokenroute_redis_resolve(
    ngx_http_tokenroute_redis_finder_t *f,
    ngx_http_tokenroute_redis_addr_t *a);
static void ngx_http_tokenroute_redis_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_http_tokenroute_redis_address(
    ngx_http_tokenroute_redis_finder_t *f);
static void ngx_http_tokenroute_redis_ask(
    ngx_http_tokenroute_redis_finder_t *f);
static void ngx_http_tokenroute_redis_sentinel_connect(
    const redisAsyncContext *ac, int status);
static void ngx_http_tokenroute_redis_sentinel_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_tokenroute_redis_sentinel_auth(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_tokenroute_redis_sentinel_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_tokenroute_redis_sentinel_timeout(ngx_event_t *ev);
static void ngx_http_tokenroute_redis_sentinel_failed(
    ngx_http_tokenroute_redis_finder_t *f, const char *why);
static void ngx_http_tokenroute_redis_sentinel_close(
    ngx_http_tokenroute_redis_finder_t *f);
static void ngx_http_tokenroute_redis_found(
    ngx_http_tokenroute_redis_finder_t *f, u_char *host, size_t len,
    in_port_t port);


void
ngx_http_tokenroute_redis_finder_init(ngx_http_tokenroute_redis_finder_t *f,
    ngx_http_tokenroute_redis_conf_t *conf, ngx_log_t *log)
{
    ngx_memzero(f, sizeof(ngx_http_tokenroute_redis_finder_t));

    f->conf = conf;
    f->log = log;
    f->host.data = f->buf;

    f->timer.handler = ngx_http_tokenroute_redis_sentinel_timeout;
    f->timer.data = f;
    f->timer.log = log;
    f->timer.cancelable = 1;
}


/*
 * Calls handler exactly once, perhaps before returning, with the address
 * to connect to, or with NULL when none was found.  A search in flight is
 * given up.
 */

void
ngx_http_tokenroute_redis_find(ngx_http_tokenroute_redis_finder_t *f,
    ngx_http_tokenroute_redis_found_pt handler, void *data)
{
    ngx_http_tokenroute_redis_find_cancel(f);

    f->handler = handler;
    f->data = data;
    f->busy = 1;

    if (f->conf->sentinels == NULL) {
        f->sentinel = 0;
        ngx_http_tokenroute_redis_resolve(f, NULL);
        return;
    }

    /* from the sentinel that answered last */

    f->sentinel = 1;
    f->tried = 0;

    ngx_http_tokenroute_redis_find_next(f);
}


void
ngx_http_tokenroute_redis_find_cancel(ngx_http_tokenroute_redis_finder_t *f)
{
    ngx_resolver_ctx_t  *ctx;

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    ctx = f->rctx;
    f->rctx = NULL;

    if (ctx) {
        ngx_resolve_name_done(ctx);
    }

    ngx_http_tokenroute_redis_sentinel_close(f);

    f->busy = 0;
}


/*
 * The master the last sentinel named was not one (ROLE said so, or it
 * answered READONLY): the next search starts at the next sentinel, so
 * that one stale sentinel, listed first, does not keep the worker away
 * from the master the others name.
 */

void
ngx_http_tokenroute_redis_find_distrust(ngx_http_tokenroute_redis_finder_t *f)
{
    if (f->conf->sentinels) {
        f->next = (f->next + 1) % f->conf->sentinels->nelts;
    }
}


static void
ngx_http_tokenroute_redis_find_next(ngx_http_tokenroute_redis_finder_t *f)
{
    ngx_http_tokenroute_redis_addr_t  *a;

    if (f->tried == f->conf->sentinels->nelts) {
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "tokenroute: no sentinel named the Redis master \"%V\"",
                      &f->conf->master);
        ngx_http_tokenroute_redis_found(f, NULL, 0, 0);
        return;
    }

    f->tried++;

    a = f->conf->sentinels->elts;

    ngx_http_tokenroute_redis_resolve(f, &a[f->next]);
}


/* a: a sentinel, or NULL for the configured Redis address */

static void
ngx_http_tokenroute_redis_resolve(ngx_http_tokenroute_redis_finder_t *f,
    ngx_http_tokenroute_redis_addr_t *a)
{
    ngx_str_t                  *name;
    ngx_resolver_ctx_t         *ctx;
    ngx_http_core_loc_conf_t   *clcf;

    f->addr = a;

    name = a ? &a->name : &f->conf->name;
    clcf = f->conf->clcf;

    if (name->len == 0 || clcf == NULL || clcf->resolver == NULL
        || clcf->resolver == NGX_CONF_UNSET_PTR)
    {
        ngx_http_tokenroute_redis_address(f);
        return;
    }

    ctx = ngx_resolve_start(clcf->resolver, NULL);

    if (ctx == NGX_NO_RESOLVER) {
        /* no "resolver": the address found at load */
        ngx_http_tokenroute_redis_address(f);
        return;
    }

    if (ctx == NULL) {
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "tokenroute: cannot look up \"%V\": out of memory",
                      name);
        ngx_http_tokenroute_redis_address(f);
        return;
    }

    ctx->name = *name;
    ctx->handler = ngx_http_tokenroute_redis_resolved;
    ctx->data = f;
    ctx->cancelable = 1;
    ctx->timeout = clcf->resolver_timeout != NGX_CONF_UNSET_MSEC
                   ? clcf->resolver_timeout : f->conf->connect_timeout;

    f->rctx = ctx;

    /* the answer may be cached: the handler may run before this returns */

    if (ngx_resolve_name(ctx) != NGX_OK) {
        f->rctx = NULL;
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "tokenroute: cannot look up \"%V\"", name);
        ngx_http_tokenroute_redis_address(f);
    }
}


static void
ngx_http_tokenroute_redis_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_tokenroute_redis_finder_t *f = ctx->data;

    u_char                            *p;
    ngx_str_t                         *host;
    ngx_uint_t                         i;
    ngx_http_tokenroute_redis_addr_t  *a;

    f->rctx = NULL;

    a = f->addr;
    host = a ? &a->host : &f->conf->host;

    if (ctx->state || ctx->naddrs == 0) {
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "tokenroute: \"%V\" could not be resolved (%i: %s), "
                      "using %V", &ctx->name, ctx->state,
                      ngx_resolver_strerror(ctx->state), host);

    } else {
        /* the answers take turns, reconnect after reconnect */
        i = f->turn++ % ctx->naddrs;

        /*
         * The worker's copy of the configuration keeps the last address
         * found, in the buffer made for it at load.
         */

        p = host->data;
        host->len = ngx_sock_ntop(ctx->addrs[i].sockaddr,
                                  ctx->addrs[i].socklen, p,
                                  NGX_SOCKADDR_STRLEN, 0);
        p[host->len] = '\0';

        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, f->log, 0,
                       "tokenroute redis: \"%V\" is %V", &ctx->name, host);
    }

    ngx_resolve_name_done(ctx);

    ngx_http_tokenroute_redis_address(f);
}


/* the address is known: connect to Redis, or ask the sentinel */

static void
ngx_http_tokenroute_redis_address(ngx_http_tokenroute_redis_finder_t *f)
{
    if (!f->sentinel) {
        ngx_http_tokenroute_redis_found(f, f->conf->host.data,
                                        f->conf->host.len, f->conf->port);
        return;
    }

    ngx_http_tokenroute_redis_ask(f);
}


static void
ngx_http_tokenroute_redis_ask(ngx_http_tokenroute_redis_finder_t *f)
{
    redisAsyncContext                 *ac;
    ngx_http_tokenroute_redis_conf_t  *conf;

    conf = f->conf;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, f->log, 0,
                   "tokenroute redis: asking sentinel %V:%d",
                   &f->addr->host, (int) f->addr->port);

    ac = redisAsyncConnect((char *) f->addr->host.data, f->addr->port);

    if (ac == NULL) {
        ngx_http_tokenroute_redis_sentinel_failed(f, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "tokenroute: sentinel %V:%d: %s", &f->addr->host,
                      (int) f->addr->port, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_tokenroute_redis_sentinel_failed(f, NULL);
        return;
    }

    if (ngx_http_tokenroute_redis_attach(ac, f->log) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_tokenroute_redis_sentinel_failed(f, "no free connection");
        return;
    }

    ac->data = f;
    f->ac = ac;

    redisAsyncSetConnectCallback(ac,
                                 ngx_http_tokenroute_redis_sentinel_connect);
    redisAsyncSetDisconnectCallback(ac,
                                ngx_http_tokenroute_redis_sentinel_disconnect);

    if (conf->sentinel_password.len
        && redisAsyncCommand(ac, ngx_http_tokenroute_redis_sentinel_auth,
                             NULL, "AUTH %b", conf->sentinel_password.data,
                             conf->sentinel_password.len)
           != REDIS_OK)
    {
        ngx_http_tokenroute_redis_sentinel_failed(f, "AUTH not queued");
        return;
    }

    if (redisAsyncCommand(ac, ngx_http_tokenroute_redis_sentinel_reply, NULL,
                          "SENTINEL get-master-addr-by-name %b",
                          conf->master.data, conf->master.len)
        != REDIS_OK)
    {
        ngx_http_tokenroute_redis_sentinel_failed(f, "command not queued");
        return;
    }

    ngx_add_timer(&f->timer, conf->connect_timeout);
}


static void
ngx_http_tokenroute_redis_sentinel_connect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_tokenroute_redis_finder_t  *f = ac->data;

    if (f == NULL || f->ac != ac || status == REDIS_OK) {
        return;
    }

    /* hiredis frees the context after this callback */
    f->ac = NULL;

    ngx_http_tokenroute_redis_sentinel_failed(f, ac->errstr);
}


static void
ngx_http_tokenroute_redis_sentinel_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_tokenroute_redis_finder_t  *f = ac->data;

    if (f == NULL || f->ac != ac) {
        return;
    }

    f->ac = NULL;

    ngx_http_tokenroute_redis_sentinel_failed(f, ac->errstr[0] ? ac->errstr
                                                               : "closed");
}


static void
ngx_http_tokenroute_redis_sentinel_auth(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                          *reply = r;
    ngx_http_tokenroute_redis_finder_t  *f = ac->data;

    if (reply == NULL || f == NULL || f->ac != ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "tokenroute: sentinel %V:%d refused AUTH: %s",
                      &f->addr->host, (int) f->addr->port, reply->str);
    }
}


static void
ngx_http_tokenroute_redis_sentinel_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                          *reply = r;
    int                                  rc, port;
    redisReply                          *h, *p;
    const char                          *why;
    ngx_http_tokenroute_redis_finder_t  *f = ac->data;

    if (reply == NULL || f == NULL || f->ac != ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_http_tokenroute_redis_sentinel_failed(f, "it does not know the "
                                                  "master");
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_tokenroute_redis_sentinel_failed(f, reply->str);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_http_tokenroute_redis_sentinel_failed(f, "unexpected reply");
        return;
    }

    h = reply->element[0];
    p = reply->element[1];

    /*
     * Refused before anything connects to it: a host name (hiredis would
     * block in getaddrinfo()), 0.0.0.0, a bad port, or an address outside
     * "masters=" (the master's password would go to it).
     */

    rc = tokenroute_redis_master_check(h->str, h->len, p->str, p->len,
                                       f->conf->masters.len
                                       ? (char *) f->conf->masters.data
                                       : NULL,
                                       f->conf->masters.len, &port, &why);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "tokenroute: sentinel %V:%d named \"%*s\" port "
                      "\"%*s\" as master \"%V\": %s, refused",
                      &f->addr->host, (int) f->addr->port,
                      ngx_min(h->len, 64), h->str, ngx_min(p->len, 8),
                      p->str, &f->conf->master,
                      rc == -2 ? "outside masters=" : why);

        ngx_http_tokenroute_redis_sentinel_failed(f, NULL);
        return;
    }

    ngx_http_tokenroute_redis_found(f, (u_char *) h->str, h->len,
                                    (in_port_t) port);
}


static void
ngx_http_tokenroute_redis_sentinel_timeout(ngx_event_t *ev)
{
    ngx_http_tokenroute_redis_finder_t  *f = ev->data;

    ngx_http_tokenroute_redis_sentinel_failed(f, "timed out");
}


/* this sentinel did not answer: the next one is asked */

static void
ngx_http_tokenroute_redis_sentinel_failed(
    ngx_http_tokenroute_redis_finder_t *f, const char *why)
{
    if (why) {
        ngx_log_error(NGX_LOG_ERR, f->log, 0,
                      "tokenroute: sentinel %V:%d, asked for \"%V\": %s",
                      &f->addr->host, (int) f->addr->port, &f->conf->master,
                      why);
    }

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    ngx_http_tokenroute_redis_sentinel_close(f);

    f->next = (f->next + 1) % f->conf->sentinels->nelts;

    ngx_http_tokenroute_redis_find_next(f);
}


/* safe within the context's own callbacks: hiredis frees it after them */

static void
ngx_http_tokenroute_redis_sentinel_close(ngx_http_tokenroute_redis_finder_t *f)
{
    redisAsyncContext  *ac;

    ac = f->ac;
    f->ac = NULL;

    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}


static void
ngx_http_tokenroute_redis_found(ngx_http_tokenroute_redis_finder_t *f,
    u_char *host, size_t len, in_port_t port)
{
    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    ngx_http_tokenroute_redis_sentinel_close(f);

    f->busy = 0;

    if (host) {
        f->host.len = ngx_min(len, NGX_SOCKADDR_STRLEN);
        *ngx_cpymem(f->host.data, host, f->host.len) = '\0';
        host = f->host.data;
    }

    f->port = port;

    f->handler(f->data, host ? &f->host : NULL, port);
}
