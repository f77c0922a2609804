
/*
 * Copyright (C) tokenroute authors
 *
 * Azure OpenAI providers (type=azure).  Two APIs, told apart by the url:
 *
 *   url=https://RES.openai.azure.com/openai api_version=2024-10-21
 *       the deployments API: /openai/deployments/{upstream_model}/
 *       chat/completions?api-version=V; without api-version Azure
 *       answers 404, so api_version= is required
 *   url=https://RES.openai.azure.com/openai/v1 [api_version=preview]
 *       the v1 API: /openai/v1/chat/completions, the deployment as the
 *       body's "model" (the rewrite puts upstream_model there anyway)
 *
 * The key goes in the "api-key" header ($tokenroute_azure_api_key); the
 * bodies, streams and errors are OpenAI's (prov->shape), with Azure's
 * content filter annotations, which the filters pass on.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_provider_azure.h"
#include "tokenroute_azure.h"


static ngx_http_tokenroute_azure_conf_t *ngx_http_tokenroute_azure_conf(
    ngx_conf_t *cf, ngx_http_tokenroute_provider_t *p);


static ngx_http_tokenroute_azure_conf_t *
ngx_http_tokenroute_azure_conf(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p)
{
    if (p->type_conf == NULL) {
        p->type_conf = ngx_pcalloc(cf->pool,
                                   sizeof(ngx_http_tokenroute_azure_conf_t));
    }

    return p->type_conf;
}


ngx_int_t
ngx_http_tokenroute_azure_param(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p, ngx_str_t *arg)
{
    ngx_str_t                          v;
    ngx_http_tokenroute_azure_conf_t  *azcf;

    if (arg->len <= sizeof("api_version=") - 1
        || ngx_strncmp(arg->data, "api_version=", sizeof("api_version=") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    v.data = arg->data + sizeof("api_version=") - 1;
    v.len = arg->len - (sizeof("api_version=") - 1);

    azcf = ngx_http_tokenroute_azure_conf(cf, p);
    if (azcf == NULL) {
        return NGX_ERROR;
    }

    /* it goes into a query string as written: no character to escape */

    if (azcf->api_version.len
        || !tokenroute_azure_version_valid(v.data, v.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": invalid or duplicate "
                           "api_version (letters, digits, \"-\" and \".\", "
                           "e.g. api_version=2024-10-21)", &p->name);
        return NGX_ERROR;
    }

    azcf->api_version = v;

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_azure_init(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *p)
{
    ngx_http_tokenroute_azure_conf_t  *azcf;

    azcf = ngx_http_tokenroute_azure_conf(cf, p);
    if (azcf == NULL) {
        return NGX_ERROR;
    }

    azcf->v1 = tokenroute_azure_is_v1(p->base_path.data, p->base_path.len);

    if (!azcf->v1 && azcf->api_version.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": Azure's deployments API "
                           "answers 404 without an api-version: add "
                           "api_version= (e.g. api_version=2024-10-21), "
                           "or use the v1 API (a url ending with "
                           "\"/openai/v1\")", &p->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_azure_uri(ngx_http_request_t *r,
    ngx_http_tokenroute_provider_t *p, ngx_str_t *deployment,
    ngx_str_t *endpoint, ngx_str_t *uri)
{
    size_t                             size;
    ngx_http_tokenroute_azure_conf_t  *azcf;

    azcf = p->type_conf;

    size = tokenroute_azure_uri_size(p->base_path.len, deployment->len,
                                     endpoint->len, azcf->api_version.len);

    uri->data = ngx_pnalloc(r->pool, size);
    if (uri->data == NULL) {
        return NGX_ERROR;
    }

    uri->len = tokenroute_azure_uri(uri->data, azcf->v1, p->base_path.data,
                                    p->base_path.len, deployment->data,
                                    deployment->len, endpoint->data,
                                    endpoint->len, azcf->api_version.data,
                                    azcf->api_version.len);

    return NGX_OK;
}
