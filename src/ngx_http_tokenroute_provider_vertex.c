
/*
 * Copyright (C) tokenroute authors
 *
 * Claude on Google Vertex AI (ngx_http_tokenroute_provider_vertex.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_provider_vertex.h"
#include "ngx_http_tokenroute_vertex_token.h"
#include "tokenroute_jwt.h"
#include "tokenroute_vertex.h"


#define NGX_HTTP_TOKENROUTE_VERTEX_FILE_MAX  65536


static ngx_int_t ngx_http_tokenroute_vertex_read(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *text);
static ngx_int_t ngx_http_tokenroute_vertex_token_url(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov,
    ngx_http_tokenroute_vertex_conf_t *vcf);
static void ngx_http_tokenroute_vertex_key_free(void *data);
static ngx_int_t ngx_http_tokenroute_vertex_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* registered with the module's own by ngx_http_tokenroute_variables.c */

ngx_http_variable_t  ngx_http_tokenroute_vertex_vars[] = {

    { ngx_string("tokenroute_vertex_token_url"), NULL,
      ngx_http_tokenroute_vertex_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_vertex_token_host"), NULL,
      ngx_http_tokenroute_vertex_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_vertex_token_sni"), NULL,
      ngx_http_tokenroute_vertex_variable, 2,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("tokenroute_vertex_token_body"), NULL,
      ngx_http_tokenroute_vertex_variable, 3,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_tokenroute_vertex_param(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov, ngx_str_t *param)
{
    ngx_http_tokenroute_vertex_conf_t  *vcf;

    if (param->len <= sizeof("credentials_file=") - 1
        || ngx_strncmp(param->data, "credentials_file=",
                       sizeof("credentials_file=") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    vcf = prov->type_conf;

    if (vcf == NULL) {
        vcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tokenroute_vertex_conf_t));
        if (vcf == NULL) {
            return NGX_ERROR;
        }

        prov->type_conf = vcf;
    }

    if (vcf->credentials_file.len) {
        return NGX_DECLINED;
    }

    vcf->credentials_file.data = param->data + sizeof("credentials_file=") - 1;
    vcf->credentials_file.len = param->len - (sizeof("credentials_file=") - 1);

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_vertex_init(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov)
{
    int                                 rc;
    ngx_str_t                           text;
    EVP_MD_CTX                         *md;
    tokenroute_sa_t                     sa;
    ngx_pool_cleanup_t                 *cln;
    ngx_http_tokenroute_vertex_conf_t  *vcf;
    char                                err[128];

    vcf = prov->type_conf;

    if (vcf == NULL || vcf->credentials_file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\" of type=vertex needs "
                           "credentials_file= (a service account's key)",
                           &prov->name);
        return NGX_ERROR;
    }

    if (ngx_strlcasestrn(prov->base_path.data,
                         prov->base_path.data + prov->base_path.len,
                         (u_char *) "/locations/", 11 - 1) == NULL
        || ngx_strlcasestrn(prov->base_path.data,
                            prov->base_path.data + prov->base_path.len,
                            (u_char *) "/projects/", 10 - 1) == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": a vertex url ends with "
                           "/v1/projects/PROJECT/locations/REGION",
                           &prov->name);
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_vertex_read(cf, &vcf->credentials_file, &text)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = tokenroute_sa_parse((char *) text.data, text.len, &sa, err,
                             sizeof(err));

    ngx_explicit_memzero(text.data, text.len);

    if (rc == -2) {
        return NGX_ERROR;
    }

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": credentials file \"%V\" %s",
                           &prov->name, &vcf->credentials_file, err);
        return NGX_ERROR;
    }

    vcf->key = tokenroute_jwt_key(sa.private_key, ngx_strlen(sa.private_key));

    /* what the key is: its tokens are not another key's */

    md = EVP_MD_CTX_new();

    if (md == NULL
        || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, sa.client_email,
                            ngx_strlen(sa.client_email) + 1) != 1
        || EVP_DigestUpdate(md, sa.private_key,
                            ngx_strlen(sa.private_key) + 1) != 1
        || EVP_DigestUpdate(md, sa.token_uri, ngx_strlen(sa.token_uri)) != 1
        || EVP_DigestFinal_ex(md, vcf->id, NULL) != 1)
    {
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(vcf->key);
        tokenroute_sa_free(&sa);
        return NGX_ERROR;
    }

    EVP_MD_CTX_free(md);

    vcf->client_email.len = ngx_strlen(sa.client_email);
    vcf->client_email.data = ngx_pnalloc(cf->pool, vcf->client_email.len + 1);
    vcf->aud.len = ngx_strlen(sa.token_uri);
    vcf->aud.data = ngx_pnalloc(cf->pool, vcf->aud.len + 1);

    if (vcf->client_email.data) {
        ngx_memcpy(vcf->client_email.data, sa.client_email,
                   vcf->client_email.len + 1);
    }

    if (vcf->aud.data) {
        ngx_memcpy(vcf->aud.data, sa.token_uri, vcf->aud.len + 1);
    }

    tokenroute_sa_free(&sa);

    if (vcf->key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": credentials file \"%V\": "
                           "\"private_key\" is not an RSA private key in PEM",
                           &prov->name, &vcf->credentials_file);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(vcf->key);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tokenroute_vertex_key_free;
    cln->data = vcf->key;

    if (vcf->aud.data == NULL || vcf->client_email.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_vertex_token_url(cf, prov, vcf) != NGX_OK) {
        return NGX_ERROR;
    }

    vcf->zone = ngx_http_tokenroute_vertex_zone(cf);
    if (vcf->zone == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_tokenroute_vertex_key_free(void *data)
{
    EVP_PKEY_free(data);
}


static ngx_int_t
ngx_http_tokenroute_vertex_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *text)
{
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    /* a directive's argument ends in a NUL: a file name as it is */

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) == 0
        || ngx_file_size(&fi) > NGX_HTTP_TOKENROUTE_VERTEX_FILE_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "credentials file \"%V\" must hold 1 to %d bytes",
                           name, NGX_HTTP_TOKENROUTE_VERTEX_FILE_MAX);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    text->len = ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->temp_pool, text->len);
    if (text->data == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, text->data, text->len, 0);

    ngx_close_file(fd);

    if (n != (ssize_t) text->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot read credentials file \"%V\"", name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * token_uri, http[s]://host[:port]/path, as the token location proxies
 * it: through an implicit upstream of host:port, resolved at start-up as
 * the provider's own url is.
 */

static ngx_int_t
ngx_http_tokenroute_vertex_token_url(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov,
    ngx_http_tokenroute_vertex_conf_t *vcf)
{
    u_char                        *p, *host, *last, *path, *colon;
    size_t                         scheme;
    in_port_t                      port;
    ngx_url_t                      u;
    ngx_http_upstream_srv_conf_t  *uscf;

    p = vcf->aud.data;
    last = p + vcf->aud.len;

    if (vcf->aud.len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
    {
        scheme = 8;
        port = 443;

    } else if (vcf->aud.len > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        scheme = 7;
        port = 80;

    } else {
        goto invalid;
    }

    host = p + scheme;
    path = ngx_strlchr(host, last, '/');

    if (path == NULL) {
        path = last;
    }

    colon = ngx_strlchr(host, path, ':');

    if (colon == host || host == path) {
        goto invalid;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url.data = host;
    u.url.len = path - host;
    u.default_port = port;

    uscf = ngx_http_upstream_add(cf, &u, 0);
    if (uscf == NULL) {
        return NGX_ERROR;
    }

    if (colon) {
        port = (in_port_t) ngx_atoi(colon + 1, path - colon - 1);
    }

    vcf->token_url.data = ngx_pnalloc(cf->pool, vcf->aud.len
                                                + sizeof(":65535") - 1);
    if (vcf->token_url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(vcf->token_url.data, vcf->aud.data, scheme);
    p = ngx_cpymem(p, host, (colon ? colon : path) - host);
    p = ngx_sprintf(p, ":%d", (int) port);
    p = ngx_cpymem(p, path, last - path);
    vcf->token_url.len = p - vcf->token_url.data;

    vcf->token_host.data = host;
    vcf->token_host.len = path - host;
    vcf->token_sni.data = host;
    vcf->token_sni.len = (colon ? colon : path) - host;

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "provider \"%V\": credentials file \"%V\": "
                       "\"token_uri\" is not an http(s) URL", &prov->name,
                       &vcf->credentials_file);

    return NGX_ERROR;
}


/*
 * {base}/publishers/anthropic/models/{upstream_model}:rawPredict, or
 * :streamRawPredict; the body as route() made it for Anthropic, with no
 * model and Vertex's anthropic_version.
 */

ngx_int_t
ngx_http_tokenroute_vertex_route(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    int                              rc;
    char                            *out;
    u_char                          *p;
    size_t                           len;
    ngx_str_t                        method;
    ngx_pool_cleanup_t              *cln;
    ngx_http_tokenroute_provider_t  *prov;

    prov = ctx->model->provider;

    if (ctx->req.stream) {
        ngx_str_set(&method, ":streamRawPredict");

    } else {
        ngx_str_set(&method, ":rawPredict");
    }

    len = prov->base_path.len + sizeof("/publishers/anthropic/models/") - 1
          + ctx->model->upstream_model.len + method.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->upstream_uri.data = p;
    ctx->upstream_uri.len = len;

    p = ngx_cpymem(p, prov->base_path.data, prov->base_path.len);
    p = ngx_cpymem(p, "/publishers/anthropic/models/",
                   sizeof("/publishers/anthropic/models/") - 1);
    p = ngx_cpymem(p, ctx->model->upstream_model.data,
                   ctx->model->upstream_model.len);
    ngx_memcpy(p, method.data, method.len);

    rc = tokenroute_vertex_body((char *) ctx->upstream_body.data,
                                ctx->upstream_body.len, &out, &len);

    if (rc == -2) {
        return NGX_ERROR;
    }

    if (rc != 0) {
        ctx->req_status = TOKENROUTE_REQUEST_INVALID_JSON;
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        free(out);
        return NGX_ERROR;
    }

    cln->handler = free;
    cln->data = out;

    ctx->upstream_body.data = (u_char *) out;
    ctx->upstream_body.len = len;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute vertex: uri \"%V\", body %uz bytes",
                   &ctx->upstream_uri, len);

    return NGX_OK;
}


/* the token location's: only in the subrequest that fetches a token */

static ngx_int_t
ngx_http_tokenroute_vertex_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                           form, value;
    ngx_http_tokenroute_vertex_conf_t  *vcf;

    vcf = ngx_http_tokenroute_vertex_fetching(r, &form);

    if (vcf == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case 0:
        value = vcf->token_url;
        break;

    case 1:
        value = vcf->token_host;
        break;

    case 2:
        value = vcf->token_sni;
        break;

    default:
        value = form;
        break;
    }

    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
