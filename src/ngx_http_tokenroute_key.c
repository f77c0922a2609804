
/*
 * Copyright (C) tokenroute authors
 *
 * Client keys: taken from "Authorization: Bearer sk-tr-..." or
 * "x-api-key: sk-tr-...", hashed with SHA-256 (Redis never sees the raw
 * key) and looked up in Redis without blocking the worker.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_key.h"


#define NGX_HTTP_TOKENROUTE_KEY_FIELDS  6

/* hashes of the keys seen lately, per worker: direct-mapped */
#define NGX_HTTP_TOKENROUTE_KEY_CACHE   64
#define NGX_HTTP_TOKENROUTE_KEY_CACHED  64    /* longer keys: not cached */


typedef struct {
    size_t     len;
    u_char     key[NGX_HTTP_TOKENROUTE_KEY_CACHED];
    u_char     hash[NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];
} ngx_http_tokenroute_key_hash_t;


static ngx_int_t ngx_http_tokenroute_key_valid(ngx_str_t *key);
static ngx_int_t ngx_http_tokenroute_key_hash(ngx_str_t *key, u_char *hash);
static void ngx_http_tokenroute_key_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_tokenroute_key_parse(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, redisReply *reply);


static ngx_str_t  ngx_http_tokenroute_x_api_key = ngx_string("x-api-key");

static EVP_MD    *ngx_http_tokenroute_sha256;

static ngx_http_tokenroute_key_hash_t
    ngx_http_tokenroute_key_hashes[NGX_HTTP_TOKENROUTE_KEY_CACHE];


/*
 * NGX_OK: ctx->raw_key is set; NGX_DECLINED: no key was sent; NGX_ERROR:
 * something was sent that cannot be a tokenroute key.
 */

ngx_int_t
ngx_http_tokenroute_key_extract(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_str_t         key;
    ngx_table_elt_t  *h;

    ngx_str_null(&key);

    if (r->headers_in.authorization) {
        key = r->headers_in.authorization->value;

        if (key.len < 7
            || ngx_strncasecmp(key.data, (u_char *) "Bearer ", 7) != 0)
        {
            return NGX_ERROR;
        }

        key.data += 7;
        key.len -= 7;

        while (key.len && key.data[0] == ' ') {
            key.data++;
            key.len--;
        }

    } else {
        h = ngx_http_tokenroute_header_in(&r->headers_in.headers,
                                          &ngx_http_tokenroute_x_api_key);
        if (h) {
            key = h->value;
        }

        if (key.data == NULL) {
            return NGX_DECLINED;
        }
    }

    if (ngx_http_tokenroute_key_valid(&key) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->raw_key = key;

    return ngx_http_tokenroute_key_hash(&key, ctx->key_hash);
}


/*
 * Redis only ever sees the SHA-256.  A client sends the same key request
 * after request, and hashing it cost more than the rest of the key
 * check: the hashes of recent keys are kept, per worker, found by the
 * key's last bytes (random ones) and compared in constant time.  Only
 * keys the worker has already received are kept, in its own memory.
 */

static ngx_int_t
ngx_http_tokenroute_key_hash(ngx_str_t *key, u_char *hash)
{
    u_char                          digest[EVP_MAX_MD_SIZE];
    unsigned int                    n;
    ngx_http_tokenroute_key_hash_t  *e;

    e = &ngx_http_tokenroute_key_hashes[(key->data[key->len - 1] * 31u
                                         + key->data[key->len - 2])
                                        % NGX_HTTP_TOKENROUTE_KEY_CACHE];

    if (e->len == key->len
        && CRYPTO_memcmp(e->key, key->data, key->len) == 0)
    {
        ngx_memcpy(hash, e->hash, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);
        return NGX_OK;
    }

    /*
     * EVP_sha256() makes OpenSSL 3 look the algorithm up on every call:
     * fetched once per worker instead.
     */

    if (ngx_http_tokenroute_sha256 == NULL) {
        ngx_http_tokenroute_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (ngx_http_tokenroute_sha256 == NULL) {
            return NGX_ERROR;
        }
    }

    if (EVP_Digest(key->data, key->len, digest, &n,
                   ngx_http_tokenroute_sha256, NULL)
        != 1)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(hash, digest, n);

    if (key->len <= NGX_HTTP_TOKENROUTE_KEY_CACHED) {
        e->len = key->len;
        ngx_memcpy(e->key, key->data, key->len);
        ngx_memcpy(e->hash, hash, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tokenroute_key_valid(ngx_str_t *key)
{
    return (tokenroute_key_valid(key->data, key->len) == 0) ? NGX_OK
                                                           : NGX_ERROR;
}


/* NGX_AGAIN: the lookup is under way; NGX_ERROR: Redis is unavailable */

ngx_int_t
ngx_http_tokenroute_key_lookup(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char               name[sizeof("tr:key:") - 1
                              + NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];

    /* hiredis copies the arguments into its output buffer right away */

    const char          *argv[2 + NGX_HTTP_TOKENROUTE_KEY_FIELDS] = {
        "HMGET", (const char *) name,
        "id", "name", "account", "models", "expires_at", "revoked"
    };

    size_t               argvlen[2 + NGX_HTTP_TOKENROUTE_KEY_FIELDS] = {
        5, sizeof(name), 2, 4, 7, 6, 10, 7
    };

    ngx_memcpy(ngx_cpymem(name, "tr:key:", sizeof("tr:key:") - 1),
               ctx->key_hash, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);

    return ngx_http_tokenroute_ctx_command(r, ctx,
                                           ngx_http_tokenroute_key_reply,
                                           2 + NGX_HTTP_TOKENROUTE_KEY_FIELDS,
                                           argv, argvlen);
}


static void
ngx_http_tokenroute_key_reply(void *data, redisReply *reply)
{
    ngx_http_request_t         *r = data;

    ngx_http_tokenroute_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);

    if (reply == NULL) {
        ctx->redis_status = NGX_ERROR;

    } else {
        ctx->redis_status = ngx_http_tokenroute_key_parse(r, ctx, reply);
    }

    ngx_http_tokenroute_resume(r, ctx);
}


static ngx_int_t
ngx_http_tokenroute_key_parse(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, redisReply *reply)
{
    size_t                      i;
    ngx_str_t                  *fields[4];
    ngx_int_t                   n;
    redisReply                 *e;
    ngx_http_tokenroute_key_t  *key;

    key = &ctx->key;

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != NGX_HTTP_TOKENROUTE_KEY_FIELDS)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: unexpected Redis reply to the key lookup");
        return NGX_ERROR;
    }

    if (reply->element[0]->type != REDIS_REPLY_STRING) {
        /* no such key */
        return NGX_OK;
    }

    fields[0] = &key->id;
    fields[1] = &key->name;
    fields[2] = &key->account;
    fields[3] = &key->models;

    for (i = 0; i < 4; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }

        fields[i]->len = e->len;
        fields[i]->data = ngx_pnalloc(r->pool, e->len + 1);
        if (fields[i]->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(fields[i]->data, e->str, e->len);
        fields[i]->data[e->len] = '\0';
    }

    e = reply->element[4];

    if (e->type == REDIS_REPLY_STRING && e->len) {
        n = ngx_atoi((u_char *) e->str, e->len);
        key->expires_at = (n == NGX_ERROR) ? 1 : (time_t) n;
    }

    key->expired = (key->expires_at && ngx_time() >= key->expires_at);

    e = reply->element[5];

    key->revoked = (e->type == REDIS_REPLY_STRING && e->len == 1
                    && e->str[0] == '1');
    key->found = 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_key_allows_model(ngx_http_tokenroute_key_t *key,
    ngx_str_t *model)
{
    u_char  *p, *last, *comma;

    if (key->models.len == 0) {
        return NGX_OK;
    }

    p = key->models.data;
    last = p + key->models.len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if ((size_t) (comma - p) == model->len
            && ngx_strncmp(p, model->data, model->len) == 0)
        {
            return NGX_OK;
        }

        p = comma + 1;
    }

    return NGX_DECLINED;
}


/* a header of a list by name, case-insensitively: nginx hashes only some */

ngx_table_elt_t *
ngx_http_tokenroute_header_in(ngx_list_t *headers, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}
