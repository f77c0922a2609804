
/*
 * Copyright (C) tokenroute authors
 *
 * Provider upstreams whose addresses change (CDNs): nginx 1.22 resolves
 * the names of an upstream's servers once, at load.  An upstream with
 * "tokenroute_resolve" (and a provider's implicit upstream, when the
 * http block has a resolver) has each worker resolve those names again
 * with nginx's resolver, when the answer's TTL (or the resolver's
 * valid=) runs out, within [1 s, the directive's interval], and swap in
 * a new round-robin peer list when the addresses changed.
 *
 * The balancer is round robin itself (it is built by nginx's
 * ngx_http_upstream_init_round_robin() from a copy of the servers with
 * the new addresses), so "keepalive" after the directive wraps it as it
 * wraps round robin.  A peer list is a generation with its own pool: a
 * request holds a reference on the generation it started with until its
 * pool goes (rr's get/free and $upstream_addr use pointers into the
 * list), and a generation no longer current is freed by its last user.
 * A failed or empty answer keeps the last good addresses.  The worker
 * side (timers, questions, answers): ngx_http_tokenroute_upstream_dns.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_upstream.h"


static ngx_int_t ngx_http_tokenroute_resolve_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_tokenroute_resolve_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static void ngx_http_tokenroute_resolve_release(void *data);
static void ngx_http_tokenroute_resolve_free(ngx_http_tokenroute_peers_t *g);
static ngx_addr_t *ngx_http_tokenroute_resolve_copy(ngx_pool_t *pool,
    ngx_addr_t *addrs, ngx_uint_t n);
static ngx_int_t ngx_http_tokenroute_resolve_add(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_msec_t interval,
    ngx_uint_t implicit);
static ngx_int_t ngx_http_tokenroute_resolve_name(ngx_conf_t *cf,
    ngx_http_tokenroute_resolve_t *up, ngx_str_t *name, in_port_t port,
    ngx_uint_t server, ngx_addr_t *addrs, ngx_uint_t naddrs);


/* "tokenroute_resolve [interval];" in an upstream block */

char *
ngx_http_tokenroute_resolve_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                     *value;
    ngx_msec_t                     interval;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream == ngx_http_tokenroute_resolve_init) {
        return "is duplicate";
    }

    if (uscf->peer.init_upstream) {
        /* keepalive would wrap round robin, not the new peers */
        return "must come before keepalive and is not compatible with "
               "another balancer (hash, ip_hash, least_conn, random)";
    }

    interval = NGX_HTTP_TOKENROUTE_RESOLVE_MAX;

    if (cf->args->nelts == 2) {
        value = cf->args->elts;

        interval = ngx_parse_time(&value[1], 0);
        if (interval == (ngx_msec_t) NGX_ERROR
            || interval < NGX_HTTP_TOKENROUTE_RESOLVE_MIN)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid interval \"%V\" (1s or more)",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_tokenroute_resolve_add(cf, uscf, interval, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A provider's implicit upstream (url= without upstream=) for a host
 * name: resolved again like "tokenroute_resolve" when the http block
 * has a resolver, once at load (nginx's way) when it has none.
 */

ngx_int_t
ngx_http_tokenroute_resolve_implicit(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf)
{
    /* uscf->host is the url's host alone, an IPv6 address in brackets */

    if ((uscf->flags & NGX_HTTP_UPSTREAM_CREATE)
        || uscf->peer.init_upstream != NULL
        || uscf->port == 0
        || uscf->host.len == 0
        || uscf->host.data[0] == '['
        || ngx_inet_addr(uscf->host.data, uscf->host.len) != INADDR_NONE)
    {
        return NGX_OK;
    }

    return ngx_http_tokenroute_resolve_add(cf, uscf,
                                           NGX_HTTP_TOKENROUTE_RESOLVE_MAX, 1);
}


static ngx_int_t
ngx_http_tokenroute_resolve_add(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_msec_t interval,
    ngx_uint_t implicit)
{
    ngx_http_tokenroute_resolve_t    *up, **upp;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    trmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tokenroute_module);

    if (trmcf->resolve == NULL) {
        trmcf->resolve = ngx_array_create(cf->pool, 4, sizeof(void *));
        if (trmcf->resolve == NULL) {
            return NGX_ERROR;
        }
    }

    up = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_resolve_t));
    if (up == NULL) {
        return NGX_ERROR;
    }

    upp = ngx_array_push(trmcf->resolve);
    if (upp == NULL) {
        return NGX_ERROR;
    }

    *upp = up;

    up->uscf = uscf;
    up->interval = interval;
    up->implicit = implicit;

    if (ngx_array_init(&up->names, cf->pool, 1,
                       sizeof(ngx_http_tokenroute_resolve_name_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    uscf->peer.init_upstream = ngx_http_tokenroute_resolve_init;

    return NGX_OK;
}


/* init_upstream: round robin on the load-time addresses, the names */

static ngx_int_t
ngx_http_tokenroute_resolve_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_url_t                          u;
    ngx_uint_t                         i;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_upstream_server_t        *server;
    ngx_http_tokenroute_resolve_t     *up, **upp;
    ngx_http_tokenroute_main_conf_t   *trmcf;

    trmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tokenroute_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    upp = trmcf->resolve->elts;
    up = NULL;

    for (i = 0; i < trmcf->resolve->nelts; i++) {
        if (upp[i]->uscf == us) {
            up = upp[i];
            break;
        }
    }

    if (up == NULL) {
        return NGX_ERROR;
    }

    if (us->shm_zone) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tokenroute_resolve\" in upstream \"%V\" in %s:%ui "
                      "keeps its peers per worker: remove \"zone\"",
                      &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    if (ngx_http_upstream_init_round_robin(cf, us) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the core module's merge gives http{} a resolver without servers */

    if (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0) {
        if (up->implicit) {
            return NGX_OK;      /* nginx's own: resolved once, at load */
        }

        /* a provider file that has it may be included anywhere */

        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"tokenroute_resolve\" in upstream \"%V\" in %s:%ui "
                      "needs a \"resolver\" in the http block: its names "
                      "are resolved once, at load",
                      &us->host, us->file_name, us->line);
        return NGX_OK;
    }

    up->clcf = clcf;

    if (up->implicit) {
        /* one address at load: a server, more: in the peers alone */

        server = us->servers ? us->servers->elts : NULL;

        if (ngx_http_tokenroute_resolve_name(cf, up, &us->host, us->port, 0,
                                             server ? server[0].addrs : NULL,
                                             server ? server[0].naddrs : 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else {
        server = us->servers->elts;

        for (i = 0; i < us->servers->nelts; i++) {
            ngx_memzero(&u, sizeof(ngx_url_t));
            u.url = server[i].name;
            u.default_port = 80;
            u.no_resolve = 1;

            if (ngx_parse_url(cf->pool, &u) != NGX_OK
                || u.family == AF_UNIX
                || u.host.len == 0
                || u.host.data[0] == '['
                || ngx_inet_addr(u.host.data, u.host.len) != INADDR_NONE)
            {
                continue;       /* an address: nothing to resolve */
            }

            if (ngx_http_tokenroute_resolve_name(cf, up, &u.host, u.port, i,
                                                 server[i].addrs,
                                                 server[i].naddrs)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    up->current = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_peers_t));
    if (up->current == NULL) {
        return NGX_ERROR;
    }

    up->current->peers = us->peer.data;
    up->current->up = up;

    us->peer.data = up;
    us->peer.init = ngx_http_tokenroute_resolve_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_resolve_name(ngx_conf_t *cf,
    ngx_http_tokenroute_resolve_t *up, ngx_str_t *name, in_port_t port,
    ngx_uint_t server, ngx_addr_t *addrs, ngx_uint_t naddrs)
{
    ngx_http_tokenroute_resolve_name_t  *n;

    n = ngx_array_push(&up->names);
    if (n == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(n, sizeof(ngx_http_tokenroute_resolve_name_t));

    n->host = *name;
    n->port = port;
    n->server = server;
    n->addrs = addrs;
    n->naddrs = naddrs;
    n->up = up;

    return NGX_OK;
}


/* a new generation of peers from the servers and the names' addresses */

ngx_int_t
ngx_http_tokenroute_resolve_swap(ngx_http_tokenroute_resolve_t *up)
{
    ngx_uint_t                           i;
    ngx_conf_t                           cf;
    ngx_pool_t                          *pool;
    ngx_http_upstream_server_t          *s, *server;
    ngx_http_tokenroute_peers_t         *g, *old;
    ngx_http_upstream_srv_conf_t        *us;
    ngx_http_upstream_rr_peers_t        *peers;
    ngx_http_tokenroute_resolve_name_t  *n;

    pool = ngx_create_pool(4096, up->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    g = ngx_pcalloc(pool, sizeof(ngx_http_tokenroute_peers_t));
    us = ngx_pcalloc(pool, sizeof(ngx_http_upstream_srv_conf_t));
    if (g == NULL || us == NULL) {
        goto failed;
    }

    us->host = up->uscf->host;
    us->file_name = up->uscf->file_name;
    us->line = up->uscf->line;
    us->servers = ngx_array_create(pool, 4,
                                   sizeof(ngx_http_upstream_server_t));
    if (us->servers == NULL) {
        goto failed;
    }

    n = up->names.elts;

    if (up->implicit) {
        /* the servers of an upstream implicitly defined by proxy_pass */

        s = ngx_array_push(us->servers);
        if (s == NULL) {
            goto failed;
        }

        ngx_memzero(s, sizeof(ngx_http_upstream_server_t));
        s->name = up->uscf->host;
        s->weight = 1;
        s->max_fails = 1;
        s->fail_timeout = 10;
        s->naddrs = n[0].naddrs;
        s->addrs = ngx_http_tokenroute_resolve_copy(pool, n[0].addrs,
                                                    n[0].naddrs);
        if (s->addrs == NULL) {
            goto failed;
        }

    } else {
        server = up->uscf->servers->elts;

        for (i = 0; i < up->uscf->servers->nelts; i++) {
            s = ngx_array_push(us->servers);
            if (s == NULL) {
                goto failed;
            }

            *s = server[i];
        }

        s = us->servers->elts;

        for (i = 0; i < up->names.nelts; i++) {
            s[n[i].server].naddrs = n[i].naddrs;
            s[n[i].server].addrs = ngx_http_tokenroute_resolve_copy(pool,
                                                   n[i].addrs, n[i].naddrs);
            if (s[n[i].server].addrs == NULL) {
                goto failed;
            }
        }
    }

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = up->log;
    cf.cycle = (ngx_cycle_t *) ngx_cycle;

    if (ngx_http_upstream_init_round_robin(&cf, us) != NGX_OK) {
        goto failed;
    }

    /* the peers' name is the upstream's, which outlives the copy */

    peers = us->peer.data;
    peers->name = &up->uscf->host;

    if (peers->next) {
        peers->next->name = &up->uscf->host;
    }

    g->peers = peers;
    g->pool = pool;
    g->up = up;

    old = up->current;
    up->current = g;

    if (old->refs == 0) {
        ngx_http_tokenroute_resolve_free(old);
    }

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


static ngx_addr_t *
ngx_http_tokenroute_resolve_copy(ngx_pool_t *pool, ngx_addr_t *addrs,
    ngx_uint_t n)
{
    u_char      *p;
    ngx_uint_t   i;
    ngx_addr_t  *a;

    a = ngx_palloc(pool, n * sizeof(ngx_addr_t));
    if (a == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        a[i].socklen = addrs[i].socklen;
        a[i].sockaddr = ngx_palloc(pool, addrs[i].socklen);
        p = ngx_pnalloc(pool, addrs[i].name.len);

        if (a[i].sockaddr == NULL || p == NULL) {
            return NULL;
        }

        ngx_memcpy(a[i].sockaddr, addrs[i].sockaddr, addrs[i].socklen);
        ngx_memcpy(p, addrs[i].name.data, addrs[i].name.len);
        a[i].name.data = p;
        a[i].name.len = addrs[i].name.len;
    }

    return a;
}


/* init_peer: round robin over the current generation, which it holds */

static ngx_int_t
ngx_http_tokenroute_resolve_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_int_t                       rc;
    ngx_pool_cleanup_t             *cln;
    ngx_http_tokenroute_peers_t    *g;
    ngx_http_tokenroute_resolve_t  *up;

    up = us->peer.data;
    g = up->current;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* rr's init_peer takes the peers from us->peer.data */

    us->peer.data = g->peers;
    rc = ngx_http_upstream_init_round_robin_peer(r, us);
    us->peer.data = up;

    if (rc != NGX_OK) {
        return rc;
    }

    g->refs++;
    cln->handler = ngx_http_tokenroute_resolve_release;
    cln->data = g;

    return NGX_OK;
}


static void
ngx_http_tokenroute_resolve_release(void *data)
{
    ngx_http_tokenroute_peers_t *g = data;

    if (--g->refs == 0 && g != g->up->current) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, g->up->log, 0,
                       "tokenroute resolve: old peers of upstream \"%V\" "
                       "freed by their last request", &g->up->uscf->host);

        ngx_http_tokenroute_resolve_free(g);
    }
}


static void
ngx_http_tokenroute_resolve_free(ngx_http_tokenroute_peers_t *g)
{
#if (NGX_HTTP_SSL)
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers;

    for (peers = g->peers; peers; peers = peers->next) {
        for (peer = peers->peer; peer; peer = peer->next) {
            if (peer->ssl_session) {
                ngx_ssl_free_session(peer->ssl_session);
                peer->ssl_session = NULL;
            }
        }
    }
#endif

    if (g->pool) {
        ngx_destroy_pool(g->pool);
    }
}
