
/*
 * Copyright (C) tokenroute authors
 *
 * The admin API: "tokenroute_admin" makes a location serve the control
 * plane over HTTP and JSON.  A request is authenticated by an admin key
 * (Authorization: Bearer sk-tr-admin-...), routed by the table of
 * src/tokenroute_admin.c to a control script's operation, and its path
 * segments, query parameters and JSON body members become the
 * operation's parameters.  The script (src/lua/ctl_*.lua, the same the
 * CLI runs) checks the admin key, the parameters and the rules, and makes
 * the writes, in one EVALSHA: its JSON document is the response, its
 * error reply "<status> <type> <message>" an OpenAI-style error.
 *
 *   content handler -> body read -> parameters -> EVALSHA (admin_call.c)
 *                                                 -> response, finalize
 *
 * The request's state is not the module's ctx: that slot holds the
 * gateway's own ctx, which the filters and the log handler read.  It
 * hangs off a cleanup of the request's pool, where the body's post
 * handler finds it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_admin.h"
#include "ngx_http_tokenroute_admin_call.h"
#include "ngx_http_tokenroute_admin_params.h"
#include "ngx_http_tokenroute_admin_usage.h"
#include "ngx_http_tokenroute_error.h"
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_admin.h"
#include "tokenroute_key.h"
#include "tokenroute_lua.h"
#include "tokenroute_secret.h"


static ngx_int_t ngx_http_tokenroute_admin_handler(ngx_http_request_t *r);
static void ngx_http_tokenroute_admin_cleanup(void *data);
static void ngx_http_tokenroute_admin_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_admin_start(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx);
static void ngx_http_tokenroute_admin_done(ngx_http_request_t *r,
    void *data, redisReply *reply);
static ngx_int_t ngx_http_tokenroute_admin_respond(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_http_tokenroute_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *fmt, ...);


/*
 * The control scripts this module embeds (config's TOKENROUTE_LUA): a
 * route whose script is not here answers 501.
 */
static ngx_http_tokenroute_admin_script_t  ngx_http_tokenroute_admin_scripts[]
    = {
    { "accounts", tokenroute_lua_ctl_accounts,
      &tokenroute_lua_ctl_accounts_len, ngx_null_string, "" },
    { "admin", tokenroute_lua_ctl_admin,
      &tokenroute_lua_ctl_admin_len, ngx_null_string, "" },
    { "keys", tokenroute_lua_ctl_keys,
      &tokenroute_lua_ctl_keys_len, ngx_null_string, "" },
    { "tenants", tokenroute_lua_ctl_tenants,
      &tokenroute_lua_ctl_tenants_len, ngx_null_string, "" },
    { NULL, NULL, NULL, ngx_null_string, "" }
};


char *
ngx_http_tokenroute_admin_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_tokenroute_main_conf_t     *trmcf;
    ngx_http_tokenroute_admin_script_t  *s;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tokenroute_admin_handler;

    /* the worker's Redis client starts where the module is used */
    trmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tokenroute_module);
    trmcf->used = 1;

    for (s = ngx_http_tokenroute_admin_scripts; s->name; s++) {
        if (ngx_http_tokenroute_script_init(cf, &s->script, s->text, *s->len,
                                            s->sha)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tokenroute_admin_handler(ngx_http_request_t *r)
{
    size_t                               start, len;
    ngx_int_t                            rc;
    ngx_str_t                            path;
    const char                          *name;
    ngx_table_elt_t                     *h, *cc;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_tokenroute_admin_ctx_t     *ctx;
    ngx_http_tokenroute_admin_script_t  *s;

    /* answers hold raw keys and balances, errors included: not cached */

    cc = ngx_list_push(&r->headers_out.headers);
    if (cc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cc->hash = 1;
    ngx_str_set(&cc->key, "Cache-Control");
    ngx_str_set(&cc->value, "no-store");

    /* the admin key: its shape here, its record in the script */

    h = r->headers_in.authorization;

    if (h == NULL
        || tokenroute_key_bearer(h->value.data, h->value.len, &start, &len)
           != 0
        || tokenroute_secret_admin_valid(h->value.data + start, len) != 0)
    {
        return ngx_http_tokenroute_admin_error(r, NGX_HTTP_UNAUTHORIZED,
                   "invalid_api_key", "The admin API takes an admin key "
                   "(Authorization: Bearer %s...), not a model key",
                   TOKENROUTE_ADMIN_KEY_PREFIX);
    }

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_tokenroute_admin_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_tokenroute_admin_ctx_t));
    cln->handler = ngx_http_tokenroute_admin_cleanup;

    if (tokenroute_sha256_hex(h->value.data + start, len, (char *) ctx->hash)
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the route: the URI after the location's prefix */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    path = r->uri;

    if (!clcf->named
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
        && path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;
    }

    rc = tokenroute_admin_match((const char *) r->method_name.data,
                                r->method_name.len,
                                (const char *) path.data, path.len,
                                &ctx->match);

    if (rc == TOKENROUTE_ADMIN_NOT_FOUND) {
        return ngx_http_tokenroute_admin_error(r, NGX_HTTP_NOT_FOUND,
                                               "not_found",
                                               "Unknown admin API route");
    }

    if (rc == TOKENROUTE_ADMIN_BAD_METHOD) {
        return ngx_http_tokenroute_admin_error(r, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed", "Method %V not allowed here",
                   &r->method_name);
    }

    name = ctx->match.route->script;


    /* the usage report: the admin key checked by ctl_admin.lua's whoami */

    if (ngx_strcmp(name, TOKENROUTE_ADMIN_REPORT) == 0) {
        name = "admin";

        ctx->report = ngx_array_create(r->pool, 8, sizeof(ngx_str_t));
        if (ctx->report == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }


    for (s = ngx_http_tokenroute_admin_scripts; s->name; s++) {
        if (ngx_strcmp(s->name, name) == 0) {
            ctx->script = s;
            break;
        }
    }

    if (ctx->script == NULL) {
        return ngx_http_tokenroute_admin_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                   "not_implemented", "This gateway was built without the "
                   "operations of this route (%s)",
                   ctx->match.route->script);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_TOKENROUTE_ADMIN_BODY_MAX)
    {
        return ngx_http_tokenroute_admin_error(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                   "The request body is over %uz bytes",
                   (size_t) NGX_HTTP_TOKENROUTE_ADMIN_BODY_MAX);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_tokenroute_admin_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the raw key made for the request is not left in freed memory */

static void
ngx_http_tokenroute_admin_cleanup(void *data)
{
    ngx_http_tokenroute_admin_ctx_t  *ctx = data;

    ngx_explicit_memzero(&ctx->secret, sizeof(tokenroute_secret_t));
}


static void
ngx_http_tokenroute_admin_body(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_pool_cleanup_t               *cln;
    ngx_http_tokenroute_admin_ctx_t  *ctx;

    ctx = NULL;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_tokenroute_admin_cleanup) {
            ctx = cln->data;
            break;
        }
    }

    rc = (ctx != NULL) ? ngx_http_tokenroute_admin_start(r, ctx)
                       : NGX_HTTP_INTERNAL_SERVER_ERROR;

    if (rc == NGX_ABORT) {
        rc = ngx_http_tokenroute_send_error(r, TOKENROUTE_SHAPE_OPENAI,
                                            ctx->status, ctx->code,
                                            (const char *) ctx->message);
    }

    if (rc == NGX_AGAIN) {
        /* a client that goes away ends the request at once */
        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_request_empty_handler;
        return;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * NGX_AGAIN: in Redis; NGX_ABORT: refused, the error in ctx; else the
 * request's final status or response
 */

static ngx_int_t
ngx_http_tokenroute_admin_start(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx)
{
    u_char                    *p, *now, *actor;
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_uint_t                 i;
    tokenroute_admin_route_t  *route;

    route = ctx->match.route;

    ctx->args = ngx_array_create(r->pool, 24, sizeof(ngx_str_t));
    if (ctx->args == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_tokenroute_admin_read(r, ctx, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * op, now, actor: the calling convention of src/lua/ctl_lib.lua; in
     * the pool, as every argument, for a command sent again (NOSCRIPT)
     */

    now = ngx_pnalloc(r->pool, NGX_TIME_T_LEN
                               + sizeof(NGX_HTTP_TOKENROUTE_ACTOR) + 64);
    if (now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    actor = now + NGX_TIME_T_LEN;

    p = ngx_http_tokenroute_write_int(now, ngx_time());
    rc = ctx->report ? ngx_http_tokenroute_admin_arg(r, ctx, "whoami", 6)
                     : ngx_http_tokenroute_admin_arg(r, ctx, route->op,
                                                     ngx_strlen(route->op));
    if (rc != NGX_OK
        || ngx_http_tokenroute_admin_arg(r, ctx, now, p - now) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(actor, NGX_HTTP_TOKENROUTE_ACTOR,
                   sizeof(NGX_HTTP_TOKENROUTE_ACTOR) - 1);
    p = ngx_cpymem(p, ctx->hash, 64);

    if (ngx_http_tokenroute_admin_arg(r, ctx, actor, p - actor) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_tokenroute_admin_members(r, ctx, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_tokenroute_admin_query(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    for (i = 0; i < ctx->match.nseg; i++) {
        rc = ngx_http_tokenroute_admin_segment(r, ctx, &ctx->match.seg[i]);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* a raw key for create and rotate: only what stands for it is sent */

    if (route->secret) {
        if (tokenroute_secret_make(&ctx->secret,
                                   route->secret == TOKENROUTE_ADMIN_ROTATE
                                   ? TOKENROUTE_SECRET_KEY : route->secret)
            != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tokenroute: cannot make a random key");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_tokenroute_admin_arg(r, ctx, "hash", 4) != NGX_OK
            || ngx_http_tokenroute_admin_arg(r, ctx, ctx->secret.hash, 64)
               != NGX_OK
            || ngx_http_tokenroute_admin_arg(r, ctx, "prefix", 6) != NGX_OK
            || ngx_http_tokenroute_admin_arg(r, ctx, ctx->secret.prefix,
                                             ngx_strlen(ctx->secret.prefix))
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* a rotated key keeps its id */

        if (route->secret != TOKENROUTE_ADMIN_ROTATE
            && (ngx_http_tokenroute_admin_arg(r, ctx, "id", 2) != NGX_OK
                || ngx_http_tokenroute_admin_arg(r, ctx, ctx->secret.id,
                                                 ngx_strlen(ctx->secret.id))
                   != NGX_OK))
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_tokenroute_admin_call(r, ctx->script, ctx->args,
                                        ngx_http_tokenroute_admin_done, ctx);

    if (rc == NGX_DECLINED) {
        return ngx_http_tokenroute_admin_respond(r, ctx, NULL);
    }

    if (rc == NGX_ERROR) {
        return ngx_http_tokenroute_admin_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                              "invalid_request",
                                              "Too many parameters");
    }

    return NGX_AGAIN;
}


static void
ngx_http_tokenroute_admin_done(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_tokenroute_admin_ctx_t  *ctx = data;

    ngx_connection_t  *c;
    ngx_int_t          rc;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);


    /* the admin key is good: the report follows, and ends the request */

    if (ctx->report && reply && reply->type == REDIS_REPLY_STRING) {
        rc = ngx_http_tokenroute_admin_usage(r, ctx->report);

        if (rc == NGX_AGAIN) {
            return;
        }

        ngx_http_finalize_request(r, rc);
        ngx_http_run_posted_requests(c);
        return;
    }


    ngx_http_finalize_request(r,
                              ngx_http_tokenroute_admin_respond(r, ctx, reply));

    ngx_http_run_posted_requests(c);
}


/*
 * The script's document (with the raw key made for the request first in
 * it), or its error "<status> <type> <message>"; no reply: 503.
 */

static ngx_int_t
ngx_http_tokenroute_admin_respond(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_ctx_t *ctx, redisReply *reply)
{
    u_char      *p, *type;
    size_t       n;
    ngx_int_t    status;
    const char  *msg, *sp;

    if (reply == NULL) {
        return ngx_http_tokenroute_admin_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "service_unavailable",
                   "The control plane's store (Redis) is unavailable");
    }

    if (reply->type == REDIS_REPLY_STRING) {
        if (!ctx->match.route->secret) {
            p = ngx_pnalloc(r->pool, reply->len);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(p, reply->str, reply->len);

            return ngx_http_tokenroute_send_json(r, NGX_HTTP_OK, p,
                                                 reply->len);
        }

        n = tokenroute_secret_json(NULL, reply->str, reply->len,
                                   ctx->secret.raw, ctx->secret.raw_len);
        p = (n != 0) ? ngx_pnalloc(r->pool, n) : NULL;

        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        tokenroute_secret_json((char *) p, reply->str, reply->len,
                               ctx->secret.raw, ctx->secret.raw_len);

        return ngx_http_tokenroute_send_json(r, NGX_HTTP_OK, p, n);
    }

    if (reply->type == REDIS_REPLY_ERROR && reply->len > 4
        && reply->str[3] == ' '
        && (status = ngx_atoi((u_char *) reply->str, 3)) >= 400
        && status < 600
        && (sp = ngx_strchr(reply->str + 4, ' ')) != NULL)
    {
        msg = sp + 1;
        n = sp - (reply->str + 4);

        type = ngx_pnalloc(r->pool, n + 1);
        if (type == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(type, reply->str + 4, n);
        type[n] = '\0';

        return ngx_http_tokenroute_admin_error(r, status, (char *) type,
                                               "%s", msg);
    }

    /* a script's bug or Redis's own error: the log says which */

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "tokenroute: admin operation %s %s failed: %s",
                  ctx->script->name, ctx->match.route->op,
                  reply->type == REDIS_REPLY_ERROR ? reply->str
                                                   : "unexpected reply");

    return ngx_http_tokenroute_admin_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "internal_error",
                                           "The operation failed");
}


static ngx_int_t
ngx_http_tokenroute_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    msg[512];

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    return ngx_http_tokenroute_send_error(r, TOKENROUTE_SHAPE_OPENAI, status,
                                          code, (const char *) msg);
}
