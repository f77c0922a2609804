
/*
 * Copyright (C) tokenroute authors
 *
 * A provider's url is its vendor's API base, written as that vendor's SDK
 * takes it: Anthropic's without /v1 (the gateway appends it) or with it,
 * an OpenAI-compatible one with its version path (/v1, Gemini's
 * /v1beta/openai).  A url that cannot be a base (an endpoint, a query
 * string, a known vendor without its version path) is refused at load
 * with the url to write instead: at run time it would be a 404 from the
 * provider, seen by the clients only.  The rules: src/tokenroute_base_url.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_upstream_url.h"
#include "tokenroute_base_url.h"


/* before the url is parsed: a base has no query string nor fragment */

ngx_int_t
ngx_http_tokenroute_url_plain(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p)
{
    u_char     *q;
    size_t      len;
    ngx_str_t   base;

    len = tokenroute_base_plain(p->url.data, p->url.len);

    if (len == p->url.len) {
        return NGX_OK;
    }

    /* the first '?' or '#' is after the base: tokenroute_base_plain() */

    for (q = p->url.data + len; *q != '?' && *q != '#'; q++) {
        /* void */
    }

    base.data = p->url.data;
    base.len = len;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "provider \"%V\": url \"%V\" %s: write url=%V",
                       &p->name, &p->url,
                       (*q == '?') ? "has a query string, which the "
                                     "requests would not carry"
                                   : "has a fragment", &base);

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
    u_char             *b;
    ngx_str_t           path;
    tokenroute_base_t   base;

    tokenroute_base_check((int) p->type, host->data, host->len,
                          p->base_path.data, p->base_path.len, &base);

    path.data = (u_char *) base.path;
    path.len = base.path_len;

    switch (base.verdict) {

    case TOKENROUTE_BASE_ENDPOINT:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": url \"%V\" names an endpoint, "
                           "not the API base the endpoints are appended "
                           "to: write url=%V%V", &p->name, &p->url, origin,
                           &path);
        return NGX_ERROR;

    case TOKENROUTE_BASE_AZURE_TYPE:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": %V is an Azure OpenAI "
                           "resource, whose API differs (deployments, "
                           "api-version, the api-key header): write "
                           "type=azure url=%V%V api_version=VERSION, or "
                           "type=azure url=%V%V/v1", &p->name, host, origin,
                           &path, origin, &path);
        return NGX_ERROR;

    case TOKENROUTE_BASE_VENDOR_TYPE:
        if (p->type == NGX_HTTP_TOKENROUTE_PROVIDER_AZURE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "provider \"%V\": %V is not an Azure OpenAI "
                               "resource: write type=openai url=%V%V",
                               &p->name, host, origin, &path);
            return NGX_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": %V serves the OpenAI API, not "
                           "Anthropic's: write type=openai url=%V%V",
                           &p->name, host, origin, &path);
        return NGX_ERROR;

    case TOKENROUTE_BASE_VENDOR_PATH:
        if (p->type == NGX_HTTP_TOKENROUTE_PROVIDER_AZURE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "provider \"%V\": url \"%V\" is not an Azure "
                               "OpenAI base (the deployment comes from the "
                               "model's upstream_model): write url=%V%V "
                               "api_version=VERSION, or url=%V%V/v1",
                               &p->name, &p->url, origin, &path, origin,
                               &path);
            return NGX_ERROR;
        }

        if (p->type == NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "provider \"%V\": url \"%V\" is not "
                               "Anthropic's base: write url=%V (or %V/v1)",
                               &p->name, &p->url, origin, origin);
            return NGX_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": url \"%V\" is not the "
                           "OpenAI-compatible base of its host, which "
                           "includes the API version: write url=%V%V",
                           &p->name, &p->url, origin, &path);
        return NGX_ERROR;

    default: /* TOKENROUTE_BASE_OK */
        break;
    }

    if (!base.append_v1) {
        return NGX_OK;
    }

    /* the Anthropic SDK's base: the API's version is appended to it */

    b = ngx_pnalloc(cf->pool, p->base_path.len + 3);
    if (b == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(b, p->base_path.data, p->base_path.len);
    ngx_memcpy(b + p->base_path.len, "/v1", 3);

    p->base_path.data = b;
    p->base_path.len += 3;

    return NGX_OK;
}
