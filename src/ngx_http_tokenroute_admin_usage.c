
/*
 * Copyright (C) tokenroute authors
 *
 * The admin API's usage route: the report of "tokenroute usage"
 * (src/tokenroute_report.c, pure C: commands out, replies in) driven on
 * the worker's Redis connection.  Each round's commands are sent at once,
 * each bounded by the client's command timer; the next round starts when
 * every reply of this one is in.  Built when the report is in the tree
 * (config).
 *
 * The report's record outlives the request (replies may come after the
 * client went away): it is ngx_alloc()ed, and a cleanup of the request's
 * pool, through a link in that pool, empties its request pointer; the
 * last reply of the round then frees it and touches nothing else.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_admin_usage.h"
#include "ngx_http_tokenroute_error.h"
#include "ngx_http_tokenroute_redis.h"
#include "tokenroute_report.h"


typedef struct ngx_http_tokenroute_usage_s  ngx_http_tokenroute_usage_t;

typedef struct {
    ngx_http_tokenroute_usage_t     *usage;    /* NULL: done or gone */
} ngx_http_tokenroute_usage_link_t;


/* a command of the round: its index in the report */
typedef struct {
    ngx_http_tokenroute_usage_t     *usage;
    size_t                           index;
} ngx_http_tokenroute_usage_cmd_t;


struct ngx_http_tokenroute_usage_s {
    ngx_http_request_t              *request;  /* NULL: gone */
    ngx_http_tokenroute_usage_link_t *link;
    tokenroute_report_t             *report;
    ngx_http_tokenroute_usage_cmd_t *cmds;     /* of the round */
    ngx_uint_t                       pending;
    ngx_log_t                       *log;
    unsigned                         lost:1;   /* a command unanswered */
};


static ngx_int_t ngx_http_tokenroute_usage_round(
    ngx_http_tokenroute_usage_t *u);
static void ngx_http_tokenroute_usage_reply(void *data, redisReply *reply);
static ngx_int_t ngx_http_tokenroute_usage_render(
    ngx_http_tokenroute_usage_t *u);
static ngx_int_t ngx_http_tokenroute_usage_failed(
    ngx_http_tokenroute_usage_t *u);
static ngx_int_t ngx_http_tokenroute_usage_unavailable(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_tokenroute_usage_send(ngx_http_request_t *r,
    int format, u_char *text, size_t len);
static void ngx_http_tokenroute_usage_gone(void *data);
static void ngx_http_tokenroute_usage_free(ngx_http_tokenroute_usage_t *u);


ngx_int_t
ngx_http_tokenroute_admin_usage(ngx_http_request_t *r, ngx_array_t *params)
{
    u_char                            *name, *value;
    ngx_int_t                          rc;
    ngx_str_t                         *p;
    ngx_uint_t                         i;
    ngx_pool_cleanup_t                *cln;
    tokenroute_report_t               *rp;
    ngx_http_tokenroute_usage_t       *u;
    ngx_http_tokenroute_usage_link_t  *link;

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_tokenroute_usage_link_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    link = cln->data;
    link->usage = NULL;
    cln->handler = ngx_http_tokenroute_usage_gone;

    rp = tokenroute_report_create();
    if (rp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = params->elts;

    for (i = 0; i + 1 < params->nelts; i += 2) {
        name = ngx_pnalloc(r->pool, p[i].len + p[i + 1].len + 2);
        if (name == NULL) {
            tokenroute_report_destroy(rp);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        value = ngx_cpymem(name, p[i].data, p[i].len);
        *value++ = '\0';
        *ngx_cpymem(value, p[i + 1].data, p[i + 1].len) = '\0';

        if (tokenroute_report_param(rp, (char *) name, (char *) value)
            != 0)
        {
            break;
        }
    }

    u = ngx_calloc(sizeof(ngx_http_tokenroute_usage_t), r->connection->log);
    if (u == NULL) {
        tokenroute_report_destroy(rp);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->request = r;
    u->link = link;
    u->report = rp;
    u->log = ngx_cycle->log;
    link->usage = u;

    if (i + 1 < params->nelts || tokenroute_report_plan(rp, ngx_time()) != 0)
    {
        rc = ngx_http_tokenroute_usage_failed(u);

    } else {
        rc = ngx_http_tokenroute_usage_round(u);

        if (rc == NGX_DECLINED) {
            rc = ngx_http_tokenroute_usage_unavailable(r);
        }
    }

    if (rc != NGX_AGAIN) {
        link->usage = NULL;
        ngx_http_tokenroute_usage_free(u);
    }

    return rc;
}


/*
 * NGX_AGAIN: commands in Redis; NGX_DECLINED: none could be sent (Redis
 * down); else the request's final response
 */

static ngx_int_t
ngx_http_tokenroute_usage_round(ngx_http_tokenroute_usage_t *u)
{
    int                             k;
    size_t                          i, n;
    const tokenroute_report_cmd_t  *c;
    const char                     *argv[TOKENROUTE_REPORT_ARGS];
    size_t                          argvlen[TOKENROUTE_REPORT_ARGS];

    n = tokenroute_report_ncmds(u->report);

    if (n == 0) {
        return ngx_http_tokenroute_usage_render(u);
    }

    u->cmds = ngx_alloc(n * sizeof(ngx_http_tokenroute_usage_cmd_t), u->log);
    if (u->cmds == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->pending = 0;

    for (i = 0; i < n; i++) {
        c = tokenroute_report_cmd(u->report, i);

        u->cmds[i].usage = u;
        u->cmds[i].index = i;

        for (k = 0; k < c->argc && k < TOKENROUTE_REPORT_ARGS; k++) {
            argv[k] = c->argv[k];
            argvlen[k] = c->argvlen[k];
        }

        if (ngx_http_tokenroute_redis_command(
                ngx_http_tokenroute_usage_reply, &u->cmds[i], k, argv,
                argvlen)
            == NULL)
        {
            /* Redis gone: the commands sent are answered NULL */
            u->lost = 1;
            break;
        }

        u->pending++;
    }

    if (u->pending == 0) {
        ngx_free(u->cmds);
        u->cmds = NULL;

        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


static void
ngx_http_tokenroute_usage_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_usage_cmd_t  *cmd = data;

    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_tokenroute_usage_t  *u;

    u = cmd->usage;

    if (reply == NULL) {
        u->lost = 1;

    } else if (u->request && !u->lost) {
        (void) tokenroute_report_reply(u->report, cmd->index, reply);
    }

    if (--u->pending) {
        return;
    }

    ngx_free(u->cmds);
    u->cmds = NULL;

    r = u->request;

    if (r == NULL) {
        ngx_http_tokenroute_usage_free(u);
        return;
    }

    if (u->lost) {
        rc = NGX_DECLINED;

    } else if (tokenroute_report_next(u->report) != 0) {
        rc = ngx_http_tokenroute_usage_failed(u);

    } else {
        rc = ngx_http_tokenroute_usage_round(u);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_tokenroute_usage_unavailable(r);
    }

    if (rc == NGX_AGAIN) {
        return;
    }

    u->link->usage = NULL;
    ngx_http_tokenroute_usage_free(u);

    c = r->connection;

    ngx_http_set_log_request(c->log, r);
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_tokenroute_usage_render(ngx_http_tokenroute_usage_t *u)
{
    char       *text;
    size_t      len;
    ngx_int_t   rc;

    if (tokenroute_report_render(u->report, &text, &len) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_tokenroute_usage_send(u->request,
                                        tokenroute_report_format(u->report),
                                        (u_char *) text, len);
    free(text);

    return rc;
}


/* the report's error: 400 a bad parameter, 404 no such name, 500 */

static ngx_int_t
ngx_http_tokenroute_usage_failed(ngx_http_tokenroute_usage_t *u)
{
    int                  status;
    const char          *code;
    ngx_http_request_t  *r;

    r = u->request;
    status = tokenroute_report_status(u->report);

    if (status == TOKENROUTE_REPORT_BAD) {
        code = "invalid_request";

    } else if (status == TOKENROUTE_REPORT_NOT_FOUND) {
        code = "not_found";

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tokenroute: usage report failed: %s",
                      tokenroute_report_error(u->report));
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        code = "internal_error";
    }

    return ngx_http_tokenroute_send_error(r, TOKENROUTE_SHAPE_OPENAI, status,
                                          code,
                                          tokenroute_report_error(u->report));
}


static ngx_int_t
ngx_http_tokenroute_usage_unavailable(ngx_http_request_t *r)
{
    return ngx_http_tokenroute_send_error(r, TOKENROUTE_SHAPE_OPENAI,
               NGX_HTTP_SERVICE_UNAVAILABLE, "service_unavailable",
               "The usage records' store (Redis) is unavailable");
}


/* JSON, or the table and CSV of the CLI as text */

static ngx_int_t
ngx_http_tokenroute_usage_send(ngx_http_request_t *r, int format,
    u_char *text, size_t len)
{
    u_char       *p;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, text, len);

    if (format == TOKENROUTE_REPORT_JSON) {
        return ngx_http_tokenroute_send_json(r, NGX_HTTP_OK, p, len);
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;

    if (format == TOKENROUTE_REPORT_CSV) {
        ngx_str_set(&r->headers_out.content_type, "text/csv; charset=utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; charset=utf-8");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = p;
    b->last = p + len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void
ngx_http_tokenroute_usage_gone(void *data)
{
    ngx_http_tokenroute_usage_link_t  *link = data;

    if (link->usage) {
        link->usage->request = NULL;
        link->usage = NULL;
    }
}


static void
ngx_http_tokenroute_usage_free(ngx_http_tokenroute_usage_t *u)
{
    tokenroute_report_destroy(u->report);
    ngx_free(u);
}
