
/*
 * Copyright (C) tokenroute authors
 *
 * The tokenroute_redis directive:
 *
 *     tokenroute_redis ADDRESS | sentinel=H:P,... master=NAME | env=VAR
 *                      [password=P | password_env=VAR] [db=N]
 *                      [sentinel_password=P] [masters=CIDR,...]
 *                      [connect_timeout=T] [timeout=T];
 *
 * ADDRESS is host:port, unix:PATH, or a redis:// or redis-sentinel:// URL
 * read by the same code as the CLI's TOKENROUTE_REDIS
 * (tokenroute_redis_url.c).  Every TCP address is resolved here, in the
 * master, so that a worker never blocks in getaddrinfo(); a host name is
 * kept too, for the worker to resolve again with nginx's resolver on every
 * reconnect (ngx_http_tokenroute_redis_sentinel.c) when one is configured.
 * Messages never echo what precedes an '@' (it may be a password), nor
 * the value of a parameter not known.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_conf.h"
#include "tokenroute_redis_url.h"


static char *ngx_http_tokenroute_redis_spec(ngx_conf_t *cf,
    ngx_http_tokenroute_redis_conf_t *rc, ngx_str_t *spec);
static char *ngx_http_tokenroute_redis_sentinels(ngx_conf_t *cf,
    ngx_http_tokenroute_redis_conf_t *rc, ngx_str_t *list);
static char *ngx_http_tokenroute_redis_addr(ngx_conf_t *cf,
    tokenroute_redis_host_t *h, ngx_http_tokenroute_redis_addr_t *a);
static ngx_int_t ngx_http_tokenroute_redis_cstr(ngx_conf_t *cf,
    ngx_str_t *dst, u_char *src, size_t len);
static ngx_uint_t ngx_http_tokenroute_redis_known(ngx_str_t *arg,
    u_char *eq);
static void ngx_http_tokenroute_redis_invalid(ngx_conf_t *cf,
    const char *what, u_char *s, size_t len);


char *
ngx_http_tokenroute_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t *trmcf = conf;

    char                              *rv;
    u_char                            *p;
    ngx_str_t                         *value, v, spec;
    ngx_int_t                          n;
    ngx_uint_t                         i;
    ngx_http_tokenroute_redis_conf_t  *rc;

    rc = &trmcf->redis;

    if (rc->configured) {
        return "is duplicate";
    }

    rc->configured = 1;
    rc->db = 0;
    rc->connect_timeout = 1000;
    rc->timeout = 1000;

    /* the http block's: its "resolver", read by the workers */
    rc->clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    value = cf->args->elts;

    if (ngx_http_tokenroute_conf_arg(&value[1], "sentinel", &v) == NGX_OK) {
        rv = ngx_http_tokenroute_redis_sentinels(cf, rc, &v);

    } else if (ngx_http_tokenroute_conf_arg(&value[1], "env", &v) == NGX_OK) {
        ngx_str_null(&spec);

        if (ngx_http_tokenroute_conf_env(cf, &v, &spec) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (spec.len == 0) {
            /* nginx -t or -s without the variable: a warning was logged */
            ngx_str_set(&spec, "127.0.0.1:6379");
        }

        rv = ngx_http_tokenroute_redis_spec(cf, rc, &spec);

    } else {
        rv = ngx_http_tokenroute_redis_spec(cf, rc, &value[1]);
    }

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* explicit parameters win over what a URL says */

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_tokenroute_conf_arg(&value[i], "password", &v) == NGX_OK)
        {
            rc->password = v;
            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "password_env", &v)
            == NGX_OK)
        {
            if (ngx_http_tokenroute_conf_env(cf, &v, &rc->password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "sentinel_password", &v)
            == NGX_OK)
        {
            rc->sentinel_password = v;
            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "masters", &v) == NGX_OK)
        {
            if (tokenroute_redis_masters_valid((char *) v.data, v.len) != 0)
            {
                goto invalid;
            }

            rc->masters = v;
            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "master", &v) == NGX_OK) {
            if (v.len == 0 || rc->master.len) {
                goto invalid;
            }

            rc->master = v;
            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "db", &v) == NGX_OK) {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rc->db = n;
            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "connect_timeout", &v)
            == NGX_OK)
        {
            rc->connect_timeout = ngx_parse_time(&v, 0);
            if (rc->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rc->connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_http_tokenroute_conf_arg(&value[i], "timeout", &v) == NGX_OK)
        {
            rc->timeout = ngx_parse_time(&v, 0);
            if (rc->timeout == (ngx_msec_t) NGX_ERROR || rc->timeout == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (rc->sentinels != NULL && rc->master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel=\" needs \"master=NAME\", the name "
                           "the sentinels know the master by");
        return NGX_CONF_ERROR;
    }

    if (rc->sentinels == NULL && (rc->master.len || rc->masters.len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s=\" goes with \"sentinel=\"",
                           rc->master.len ? "master" : "masters");
        return NGX_CONF_ERROR;
    }

    if (rc->sentinels && rc->sentinel_password.len == 0
        && rc->masters.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "tokenroute_redis: sentinels without "
                           "sentinel_password= or masters=: anyone who can "
                           "talk to a sentinel can point the gateway, and "
                           "the Redis password, at any address");
    }

    return NGX_CONF_OK;

invalid:

    v = value[i];
    p = ngx_strlchr(v.data, v.data + v.len, '=');

    if (p && !ngx_http_tokenroute_redis_known(&v, p)) {
        /* a misspelt "password=" must not print the password */
        v.len = p - v.data;
    }

    ngx_http_tokenroute_redis_invalid(cf, "parameter", v.data, v.len);

    return NGX_CONF_ERROR;
}


/* host:port, unix:PATH, redis:// or redis-sentinel:// */

static char *
ngx_http_tokenroute_redis_spec(ngx_conf_t *cf,
    ngx_http_tokenroute_redis_conf_t *rc, ngx_str_t *spec)
{
    char                              *rv;
    ngx_uint_t                         i;
    const char                        *err;
    tokenroute_redis_url_t             url;
    tokenroute_redis_host_t            h;
    ngx_http_tokenroute_redis_addr_t  *a, addr;

    if (spec->len > 5 && ngx_strncmp(spec->data, "unix:", 5) == 0) {
        if (ngx_http_tokenroute_redis_cstr(cf, &rc->unix_path,
                                           spec->data + 5, spec->len - 5)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (!tokenroute_redis_is_url((char *) spec->data, spec->len)) {
        if (tokenroute_redis_hostport((char *) spec->data, spec->len,
                                      TOKENROUTE_REDIS_PORT, &h)
            != 0)
        {
            ngx_http_tokenroute_redis_invalid(cf, "Redis address",
                                              spec->data, spec->len);
            return NGX_CONF_ERROR;
        }

        rv = ngx_http_tokenroute_redis_addr(cf, &h, &addr);
        free(h.host);

        rc->name = addr.name;
        rc->host = addr.host;
        rc->port = addr.port;

        return rv;
    }

    /* a URL may hold a password: it is not echoed */

    if (tokenroute_redis_url_parse((char *) spec->data, spec->len, &url, &err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid Redis URL: %s",
                           err);
        tokenroute_redis_url_free(&url);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_OK;

    if (url.user
        && ngx_http_tokenroute_redis_cstr(cf, &rc->user, (u_char *) url.user,
                                          ngx_strlen(url.user))
           != NGX_OK)
    {
        rv = NGX_CONF_ERROR;
    }

    if (url.password
        && ngx_http_tokenroute_redis_cstr(cf, &rc->password,
                                          (u_char *) url.password,
                                          ngx_strlen(url.password))
           != NGX_OK)
    {
        rv = NGX_CONF_ERROR;
    }

    if (url.db >= 0) {
        rc->db = (ngx_int_t) url.db;
    }

    if (url.master == NULL) {
        if (rv == NGX_CONF_OK) {
            rv = ngx_http_tokenroute_redis_addr(cf, &url.hosts[0], &addr);
            rc->name = addr.name;
            rc->host = addr.host;
            rc->port = addr.port;
        }

        tokenroute_redis_url_free(&url);
        return rv;
    }

    if (rv == NGX_CONF_OK
        && ngx_http_tokenroute_redis_cstr(cf, &rc->master,
                                          (u_char *) url.master,
                                          ngx_strlen(url.master))
           != NGX_OK)
    {
        rv = NGX_CONF_ERROR;
    }

    rc->sentinels = ngx_array_create(cf->pool, url.nhosts,
                                     sizeof(ngx_http_tokenroute_redis_addr_t));
    if (rc->sentinels == NULL) {
        rv = NGX_CONF_ERROR;
    }

    for (i = 0; rv == NGX_CONF_OK && i < url.nhosts; i++) {
        a = ngx_array_push(rc->sentinels);
        if (a == NULL) {
            rv = NGX_CONF_ERROR;
            break;
        }

        rv = ngx_http_tokenroute_redis_addr(cf, &url.hosts[i], a);
    }

    tokenroute_redis_url_free(&url);

    return rv;
}


/* sentinel=H:P,H:P,... */

static char *
ngx_http_tokenroute_redis_sentinels(ngx_conf_t *cf,
    ngx_http_tokenroute_redis_conf_t *rc, ngx_str_t *list)
{
    char                              *rv;
    u_char                            *p, *end, *comma;
    tokenroute_redis_host_t            h;
    ngx_http_tokenroute_redis_addr_t  *a;

    rc->sentinels = ngx_array_create(cf->pool, 3,
                                     sizeof(ngx_http_tokenroute_redis_addr_t));
    if (rc->sentinels == NULL) {
        return NGX_CONF_ERROR;
    }

    p = list->data;
    end = p + list->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }

        if (tokenroute_redis_hostport((char *) p, comma - p,
                                      TOKENROUTE_SENTINEL_PORT, &h)
            != 0)
        {
            ngx_http_tokenroute_redis_invalid(cf, "sentinel address", p,
                                              comma - p);
            free(h.host);
            return NGX_CONF_ERROR;
        }

        a = ngx_array_push(rc->sentinels);
        if (a == NULL) {
            free(h.host);
            return NGX_CONF_ERROR;
        }

        rv = ngx_http_tokenroute_redis_addr(cf, &h, a);
        free(h.host);

        if (rv != NGX_CONF_OK) {
            return rv;
        }

        if (comma == end) {
            return NGX_CONF_OK;
        }

        p = comma + 1;
    }
}


/*
 * Resolves h now, in the master (a worker must not block in
 * getaddrinfo()); keeps a host name for the resolver to look up again.
 */

static char *
ngx_http_tokenroute_redis_addr(ngx_conf_t *cf, tokenroute_redis_host_t *h,
    ngx_http_tokenroute_redis_addr_t *a)
{
    u_char      *p;
    size_t       len;
    ngx_url_t    u;
    ngx_uint_t   v6;

    ngx_memzero(a, sizeof(ngx_http_tokenroute_redis_addr_t));
    ngx_memzero(&u, sizeof(ngx_url_t));

    len = ngx_strlen(h->host);
    v6 = (ngx_strlchr((u_char *) h->host, (u_char *) h->host + len, ':')
          != NULL);

    u.url.data = ngx_pnalloc(cf->pool, len + sizeof("[]:65535"));
    if (u.url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = u.url.data;

    if (v6) {
        *p++ = '[';
    }

    p = ngx_cpymem(p, h->host, len);

    if (v6) {
        *p++ = ']';
    }

    p = ngx_sprintf(p, ":%d", h->port);
    u.url.len = p - u.url.data;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Redis address \"%V\"%s%s", &u.url,
                           u.err ? ": " : "", u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    a->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (a->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    a->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                a->host.data, NGX_SOCKADDR_STRLEN, 0);
    a->host.data[a->host.len] = '\0';
    a->port = u.port;

    /* an address literal is not looked up again */

    if (v6 || ngx_inet_addr((u_char *) h->host, len) != INADDR_NONE) {
        return NGX_CONF_OK;
    }

    if (ngx_http_tokenroute_redis_cstr(cf, &a->name, (u_char *) h->host, len)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tokenroute_redis_cstr(ngx_conf_t *cf, ngx_str_t *dst, u_char *src,
    size_t len)
{
    dst->data = ngx_pnalloc(cf->pool, len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(dst->data, src, len) = '\0';
    dst->len = len;

    return NGX_OK;
}


/* the parameters tokenroute_redis knows: their values may be shown */

static ngx_uint_t
ngx_http_tokenroute_redis_known(ngx_str_t *arg, u_char *eq)
{
    size_t             len;
    ngx_uint_t         i;
    static ngx_str_t   known[] = {
        ngx_string("master"), ngx_string("masters"), ngx_string("db"),
        ngx_string("connect_timeout"), ngx_string("timeout"),
        ngx_string("sentinel"), ngx_string("env")
    };

    len = eq - arg->data;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (len == known[i].len
            && ngx_strncmp(arg->data, known[i].data, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* what precedes the last '@' may be a password: "***@" instead */

static void
ngx_http_tokenroute_redis_invalid(ngx_conf_t *cf, const char *what,
    u_char *s, size_t len)
{
    u_char  *eq;
    size_t   shown;

    shown = tokenroute_redis_shown((char *) s, len);

    if (shown == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid %s \"%*s\"",
                           what, len, s);
        return;
    }

    /* "NAME=***@HOST" for a known parameter */

    eq = (ngx_strcmp(what, "parameter") == 0)
         ? ngx_strlchr(s, s + shown, '=') : NULL;
    eq = eq ? eq + 1 : s;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid %s \"%*s***@%*s\"",
                       what, (size_t) (eq - s), s, len - shown, s + shown);
}
