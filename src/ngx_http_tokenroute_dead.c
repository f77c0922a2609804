
/*
 * Copyright (C) tokenroute authors
 *
 * Settlements Redis keeps rejecting: they go to the dead letters, a
 * Redis list "tr:dead" of one line each (request id, account, key id,
 * model, time, cost, input, output, cached, estimated, Redis's error),
 * with an [alert] carrying the same amounts, and are never sent again.
 * An operator reads them (LRANGE tr:dead 0 -1), fixes what Redis
 * refused (a key of the wrong type, a field that is not an integer) or
 * the amounts, and charges them by hand.
 *
 * Also here: which error replies say nothing about a batch's contents.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_dead.h"
#include "ngx_http_tokenroute_journal.h"
#include "ngx_http_tokenroute_metrics.h"
#include "ngx_http_tokenroute_redis.h"
#include "ngx_http_tokenroute_settlement.h"
#include "tokenroute_schema.h"


#define NGX_HTTP_TOKENROUTE_DEAD_LINE_LEN  1024


static void ngx_http_tokenroute_dead_reply(void *data, redisReply *reply);


/*
 * Errors Redis answers whatever the script was given: it cannot run
 * scripts or writes now.  The batch waits in the journal, as when the
 * connection is lost, and is not counted against its settlements.
 */

static ngx_str_t  ngx_http_tokenroute_unable[] = {
    ngx_string("NOSCRIPT"),
    ngx_string("OOM"),
    ngx_string("BUSY"),
    ngx_string("LOADING"),
    ngx_string("READONLY"),
    ngx_string("MASTERDOWN"),
    ngx_string("MISCONF"),
    ngx_string("NOREPLICAS"),
    ngx_string("TRYAGAIN"),
    ngx_string("CLUSTERDOWN"),
    ngx_string("NOAUTH"),
    ngx_string("NOPERM"),
    ngx_null_string
};


ngx_int_t
ngx_http_tokenroute_redis_unable(redisReply *reply)
{
    ngx_str_t  *e;

    for (e = ngx_http_tokenroute_unable; e->len; e++) {
        if (reply->len >= e->len
            && ngx_strncmp(reply->str, e->data, e->len) == 0
            && (reply->len == e->len || reply->str[e->len] == ' '))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * s is a record of the worker's (ngx_http_tokenroute_settle()'s copy):
 * it is freed here, or journaled still dead-bound (its tries) when the
 * RPUSH cannot be made, and the journal brings it back here.  Freed, not
 * recycled through settlement's free list: dead letters are rare, and
 * this file sits below settlement, which calls it.
 */

void
ngx_http_tokenroute_dead(ngx_http_tokenroute_settlement_t *s)
{
    u_char      *p;
    const char  *argv[3];
    size_t       argvlen[3];
    u_char       line[NGX_HTTP_TOKENROUTE_DEAD_LINE_LEN];

#define ngx_http_tokenroute_or_dash(len, data)                               \
    (size_t) ((len) ? (len) : 1), (len) ? (data) : (u_char *) "-"

    p = ngx_snprintf(line, sizeof(line),
                     "%*s %*s %*s %*s %T %L %L %L %L %L %s%*s",
                     (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                     s->request_id,
                     ngx_http_tokenroute_or_dash(s->account_len, s->account),
                     ngx_http_tokenroute_or_dash(s->key_id_len, s->key_id),
                     ngx_http_tokenroute_or_dash(s->model_len, s->model),
                     s->time, s->cost, s->input, s->output, s->cached,
                     s->estimated, s->release ? "release: " : "",
                     s->error_len, s->error);

#undef ngx_http_tokenroute_or_dash

    if (s->tries == NGX_HTTP_TOKENROUTE_SETTLE_TRIES) {
        /* once, when it is given up; not when it comes back unwritten */
        s->tries++;
        ngx_http_tokenroute_metrics_dead_letter();

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "tokenroute: %s %*s rejected by Redis %d times, "
                      "moved to " TOKENROUTE_REDIS_DEAD ": account %*s "
                      "key %*s model %*s "
                      "cost %L input %L output %L cached %L estimated %L "
                      "nano-USD/tokens: %*s",
                      s->release ? "release of" : "settlement",
                      (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                      s->request_id, NGX_HTTP_TOKENROUTE_SETTLE_TRIES,
                      s->account_len, s->account, s->key_id_len, s->key_id,
                      s->model_len, s->model, s->cost, s->input, s->output,
                      s->cached, s->estimated, s->error_len, s->error);
    }

    argv[0] = "RPUSH";
    argvlen[0] = 5;
    argv[1] = TOKENROUTE_REDIS_DEAD;
    argvlen[1] = sizeof(TOKENROUTE_REDIS_DEAD) - 1;
    argv[2] = (const char *) line;
    argvlen[2] = p - line;

    if (ngx_http_tokenroute_redis_command(ngx_http_tokenroute_dead_reply, s,
                                          3, argv, argvlen)
        == NULL)
    {
        ngx_http_tokenroute_journal_add(s);
        ngx_free(s);
    }
}


static void
ngx_http_tokenroute_dead_reply(void *data, redisReply *reply)
{
    ngx_http_tokenroute_settlement_t  *s = data;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {

        if (reply) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "tokenroute: dead letter of %*s not written: %s",
                          (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                          s->request_id, reply->type == REDIS_REPLY_ERROR
                                         ? reply->str : "unexpected reply");
        }

        ngx_http_tokenroute_journal_add(s);
    }

    ngx_free(s);
}
