
/*
 * Copyright (C) tokenroute authors
 *
 * The http-level directives tokenroute_provider and tokenroute_model
 * (tokenroute_redis: ngx_http_tokenroute_redis_conf.c).  Secrets
 * (provider keys, the Redis password) are read here, in the master,
 * because workers run with a cleared environment.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_conf.h"
#include "ngx_http_tokenroute_models.h"
#include "ngx_http_tokenroute_provider_azure.h"
#include "ngx_http_tokenroute_provider_bedrock.h"
#include "ngx_http_tokenroute_provider_vertex.h"
#include "ngx_http_tokenroute_upstream.h"
#include "ngx_http_tokenroute_upstream_url.h"
#include "tokenroute_money.h"


static ngx_int_t ngx_http_tokenroute_arg(ngx_str_t *arg, const char *name,
    ngx_str_t *value);
static ngx_int_t ngx_http_tokenroute_read_secret(ngx_conf_t *cf,
    ngx_str_t *spec, ngx_uint_t from_file, ngx_str_t *secret);
static ngx_int_t ngx_http_tokenroute_parse_url(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p);
static ngx_int_t ngx_http_tokenroute_valid_id(ngx_str_t *id);


/* "name=value" arguments: returns NGX_OK and the value when arg is name= */

static ngx_int_t
ngx_http_tokenroute_arg(ngx_str_t *arg, const char *name, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len <= len || arg->data[len] != '='
        || ngx_strncmp(arg->data, name, len) != 0)
    {
        return NGX_DECLINED;
    }

    value->data = arg->data + len + 1;
    value->len = arg->len - len - 1;

    return NGX_OK;
}


char *
ngx_http_tokenroute_provider_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t *trmcf = conf;

    u_char                              *p;
    ngx_int_t                            rc;
    ngx_str_t                           *value, v, key;
    ngx_uint_t                           i;
    ngx_http_tokenroute_provider_t      *prov, **provp;
    ngx_http_tokenroute_bedrock_conf_t  *bc;

    value = cf->args->elts;

    if (ngx_http_tokenroute_valid_id(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid provider name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    provp = trmcf->providers.elts;

    for (i = 0; i < trmcf->providers.nelts; i++) {
        if (provp[i]->name.len == value[1].len
            && ngx_strncmp(provp[i]->name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate provider \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    prov = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_provider_t));
    if (prov == NULL) {
        return NGX_CONF_ERROR;
    }

    prov->name = value[1];
    prov->file = cf->conf_file->file.name.data;
    prov->line = cf->conf_file->line;

    ngx_str_null(&key);

    /* the type first: the parameters of a type are known by its type */

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_tokenroute_arg(&value[i], "type", &v) != NGX_OK) {
            continue;
        }

        if (prov->type != 0) {
            goto invalid;
        }

        if (v.len == 6 && ngx_strncmp(v.data, "openai", 6) == 0) {
            prov->type = NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI;

        } else if (v.len == 9 && ngx_strncmp(v.data, "anthropic", 9) == 0) {
            prov->type = NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC;

        } else if (v.len == 5 && ngx_strncmp(v.data, "azure", 5) == 0) {
            prov->type = NGX_HTTP_TOKENROUTE_PROVIDER_AZURE;

        } else if (v.len == 7 && ngx_strncmp(v.data, "bedrock", 7) == 0) {
            prov->type = NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK;

        } else if (v.len == 6 && ngx_strncmp(v.data, "vertex", 6) == 0) {
            prov->type = NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX;

        } else {
            goto invalid;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_tokenroute_arg(&value[i], "type", &v) == NGX_OK) {
            continue;
        }

        if (ngx_http_tokenroute_arg(&value[i], "url", &v) == NGX_OK) {
            prov->url = v;
            continue;
        }

        if (ngx_http_tokenroute_arg(&value[i], "upstream", &v) == NGX_OK) {
            if (ngx_http_tokenroute_valid_id(&v) != NGX_OK) {
                goto invalid;
            }

            prov->upstream_name = v;
            continue;
        }

        if (ngx_http_tokenroute_arg(&value[i], "key_env", &v) == NGX_OK) {
            if (key.data != NULL
                || ngx_http_tokenroute_read_secret(cf, &v, 0, &key) != NGX_OK)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_http_tokenroute_arg(&value[i], "key_file", &v) == NGX_OK) {
            if (key.data != NULL
                || ngx_http_tokenroute_read_secret(cf, &v, 1, &key) != NGX_OK)
            {
                goto invalid;
            }

            continue;
        }

        /* a type's own parameters */

        switch (prov->type) {

        case NGX_HTTP_TOKENROUTE_PROVIDER_AZURE:
            rc = ngx_http_tokenroute_azure_param(cf, prov, &value[i]);
            break;

        case NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK:
            rc = ngx_http_tokenroute_bedrock_param(cf, prov, &value[i]);
            break;

        case NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX:
            rc = ngx_http_tokenroute_vertex_param(cf, prov, &value[i]);
            break;

        default:
            rc = NGX_DECLINED;
        }

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        goto invalid;
    }

    if (prov->type == 0 || prov->url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\" needs type= and url=", &value[1]);
        return NGX_CONF_ERROR;
    }

    prov->shape = (prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI
                   || prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_AZURE)
                  ? TOKENROUTE_SHAPE_OPENAI : TOKENROUTE_SHAPE_ANTHROPIC;

    if (ngx_http_tokenroute_parse_url(cf, prov) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_AZURE
        && ngx_http_tokenroute_azure_init(cf, prov) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX
        && ngx_http_tokenroute_vertex_init(cf, prov) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tokenroute_conf_header_safe(cf, &prov->name, "its key", &key)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    prov->api_key = key;

    if (prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK) {
        if (ngx_http_tokenroute_bedrock_init(cf, prov, &key) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        /* the access key id goes in Authorization, the token a header */

        bc = prov->type_conf;

        if (ngx_http_tokenroute_conf_header_safe(cf, &prov->name,
                                                 "its access key id",
                                                 &bc->access_key)
            != NGX_OK
            || ngx_http_tokenroute_conf_header_safe(cf, &prov->name,
                                                    "its session token",
                                                    &bc->session_token)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (key.len) {
        if (prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI) {
            prov->authorization.len = sizeof("Bearer ") - 1 + key.len;
            prov->authorization.data = ngx_pnalloc(cf->pool,
                                                   prov->authorization.len);
            if (prov->authorization.data == NULL) {
                return NGX_CONF_ERROR;
            }

            p = ngx_cpymem(prov->authorization.data, "Bearer ",
                           sizeof("Bearer ") - 1);
            ngx_memcpy(p, key.data, key.len);
        }
    }

    provp = ngx_array_push(&trmcf->providers);
    if (provp == NULL) {
        return NGX_CONF_ERROR;
    }

    *provp = prov;

    return NGX_CONF_OK;

invalid:

    /* never echo a parameter that may hold a secret */

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter #%ui of provider \"%V\"", i,
                       &value[1]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_tokenroute_read_secret(ngx_conf_t *cf, ngx_str_t *spec,
    ngx_uint_t from_file, ngx_str_t *secret)
{
    u_char           *name, *env;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    name = ngx_pnalloc(cf->pool, spec->len + 1);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(name, spec->data, spec->len + 1);

    if (!from_file) {
        env = (u_char *) getenv((char *) name);

        if (env == NULL || *env == '\0') {

            /*
             * "nginx -s" and "nginx -t" are often run from a shell that
             * does not hold the secrets the running master was started
             * with: the signaller only needs the pid file, the tester
             * checks the rest.  A real start still fails.
             */

            if (ngx_process == NGX_PROCESS_SIGNALLER) {
                return NGX_OK;
            }

            ngx_conf_log_error(ngx_test_config ? NGX_LOG_WARN
                                               : NGX_LOG_EMERG,
                               cf, 0,
                               "environment variable \"%s\" is not set",
                               name);

            return ngx_test_config ? NGX_OK : NGX_ERROR;
        }

        secret->len = ngx_strlen(env);
        secret->data = ngx_pnalloc(cf->pool, secret->len);
        if (secret->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(secret->data, env, secret->len);

        return NGX_OK;
    }

    fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name.data = name;
    file.name.len = spec->len;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) == 0 || ngx_file_size(&fi) > 4096)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" must hold 1 to 4096 bytes", name);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    secret->data = ngx_pnalloc(cf->pool, ngx_file_size(&fi));
    if (secret->data == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, secret->data, ngx_file_size(&fi), 0);

    ngx_close_file(fd);

    if (n != ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot read key file \"%s\"", name);
        return NGX_ERROR;
    }

    /* editors leave a trailing newline */

    while (n > 0 && (secret->data[n - 1] == '\n' || secret->data[n - 1] == '\r'
                     || secret->data[n - 1] == ' '))
    {
        n--;
    }

    secret->len = n;

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "key file \"%s\" is empty",
                           name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * url=http[s]://host[:port][/base/path]: the proxy is sent to
 * "scheme://upstream" where upstream is the named upstream{} block if
 * given, else host:port, for which an implicit upstream is added so that
 * host names resolve at start-up as with a static proxy_pass.
 */

static ngx_int_t
ngx_http_tokenroute_parse_url(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p)
{
    u_char                        *s, *host, *last, *port_start, *path;
    size_t                         scheme_len;
    in_port_t                      port;
    ngx_int_t                      n;
    ngx_str_t                      origin, name;
    ngx_url_t                      u;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (ngx_http_tokenroute_url_plain(cf, p) != NGX_OK) {
        return NGX_ERROR;
    }

    s = p->url.data;
    last = p->url.data + p->url.len;

    if (p->url.len > 7 && ngx_strncasecmp(s, (u_char *) "http://", 7) == 0) {
        scheme_len = 7;
        port = 80;

    } else if (p->url.len > 8
               && ngx_strncasecmp(s, (u_char *) "https://", 8) == 0)
    {
        scheme_len = 8;
        port = 443;

    } else {
        goto invalid;
    }

    host = s + scheme_len;

    path = ngx_strlchr(host, last, '/');
    if (path == NULL) {
        path = last;
    }

    port_start = ngx_strlchr(host, path, ':');

    if (port_start) {
        n = ngx_atoi(port_start + 1, path - port_start - 1);
        if (n < 1 || n > 65535) {
            goto invalid;
        }

        port = (in_port_t) n;

        p->host.len = path - host;

    } else {
        port_start = path;
        p->host.len = path - host;
    }

    if (port_start == host) {
        goto invalid;
    }

    p->host.data = host;

    /* the Host header keeps an explicit port, SNI is derived by the proxy */

    while (last > path && last[-1] == '/') {
        last--;
    }

    p->base_path.data = path;
    p->base_path.len = last - path;

    origin.data = p->url.data;
    origin.len = path - p->url.data;
    name.data = host;
    name.len = port_start - host;

    if (ngx_http_tokenroute_url_base(cf, p, &origin, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    if (p->upstream_name.len) {
        p->upstream.len = scheme_len + p->upstream_name.len;
        p->upstream.data = ngx_pnalloc(cf->pool, p->upstream.len);
        if (p->upstream.data == NULL) {
            return NGX_ERROR;
        }

        s = ngx_cpymem(p->upstream.data, p->url.data, scheme_len);
        ngx_memcpy(s, p->upstream_name.data, p->upstream_name.len);

        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url.data = host;
    u.url.len = port_start - host;
    u.default_port = port;
    u.no_resolve = 0;

    if (port_start != path) {
        u.url.len = path - host;
    }

    uscf = ngx_http_upstream_add(cf, &u, 0);
    if (uscf == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_resolve_implicit(cf, uscf) != NGX_OK) {
        return NGX_ERROR;
    }

    p->upstream.data = ngx_pnalloc(cf->pool,
                                   scheme_len + (port_start - host)
                                   + sizeof(":65535") - 1);
    if (p->upstream.data == NULL) {
        return NGX_ERROR;
    }

    s = ngx_cpymem(p->upstream.data, p->url.data, scheme_len);
    s = ngx_cpymem(s, host, port_start - host);
    s = ngx_sprintf(s, ":%d", (int) port);

    p->upstream.len = s - p->upstream.data;

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid url \"%V\" of provider \"%V\": expected "
                       "http[s]://host[:port][/path]", &p->url, &p->name);

    return NGX_ERROR;
}


char *
ngx_http_tokenroute_model_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tokenroute_main_conf_t *trmcf = conf;

    ngx_int_t                         rc;
    ngx_str_t                        *value, v;
    ngx_uint_t                        i, j;
    ngx_http_tokenroute_model_t      *m;
    ngx_http_tokenroute_provider_t  **provp;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > TOKENROUTE_MODEL_MAX_LEN
        || ngx_http_tokenroute_valid_id(&value[1]) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid model id \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tokenroute_find_model(trmcf, value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate model \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    m = ngx_array_push(&trmcf->models);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(m, sizeof(ngx_http_tokenroute_model_t));
    m->id = value[1];
    m->upstream_model = value[1];
    m->cached_input_price = -1;
    m->cache_write_price = -1;
    m->cache_write_1h_price = -1;
    m->listed = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_tokenroute_arg(&value[i], "provider", &v) == NGX_OK) {
            provp = trmcf->providers.elts;

            for (j = 0; j < trmcf->providers.nelts; j++) {
                if (provp[j]->name.len == v.len
                    && ngx_strncmp(provp[j]->name.data, v.data, v.len) == 0)
                {
                    m->provider = provp[j];
                    break;
                }
            }

            if (m->provider == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown provider \"%V\" (declare it with "
                                   "tokenroute_provider before the models "
                                   "that use it)", &v);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_tokenroute_arg(&value[i], "upstream_model", &v)
            == NGX_OK)
        {
            if (ngx_http_tokenroute_valid_id(&v) != NGX_OK) {
                goto invalid;
            }

            m->upstream_model = v;
            continue;
        }

        if (ngx_http_tokenroute_arg(&value[i], "fallback", &v) == NGX_OK) {
            m->fallback = v;
            continue;
        }

        rc = ngx_http_tokenroute_conf_price(cf, &value[i], m);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_ERROR) {
            goto invalid;
        }

        if (ngx_http_tokenroute_arg(&value[i], "listed", &v) == NGX_OK) {
            if (v.len == 2 && ngx_strncmp(v.data, "on", 2) == 0) {
                m->listed = 1;

            } else if (v.len == 3 && ngx_strncmp(v.data, "off", 3) == 0) {
                m->listed = 0;

            } else {
                goto invalid;
            }

            continue;
        }

        if (ngx_http_tokenroute_arg(&value[i], "max_output_tokens", &v)
            == NGX_OK)
        {
            m->max_output_tokens = ngx_atoi(v.data, v.len);

            if (m->max_output_tokens < 1
                || m->max_output_tokens > TOKENROUTE_MAX_TOKENS_LIMIT)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_output_tokens \"%V\": "
                                   "expected 1 to %d", &v,
                                   TOKENROUTE_MAX_TOKENS_LIMIT);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        goto invalid;
    }

    /* no provider=: its deployments (ngx_http_tokenroute_deployment.c) */

    if (m->cached_input_price < 0) {
        m->cached_input_price = m->input_price;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * A model's or a deployment's price parameter: NGX_DECLINED when arg is
 * not one, NGX_ERROR (said) when its value is not a price.
 */

ngx_int_t
ngx_http_tokenroute_conf_price(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_http_tokenroute_model_t *d)
{
    int64_t     *price;
    ngx_str_t    v;
    ngx_uint_t   i;

    static struct {
        const char  *name;
        size_t       offset;
    } prices[] = {
        { "input_price",
          offsetof(ngx_http_tokenroute_model_t, input_price) },
        { "output_price",
          offsetof(ngx_http_tokenroute_model_t, output_price) },
        { "cached_input_price",
          offsetof(ngx_http_tokenroute_model_t, cached_input_price) },
        { "cache_write_price",
          offsetof(ngx_http_tokenroute_model_t, cache_write_price) },
        { "cache_write_1h_price",
          offsetof(ngx_http_tokenroute_model_t, cache_write_1h_price) },
    };

    for (i = 0; i < sizeof(prices) / sizeof(prices[0]); i++) {
        if (ngx_http_tokenroute_arg(arg, prices[i].name, &v) != NGX_OK) {
            continue;
        }

        price = (int64_t *) ((u_char *) d + prices[i].offset);

        if (tokenroute_money_parse_usd((const char *) v.data, v.len, price)
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid price \"%V\": expected USD per "
                               "million tokens, e.g. 0.15", &v);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* ids go into JSON and header values verbatim, so keep them plain */

static ngx_int_t
ngx_http_tokenroute_valid_id(ngx_str_t *id)
{
    u_char  *p, *last;

    if (id->len == 0) {
        return NGX_ERROR;
    }

    last = id->data + id->len;

    for (p = id->data; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\'
            || *p == ',' || *p == '|')
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_check_upstreams(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf)
{
    ngx_uint_t                        i, j;
    ngx_http_upstream_main_conf_t    *umcf;
    ngx_http_upstream_srv_conf_t    **uscfp;
    ngx_http_tokenroute_provider_t  **provp;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;
    provp = trmcf->providers.elts;

    for (i = 0; i < trmcf->providers.nelts; i++) {

        if (provp[i]->upstream_name.len == 0) {
            continue;
        }

        for (j = 0; j < umcf->upstreams.nelts; j++) {
            if ((uscfp[j]->flags & NGX_HTTP_UPSTREAM_CREATE)
                && uscfp[j]->host.len == provp[i]->upstream_name.len
                && ngx_strncmp(uscfp[j]->host.data,
                               provp[i]->upstream_name.data,
                               uscfp[j]->host.len)
                   == 0)
            {
                break;
            }
        }

        if (j == umcf->upstreams.nelts) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "provider \"%V\" in %s:%ui names upstream \"%V\", "
                          "which is not defined", &provp[i]->name,
                          provp[i]->file, provp[i]->line,
                          &provp[i]->upstream_name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* for ngx_http_tokenroute_redis_conf.c: a NAME=VALUE argument, a secret */

ngx_int_t
ngx_http_tokenroute_conf_arg(ngx_str_t *arg, const char *name,
    ngx_str_t *value)
{
    return ngx_http_tokenroute_arg(arg, name, value);
}


ngx_int_t
ngx_http_tokenroute_conf_valid_id(ngx_str_t *id)
{
    return ngx_http_tokenroute_valid_id(id);
}


ngx_int_t
ngx_http_tokenroute_conf_env(ngx_conf_t *cf, ngx_str_t *var,
    ngx_str_t *value)
{
    return ngx_http_tokenroute_read_secret(cf, var, 0, value);
}


/*
 * A provider credential is sent in a header line, one of those that
 * $tokenroute_upstream_headers joins with CRLFs: a control character in
 * it (a CR or LF of an environment variable, a key file's second line)
 * would end its line early and add lines of its own to every request.
 */

ngx_int_t
ngx_http_tokenroute_conf_header_safe(ngx_conf_t *cf, ngx_str_t *provider,
    const char *what, ngx_str_t *value)
{
    size_t  i;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] < 0x20 || value->data[i] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "provider \"%V\": %s holds a control "
                               "character (byte %uz)", provider, what, i);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
