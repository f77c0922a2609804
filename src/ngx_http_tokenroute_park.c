
/*
 * Copyright (C) tokenroute authors
 *
 * A request parked on Redis: the command whose reply resumes it, canceled
 * if the request goes away first, and the resumption of the phase engine.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_park.h"
#include "ngx_http_tokenroute_redis.h"


static void ngx_http_tokenroute_op_cleanup(void *data);


/*
 * A Redis reply arrived for the request: resume the phase engine as if
 * the connection's own event had fired (lua-nginx-module's sequence).
 */

void
ngx_http_tokenroute_resume(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx)
{
    ngx_connection_t  *c;

    ctx->op = NULL;
    ctx->lookup_done = 1;
    ctx->t_redis += ngx_http_tokenroute_usec() - ctx->t_sent;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tokenroute access: Redis answered in %uL us",
                   ctx->t_redis);

    if (!ctx->waiting_lookup) {
        return;
    }

    ctx->waiting_lookup = 0;

    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);

    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_tokenroute_ctx_command(ngx_http_request_t *r,
    ngx_http_tokenroute_ctx_t *ctx,
    ngx_http_tokenroute_redis_handler_pt handler, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ctx->t_sent = ngx_http_tokenroute_usec();

    ctx->op = ngx_http_tokenroute_redis_command(handler, r, argc, argv,
                                                argvlen);
    if (ctx->op == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tokenroute_op_cleanup;
    cln->data = ctx;

    return NGX_AGAIN;
}


/* the request is freed before Redis answered: the reply must not touch it */

static void
ngx_http_tokenroute_op_cleanup(void *data)
{
    ngx_http_tokenroute_ctx_t  *ctx = data;

    if (ctx->op) {
        ngx_http_tokenroute_redis_cancel(ctx->op);
        ctx->op = NULL;
    }
}


/* nginx's cached time has millisecond resolution; overhead is smaller */

uint64_t
ngx_http_tokenroute_usec(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (uint64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}
