
/*
 * Copyright (C) tokenroute authors
 *
 * Client keys: taken from "Authorization: Bearer sk-tr-..." or
 * "x-api-key: sk-tr-...", hashed with SHA-256 (Redis never sees the raw
 * key); the admission script checks it (ngx_http_tokenroute_admission.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_key.h"
#include "tokenroute_key.h"


/* hashes of the keys seen lately, per worker: direct-mapped */
#define NGX_HTTP_TOKENROUTE_KEY_CACHE   64
#define NGX_HTTP_TOKENROUTE_KEY_CACHED  64    /* longer keys: not cached */


typedef struct {
    size_t     len;
    u_char     key[NGX_HTTP_TOKENROUTE_KEY_CACHED];
    u_char     hash[NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN];
} ngx_http_tokenroute_key_hash_t;


static ngx_int_t ngx_http_tokenroute_key_valid(ngx_str_t *key);
static ngx_uint_t ngx_http_tokenroute_key_forwarded(ngx_str_t *name);
static u_char *ngx_http_tokenroute_unescape(u_char *dst, u_char *src,
    size_t len);
static void ngx_http_tokenroute_key_unlog(ngx_http_request_t *r);
static ngx_table_elt_t *ngx_http_tokenroute_x_api_keys(ngx_http_request_t *r,
    ngx_uint_t *n);
static ngx_int_t ngx_http_tokenroute_key_hash(ngx_str_t *key, u_char *hash);


static ngx_str_t  ngx_http_tokenroute_x_api_key = ngx_string("x-api-key");

static EVP_MD    *ngx_http_tokenroute_sha256;

static ngx_http_tokenroute_key_hash_t
    ngx_http_tokenroute_key_hashes[NGX_HTTP_TOKENROUTE_KEY_CACHE];


/*
 * NGX_OK: ctx->raw_key is set; NGX_DECLINED: no key was sent; NGX_ERROR:
 * something was sent that cannot be a tokenroute key;
 * NGX_HTTP_BAD_REQUEST: two keys were sent, and which one counts would
 * depend on the header's order (nginx keeps every x-api-key; it refuses
 * a second Authorization itself).
 */

ngx_int_t
ngx_http_tokenroute_key_extract(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    size_t            start;
    ngx_str_t         key;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    ngx_str_null(&key);

    h = ngx_http_tokenroute_x_api_keys(r, &n);
    if (n > 1) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->headers_in.authorization) {
        key = r->headers_in.authorization->value;

        if (tokenroute_key_bearer(key.data, key.len, &start, &key.len) != 0) {
            return NGX_ERROR;
        }

        key.data += start;

        /* some clients send the one key both ways */

        if (h && (h->value.len != key.len
                  || ngx_strncmp(h->value.data, key.data, key.len) != 0))
        {
            return NGX_HTTP_BAD_REQUEST;
        }

    } else {
        if (h == NULL) {
            return NGX_DECLINED;
        }

        key = h->value;
    }

    /* the check of its characters is in ngx_http_tokenroute_key_hash() */

    if (ngx_http_tokenroute_key_hash(&key, ctx->key_hash) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->raw_key = key;

    return NGX_OK;
}


/*
 * A tokenroute key where it does not belong: in the query string, which
 * access logs and the error log's context keep, or in a client header
 * the gateway sends on to providers: NGX_DECLINED and the message of the
 * 400.  A key in the query string is also cut from nginx's copies of the
 * request line and URI, so that no log line of the request shows it.
 */

ngx_int_t
ngx_http_tokenroute_key_misplaced(ngx_http_request_t *r,
    const char **message)
{
    u_char           *decoded, *last;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (r->args.len) {
        /* decoded: "sk%2Dtr%2D" is a key too */

        decoded = ngx_pnalloc(r->pool, r->args.len);
        if (decoded == NULL) {
            return NGX_ERROR;
        }

        last = ngx_http_tokenroute_unescape(decoded, r->args.data,
                                            r->args.len);

        if (ngx_strlcasestrn(decoded, last,
                             (u_char *) TOKENROUTE_KEY_PREFIX,
                             sizeof(TOKENROUTE_KEY_PREFIX) - 2)
            != NULL)
        {
            ngx_http_tokenroute_key_unlog(r);

            *message = "API keys are not accepted in the URL: send the key "
                       "in the Authorization or x-api-key header";
            return NGX_DECLINED;
        }
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_tokenroute_key_forwarded(&h[i].key)
            && ngx_strlcasestrn(h[i].value.data,
                                h[i].value.data + h[i].value.len,
                                (u_char *) TOKENROUTE_KEY_PREFIX,
                                sizeof(TOKENROUTE_KEY_PREFIX) - 2)
               != NULL)
        {
            *message = "The anthropic-beta and anthropic-version headers "
                       "are sent to the provider and must not hold an API "
                       "key";
            return NGX_DECLINED;
        }
    }
}


/* the client headers tokenroute_proxy.conf sends on */

static ngx_uint_t
ngx_http_tokenroute_key_forwarded(ngx_str_t *name)
{
    return (name->len == sizeof("anthropic-beta") - 1
            && ngx_strncasecmp(name->data, (u_char *) "anthropic-beta",
                               name->len)
               == 0)
           || (name->len == sizeof("anthropic-version") - 1
               && ngx_strncasecmp(name->data, (u_char *) "anthropic-version",
                                  name->len)
                  == 0);
}


/* every %XX decoded; returns the end */

static u_char *
ngx_http_tokenroute_unescape(u_char *dst, u_char *src, size_t len)
{
    ngx_unescape_uri(&dst, &src, len, 0);

    return dst;
}


/*
 * "POST /v1/x?key=sk-tr-... HTTP/1.1" becomes "POST /v1/x?[redacted]
 * HTTP/1.1" for $request and the error log; $request_uri and $args lose
 * the query.  The request is refused, nothing else reads them.
 */

static void
ngx_http_tokenroute_key_unlog(ngx_http_request_t *r)
{
    u_char  *p, *q, *last, *proto, *line;
    size_t   n;

    static u_char  redacted[] = "?[redacted]";

    last = r->request_line.data + r->request_line.len;

    q = ngx_strlchr(r->request_line.data, last, '?');

    if (q) {
        n = q - r->request_line.data;
        proto = last;

        /* " HTTP/1.1": the last space; HTTP/0.9 has no protocol */

        if (r->http_version >= NGX_HTTP_VERSION_10) {
            for (p = last; p > q; p--) {
                if (p[-1] == ' ') {
                    proto = p - 1;
                    break;
                }
            }
        }

        line = ngx_pnalloc(r->pool, n + sizeof(redacted) - 1 + (last - proto));

        if (line == NULL) {
            r->request_line.len = n;

        } else {
            p = ngx_cpymem(line, r->request_line.data, n);
            p = ngx_cpymem(p, redacted, sizeof(redacted) - 1);
            p = ngx_cpymem(p, proto, last - proto);

            r->request_line.data = line;
            r->request_line.len = p - line;
        }
    }

    q = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');
    if (q) {
        r->unparsed_uri.len = q - r->unparsed_uri.data;
    }

    r->args.len = 0;
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
    u_char                           digest[EVP_MAX_MD_SIZE];
    unsigned int                     n;
    ngx_http_tokenroute_key_hash_t  *e;

    if (key->len < TOKENROUTE_KEY_MIN_LEN) {
        return NGX_ERROR;
    }

    e = &ngx_http_tokenroute_key_hashes[(key->data[key->len - 1] * 31u
                                         + key->data[key->len - 2])
                                        % NGX_HTTP_TOKENROUTE_KEY_CACHE];

    /*
     * Only checked keys are kept: one equal to a kept key passed the
     * check too (t/key_cache.t).
     */

    if (e->len == key->len
        && tokenroute_key_equal(e->key, key->data, key->len) == 0)
    {
        ngx_memcpy(hash, e->hash, NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN);
        return NGX_OK;
    }

    if (ngx_http_tokenroute_key_valid(key) != NGX_OK) {
        return NGX_ERROR;
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


/*
 * Whether the key may use the i-th model the admission script was asked
 * about (ngx_http_tokenroute_admission_models()): the script's answer, since
 * the key rules are its alone (src/lua/admission.lua).
 */

ngx_int_t
ngx_http_tokenroute_key_allows(ngx_http_tokenroute_key_t *key, ngx_uint_t i)
{
    return (i < key->allowed.len && key->allowed.data[i] == '1')
           ? NGX_OK : NGX_DECLINED;
}


/* every x-api-key: how many, and the first */

static ngx_table_elt_t *
ngx_http_tokenroute_x_api_keys(ngx_http_request_t *r, ngx_uint_t *n)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *first;

    *n = 0;
    first = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return first;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == ngx_http_tokenroute_x_api_key.len
            && ngx_strncasecmp(h[i].key.data,
                               ngx_http_tokenroute_x_api_key.data,
                               h[i].key.len)
               == 0)
        {
            first = first ? first : &h[i];
            (*n)++;
        }
    }
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
