
/*
 * Copyright (C) tokenroute authors
 *
 * A provider's url is its vendor's API base, written as that vendor's SDK
 * takes it: Anthropic's without /v1 (the gateway appends it) or with it,
 * an OpenAI-compatible one with its version path (/v1, Gemini's
 * /v1beta/openai).  A url that cannot be a base (an endpoint, a query
 * string, a known vendor without its version path) is refused at load
 * with the url to write instead: at run time it would be a 404 from the
 * provider, seen by the clients only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_upstream_url.h"


typedef struct {
    ngx_str_t   host;
    ngx_uint_t  type;       /* the API the host speaks at its base */
    ngx_str_t   openai;     /* the OpenAI-compatible base path */
} ngx_http_tokenroute_vendor_t;


static void ngx_http_tokenroute_url_error(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p, const char *what, ngx_str_t *origin,
    u_char *path, size_t len, const char *tail);


static ngx_str_t  ngx_http_tokenroute_endpoints[] = {
    ngx_string("/chat/completions"),
    ngx_string("/completions"),
    ngx_string("/messages/count_tokens"),
    ngx_string("/messages"),
    ngx_string("/responses"),
    ngx_string("/embeddings"),
    ngx_string("/models"),
    ngx_null_string
};


static ngx_http_tokenroute_vendor_t  ngx_http_tokenroute_vendors[] = {
    { ngx_string("api.openai.com"), NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI,
      ngx_string("/v1") },
    { ngx_string("generativelanguage.googleapis.com"),
      NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI, ngx_string("/v1beta/openai") },
    { ngx_string("api.anthropic.com"), NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC,
      ngx_string("/v1") },
    { ngx_null_string, 0, ngx_null_string }
};


/* logs "provider NAME: url U WHAT: write url=ORIGIN+PATH TAIL" */

static void
ngx_http_tokenroute_url_error(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p, const char *what, ngx_str_t *origin,
    u_char *path, size_t len, const char *tail)
{
    ngx_str_t  base;

    base.len = len;
    base.data = path;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "provider \"%V\": url \"%V\" %s: write url=%V%V%s",
                       &p->name, &p->url, what, origin, &base, tail);
}


/* before the url is parsed: a base has no query string nor fragment */

ngx_int_t
ngx_http_tokenroute_url_plain(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p)
{
    u_char     *q, *last;
    ngx_str_t   none;

    last = p->url.data + p->url.len;

    for (q = p->url.data; q < last; q++) {
        if (*q == '?' || *q == '#') {
            break;
        }
    }

    if (q == last) {
        return NGX_OK;
    }

    ngx_str_null(&none);
    last = q;

    while (last > p->url.data && last[-1] == '/') {
        last--;
    }

    ngx_http_tokenroute_url_error(cf, p, (*q == '?')
                                  ? "has a query string, which the requests "
                                    "would not carry"
                                  : "has a fragment",
                                  &none, p->url.data, last - p->url.data,
                                  "");

    return NGX_ERROR;
}


/*
 * After the url is parsed: origin is "scheme://host[:port]", host the
 * name alone, p->base_path the path without trailing slashes.  May set
 * p->base_path to the base with /v1 appended (Anthropic).
 */

ngx_int_t
ngx_http_tokenroute_url_base(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p, ngx_str_t *origin, ngx_str_t *host)
{
    u_char                        *b;
    size_t                         len;
    ngx_str_t                     *e;
    ngx_http_tokenroute_vendor_t  *v;

    len = p->base_path.len;

    for (e = ngx_http_tokenroute_endpoints; e->len; e++) {
        if (len >= e->len
            && ngx_strncasecmp(p->base_path.data + len - e->len, e->data,
                               e->len)
               == 0)
        {
            ngx_http_tokenroute_url_error(cf, p,
                                          "names an endpoint, not the API "
                                          "base the endpoints are appended "
                                          "to", origin, p->base_path.data,
                                          len - e->len, "");
            return NGX_ERROR;
        }
    }

    for (v = ngx_http_tokenroute_vendors; v->host.len; v++) {
        if (host->len == v->host.len
            && ngx_strncasecmp(host->data, v->host.data, host->len) == 0)
        {
            break;
        }
    }

    if (v->host.len) {

        if (p->type == NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC
            && v->type != NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "provider \"%V\": %V serves the OpenAI API, "
                               "not Anthropic's: write type=openai "
                               "url=%V%V", &p->name, host, origin,
                               &v->openai);
            return NGX_ERROR;
        }

        if (p->type == NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI
            && (len != v->openai.len
                || ngx_strncasecmp(p->base_path.data, v->openai.data, len)
                   != 0))
        {
            ngx_http_tokenroute_url_error(cf, p,
                                          "is not the OpenAI-compatible "
                                          "base of its host, which includes "
                                          "the API version", origin,
                                          v->openai.data, v->openai.len, "");
            return NGX_ERROR;
        }

        if (p->type == NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC
            && len != 0
            && (len != 3 || ngx_strncmp(p->base_path.data, "/v1", 3) != 0))
        {
            ngx_http_tokenroute_url_error(cf, p, "is not Anthropic's base",
                                          origin, NULL, 0, " (or /v1)");
            return NGX_ERROR;
        }
    }

    if (p->type != NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC
        || (len >= 3
            && ngx_strncmp(p->base_path.data + len - 3, "/v1", 3) == 0))
    {
        return NGX_OK;
    }

    /* the Anthropic SDK's base: the API's version is appended to it */

    b = ngx_pnalloc(cf->pool, len + 3);
    if (b == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(b, p->base_path.data, len);
    ngx_memcpy(b + len, "/v1", 3);

    p->base_path.data = b;
    p->base_path.len = len + 3;

    return NGX_OK;
}
