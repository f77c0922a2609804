
/*
 * Copyright (C) tokenroute authors
 *
 * The reservation sweep: every worker, once a second, off the admission
 * path, releases the reservations past their deadline
 * (tokenroute_reservation_ttl), whose requests will never settle (their
 * nginx was killed).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_sweep.h"
#include "tokenroute_lua.h"


static void ngx_http_tokenroute_sweep_reply(void *data, redisReply *reply);


static u_char      ngx_http_tokenroute_sweep_sha[41];
static ngx_uint_t  ngx_http_tokenroute_sweeping;


/* the script: src/lua/sweep.lua, embedded at build time */

ngx_int_t
ngx_http_tokenroute_sweep_init(ngx_conf_t *cf, ngx_str_t *script)
{
    return ngx_http_tokenroute_script_init(cf, script, tokenroute_lua_sweep,
                                           tokenroute_lua_sweep_len,
                                           ngx_http_tokenroute_sweep_sha);
}


/* called every second: one sweep at a time per worker */

void
ngx_http_tokenroute_sweep(void)
{
    u_char      *p;
    const char  *argv[4];
    size_t       argvlen[4];
    u_char       now[NGX_TIME_T_LEN];

    if (ngx_http_tokenroute_sweeping) {
        return;
    }

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_tokenroute_sweep_sha;
    argvlen[1] = 40;
    argv[2] = "0";
    argvlen[2] = 1;

    p = ngx_sprintf(now, "%T", ngx_time());
    argv[3] = (const char *) now;
    argvlen[3] = p - now;

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_sweep_reply,
                                          NULL, 4, argv, argvlen)
        != NULL)
    {
        ngx_http_tokenroute_sweeping = 1;
    }
}


static void
ngx_http_tokenroute_sweep_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_sweeping = 0;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tokenroute: reservation sweep failed: %s", reply->str);

    } else if (reply && reply->type == REDIS_REPLY_INTEGER
               && reply->integer > 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "tokenroute: released %L expired reservations",
                      (int64_t) reply->integer);
    }
}
