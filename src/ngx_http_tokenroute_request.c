
/*
 * Copyright (C) tokenroute authors
 *
 * The client's request: its body read and made contiguous, its endpoint
 * classified from the URI, and the request id it is settled under.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_request.h"

#include <openssl/rand.h>


void
ngx_http_tokenroute_body_handler(ngx_http_request_t *r)
{
    ngx_http_tokenroute_ctx_t  *ctx;

    /* balance the reference ngx_http_read_client_request_body() took */
    r->main->count--;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tokenroute_module);
    if (ctx == NULL) {
        return;
    }

    ctx->body_done = 1;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute body: in");

    if (ctx->waiting_body) {
        ctx->waiting_body = 0;

        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }
}


/*
 * Request ids settle requests idempotently across a fleet, so they must
 * not repeat: 8 random bytes drawn once per worker, then a counter.  A
 * draw per request would cost more than the rest of the id's uses.
 */

ngx_int_t
ngx_http_tokenroute_request_id(u_char *id)
{
    u_char           *p;
    uint32_t          n;
    ngx_uint_t        i;
    u_char            rnd[8];

    static uint32_t   counter;
    static u_char     prefix[16];
    static ngx_uint_t drawn;

    if (!drawn) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            return NGX_ERROR;
        }

        ngx_hex_dump(prefix, rnd, sizeof(rnd));
        drawn = 1;
    }

    p = ngx_cpymem(id, prefix, sizeof(prefix));

    n = counter++;

    /* "%08xD", without ngx_sprintf's cost on every request */

    for (i = 8; i-- > 0; n >>= 4) {
        p[i] = "0123456789abcdef"[n & 0xf];
    }

    return NGX_OK;
}


/*
 * The usual two pieces: what came with the headers (in nginx's header
 * buffer), then the rest, read into a buffer that request_body_in_single_buf
 * made large enough for both (nginx 1.22 sizes it so, but does not move
 * the first piece in): the first piece is moved in, in front of the rest,
 * and the chain is that buffer alone.  A copy of the body in a block of
 * its own cost more than these two copies.
 */

static ngx_int_t
ngx_http_tokenroute_body_join(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    size_t        first, rest;
    ngx_buf_t    *a, *b, *rb;
    ngx_chain_t  *cl;

    cl = r->request_body->bufs;

    if (cl->next == NULL || cl->next->next != NULL) {
        return NGX_DECLINED;
    }

    a = cl->buf;
    b = cl->next->buf;

    /* the second piece: nginx's body buffer, all of it from its start */

    rb = r->request_body->buf;

    if (a->in_file || b->in_file || !b->temporary || rb == NULL
        || b->start != rb->start || b->end != rb->end || b->pos != b->start)
    {
        return NGX_DECLINED;
    }

    first = a->last - a->pos;
    rest = b->last - b->pos;

    if ((size_t) (b->end - b->last) < first) {
        return NGX_DECLINED;
    }

    ngx_memmove(b->start + first, b->pos, rest);
    ngx_memcpy(b->start, a->pos, first);

    b->last = b->start + first + rest;

    /* a buffer of no size would be an alert in nginx's chain writer */

    r->request_body->bufs = cl->next;

    ctx->body.data = b->pos;
    ctx->body.len = first + rest;

    return NGX_OK;
}


/* the body as one contiguous buffer, wherever nginx put it */

ngx_int_t
ngx_http_tokenroute_body_collect(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ngx_str_null(&ctx->body);
        return NGX_OK;
    }

    cl = r->request_body->bufs;
    b = cl->buf;

    /*
     * nginx's own buffer when it holds the whole body: the links after it
     * may only carry flags (last_buf), and a copy would stay in the pool
     * as long as the request, a stream's whole life
     */

    if (!b->in_file) {
        for (cl = cl->next; cl; cl = cl->next) {
            if (ngx_buf_size(cl->buf)) {
                break;
            }
        }

        if (cl == NULL) {
            ctx->body.data = b->pos;
            ctx->body.len = b->last - b->pos;
            return NGX_OK;
        }
    }

    if (ngx_http_tokenroute_body_join(r, ctx) == NGX_OK) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->body.data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        /* a link of flags only (a chunked body's last_buf): pos is NULL */

        if (ngx_buf_size(b) == 0) {
            continue;
        }

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    ctx->body.len = p - ctx->body.data;

    return NGX_OK;
}


typedef struct {
    ngx_str_t     path;
    ngx_uint_t    endpoint;
} ngx_http_tokenroute_endpoint_t;


static ngx_http_tokenroute_endpoint_t  ngx_http_tokenroute_endpoints[] = {
    { ngx_string("/chat/completions"), NGX_HTTP_TOKENROUTE_ENDPOINT_CHAT },
    { ngx_string("/messages"), NGX_HTTP_TOKENROUTE_ENDPOINT_MESSAGES },
    { ngx_string("/messages/count_tokens"),
      NGX_HTTP_TOKENROUTE_ENDPOINT_COUNT_TOKENS },
    { ngx_string("/embeddings"), NGX_HTTP_TOKENROUTE_ENDPOINT_EMBEDDINGS },
    { ngx_string("/models"), NGX_HTTP_TOKENROUTE_ENDPOINT_MODELS },
    { ngx_null_string, 0 }
};


/*
 * The endpoint is what the URI ends with, after at least one segment
 * (the version, and any prefix the gateway is mounted under:
 * /v1/chat/completions, /llm/v1/chat/completions), or, for
 * /v1/models/{id}, where ids have slashes (anthropic/claude-...), what
 * follows the first "/models/" after a segment.  With "suffix" it is
 * what the URI ends with, as a provider behind a base URL sees it (the
 * demo provider): no trailing slash, no /models/{id}, and ctx is not
 * used, it may be NULL.
 */

ngx_uint_t
ngx_http_tokenroute_classify(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx, ngx_uint_t suffix)
{
    u_char                          *p, *last;
    size_t                           len;
    ngx_http_tokenroute_endpoint_t  *e;

    last = r->uri.data + r->uri.len;

    if (!suffix) {
        /* tolerate a trailing slash, as the SDKs' base URL joining may add */
        while (last > r->uri.data && last[-1] == '/') {
            last--;
        }
    }

    len = last - r->uri.data;

    for (e = ngx_http_tokenroute_endpoints; e->path.len; e++) {
        if (len >= e->path.len + (suffix ? 0 : 2)
            && ngx_strncmp(last - e->path.len, e->path.data, e->path.len)
               == 0)
        {
            return e->endpoint;
        }
    }

    if (suffix) {
        return NGX_HTTP_TOKENROUTE_ENDPOINT_UNKNOWN;
    }

    for (p = r->uri.data + 1; last - p > (ssize_t) sizeof("/models/") - 1;
         p++)
    {
        if (*p == '/'
            && ngx_strncmp(p, "/models/", sizeof("/models/") - 1) == 0)
        {
            ctx->model_path.data = p + sizeof("/models/") - 1;
            ctx->model_path.len = last - ctx->model_path.data;

            return NGX_HTTP_TOKENROUTE_ENDPOINT_MODEL;
        }
    }

    return NGX_HTTP_TOKENROUTE_ENDPOINT_UNKNOWN;
}
