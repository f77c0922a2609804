
/*
 * Copyright (C) tokenroute authors
 *
 * The response headers a client of the gateway sees.  A provider's
 * answer speaks of the gateway's own account: cookies, organisation and
 * project ids, the provider's request ids, the account's rate limits,
 * its CDN's ids.  Of the headers nginx copied from it only what a client
 * needs to read the body and to decide a retry is kept; the gateway adds
 * its own after, and the request id the client's SDK reports is the
 * gateway's, the one the request is logged and settled under.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_headers.h"


static ngx_uint_t ngx_http_tokenroute_headers_keep(ngx_http_request_t *r,
    ngx_table_elt_t *h);
static ngx_uint_t ngx_http_tokenroute_headers_from_provider(
    ngx_http_request_t *r, ngx_table_elt_t *h);
static void ngx_http_tokenroute_headers_unlink(ngx_http_request_t *r,
    ngx_table_elt_t **gone, ngx_uint_t n);
static void ngx_http_tokenroute_headers_compact(ngx_array_t *a);
static ngx_int_t ngx_http_tokenroute_headers_request_id(
    ngx_http_request_t *r, ngx_http_tokenroute_ctx_t *ctx);


/* what a client needs; keep the README's list in step */

static ngx_str_t  ngx_http_tokenroute_headers_allowed[] = {
    ngx_string("content-type"),
    ngx_string("content-length"),
    ngx_string("content-encoding"),
    ngx_string("cache-control"),
    ngx_string("retry-after"),
    ngx_string("retry-after-ms"),
    ngx_string("x-should-retry"),
    ngx_null_string
};


/*
 * nginx's shortcuts into the list: a removed entry must not stay there.
 * The removed ones are looked for in them at once, a few at a time.
 */

#define NGX_HTTP_TOKENROUTE_HEADERS_GONE  16

static size_t  ngx_http_tokenroute_headers_fields[] = {
    offsetof(ngx_http_headers_out_t, server),
    offsetof(ngx_http_headers_out_t, date),
    offsetof(ngx_http_headers_out_t, content_length),
    offsetof(ngx_http_headers_out_t, content_encoding),
    offsetof(ngx_http_headers_out_t, location),
    offsetof(ngx_http_headers_out_t, refresh),
    offsetof(ngx_http_headers_out_t, last_modified),
    offsetof(ngx_http_headers_out_t, content_range),
    offsetof(ngx_http_headers_out_t, accept_ranges),
    offsetof(ngx_http_headers_out_t, www_authenticate),
    offsetof(ngx_http_headers_out_t, expires),
    offsetof(ngx_http_headers_out_t, etag)
};


ngx_int_t
ngx_http_tokenroute_headers_scrub(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *gone[NGX_HTTP_TOKENROUTE_HEADERS_GONE];

    part = &r->headers_out.headers.part;
    h = part->elts;
    n = 0;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || ngx_http_tokenroute_headers_keep(r, &h[i])) {
            continue;
        }

        h[i].hash = 0;

        if (n == NGX_HTTP_TOKENROUTE_HEADERS_GONE) {
            ngx_http_tokenroute_headers_unlink(r, gone, n);
            n = 0;
        }

        gone[n++] = &h[i];
    }

    if (n) {
        ngx_http_tokenroute_headers_unlink(r, gone, n);
    }

    /* nginx would make a Last-Modified of its own from the time */
    r->headers_out.last_modified_time = -1;

    ngx_http_tokenroute_headers_compact(&r->headers_out.cache_control);
    ngx_http_tokenroute_headers_compact(&r->headers_out.link);

    return ngx_http_tokenroute_headers_request_id(r, ctx);
}


static ngx_uint_t
ngx_http_tokenroute_headers_keep(ngx_http_request_t *r, ngx_table_elt_t *h)
{
    ngx_str_t  *name;

    for (name = ngx_http_tokenroute_headers_allowed; name->len; name++) {
        if (h->key.len == name->len
            && ngx_strncasecmp(h->key.data, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    if (h->key.len > sizeof("x-tokenroute-") - 1
        && ngx_strncasecmp(h->key.data, (u_char *) "x-tokenroute-",
                           sizeof("x-tokenroute-") - 1)
           == 0)
    {
        /* the gateway's own; not those of a gateway behind this one */
        return !ngx_http_tokenroute_headers_from_provider(r, h);
    }

    return 0;
}


/* nginx copies a provider's header entry as it is, names included */

static ngx_uint_t
ngx_http_tokenroute_headers_from_provider(ngx_http_request_t *r,
    ngx_table_elt_t *h)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *e;

    if (r->upstream == NULL) {
        return 0;
    }

    part = &r->upstream->headers_in.headers.part;
    e = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            e = part->elts;
            i = 0;
        }

        if (e[i].key.data == h->key.data) {
            return 1;
        }
    }
}


static void
ngx_http_tokenroute_headers_unlink(ngx_http_request_t *r,
    ngx_table_elt_t **gone, ngx_uint_t n)
{
    ngx_uint_t         i, j;
    ngx_table_elt_t  **field;

    for (i = 0;
         i < sizeof(ngx_http_tokenroute_headers_fields) / sizeof(size_t);
         i++)
    {
        field = (ngx_table_elt_t **) ((u_char *) &r->headers_out
                                      + ngx_http_tokenroute_headers_fields[i]);

        if (*field == NULL) {
            continue;
        }

        for (j = 0; j < n; j++) {
            if (*field == gone[j]) {
                *field = NULL;
                break;
            }
        }
    }
}


/* the multi-line headers' arrays: only entries still in the list */

static void
ngx_http_tokenroute_headers_compact(ngx_array_t *a)
{
    ngx_uint_t         i, n;
    ngx_table_elt_t  **e;

    e = a->elts;
    n = 0;

    for (i = 0; i < a->nelts; i++) {
        if (e[i]->hash) {
            e[n++] = e[i];
        }
    }

    a->nelts = n;
}


/* the header the client's SDK reports in its errors and logs */

static ngx_int_t
ngx_http_tokenroute_headers_request_id(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    if (ctx->request_id[0] == '\0') {
        /* the request failed before it had an id */
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;

    if (ctx->shape == TOKENROUTE_SHAPE_ANTHROPIC) {
        ngx_str_set(&h->key, "request-id");

    } else {
        ngx_str_set(&h->key, "x-request-id");
    }

    h->lowcase_key = h->key.data;
    h->value.data = ctx->request_id;
    h->value.len = NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN;

    return NGX_OK;
}
