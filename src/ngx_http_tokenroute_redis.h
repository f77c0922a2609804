
/*
 * Copyright (C) tokenroute authors
 *
 * The per-worker Redis client: one persistent hiredis async connection
 * driven by nginx's event loop, and commands bounded by a timer.
 */


#ifndef _NGX_HTTP_TOKENROUTE_REDIS_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_tokenroute_module.h"


/*
 * Called once per command: with the reply, or with reply == NULL when the
 * command failed (not connected, connection lost, or timed out).
 */
typedef void (*ngx_http_tokenroute_redis_handler_pt)(void *data,
    redisReply *reply);


typedef struct ngx_http_tokenroute_redis_op_s  ngx_http_tokenroute_redis_op_t;

struct ngx_http_tokenroute_redis_op_s {
    ngx_http_tokenroute_redis_op_t        *next;     /* on the free list */
    ngx_http_tokenroute_redis_handler_pt   handler;
    void                                  *data;
    ngx_event_t                            timer;
    ngx_msec_t                             sent;     /* for the debug log */
    unsigned                               done:1;
};


ngx_int_t ngx_http_tokenroute_redis_init(ngx_cycle_t *cycle,
    ngx_http_tokenroute_redis_conf_t *conf);
void ngx_http_tokenroute_redis_shutdown(void);

ngx_http_tokenroute_redis_op_t *ngx_http_tokenroute_redis_command(
    ngx_http_tokenroute_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);

ngx_int_t ngx_http_tokenroute_redis_ready(void);

/*
 * Where the worker's connection is up (for the invalidation subscriber to
 * follow it): NGX_DECLINED while it is not; host->len 0: the unix socket.
 */
ngx_int_t ngx_http_tokenroute_redis_current(ngx_str_t *host,
    in_port_t *port);

/* an embedded script, and the hex SHA-1 of it that EVALSHA names */
ngx_int_t ngx_http_tokenroute_script_init(ngx_conf_t *cf, ngx_str_t *script,
    const char *text, size_t len, u_char *hex);

/* n in decimal at p; returns the end */
u_char *ngx_http_tokenroute_write_int(u_char *p, int64_t n);

/* ngx_http_tokenroute_redis_sentinel.c: where to connect */

typedef void (*ngx_http_tokenroute_redis_found_pt)(void *data,
    ngx_str_t *host, in_port_t port);

typedef struct {
    ngx_http_tokenroute_redis_conf_t      *conf;
    ngx_log_t                             *log;
    ngx_http_tokenroute_redis_found_pt     handler;
    void                                  *data;
    ngx_resolver_ctx_t                    *rctx;     /* a lookup */
    redisAsyncContext                     *ac;       /* a sentinel asked */
    ngx_http_tokenroute_redis_addr_t      *addr;     /* being looked up */
    ngx_event_t                            timer;    /* a sentinel's turn */
    ngx_uint_t                             next;     /* sentinel to ask */
    ngx_uint_t                             tried;
    ngx_uint_t                             turn;     /* of the answers */
    ngx_str_t                              host;     /* what was found */
    in_port_t                              port;
    u_char                                 buf[NGX_SOCKADDR_STRLEN + 1];
    unsigned                               sentinel:1;
    unsigned                               busy:1;
} ngx_http_tokenroute_redis_finder_t;

void ngx_http_tokenroute_redis_finder_init(
    ngx_http_tokenroute_redis_finder_t *f,
    ngx_http_tokenroute_redis_conf_t *conf, ngx_log_t *log);
void ngx_http_tokenroute_redis_find(ngx_http_tokenroute_redis_finder_t *f,
    ngx_http_tokenroute_redis_found_pt handler, void *data);
void ngx_http_tokenroute_redis_find_cancel(
    ngx_http_tokenroute_redis_finder_t *f);
void ngx_http_tokenroute_redis_find_distrust(
    ngx_http_tokenroute_redis_finder_t *f);

/* ngx_http_tokenroute_redis_adapter.c */
ngx_int_t ngx_http_tokenroute_redis_attach(redisAsyncContext *ac,
    ngx_log_t *log);


#endif /* _NGX_HTTP_TOKENROUTE_REDIS_H_INCLUDED_ */
