
/*
 * Copyright (C) tokenroute authors
 *
 * Claude on AWS Bedrock: InvokeModel (/model/{id}/invoke) and
 * InvokeModelWithResponseStream (/invoke-with-response-stream), the body
 * in Anthropic's shape as Bedrock takes it (tokenroute_bedrock.c), signed
 * with AWS Signature Version 4 for each attempt (tokenroute_sigv4.c): the
 * signature covers the host, x-amz-date, the session token and the body.
 * A Bedrock API key (key_env=, key_file=) is sent as a bearer token
 * instead, unsigned.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_conf.h"
#include "ngx_http_tokenroute_provider_bedrock.h"
#include "ngx_http_tokenroute_variables.h"
#include "tokenroute_bedrock.h"
#include "tokenroute_sigv4.h"


static ngx_int_t ngx_http_tokenroute_bedrock_region(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov,
    ngx_http_tokenroute_bedrock_conf_t *bc);
static ngx_int_t ngx_http_tokenroute_bedrock_env(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov,
    ngx_http_tokenroute_bedrock_conf_t *bc);
static ngx_int_t ngx_http_tokenroute_bedrock_file(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov,
    ngx_http_tokenroute_bedrock_conf_t *bc);
static ngx_http_tokenroute_bedrock_conf_t *ngx_http_tokenroute_bedrock_conf(
    ngx_conf_t *cf, ngx_http_tokenroute_provider_t *prov);
static ngx_int_t ngx_http_tokenroute_bedrock_copy(ngx_conf_t *cf,
    ngx_str_t *dst, const char *p, size_t len);
static ngx_int_t ngx_http_tokenroute_bedrock_hash(ngx_conf_t *cf,
    ngx_http_tokenroute_bedrock_conf_t *bc);
static void ngx_http_tokenroute_bedrock_hash_free(void *data);
static ngx_int_t ngx_http_tokenroute_bedrock_sign(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_bedrock_conf_t *bc);


/* the provider's bedrock settings, made by its first parameter or init */

static ngx_http_tokenroute_bedrock_conf_t *
ngx_http_tokenroute_bedrock_conf(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov)
{
    if (prov->type_conf == NULL) {
        prov->type_conf = ngx_pcalloc(cf->pool,
                              sizeof(ngx_http_tokenroute_bedrock_conf_t));
    }

    return prov->type_conf;
}


ngx_int_t
ngx_http_tokenroute_bedrock_param(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov, ngx_str_t *arg)
{
    ngx_str_t                           *field;
    ngx_http_tokenroute_bedrock_conf_t  *bc;

    bc = ngx_http_tokenroute_bedrock_conf(cf, prov);
    if (bc == NULL) {
        return NGX_ERROR;
    }

    if (arg->len > 7 && ngx_strncmp(arg->data, "region=", 7) == 0) {
        field = &bc->region;

    } else if (arg->len > 17
               && ngx_strncmp(arg->data, "credentials_file=", 17) == 0)
    {
        field = &bc->credentials_file;

    } else if (arg->len > 8 && ngx_strncmp(arg->data, "profile=", 8) == 0) {
        field = &bc->profile;

    } else {
        return NGX_DECLINED;
    }

    if (field->len) {
        return NGX_DECLINED;
    }

    field->data = (u_char *) ngx_strlchr(arg->data, arg->data + arg->len, '=')
                  + 1;
    field->len = arg->data + arg->len - field->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_bedrock_init(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov, ngx_str_t *key)
{
    u_char                              *p;
    ngx_http_tokenroute_bedrock_conf_t  *bc;

    bc = ngx_http_tokenroute_bedrock_conf(cf, prov);
    if (bc == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_tokenroute_bedrock_region(cf, prov, bc) != NGX_OK) {
        return NGX_ERROR;
    }

    if (bc->profile.len && bc->credentials_file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": profile= needs credentials_file=",
                           &prov->name);
        return NGX_ERROR;
    }

    if (key->len) {
        /* a Bedrock API key: a bearer token, nothing signed */

        if (bc->credentials_file.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "provider \"%V\": an API key (key_env=, "
                               "key_file=) or credentials_file=, not both",
                               &prov->name);
            return NGX_ERROR;
        }

        prov->authorization.len = sizeof("Bearer ") - 1 + key->len;
        prov->authorization.data = ngx_pnalloc(cf->pool,
                                               prov->authorization.len);
        if (prov->authorization.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(prov->authorization.data, "Bearer ",
                       sizeof("Bearer ") - 1);
        ngx_memcpy(p, key->data, key->len);

        return NGX_OK;
    }

    if (bc->credentials_file.len) {
        if (ngx_http_tokenroute_bedrock_file(cf, prov, bc) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ngx_http_tokenroute_bedrock_env(cf, prov, bc) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_tokenroute_bedrock_hash(cf, bc);
}


/*
 * The SHA-256 digest fetched and the contexts made once, with the
 * configuration (and freed with it), not per request: a fetch costs more
 * than hashing a request's headers.
 */

static ngx_int_t
ngx_http_tokenroute_bedrock_hash(ngx_conf_t *cf,
    ngx_http_tokenroute_bedrock_conf_t *bc)
{
    ngx_pool_cleanup_t  *cln;

    if (bc->access_key.len == 0 || bc->hash_ready) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    if (tokenroute_sigv4_hash_init(&bc->hash) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot make a SHA-256 context (libcrypto)");
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tokenroute_bedrock_hash_free;
    cln->data = bc;
    bc->hash_ready = 1;

    return NGX_OK;
}


static void
ngx_http_tokenroute_bedrock_hash_free(void *data)
{
    ngx_http_tokenroute_bedrock_conf_t  *bc = data;

    tokenroute_sigv4_hash_free(&bc->hash);
    bc->hash_ready = 0;
}


/* region=, else the url's host: bedrock-runtime[-fips].REGION.amazonaws.com */

static ngx_int_t
ngx_http_tokenroute_bedrock_region(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov,
    ngx_http_tokenroute_bedrock_conf_t *bc)
{
    u_char  *p, *last, *dot;

    if (bc->region.len == 0) {
        p = prov->host.data;
        last = p + prov->host.len;

        if (prov->host.len > 16
            && ngx_strncmp(p, "bedrock-runtime.", 16) == 0)
        {
            p += 16;

        } else if (prov->host.len > 21
                   && ngx_strncmp(p, "bedrock-runtime-fips.", 21) == 0)
        {
            p += 21;

        } else {
            p = NULL;
        }

        dot = p ? ngx_strlchr(p, last, '.') : NULL;

        if (dot == NULL || dot == p) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "provider \"%V\": type=bedrock needs "
                               "region= when the url's host is not "
                               "bedrock-runtime.REGION.amazonaws.com",
                               &prov->name);
            return NGX_ERROR;
        }

        bc->region.data = p;
        bc->region.len = dot - p;
    }

    for (p = bc->region.data; p < bc->region.data + bc->region.len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '-'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "provider \"%V\": invalid region \"%V\"",
                               &prov->name, &bc->region);
            return NGX_ERROR;
        }
    }

    /* NUL-terminated for the signer */
    return ngx_http_tokenroute_bedrock_copy(cf, &bc->region,
                                            (char *) bc->region.data,
                                            bc->region.len);
}


/*
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, as
 * key_env= reads a key: missing is a warning for "nginx -t", nothing for
 * a signaller, an error for a start or a reload.
 */

static ngx_int_t
ngx_http_tokenroute_bedrock_env(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov,
    ngx_http_tokenroute_bedrock_conf_t *bc)
{
    char  *id, *secret, *token;

    id = getenv("AWS_ACCESS_KEY_ID");
    secret = getenv("AWS_SECRET_ACCESS_KEY");
    token = getenv("AWS_SESSION_TOKEN");

    if (id == NULL || *id == '\0' || secret == NULL || *secret == '\0') {

        if (ngx_process == NGX_PROCESS_SIGNALLER) {
            return NGX_OK;
        }

        ngx_conf_log_error(ngx_test_config ? NGX_LOG_WARN : NGX_LOG_EMERG,
                           cf, 0, "provider \"%V\": environment variables "
                           "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are "
                           "not set (or use credentials_file=)", &prov->name);

        return ngx_test_config ? NGX_OK : NGX_ERROR;
    }

    if (ngx_http_tokenroute_bedrock_copy(cf, &bc->access_key, id,
                                         ngx_strlen(id)) != NGX_OK
        || ngx_http_tokenroute_bedrock_copy(cf, &bc->secret_key, secret,
                                            ngx_strlen(secret)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (token && *token) {
        return ngx_http_tokenroute_bedrock_copy(cf, &bc->session_token, token,
                                                ngx_strlen(token));
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_bedrock_file(ngx_conf_t *cf,
    ngx_http_tokenroute_provider_t *prov,
    ngx_http_tokenroute_bedrock_conf_t *bc)
{
    int                            rc;
    u_char                        *name, *text;
    ssize_t                        n;
    ngx_fd_t                       fd;
    ngx_str_t                      profile;
    ngx_file_t                     file;
    ngx_file_info_t                fi;
    tokenroute_aws_credentials_t   cred;

    name = ngx_pnalloc(cf->pool, bc->credentials_file.len + 1);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(name, bc->credentials_file.data,
                bc->credentials_file.len + 1);

    fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name.data = name;
    file.name.len = bc->credentials_file.len;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) == 0 || ngx_file_size(&fi) > 65536)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "credentials file \"%s\" must hold 1 to 65536 "
                           "bytes", name);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    text = ngx_pnalloc(cf->temp_pool, ngx_file_size(&fi));
    if (text == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, text, ngx_file_size(&fi), 0);

    ngx_close_file(fd);

    if (n != ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot read credentials file \"%s\"", name);
        return NGX_ERROR;
    }

    profile = bc->profile;

    if (profile.len == 0) {
        ngx_str_set(&profile, "default");
    }

    rc = tokenroute_aws_credentials_parse((char *) text, n,
                                          (char *) profile.data, profile.len,
                                          &cred);

    if (rc != 0) {
        /* the file's contents are never echoed */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "provider \"%V\": credentials file \"%s\" %s "
                           "profile \"%V\"", &prov->name, name,
                           rc == -1 ? "has no"
                                    : "lacks aws_access_key_id or "
                                      "aws_secret_access_key in",
                           &profile);
        ngx_memzero(text, n);
        return NGX_ERROR;
    }

    rc = (ngx_http_tokenroute_bedrock_copy(cf, &bc->access_key,
                                           cred.access_key,
                                           cred.access_key_len) != NGX_OK
          || ngx_http_tokenroute_bedrock_copy(cf, &bc->secret_key,
                                              cred.secret_key,
                                              cred.secret_key_len) != NGX_OK
          || (cred.session_token
              && ngx_http_tokenroute_bedrock_copy(cf, &bc->session_token,
                                                  cred.session_token,
                                                  cred.session_token_len)
                 != NGX_OK));

    ngx_memzero(text, n);

    return rc ? NGX_ERROR : NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_bedrock_copy(ngx_conf_t *cf, ngx_str_t *dst,
    const char *p, size_t len)
{
    u_char  *s;

    s = ngx_pnalloc(cf->pool, len + 1);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s, p, len);
    s[len] = '\0';

    dst->data = s;
    dst->len = len;

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_bedrock_route(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char                              *p, *body;
    size_t                               len;
    ngx_str_t                            beta, op;
    ngx_http_tokenroute_model_t         *m;
    ngx_http_tokenroute_provider_t      *prov;
    ngx_http_tokenroute_bedrock_conf_t  *bc;

    m = ctx->model;
    prov = m->provider;
    bc = prov->type_conf;

    if (ctx->req.stream) {
        ngx_str_set(&op, "/invoke-with-response-stream");

    } else {
        ngx_str_set(&op, "/invoke");
    }

    len = prov->base_path.len + sizeof("/model/") - 1
          + tokenroute_bedrock_model_segment_size(m->upstream_model.len)
          + op.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->upstream_uri.data = p;

    p = ngx_cpymem(p, prov->base_path.data, prov->base_path.len);
    p = ngx_cpymem(p, "/model/", sizeof("/model/") - 1);
    p += tokenroute_bedrock_model_segment((char *) m->upstream_model.data,
                                          m->upstream_model.len, (char *) p);
    p = ngx_cpymem(p, op.data, op.len);

    ctx->upstream_uri.len = p - ctx->upstream_uri.data;

    /* the body: the client's anthropic-beta moves into it */

    ngx_str_null(&beta);

    if (ngx_http_tokenroute_anthropic_beta(r, &beta) != NGX_OK) {
        return NGX_ERROR;
    }

    body = ngx_pnalloc(r->pool,
                       tokenroute_bedrock_body_size(ctx->upstream_body.len,
                                                    beta.len));
    if (body == NULL) {
        return NGX_ERROR;
    }

    len = tokenroute_bedrock_body(ctx->upstream_body.data,
                                  ctx->upstream_body.len,
                                  (char *) beta.data, beta.len, body);
    if (len == 0) {
        /* the body was checked or made by us: not an object is ours */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tokenroute: the body for bedrock model \"%V\" is "
                      "not a JSON object", &m->id);
        return NGX_ERROR;
    }

    ctx->upstream_body.data = body;
    ctx->upstream_body.len = len;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute bedrock: uri \"%V\", %uz body bytes",
                   &ctx->upstream_uri, len);

    if (bc->access_key.len == 0) {
        /* an API key: prov->authorization, the bearer token */
        return NGX_OK;
    }

    return ngx_http_tokenroute_bedrock_sign(r, ctx, bc);
}


static ngx_int_t
ngx_http_tokenroute_bedrock_sign(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_http_tokenroute_bedrock_conf_t *bc)
{
    char                            *auth;
    u_char                          *date;
    size_t                           len;
    ngx_uint_t                       n;
    tokenroute_sigv4_t               s;
    ngx_http_tokenroute_provider_t  *prov;
    tokenroute_sigv4_header_t        h[3];
    char                             hash[TOKENROUTE_SIGV4_HEX_LEN + 1];

    prov = ctx->model->provider;

    date = ngx_pnalloc(r->pool, TOKENROUTE_SIGV4_DATE_LEN + 1);
    if (date == NULL) {
        return NGX_ERROR;
    }

    /* a date a second: formatted once for all its requests */

    if (bc->date_time != ngx_time() || bc->date[0] == '\0') {
        tokenroute_sigv4_amz_date(ngx_time(), (char *) date);
        ngx_memcpy(bc->date, date, TOKENROUTE_SIGV4_DATE_LEN);
        bc->date_time = ngx_time();

    } else {
        ngx_memcpy(date, bc->date, TOKENROUTE_SIGV4_DATE_LEN);
        date[TOKENROUTE_SIGV4_DATE_LEN] = '\0';
    }

    ctx->upstream_amz_date.data = date;
    ctx->upstream_amz_date.len = TOKENROUTE_SIGV4_DATE_LEN;

    /* what nginx's proxy sends: tokenroute_proxy.conf's headers */

    n = 0;
    h[n].name = "host";
    h[n].name_len = 4;
    h[n].value = (char *) prov->host.data;
    h[n++].value_len = prov->host.len;
    h[n].name = "x-amz-date";
    h[n].name_len = 10;
    h[n].value = (char *) date;
    h[n++].value_len = TOKENROUTE_SIGV4_DATE_LEN;

    if (bc->session_token.len) {
        h[n].name = "x-amz-security-token";
        h[n].name_len = 20;
        h[n].value = (char *) bc->session_token.data;
        h[n++].value_len = bc->session_token.len;
    }

    if (tokenroute_sigv4_hash_sha256_hex(&bc->hash, ctx->upstream_body.data,
                                         ctx->upstream_body.len, hash)
        != 0)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&s, sizeof(tokenroute_sigv4_t));

    s.method = "POST";
    s.path = (char *) ctx->upstream_uri.data;
    s.path_len = ctx->upstream_uri.len;
    s.query = "";
    s.headers = h;
    s.nheaders = n;
    s.payload_hash = hash;
    s.access_key = (char *) bc->access_key.data;
    s.secret_key = (char *) bc->secret_key.data;
    s.region = (char *) bc->region.data;
    s.service = "bedrock";
    s.amz_date = (char *) date;

    /* the signing key changes with the day only: 4 HMACs saved a request */

    if (!bc->key_valid || ngx_memcmp(bc->key_day, date, 8) != 0) {
        if (tokenroute_sigv4_signing_key(&s, bc->signing_key) != 0) {
            bc->key_valid = 0;
            return NGX_ERROR;
        }

        ngx_memcpy(bc->key_day, date, 8);
        bc->key_valid = 1;
    }

    s.signing_key = bc->signing_key;
    s.hash = &bc->hash;

    auth = tokenroute_sigv4_authorization(&s, &len);
    if (auth == NULL) {
        return NGX_ERROR;
    }

    ctx->upstream_authorization.data = ngx_pnalloc(r->pool, len);
    if (ctx->upstream_authorization.data == NULL) {
        free(auth);
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->upstream_authorization.data, auth, len);
    ctx->upstream_authorization.len = len;

    free(auth);

    return NGX_OK;
}

