
/*
 * Copyright (C) tokenroute authors
 *
 * An admin API request's parameters for its control script: the body
 * read whole (memory or temporary file, at most 64 KiB), a JSON object's
 * members, the query parameters the route takes (decoded), the path's
 * segments (a raw key as its hash), each a name and a value in the
 * request's pool, as the command's arguments; and the refusals found
 * meanwhile (400, 413), kept in the ctx for the handler to answer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_admin_params.h"
#include "tokenroute_admin.h"
#include "tokenroute_json_tree.h"
#include "tokenroute_key.h"
#include "tokenroute_secret.h"


static ngx_int_t ngx_http_tokenroute_admin_reserved(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, u_char *name, size_t len);


/* the body in one piece, from memory or the temporary file */

ngx_int_t
ngx_http_tokenroute_admin_read(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, ngx_str_t *body)
{
    u_char       *p;
    off_t         size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        size += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (size > NGX_HTTP_TOKENROUTE_ADMIN_BODY_MAX) {
        return ngx_http_tokenroute_admin_fail(r, ctx,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                   "The request body is over %uz bytes",
                   (size_t) NGX_HTTP_TOKENROUTE_ADMIN_BODY_MAX);
    }

    p = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        /* a chunked body's last buffer may be empty, with no memory */

        if (!b->in_file) {
            if (b->last > b->pos) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            continue;
        }

        if (b->file_last == b->file_pos) {
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


/* the body's members, each a parameter */

ngx_int_t
ngx_http_tokenroute_admin_members(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, ngx_str_t *body)
{
    long                     n;
    u_char                  *v, *k;
    ngx_int_t                rc;
    ngx_uint_t               i, count;
    tokenroute_json_tree_t   j;
    tokenroute_json_node_t  *m, *d;

    for (i = 0; i < body->len; i++) {
        if (body->data[i] != ' ' && body->data[i] != '\t'
            && body->data[i] != '\r' && body->data[i] != '\n')
        {
            break;
        }
    }

    if (i == body->len) {
        return NGX_OK;
    }

    if (!ctx->match.route->body) {
        return ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                   "invalid_request", "This route takes no request body");
    }

    ngx_memzero(&j, sizeof(tokenroute_json_tree_t));
    j.validate = 1;
    j.max_depth = 3;

    if (tokenroute_json_tree_parse(&j, (const char *) body->data, body->len,
                                   NULL)
        != 0
        || j.root == NULL || j.root->type != TOKENROUTE_JSON_T_MAP)
    {
        tokenroute_json_tree_free(&j);
        return ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                   "invalid_request", "The request body must be a JSON "
                   "object");
    }

    rc = NGX_OK;
    count = 0;

    for (m = j.root->first; m && rc == NGX_OK; m = m->next) {
        rc = ngx_http_tokenroute_admin_reserved(r, ctx, (u_char *) m->key,
                                                m->key_len);
        if (rc != NGX_OK) {
            break;
        }

        /*
         * a member twice: the script would take the last, a proxy or a
         * log reader the first; the parameters' bound keeps this short
         */

        if (++count > NGX_HTTP_TOKENROUTE_ADMIN_MEMBERS) {
            rc = ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                     "invalid_request", "Too many parameters");
            break;
        }

        for (d = j.root->first; d != m; d = d->next) {
            if (d->key_len == m->key_len
                && ngx_memcmp(d->key, m->key, m->key_len) == 0)
            {
                break;
            }
        }

        if (d != m) {
            rc = ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                     "invalid_request", "%*s: given twice", m->key_len,
                     m->key);
            break;
        }

        n = tokenroute_admin_value(m, NULL);

        if (n < 0) {
            rc = ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                     "invalid_request", "%*s: a string, number, boolean, "
                     "null or array of strings", m->key_len, m->key);
            break;
        }

        /* the name and the value outlive the tree: in the pool */

        v = ngx_pnalloc(r->pool, m->key_len + n + 1);
        if (v == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }

        k = ngx_cpymem(v, m->key, m->key_len);
        tokenroute_admin_value(m, (char *) k);

        if (ngx_http_tokenroute_admin_arg(r, ctx, v, m->key_len) != NGX_OK
            || ngx_http_tokenroute_admin_arg(r, ctx, k, n) != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    tokenroute_json_tree_free(&j);

    return rc;
}


/* the query's parameters the route takes, decoded */

ngx_int_t
ngx_http_tokenroute_admin_query(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx)
{
    u_char     *p, *last, *amp, *eq, *dst, *src;
    size_t      len;
    ngx_int_t   rc;
    ngx_str_t   name, value, *a;

    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        /* decoded copies: the name, then the value */

        len = amp - p;
        dst = ngx_pnalloc(r->pool, len + 1);
        if (dst == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        name.data = dst;
        src = p;
        ngx_unescape_uri(&dst, &src, eq - p, 0);
        name.len = dst - name.data;

        value.data = dst;
        src = (eq < amp) ? eq + 1 : amp;
        ngx_unescape_uri(&dst, &src, amp - src, 0);
        value.len = dst - value.data;

        p = amp;

        if (!tokenroute_admin_query_allowed(ctx->match.route,
                                            (const char *) name.data,
                                            name.len))
        {
            return ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                       "invalid_request", "Unknown query parameter: %V",
                       &name);
        }

        rc = ngx_http_tokenroute_admin_reserved(r, ctx, name.data, name.len);
        if (rc != NGX_OK) {
            return rc;
        }

        /* the usage report's parameters are the report's, not whoami's */

        if (ctx->report) {
            a = ngx_array_push_n(ctx->report, 2);
            if (a == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            a[0] = name;
            a[1] = value;
            continue;
        }

        if (ngx_http_tokenroute_admin_arg(r, ctx, name.data, name.len)
            != NGX_OK
            || ngx_http_tokenroute_admin_arg(r, ctx, value.data, value.len)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A path segment as a parameter; a raw model key as {key} is sent as its
 * hash, "key_hash", as the CLI does (prefer the key's id in a URL: access
 * logs keep paths).
 */

ngx_int_t
ngx_http_tokenroute_admin_segment(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, tokenroute_admin_segment_t *seg)
{
    u_char  *hash;

    if (seg->name_len == 3 && ngx_strncmp(seg->name, "key", 3) == 0
        && seg->len > sizeof(TOKENROUTE_KEY_PREFIX) - 1 + 6
        && ngx_strncmp(seg->value, TOKENROUTE_KEY_PREFIX,
                       sizeof(TOKENROUTE_KEY_PREFIX) - 1) == 0)
    {
        hash = ngx_pnalloc(r->pool, 65);
        if (hash == NULL
            || tokenroute_sha256_hex(seg->value, seg->len, (char *) hash)
               != 0
            || ngx_http_tokenroute_admin_arg(r, ctx, "key_hash", 8) != NGX_OK
            || ngx_http_tokenroute_admin_arg(r, ctx, hash, 64) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_tokenroute_admin_arg(r, ctx, seg->name, seg->name_len)
        != NGX_OK
        || ngx_http_tokenroute_admin_arg(r, ctx, seg->value, seg->len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* the parameters the path and the gateway give, no one else */

static ngx_int_t
ngx_http_tokenroute_admin_reserved(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, u_char *name, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i < ctx->match.nseg; i++) {
        if ((ctx->match.seg[i].name_len == len
             && ngx_strncmp(ctx->match.seg[i].name, name, len) == 0)
            || (len == 8 && ngx_strncmp(name, "key_hash", 8) == 0
                && ctx->match.seg[i].name_len == 3
                && ngx_strncmp(ctx->match.seg[i].name, "key", 3) == 0))
        {
            return ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                       "invalid_request", "%*s: given by the path", len,
                       name);
        }
    }

    if (ctx->match.route->secret
        && ((len == 4 && ngx_strncmp(name, "hash", 4) == 0)
            || (len == 2 && ngx_strncmp(name, "id", 2) == 0)
            || (len == 6 && ngx_strncmp(name, "prefix", 6) == 0)))
    {
        return ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                   "invalid_request", "%*s: made by the gateway", len, name);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tokenroute_admin_arg(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, const void *p, size_t len)
{
    ngx_str_t  *a;

    a = ngx_array_push(ctx->args);
    if (a == NULL) {
        return NGX_ERROR;
    }

    a->data = (u_char *) p;
    a->len = len;

    return NGX_OK;
}


/* the error to answer, kept until the parameters' collection stops */

ngx_int_t
ngx_http_tokenroute_admin_fail(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    ctx->message = ngx_pnalloc(r->pool, 512);
    if (ctx->message == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(ctx->message, ctx->message + 511, fmt, args);
    va_end(args);

    *p = '\0';

    ctx->status = status;
    ctx->code = code;

    return NGX_ABORT;
}
