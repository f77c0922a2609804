
/*
 * Copyright (C) tokenroute authors
 *
 * One control-script operation for an admin API request: EVALSHA on the
 * worker's Redis connection, bounded by its timer (the client's
 * command timeout), and the reply handed to the request, if it still
 * exists.
 *
 * The wait record outlives the request (the reply may come after the
 * client went away): it is ngx_alloc()ed, and a cleanup of the request's
 * pool, through a link in that pool, empties its request pointer, so that
 * the reply then frees the record and touches nothing else.  A reply to
 * a request still there empties the link first: the cleanup, run when the
 * request ends, then finds no record.  A script Redis does not have (a
 * restarted or flushed Redis: NOSCRIPT) is sent once more with EVAL,
 * which also caches it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_admin_call.h"
#include "ngx_http_tokenroute_redis.h"


#define NGX_HTTP_TOKENROUTE_ADMIN_ARGS  80


typedef struct ngx_http_tokenroute_admin_wait_s
    ngx_http_tokenroute_admin_wait_t;

typedef struct {
    ngx_http_tokenroute_admin_wait_t      *wait;     /* NULL: answered */
} ngx_http_tokenroute_admin_link_t;

struct ngx_http_tokenroute_admin_wait_s {
    ngx_http_request_t                    *request;  /* NULL: gone */
    ngx_http_tokenroute_admin_link_t      *link;     /* in its pool */
    ngx_http_tokenroute_admin_script_t    *script;
    ngx_array_t                           *args;
    ngx_http_tokenroute_admin_done_pt      done;
    void                                  *data;
    unsigned                               eval:1;
};


static ngx_int_t ngx_http_tokenroute_admin_send(
    ngx_http_tokenroute_admin_wait_t *w);
static void ngx_http_tokenroute_admin_reply(void *data, redisReply *reply);
static void ngx_http_tokenroute_admin_gone(void *data);


ngx_int_t
ngx_http_tokenroute_admin_call(ngx_http_request_t *r,
    ngx_http_tokenroute_admin_script_t *s, ngx_array_t *args,
    ngx_http_tokenroute_admin_done_pt done, void *data)
{
    ngx_int_t                          rc;
    ngx_pool_cleanup_t                *cln;
    ngx_http_tokenroute_admin_wait_t  *w;
    ngx_http_tokenroute_admin_link_t  *link;

    if (args->nelts + 3 > NGX_HTTP_TOKENROUTE_ADMIN_ARGS) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_tokenroute_admin_link_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    link = cln->data;
    link->wait = NULL;

    w = ngx_alloc(sizeof(ngx_http_tokenroute_admin_wait_t),
                  r->connection->log);
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->link = link;
    w->script = s;
    w->args = args;
    w->done = done;
    w->data = data;
    w->eval = 0;

    rc = ngx_http_tokenroute_admin_send(w);

    if (rc != NGX_OK) {
        ngx_free(w);
        return rc;
    }

    link->wait = w;
    cln->handler = ngx_http_tokenroute_admin_gone;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_tokenroute_admin_send(ngx_http_tokenroute_admin_wait_t *w)
{
    ngx_str_t   *a;
    ngx_uint_t   i;
    const char  *argv[NGX_HTTP_TOKENROUTE_ADMIN_ARGS];
    size_t       argvlen[NGX_HTTP_TOKENROUTE_ADMIN_ARGS];

    if (w->eval) {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = (const char *) w->script->script.data;
        argvlen[1] = w->script->script.len;

    } else {
        argv[0] = "EVALSHA";
        argvlen[0] = 7;
        argv[1] = (const char *) w->script->sha;
        argvlen[1] = 40;
    }

    argv[2] = "0";
    argvlen[2] = 1;

    a = w->args->elts;

    for (i = 0; i < w->args->nelts; i++) {
        argv[3 + i] = (const char *) a[i].data;
        argvlen[3 + i] = a[i].len;
    }

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_admin_reply, w,
                                          3 + w->args->nelts, argv, argvlen)
        == NULL)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the request's pool is destroyed: the reply will find no one */

static void
ngx_http_tokenroute_admin_gone(void *data)
{
    ngx_http_tokenroute_admin_link_t  *link = data;

    if (link->wait) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP,
                       link->wait->request->connection->log, 0,
                       "tokenroute admin: request gone while in Redis");
        link->wait->request = NULL;
        link->wait = NULL;
    }
}


static void
ngx_http_tokenroute_admin_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_admin_wait_t  *w = data;

    ngx_http_request_t                 *r;
    ngx_http_tokenroute_admin_done_pt   done;

    r = w->request;

    if (r == NULL) {
        ngx_free(w);
        return;
    }

    if (reply && reply->type == REDIS_REPLY_ERROR && !w->eval
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "tokenroute admin: %s not loaded, EVAL",
                       w->script->name);

        w->eval = 1;

        if (ngx_http_tokenroute_admin_send(w) == NGX_OK) {
            return;
        }

        reply = NULL;
    }

    w->link->wait = NULL;
    done = w->done;
    data = w->data;
    ngx_free(w);

    done(r, data, reply);
}
