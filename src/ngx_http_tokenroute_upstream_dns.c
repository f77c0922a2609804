
/*
 * Copyright (C) tokenroute authors
 *
 * The worker side of "tokenroute_resolve" (ngx_http_tokenroute_upstream.c
 * has the configuration and the peers' generations): a timer per name,
 * a question to nginx's resolver when it fires, and a new generation of
 * peers when the answer's addresses differ from the last good ones.  The
 * next question goes when the answer's TTL (or the resolver's valid=)
 * runs out, within [1 s, the directive's interval]; after a failure, in
 * 5 s (at most the interval), the last good addresses kept meanwhile.
 *
 *   state of a name:  idle --timer--> resolving --answer--> idle
 *                                         (new addresses: a generation)
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_upstream.h"
#include "ngx_http_tokenroute_upstream_dns.h"


static void ngx_http_tokenroute_resolve_timer(ngx_event_t *ev);
static void ngx_http_tokenroute_resolve_handler(ngx_resolver_ctx_t *ctx);
static ngx_int_t ngx_http_tokenroute_resolve_changed(
    ngx_http_tokenroute_resolve_name_t *n, ngx_resolver_ctx_t *ctx);


/* a worker starts a timer per name: the first question at once */

ngx_int_t
ngx_http_tokenroute_resolve_start(ngx_cycle_t *cycle)
{
    ngx_uint_t                           i, j;
    ngx_http_tokenroute_resolve_t      **upp;
    ngx_http_tokenroute_main_conf_t     *trmcf;
    ngx_http_tokenroute_resolve_name_t  *n;

    trmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_tokenroute_module);
    if (trmcf == NULL || trmcf->resolve == NULL) {
        return NGX_OK;
    }

    upp = trmcf->resolve->elts;

    for (i = 0; i < trmcf->resolve->nelts; i++) {
        upp[i]->log = cycle->log;
        n = upp[i]->names.elts;

        for (j = 0; j < upp[i]->names.nelts; j++) {
            n[j].timer.handler = ngx_http_tokenroute_resolve_timer;
            n[j].timer.data = &n[j];
            n[j].timer.log = cycle->log;
            n[j].timer.cancelable = 1;

            ngx_add_timer(&n[j].timer, 1);
        }
    }

    return NGX_OK;
}


static void
ngx_http_tokenroute_resolve_timer(ngx_event_t *ev)
{
    ngx_http_tokenroute_resolve_name_t *n = ev->data;

    ngx_msec_t                      timeout;
    ngx_resolver_ctx_t             *ctx;
    ngx_http_tokenroute_resolve_t  *up;

    up = n->up;

    if (ngx_exiting || ngx_quit || n->ctx != NULL) {
        return;
    }

    ctx = ngx_resolve_start(up->clcf->resolver, NULL);

    if (ctx == NGX_NO_RESOLVER) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "tokenroute_resolve: no resolver address for \"%V\" "
                      "of upstream \"%V\"", &n->host, &up->uscf->host);
        return;
    }

    if (ctx == NULL) {
        ngx_add_timer(ev, NGX_HTTP_TOKENROUTE_RESOLVE_RETRY);
        return;
    }

    timeout = up->clcf->resolver_timeout;
    if (timeout == NGX_CONF_UNSET_MSEC) {
        timeout = 30000;
    }

    ctx->name = n->host;
    ctx->handler = ngx_http_tokenroute_resolve_handler;
    ctx->data = n;
    ctx->timeout = timeout;
    ctx->cancelable = 1;

    n->ctx = ctx;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "tokenroute resolve: \"%V\" of upstream \"%V\"",
                   &n->host, &up->uscf->host);

    /* the answer may come at once, from the resolver's cache */

    if (ngx_resolve_name(ctx) != NGX_OK) {
        n->ctx = NULL;
        ngx_add_timer(ev, NGX_HTTP_TOKENROUTE_RESOLVE_RETRY);
    }
}


static void
ngx_http_tokenroute_resolve_handler(ngx_resolver_ctx_t *ctx)
{
    ngx_http_tokenroute_resolve_name_t *n = ctx->data;

    time_t                          valid;
    ngx_int_t                       rc;
    ngx_msec_t                      next;
    ngx_http_tokenroute_resolve_t  *up;

    up = n->up;

    if (ctx->state != NGX_OK || ctx->naddrs == 0) {

        /* the last good addresses stay: a provider outage is not DNS's */

        if (!n->failing) {
            ngx_log_error(NGX_LOG_WARN, up->log, 0,
                          "tokenroute_resolve: \"%V\" of upstream \"%V\" "
                          "could not be resolved (%i: %s), keeping the "
                          "last good addresses", &n->host, &up->uscf->host,
                          ctx->state, ctx->state
                                      ? ngx_resolver_strerror(ctx->state)
                                      : "no address");
        }

        n->failing = 1;
        next = NGX_HTTP_TOKENROUTE_RESOLVE_RETRY;
        goto done;
    }

    if (n->failing) {
        ngx_log_error(NGX_LOG_NOTICE, up->log, 0,
                      "tokenroute_resolve: \"%V\" of upstream \"%V\" "
                      "resolves again", &n->host, &up->uscf->host);
        n->failing = 0;
    }

    valid = ctx->valid - ngx_time();
    next = (valid > 0) ? (ngx_msec_t) valid * 1000 : 0;

    rc = ngx_http_tokenroute_resolve_changed(n, ctx);

    if (rc == NGX_OK && ngx_http_tokenroute_resolve_swap(up) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, up->log, 0,
                      "tokenroute_resolve: upstream \"%V\" keeps its "
                      "peers: no memory for the new ones", &up->uscf->host);
    }

done:

    ngx_resolve_name_done(ctx);
    n->ctx = NULL;

    next = ngx_max(next, NGX_HTTP_TOKENROUTE_RESOLVE_MIN);
    next = ngx_min(next, up->interval);

    if (!ngx_exiting && !ngx_quit) {
        ngx_add_timer(&n->timer, next);
    }
}


/* NGX_OK: n has the answer's addresses, which differ from its last ones */

static ngx_int_t
ngx_http_tokenroute_resolve_changed(ngx_http_tokenroute_resolve_name_t *n,
    ngx_resolver_ctx_t *ctx)
{
    size_t        len;
    u_char       *p;
    ngx_uint_t    i, j;
    ngx_addr_t   *addrs;
    ngx_pool_t   *pool;

    if (ctx->naddrs == n->naddrs) {
        for (i = 0; i < ctx->naddrs; i++) {
            ngx_inet_set_port(ctx->addrs[i].sockaddr, n->port);

            for (j = 0; j < n->naddrs; j++) {
                if (ngx_cmp_sockaddr(ctx->addrs[i].sockaddr,
                                     ctx->addrs[i].socklen,
                                     n->addrs[j].sockaddr,
                                     n->addrs[j].socklen, 1)
                    == NGX_OK)
                {
                    break;
                }
            }

            if (j == n->naddrs) {
                break;
            }
        }

        if (i == ctx->naddrs) {
            return NGX_DECLINED;
        }
    }

    pool = ngx_create_pool(1024, n->up->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    addrs = ngx_pcalloc(pool, ctx->naddrs * sizeof(ngx_addr_t));
    if (addrs == NULL) {
        goto failed;
    }

    for (i = 0; i < ctx->naddrs; i++) {
        len = ctx->addrs[i].socklen;

        addrs[i].sockaddr = ngx_palloc(pool, len);
        p = ngx_pnalloc(pool, NGX_SOCKADDR_STRLEN);

        if (addrs[i].sockaddr == NULL || p == NULL) {
            goto failed;
        }

        ngx_memcpy(addrs[i].sockaddr, ctx->addrs[i].sockaddr, len);
        ngx_inet_set_port(addrs[i].sockaddr, n->port);
        addrs[i].socklen = len;

        addrs[i].name.data = p;
        addrs[i].name.len = ngx_sock_ntop(addrs[i].sockaddr, len, p,
                                          NGX_SOCKADDR_STRLEN, 1);
    }

    if (n->pool) {
        ngx_destroy_pool(n->pool);
    }

    n->pool = pool;
    n->addrs = addrs;
    n->naddrs = ctx->naddrs;

    ngx_log_error(NGX_LOG_NOTICE, n->up->log, 0,
                  "tokenroute_resolve: \"%V\" of upstream \"%V\" now "
                  "resolves to %V%s", &n->host, &n->up->uscf->host,
                  &addrs[0].name, n->naddrs > 1 ? " and more" : "");

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}
