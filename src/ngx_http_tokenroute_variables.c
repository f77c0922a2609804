
/*
 * Copyright (C) tokenroute authors
 *
 * $tokenroute_* variables: how the access phase hands its decision to
 * nginx's proxy (upstream, URI, body, provider credentials) and what the
 * access log may record.  Never the client's raw key.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_deployment.h"
#include "ngx_http_tokenroute_key.h"
#include "ngx_http_tokenroute_provider_vertex.h"
#include "ngx_http_tokenroute_provider_bedrock.h"
#include "ngx_http_tokenroute_variables.h"
#include "tokenroute_money.h"


typedef enum {
    ngx_http_tokenroute_var_upstream = 0,
    ngx_http_tokenroute_var_upstream_uri,
    ngx_http_tokenroute_var_upstream_host,
    ngx_http_tokenroute_var_body,
    ngx_http_tokenroute_var_authorization,
    ngx_http_tokenroute_var_api_key,
    ngx_http_tokenroute_var_anthropic_version,
    ngx_http_tokenroute_var_anthropic_beta,
    ngx_http_tokenroute_var_amz_date,
    ngx_http_tokenroute_var_amz_security_token,
    ngx_http_tokenroute_var_key_id,
    ngx_http_tokenroute_var_account,
    ngx_http_tokenroute_var_tenant,
    ngx_http_tokenroute_var_model,
    ngx_http_tokenroute_var_served_model,
    ngx_http_tokenroute_var_deployment,
    ngx_http_tokenroute_var_provider,
    ngx_http_tokenroute_var_request_id,
    ngx_http_tokenroute_var_input_tokens,
    ngx_http_tokenroute_var_output_tokens,
    ngx_http_tokenroute_var_cached_tokens,
    ngx_http_tokenroute_var_cost,
    ngx_http_tokenroute_var_estimated,
    ngx_http_tokenroute_var_attempts,
    ngx_http_tokenroute_var_reserved,
    ngx_http_tokenroute_var_unbilled,
    ngx_http_tokenroute_var_clamped,
    ngx_http_tokenroute_var_cache_write_tokens,
    ngx_http_tokenroute_var_cache_write_1h_tokens,
    ngx_http_tokenroute_var_azure_api_key,
    ngx_http_tokenroute_var_upstream_headers,
    ngx_http_tokenroute_var_upstream_url,
    ngx_http_tokenroute_var_upstream_host_headers,
    ngx_http_tokenroute_var_proxy_pass
} ngx_http_tokenroute_var_e;


/*
 * The provider's headers, in the order tokenroute_proxy.conf sent them
 * one proxy_set_header each (an empty one is not sent): one variable is
 * one header line for nginx's script engine, which costs about 400
 * instructions a line even when the value is empty.
 */

typedef struct {
    ngx_str_t    name;
    ngx_uint_t   var;
} ngx_http_tokenroute_header_var_t;


static ngx_http_tokenroute_header_var_t  ngx_http_tokenroute_header_vars[] = {
    { ngx_string("Authorization"), ngx_http_tokenroute_var_authorization },
    { ngx_string("x-api-key"), ngx_http_tokenroute_var_api_key },
    { ngx_string("api-key"), ngx_http_tokenroute_var_azure_api_key },
    { ngx_string("anthropic-version"),
      ngx_http_tokenroute_var_anthropic_version },
    { ngx_string("anthropic-beta"), ngx_http_tokenroute_var_anthropic_beta },
    { ngx_string("x-amz-date"), ngx_http_tokenroute_var_amz_date },
    { ngx_string("x-amz-security-token"),
      ngx_http_tokenroute_var_amz_security_token }
};


#define NGX_HTTP_TOKENROUTE_CONTENT_TYPE  "application/json"
#define NGX_HTTP_TOKENROUTE_CT_LINE       CRLF "Content-Type: "
#define NGX_HTTP_TOKENROUTE_HEADER_VARS                                       \
    (sizeof(ngx_http_tokenroute_header_vars)                                  \
     / sizeof(ngx_http_tokenroute_header_var_t))


static ngx_int_t ngx_http_tokenroute_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tokenroute_header_value(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t data, ngx_str_t *value);
static ngx_int_t ngx_http_tokenroute_upstream_headers(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_variable_value_t *v,
    ngx_uint_t host);
static ngx_int_t ngx_http_tokenroute_url_value(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_tokenroute_anthropic_version(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_table_elt_t *ngx_http_tokenroute_beta_next(ngx_list_part_t **part,
    ngx_uint_t *i);
static ngx_int_t ngx_http_tokenroute_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_tokenroute_vars[] = {

    { ngx_string("tokenroute_upstream"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_upstream,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_upstream_uri"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_upstream_uri,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_upstream_host"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_upstream_host,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_body"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_body,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_provider_authorization"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_authorization,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_provider_api_key"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_api_key,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_anthropic_version"), NULL,
      ngx_http_tokenroute_variable,
      ngx_http_tokenroute_var_anthropic_version,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_anthropic_beta"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_anthropic_beta,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_amz_date"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_amz_date,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_amz_security_token"), NULL,
      ngx_http_tokenroute_variable,
      ngx_http_tokenroute_var_amz_security_token,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_key_id"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_key_id,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_account"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_account,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_tenant"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_tenant,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_model"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_model,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_served_model"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_served_model,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_deployment"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_deployment,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_provider"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_provider,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_request_id"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_request_id,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_input_tokens"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_input_tokens, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_output_tokens"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_output_tokens, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_cached_tokens"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_cached_tokens, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_cost"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_cost, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_usage_estimated"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_estimated, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_attempts"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_attempts, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_reserved"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_reserved, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_unbilled_cost"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_unbilled, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_usage_clamped"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_clamped, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_cache_write_tokens"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_cache_write_tokens, NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("tokenroute_cache_write_1h_tokens"), NULL,
      ngx_http_tokenroute_usage_variable,
      ngx_http_tokenroute_var_cache_write_1h_tokens,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tokenroute_azure_api_key"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_azure_api_key,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    /* NOHASH: one more name overfills nginx's default variables_hash */

    { ngx_string("tokenroute_upstream_url"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_upstream_url,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_upstream_headers"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_upstream_headers,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_proxy_pass"), NULL,
      ngx_http_tokenroute_variable, ngx_http_tokenroute_var_proxy_pass,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_upstream_host_headers"), NULL,
      ngx_http_tokenroute_variable,
      ngx_http_tokenroute_var_upstream_host_headers,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_tokenroute_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *tables[2], *var, *v;
    ngx_uint_t            i;

    /* the module's own, and the vertex token location's */

    tables[0] = ngx_http_tokenroute_vars;
    tables[1] = ngx_http_tokenroute_vertex_vars;

    for (i = 0; i < 2; i++) {
        for (v = tables[i]; v->name.len; v++) {
            var = ngx_http_add_variable(cf, &v->name, v->flags);
            if (var == NULL) {
                return NGX_ERROR;
            }

            var->get_handler = v->get_handler;
            var->data = v->data;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                        value;
    ngx_http_tokenroute_ctx_t       *ctx;
    ngx_http_tokenroute_provider_t  *prov;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_tokenroute_module);

    if (ctx == NULL) {
        if (data == ngx_http_tokenroute_var_upstream_headers) {
            return ngx_http_tokenroute_upstream_headers(r, NULL, v, 0);
        }

        v->not_found = 1;
        return NGX_OK;
    }

    prov = ctx->model ? ctx->model->provider : NULL;

    ngx_str_null(&value);

    switch (data) {

    case ngx_http_tokenroute_var_upstream:
        if (prov) {
            value = prov->upstream;
        }
        break;

    case ngx_http_tokenroute_var_upstream_uri:
        value = ctx->upstream_uri;
        break;

    case ngx_http_tokenroute_var_upstream_host:
        if (prov) {
            value = prov->host;
        }
        break;

    case ngx_http_tokenroute_var_body:
        value = ctx->upstream_body;
        break;

    case ngx_http_tokenroute_var_upstream_headers:
        return ngx_http_tokenroute_upstream_headers(r, ctx, v, 0);

    case ngx_http_tokenroute_var_upstream_host_headers:
        return ngx_http_tokenroute_upstream_headers(r, ctx, v, 1);

    case ngx_http_tokenroute_var_upstream_url:
        if (prov
            && ngx_http_tokenroute_url_value(r, ctx, &value) != NGX_OK)
        {
            return NGX_ERROR;
        }
        break;

    case ngx_http_tokenroute_var_proxy_pass:
        if (prov == NULL) {
            break;
        }

        if (ngx_http_tokenroute_url_value(r, ctx, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        /*
         * The URI is the client's own, byte for byte (no arguments, no
         * escapes nginx would have decoded): proxy_pass without a URI
         * sends that unparsed URI itself, and nginx parses a shorter URL
         */

        if (r->valid_unparsed_uri
            && r->unparsed_uri.len == ctx->upstream_uri.len
            && ngx_memcmp(r->unparsed_uri.data, ctx->upstream_uri.data,
                          ctx->upstream_uri.len) == 0)
        {
            value.len = prov->upstream.len;
        }

        break;

    case ngx_http_tokenroute_var_key_id:
        value = ctx->key.id;
        break;

    case ngx_http_tokenroute_var_account:
        value = ctx->key.account;
        break;

    case ngx_http_tokenroute_var_tenant:
        value = ctx->key.tenant;
        break;

    case ngx_http_tokenroute_var_model:
        value.data = (u_char *) ctx->req.model;
        value.len = ctx->req.model_len;
        break;

    case ngx_http_tokenroute_var_served_model:
        if (ctx->decided) {
            value = ngx_http_tokenroute_public(ctx->model)->id;
        }
        break;

    case ngx_http_tokenroute_var_deployment:
        /* a model with provider= is its own deployment, of its id */
        if (ctx->decided) {
            value = ctx->model->id;
        }
        break;

    case ngx_http_tokenroute_var_provider:
        if (prov) {
            value = prov->name;
        }
        break;

    case ngx_http_tokenroute_var_request_id:
        value.data = ctx->request_id;
        value.len = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;
        break;

    default:
        if (ngx_http_tokenroute_header_value(r, ctx, data, &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (value.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * $tokenroute_upstream$tokenroute_upstream_uri in one variable, which
 * costs nginx's proxy_pass one evaluation instead of two: route.c wrote
 * the URI right after a copy of the upstream; a URI made elsewhere (Azure,
 * Bedrock, vertex) is joined to it here.
 */

static ngx_int_t
ngx_http_tokenroute_url_value(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_str_t *value)
{
    u_char                          *p;
    ngx_str_t                       *up, *uri, *url;
    ngx_http_tokenroute_provider_t  *prov;

    prov = ctx->model->provider;

    up = &prov->upstream;
    uri = &ctx->upstream_uri;
    url = &ctx->upstream_url;

    /*
     * route.c clears the URL at each attempt and writes it for the
     * attempt's provider only: a URI within it, right after the upstream,
     * was made with this provider's upstream in front
     */

    if (url->len == up->len + uri->len && url->data + up->len == uri->data) {
        *value = *url;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, up->len + uri->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;
    value->len = up->len + uri->len;

    p = ngx_cpymem(p, up->data, up->len);
    ngx_memcpy(p, uri->data, uri->len);

    return NGX_OK;
}


/* the value of one provider header's variable: empty if not sent */

static ngx_int_t
ngx_http_tokenroute_header_value(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t data, ngx_str_t *value)
{
    ngx_http_tokenroute_provider_t      *prov;
    ngx_http_tokenroute_bedrock_conf_t  *bc;

    prov = ctx->model ? ctx->model->provider : NULL;

    ngx_str_null(value);

    switch (data) {

    case ngx_http_tokenroute_var_authorization:
        /* a signature or a token made for this attempt, else the key's */
        if (ctx->upstream_authorization.len) {
            *value = ctx->upstream_authorization;

        } else if (prov) {
            *value = prov->authorization;
        }
        break;

    case ngx_http_tokenroute_var_api_key:
        if (prov && prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC) {
            *value = prov->api_key;
        }
        break;

    case ngx_http_tokenroute_var_azure_api_key:
        if (prov && prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_AZURE) {
            *value = prov->api_key;
        }
        break;

    case ngx_http_tokenroute_var_anthropic_version:
        if (prov && prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC) {
            if (ngx_http_tokenroute_anthropic_version(r, value) != NGX_OK) {
                return NGX_ERROR;
            }
        }
        break;

    case ngx_http_tokenroute_var_anthropic_beta:
        /* Vertex takes the betas in the header too */
        if (prov && (prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_ANTHROPIC
                     || prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_VERTEX))
        {
            if (ngx_http_tokenroute_anthropic_beta(r, value) != NGX_OK) {
                return NGX_ERROR;
            }
        }
        break;

    case ngx_http_tokenroute_var_amz_date:
        /* Bedrock's, when this attempt is signed */
        if (prov && prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK
            && ctx->upstream_authorization.len)
        {
            *value = ctx->upstream_amz_date;
        }
        break;

    case ngx_http_tokenroute_var_amz_security_token:
        if (prov && prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_BEDROCK
            && ctx->upstream_authorization.len)
        {
            bc = prov->type_conf;
            *value = bc->session_token;
        }
        break;
    }

    return NGX_OK;
}


/*
 * $tokenroute_upstream_headers: the Content-Type value, then the
 * provider's headers that are not empty, each after a CRLF and its name
 * ("application/json\r\nAuthorization: Bearer KEY"), so that the one
 * line "proxy_set_header Content-Type $tokenroute_upstream_headers;"
 * sends what the eight lines of one header each sent.  No value holds a
 * CR or LF: nginx refuses them in a client's header, and the others come
 * from the configuration, a signature or a token endpoint's JSON string,
 * as they did in their own lines.
 *
 * $tokenroute_upstream_host_headers ("host" set): the provider's host and
 * "\r\nContent-Type: " in front, for the one line "proxy_set_header Host
 * $tokenroute_upstream_host_headers;" that sends what the lines of Host
 * and Content-Type sent, in the same order.  Without a provider it is
 * empty: proxy_pass then has no URL and nothing is sent.
 */

static ngx_int_t
ngx_http_tokenroute_upstream_headers(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_variable_value_t *v,
    ngx_uint_t host)
{
    u_char                            *p, *start;
    size_t                             len, head;
    ngx_str_t                          values[
                                           NGX_HTTP_TOKENROUTE_HEADER_VARS];
    ngx_uint_t                         i, n, cache;
    ngx_pool_t                        *pool;
    ngx_http_tokenroute_provider_t    *prov;
    ngx_http_tokenroute_header_var_t  *h;

    prov = (ctx && ctx->model) ? ctx->model->provider : NULL;

    if (host && prov == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* the host and the Content-Type line's name, in front of the value */

    head = prov ? prov->host.len + sizeof(NGX_HTTP_TOKENROUTE_CT_LINE) - 1
                : 0;

    /*
     * An OpenAI or Azure provider's headers are its key's alone, unless
     * the attempt has an Authorization of its own: made once per worker,
     * kept with the provider (the cycle's configuration, as long as it),
     * the head in front of them, which prov->headers does not include.
     */

    cache = (prov && ctx->upstream_authorization.len == 0
             && (prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_OPENAI
                 || prov->type == NGX_HTTP_TOKENROUTE_PROVIDER_AZURE));

    if (cache && prov->headers.len) {
        start = prov->headers.data;
        len = prov->headers.len;
        goto done;
    }

    n = NGX_HTTP_TOKENROUTE_HEADER_VARS;
    len = sizeof(NGX_HTTP_TOKENROUTE_CONTENT_TYPE) - 1;

    for (i = 0; i < n; i++) {
        h = &ngx_http_tokenroute_header_vars[i];

        if (ctx == NULL) {
            values[i].len = 0;
            continue;
        }

        if (ngx_http_tokenroute_header_value(r, ctx, h->var, &values[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (values[i].len) {
            len += sizeof(CRLF) - 1 + h->name.len + sizeof(": ") - 1
                   + values[i].len;
        }
    }

    pool = cache ? ngx_cycle->pool : r->pool;

    p = ngx_pnalloc(pool, head + len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (head) {
        p = ngx_cpymem(p, prov->host.data, prov->host.len);
        p = ngx_cpymem(p, NGX_HTTP_TOKENROUTE_CT_LINE,
                       sizeof(NGX_HTTP_TOKENROUTE_CT_LINE) - 1);
    }

    start = p;

    p = ngx_cpymem(p, NGX_HTTP_TOKENROUTE_CONTENT_TYPE,
                   sizeof(NGX_HTTP_TOKENROUTE_CONTENT_TYPE) - 1);

    for (i = 0; i < n; i++) {
        if (values[i].len == 0) {
            continue;
        }

        h = &ngx_http_tokenroute_header_vars[i];

        *p++ = CR; *p++ = LF;
        p = ngx_cpymem(p, h->name.data, h->name.len);
        *p++ = ':'; *p++ = ' ';
        p = ngx_cpymem(p, values[i].data, values[i].len);
    }

    len = p - start;

    if (cache) {
        prov->headers.data = start;
        prov->headers.len = len;
    }

done:

    if (host) {
        start -= head;
        len += head;
    }

    v->data = start;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* the client's anthropic-version, or the configured default */

static ngx_int_t
ngx_http_tokenroute_anthropic_version(ngx_http_request_t *r,
    ngx_str_t *value)
{
    ngx_table_elt_t                  *h;
    ngx_http_tokenroute_main_conf_t  *trmcf;

    static ngx_str_t  name = ngx_string("anthropic-version");

    h = ngx_http_tokenroute_header_in(&r->headers_in.headers, &name);

    if (h && h->value.len) {
        *value = h->value;
        return NGX_OK;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tokenroute_module);

    *value = trmcf->anthropic_version;

    return NGX_OK;
}


/*
 * The client's anthropic-beta, sent on to Anthropic-type providers:
 * several headers are joined with commas, as Anthropic reads them.  The
 * access phase refused a value that holds a tokenroute key.
 */

ngx_int_t
ngx_http_tokenroute_anthropic_beta(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *first;

    len = 0;
    n = 0;
    first = NULL;

    part = &r->headers_in.headers.part;
    i = 0;

    while ((h = ngx_http_tokenroute_beta_next(&part, &i))) {
        len += h->value.len + 1;
        first = first ? first : h;
        n++;
    }

    if (n <= 1) {
        /* the usual case: one header, no copy */

        if (first) {
            *value = first->value;
        }

        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;

    part = &r->headers_in.headers.part;
    i = 0;

    while ((h = ngx_http_tokenroute_beta_next(&part, &i))) {
        if (p != value->data) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, h->value.data, h->value.len);
    }

    value->len = p - value->data;

    return NGX_OK;
}


/* the next non-empty anthropic-beta header from the cursor, or NULL */

static ngx_table_elt_t *
ngx_http_tokenroute_beta_next(ngx_list_part_t **part, ngx_uint_t *i)
{
    ngx_table_elt_t  *h;

    for ( ;; ) {

        if (*i >= (*part)->nelts) {
            if ((*part)->next == NULL) {
                return NULL;
            }

            *part = (*part)->next;
            *i = 0;
            continue;
        }

        h = &((ngx_table_elt_t *) (*part)->elts)[(*i)++];

        if (h->key.len == sizeof("anthropic-beta") - 1
            && h->value.len
            && ngx_strncasecmp(h->key.data, (u_char *) "anthropic-beta",
                               sizeof("anthropic-beta") - 1)
               == 0)
        {
            return h;
        }
    }
}


/*
 * Usage and cost are final once the response is over: the log handler
 * settles before the access log runs.  Asked earlier (add_header), they
 * are not yet known and are empty.
 */

static ngx_int_t
ngx_http_tokenroute_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p;
    int64_t                     n;
    ngx_http_tokenroute_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_tokenroute_module);

    if (ctx == NULL || ctx->verdict != NGX_HTTP_TOKENROUTE_VERDICT_OK
        || (!ctx->usage_done && data != ngx_http_tokenroute_var_reserved
            && data != ngx_http_tokenroute_var_attempts))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, TOKENROUTE_MONEY_BUF_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    switch (data) {

    case ngx_http_tokenroute_var_input_tokens:
        n = tokenroute_usage_input(&ctx->usage);
        break;

    case ngx_http_tokenroute_var_output_tokens:
        n = ctx->usage.output_tokens;
        break;

    case ngx_http_tokenroute_var_cached_tokens:
        n = ctx->usage.cached_tokens;
        break;

    case ngx_http_tokenroute_var_estimated:
        n = ctx->estimated;
        break;

    case ngx_http_tokenroute_var_cache_write_tokens:
        n = ctx->usage.cache_write_tokens;
        break;

    case ngx_http_tokenroute_var_cache_write_1h_tokens:
        n = ctx->usage.cache_write_1h_tokens;
        break;

    case ngx_http_tokenroute_var_clamped:
        n = ctx->clamped;
        break;

    case ngx_http_tokenroute_var_unbilled:
        v->len = tokenroute_money_format_usd(ctx->unbilled, (char *) p,
                                             TOKENROUTE_MONEY_BUF_LEN);
        goto done;

    case ngx_http_tokenroute_var_attempts:
        n = ctx->attempts;
        break;

    case ngx_http_tokenroute_var_reserved:
        v->len = tokenroute_money_format_usd(ctx->reserve, (char *) p,
                                             TOKENROUTE_MONEY_BUF_LEN);
        goto done;

    default: /* cost */
        v->len = tokenroute_money_format_usd(ctx->cost, (char *) p,
                                             TOKENROUTE_MONEY_BUF_LEN);
        goto done;
    }

    v->len = ngx_sprintf(p, "%L", n) - p;

done:

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
