
/*
 * Copyright (C) tokenroute authors
 *
 * Settlements Redis keeps rejecting: they go to the dead letters, a
 * Redis list "tr:dead" of one line each (request id, account, key id,
 * model, time, cost, input, output, cached, estimated; for an aggregate
 * of leased requests its count, failed, lease id, key hash, tenant and
 * hour; Redis's error),
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
static time_t ngx_http_tokenroute_dead_hour(time_t t);


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
                     "%*s %*s %*s %*s %T %L %L %L %L %L ",
                     (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                     s->request_id,
                     ngx_http_tokenroute_or_dash(s->account_len, s->account),
                     ngx_http_tokenroute_or_dash(s->key_id_len, s->key_id),
                     ngx_http_tokenroute_or_dash(s->model_len, s->model),
                     s->time, s->cost, s->input, s->output, s->cached,
                     s->estimated);

    /*
     * An aggregate of leased requests: what charging it by hand needs
     * beside its flush id (settle.lua's arguments for it)
     */

    if (s->count) {
        p = ngx_snprintf(p, line + sizeof(line) - p,
                         "aggregate %ui %L %*s %*s %*s %T: ",
                         s->count, s->failed,
                         (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                         s->lease_id,
                         (size_t) NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN,
                         s->key_hash,
                         ngx_http_tokenroute_or_dash(s->tenant_len,
                                                     s->tenant),
                         ngx_http_tokenroute_dead_hour(s->time));
    }

    p = ngx_snprintf(p, line + sizeof(line) - p, "%s%*s",
                     s->release ? "release: " : "", s->error_len, s->error);

#undef ngx_http_tokenroute_or_dash

    if (s->tries == NGX_HTTP_TOKENROUTE_SETTLE_TRIES && s->count) {
        /* an aggregate's: the same, and what its line adds */
        s->tries++;
        ngx_http_tokenroute_metrics_dead_letter();
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "tokenroute: settlement %*s rejected by Redis %d "
                      "times, moved to " TOKENROUTE_REDIS_DEAD ": account "
                      "%*s key %*s model %*s cost %L input %L output %L "
                      "cached %L estimated %L nano-USD/tokens, aggregate "
                      "of %ui requests (%L failed), lease %*s, key hash "
                      "%*s, tenant %*s, hour %T: %*s",
                      (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                      s->request_id, NGX_HTTP_TOKENROUTE_SETTLE_TRIES,
                      s->account_len, s->account, s->key_id_len, s->key_id,
                      s->model_len, s->model, s->cost, s->input, s->output,
                      s->cached, s->estimated, s->count, s->failed,
                      (size_t) NGX_HTTP_TOKENROUTE_REQUEST_ID_LEN,
                      s->lease_id, (size_t) NGX_HTTP_TOKENROUTE_SHA256_HEX_LEN,
                      s->key_hash, s->tenant_len ? s->tenant_len : 1,
                      s->tenant_len ? s->tenant : (u_char *) "-",
                      ngx_http_tokenroute_dead_hour(s->time),
                      s->error_len, s->error);

    } else if (s->tries == NGX_HTTP_TOKENROUTE_SETTLE_TRIES) {
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


/* the usage hour of a time, as settlement names it: YYYYMMDDHH (UTC) */

static time_t
ngx_http_tokenroute_dead_hour(time_t t)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    return ((time_t) tm.ngx_tm_year * 1000000 + tm.ngx_tm_mon * 10000
            + tm.ngx_tm_mday * 100 + tm.ngx_tm_hour);
}
