
/*
 * Copyright (C) tokenroute authors
 *
 * hiredis <-> nginx event glue: hiredis owns the socket, nginx watches it
 * through a connection object made for the fd.  Events are level
 * triggered, so a reply larger than hiredis's 16 KB read chunk is read on
 * the next loop iteration instead of stalling.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tokenroute_redis.h"


static void ngx_http_tokenroute_redis_read_handler(ngx_event_t *ev);
static void ngx_http_tokenroute_redis_write_handler(ngx_event_t *ev);
static void ngx_http_tokenroute_redis_add_read(void *privdata);
static void ngx_http_tokenroute_redis_del_read(void *privdata);
static void ngx_http_tokenroute_redis_add_write(void *privdata);
static void ngx_http_tokenroute_redis_del_write(void *privdata);
static void ngx_http_tokenroute_redis_cleanup(void *privdata);


ngx_int_t
ngx_http_tokenroute_redis_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t  *c;

    if (ac->ev.data != NULL) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->read->handler = ngx_http_tokenroute_redis_read_handler;
    c->write->handler = ngx_http_tokenroute_redis_write_handler;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_tokenroute_redis_add_read;
    ac->ev.delRead = ngx_http_tokenroute_redis_del_read;
    ac->ev.addWrite = ngx_http_tokenroute_redis_add_write;
    ac->ev.delWrite = ngx_http_tokenroute_redis_del_write;
    ac->ev.cleanup = ngx_http_tokenroute_redis_cleanup;

    return NGX_OK;
}


static void
ngx_http_tokenroute_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    /* may free the context and, through cleanup, c itself */
    redisAsyncHandleRead(c->data);
}


static void
ngx_http_tokenroute_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_http_tokenroute_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "tokenroute: cannot watch the Redis socket");
        }
    }
}


static void
ngx_http_tokenroute_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_tokenroute_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "tokenroute: cannot watch the Redis socket");
        }
    }
}


static void
ngx_http_tokenroute_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


/*
 * What ngx_close_connection() does, minus close(): hiredis closes the fd
 * itself right after this hook returns.
 */

static void
ngx_http_tokenroute_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_http_tokenroute_redis_del_read(c);
    ngx_http_tokenroute_redis_del_write(c);

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->data = NULL;

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}
